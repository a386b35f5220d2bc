// The sdpa-bench binary as a user meets it: exit codes, outputs, files.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out;
};

Result run(const std::string& args) {
  const std::string cmd = std::string(SDPA_BENCH_EXE) + " " + args + " 2>&1";
  Result r;
  FILE* pipe = popen(cmd.c_str(), "r");
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, pipe)) r.out.append(buf, n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

fs::path temp_dir(const std::string& name) {
  fs::path dir = fs::path(::testing::TempDir()) / ("sdpa_cli_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(Cli, ListShowsTheNaiveBackend) {
  const Result r = run("list");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("naive"), std::string::npos) << r.out;
}

TEST(Cli, BadInputIsExitTwoWithTheKeyNamed) {
  Result r = run("check --backend naive --problem sq=0");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("sq=0: must be >= 1"), std::string::npos) << r.out;
  r = run("check --backend nosuch --problem sq=4");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("unknown backend"), std::string::npos) << r.out;
  r = run("check --backend naive --suite nosuch");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("known suites"), std::string::npos) << r.out;
  r = run("check --frobnicate");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run("check --backend naive");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run("check --backend naive --problem b=1,sq=16777216,d=4096");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("available"), std::string::npos) << r.out;
}

TEST(Cli, CheckPrintsOneLinePerCaseAndTheSummary) {
  const Result r = run("check --backend naive --problem sq=16,d=8 --problem sq=8,d=8,dtype=f16,mask=causal");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("pass  naive"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 passed, 0 failed, 0 skipped"), std::string::npos) << r.out;
}

TEST(Cli, DumpWritesNumpyFiles) {
  const fs::path dir = temp_dir("dump");
  const Result r = run("dump --backend naive --problem b=1,hq=2,sq=5,d=8,dtype=bf16 " + dir.string());
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* f : {"q.npy", "k.npy", "v.npy", "out.npy", "ref.npy"}) {
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  }
  EXPECT_EQ(fs::file_size(dir / "q.npy"), 128u + 2 * 5 * 8 * 4);  // header + float32 data
  EXPECT_EQ(fs::file_size(dir / "ref.npy"), 128u + 2 * 5 * 8 * 8);  // float64
}

TEST(Cli, RunWritesAResultsFileAndResumesAfterAKill) {
  const fs::path dir = temp_dir("run");
  const std::string out = (dir / "r.json").string();
  const std::string args = "run --backend naive --policy quick --no-calibration --problem sq=16,d=8 --problem sq=32,d=8 --out " + out;
  Result r = run(args);
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream in(out);
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_TRUE(j["context"].contains("cpu_model"));
  int aggregates = 0;
  for (const auto& e : j["benchmarks"]) aggregates += e["run_type"] == "aggregate";
  EXPECT_EQ(aggregates, 2 * 7);
  EXPECT_FALSE(fs::exists(out + ".partial.jsonl"));  // the journal is gone once the file is whole
  EXPECT_NE(r.out.find("p50 ms"), std::string::npos);  // the latency table

  // A killed run leaves its journal; the next run picks it up and skips the finished case.
  fs::remove(out);
  {
    std::ofstream journal(out + ".partial.jsonl");
    journal << "[" << j["benchmarks"][0].dump() << "]\n" << "[{\"truncated";
  }
  r = run(args);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("resuming"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[2/2]"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("[1/2]"), std::string::npos) << r.out;

  // Bad input leaves no file behind.
  const std::string bad = (dir / "bad.json").string();
  r = run("run --backend naive --problem sq=x --out " + bad);
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(fs::exists(bad));
}

TEST(Cli, CompareFlagsARegression) {
  const fs::path dir = temp_dir("compare");
  const std::string base = (dir / "base.json").string();
  ASSERT_EQ(run("run --backend naive --policy quick --no-calibration --problem sq=64,d=32 --out " + base).code, 0);
  std::ifstream in(base);
  nlohmann::json j = nlohmann::json::parse(in);
  for (auto& e : j["benchmarks"]) e["real_time"] = e["real_time"].get<double>() * 2;  // twice as slow
  const std::string slow = (dir / "slow.json").string();
  std::ofstream(slow) << j.dump();
  EXPECT_EQ(run("compare " + base + " " + base).code, 0);
  const Result r = run("compare " + base + " " + slow + " --max-slowdown 0.1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("REGRESSION"), std::string::npos) << r.out;
}

}  // namespace
