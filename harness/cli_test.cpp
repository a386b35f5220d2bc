// The sdpa-bench binary as a user meets it: exit codes, outputs, files.
#include <gtest/gtest.h>
#include <unistd.h>
#include <sys/wait.h>
#include <csignal>
#include <cstdlib>
#include <iterator>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out;
};

// `exe` "" runs `args` as a shell command line of its own.
Result run(const std::string& args, const std::string& exe = SDPA_BENCH_EXE) {
  const std::string cmd = (exe.empty() ? "" : exe + " ") + args + " 2>&1";
  Result r;
  FILE* pipe = popen(cmd.c_str(), "r");
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, pipe)) r.out.append(buf, n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

fs::path temp_dir(const std::string& name) {
  fs::path dir = fs::path(::testing::TempDir()) / ("sdpa_cli_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(Cli, ListShowsTheNaiveBackendAsBuilt) {
  const Result r = run("list");
  EXPECT_EQ(r.code, 0) << r.out;
  // Listed among the built backends, not under "not built:".
  const auto built = r.out.find("backends built into this binary:\n");
  const auto naive = r.out.find("\n  naive\n");
  ASSERT_NE(built, std::string::npos) << r.out;
  ASSERT_NE(naive, std::string::npos) << r.out;
  EXPECT_LT(built, naive);
  const auto missing = r.out.find("not built:");
  if (missing != std::string::npos) EXPECT_LT(naive, missing) << r.out;
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
  EXPECT_NE(r.out.find("pass    naive"), std::string::npos) << r.out;
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
  EXPECT_EQ(j["format"], "sdpa-bench-results");
  EXPECT_EQ(j["format_version"], 2);
  EXPECT_TRUE(j["context"].contains("cpu_model"));
  int aggregates = 0;
  for (const auto& e : j["benchmarks"]) {
    aggregates += e["run_type"] == "aggregate";
    if (e["aggregate_name"] == "median") EXPECT_EQ(e["samples_real_time"].size(), e["repetitions"].get<size_t>());
  }
  EXPECT_EQ(aggregates, 2 * 7);
  EXPECT_FALSE(fs::exists(out + ".partial.jsonl"));  // the journal is gone once the file is whole
  EXPECT_NE(r.out.find("### Latency"), std::string::npos);  // the tables

  // A finished file is not overwritten without --force.
  Result again = run(args);
  EXPECT_EQ(again.code, 2) << again.out;
  EXPECT_NE(again.out.find("--force"), std::string::npos) << again.out;

  // A killed run leaves its journal; the next run picks it up and skips the finished case.
  fs::remove(out);
  {
    nlohmann::json first_case = nlohmann::json::array();
    for (const auto& e : j["benchmarks"]) {
      if (e["run_name"] == j["benchmarks"][0]["run_name"]) first_case.push_back(e);
    }
    std::ofstream journal(out + ".partial.jsonl");
    journal << first_case.dump() << "\n" << "[{\"truncated";
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

TEST(Cli, ForeignAndDamagedResultsFilesAreRefused) {
  const fs::path dir = temp_dir("foreign");
  const std::string gbench = (dir / "gbench.json").string();
  std::ofstream(gbench) << R"({"context": {"executable": "./bm"}, "benchmarks": [{"name": "BM_memcpy/8",
      "run_name": "BM_memcpy/8", "run_type": "iteration", "real_time": 1.0, "cpu_time": 1.0, "time_unit": "ns"}]})";
  Result r = run("report " + gbench);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("not a results file of sdpa-bench"), std::string::npos) << r.out;
  const std::string cut = (dir / "cut.json").string();
  std::ofstream(cut) << R"({"format": "sdpa-bench-results", "format_version": 2, "benchmarks": [)";
  r = run("report " + cut);
  EXPECT_EQ(r.code, 2) << r.out;
  const std::string no_status = (dir / "nostatus.json").string();
  std::ofstream(no_status) << R"({"format": "sdpa-bench-results", "format_version": 2, "context": {},
      "benchmarks": [{}]})";
  r = run("report " + no_status);
  EXPECT_EQ(r.code, 2) << r.out;
  const std::string future = (dir / "future.json").string();
  std::ofstream(future) << R"({"format": "sdpa-bench-results", "format_version": 99, "benchmarks": []})";
  r = run("report " + future);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("newer"), std::string::npos) << r.out;
}

TEST(Cli, SelectionFiltersAndBounds) {
  Result r = run("check --backend naive --suite smoke --dtype bf16 --mask causal");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("dtype=f32"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dtype=bf16"), std::string::npos) << r.out;
  r = run("check --backend naive --suite smoke --filter 'hq=4,hkv=1,'");
  EXPECT_NE(r.out.find("1 passed"), std::string::npos) << r.out;
  EXPECT_EQ(r.code, 0) << r.out;
  r = run("check --backend naive --suite smoke --filter 'nothing-matches-this'");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("left none"), std::string::npos) << r.out;
  r = run("check --backend naive --problem sq=4 --threads 100000");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--threads 100000: at most"), std::string::npos) << r.out;
}

TEST(Cli, IsolationTurnsACrashAndAHangIntoFailedCasesAndGoesOn) {
  const fs::path dir = temp_dir("isolate");
  const std::string out = (dir / "r.json").string();
  Result r = run("run --isolate --case-timeout 5 --backend fault_crash --backend fault_hang --backend naive "
                 "--policy quick --no-calibration --problem sq=16,d=8 --out " + out,
                 SDPA_BENCH_FAULTS_EXE);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("crashed: SIGSEGV"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("timeout after 5 s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("repro: sdpa-bench check --backend fault_hang"), std::string::npos) << r.out;
  std::ifstream in(out);
  const nlohmann::json j = nlohmann::json::parse(in);
  std::map<std::string, std::string> status;
  for (const auto& e : j["benchmarks"]) status[e["backend"]] = e["status"];
  EXPECT_EQ(status["fault_crash"], "error");
  EXPECT_EQ(status["fault_hang"], "error");
  EXPECT_EQ(status["naive"], "pass");  // the matrix went on after both

  r = run("check --isolate --case-timeout 5 --backend fault_crash --backend naive --problem sq=16,d=8",
          SDPA_BENCH_FAULTS_EXE);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("crashed: SIGSEGV"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 passed, 1 failed"), std::string::npos) << r.out;
  // The production binary has no such backends.
  EXPECT_EQ(run("check --backend fault_crash --problem sq=4").code, 2);
}

TEST(Cli, ServerAndOfflineScenariosAreRecorded) {
  const fs::path dir = temp_dir("scenarios");
  const std::string server = (dir / "server.json").string(), offline = (dir / "offline.json").string();
  Result r = run("run --backend naive --problem sq=16,d=8 --policy quick --no-calibration --scenario server --qps 50 "
                 "--out " + server);
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream in(server);
  nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["context"]["scenario"], "server");
  bool seen = false;
  for (const auto& e : j["benchmarks"]) {
    if (e.value("aggregate_name", "") != "median") continue;
    seen = true;
    EXPECT_EQ(e["scenario"], "server");
    EXPECT_EQ(e["offered_qps"], 50.0);
    // Poisson arrivals at 50/s for a sub-millisecond query: the server keeps up.
    EXPECT_GT(e["achieved_qps"].get<double>(), 15.0) << e.dump();
    EXPECT_LT(e["achieved_qps"].get<double>(), 150.0) << e.dump();
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(run("run --backend naive --problem sq=16,d=8 --scenario server --out " + server + ".x").code, 2);
  EXPECT_EQ(run("run --backend naive --problem sq=16,d=8 --qps 5 --out " + server + ".y").code, 2);

  r = run("run --backend naive --problem b=1,hq=1,sq=8,d=8,mask=kvlen:5 --policy quick --no-calibration "
          "--scenario offline --out " + offline);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("### Offline throughput"), std::string::npos) << r.out;
  std::ifstream in2(offline);
  j = nlohmann::json::parse(in2);
  for (const auto& e : j["benchmarks"]) {
    if (e.value("aggregate_name", "") != "median") continue;
    const int64_t batch = e["queries_per_batch"];
    EXPECT_GE(batch, 1);
    // The case is the batch that ran: b and the kvlen list grow with it.
    EXPECT_NE(e["problem"].get<std::string>().find("b=" + std::to_string(batch) + ","), std::string::npos) << e.dump();
    EXPECT_GT(e["queries_per_s"].get<double>(), 0);
  }
}

TEST(Cli, AKilledOfflineRunResumesItsCasesByQuery) {
  // An offline case is the batch that ran (b=16,...), not the query the suite names (b=1,...):
  // a resumed run must still know the query is done, and not batch and measure it again.
  const fs::path dir = temp_dir("offline_resume");
  const std::string out = (dir / "r.json").string();
  const std::string args = "run --backend naive --policy quick --no-calibration --scenario offline "
                           "--problem sq=8,d=8 --problem sq=16,d=8 --out " + out;
  Result r = run(args);
  ASSERT_EQ(r.code, 0) << r.out;
  nlohmann::json j;
  {
    std::ifstream in(out);
    j = nlohmann::json::parse(in);
  }
  const std::string first = j["benchmarks"][0]["run_name"];
  ASSERT_EQ(j["benchmarks"][0].value("note_offline_query", ""), "b=1,hq=1,hkv=1,sq=8,skv=8,d=8,dv=8,dtype=f32,"
                                                                "mask=none,scale=default,seed=1");
  nlohmann::json first_case = nlohmann::json::array();
  for (const auto& e : j["benchmarks"]) {
    if (e["run_name"] == first) first_case.push_back(e);
  }
  fs::remove(out);
  std::ofstream(out + ".partial.jsonl") << nlohmann::json{{"context", j["context"]}}.dump() << "\n"
                                        << first_case.dump() << "\n";
  r = run(args);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("1 case(s) already done"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("not in this selection"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("sq=8,skv=8"), std::string::npos) << "the finished query ran again:\n" << r.out;
  EXPECT_NE(r.out.find("sq=16,skv=16"), std::string::npos) << r.out;
  std::ifstream in(out);
  const nlohmann::json resumed = nlohmann::json::parse(in);
  std::set<std::string> names;
  for (const auto& e : resumed["benchmarks"]) names.insert(e["run_name"].get<std::string>());
  EXPECT_EQ(names.size(), 2u);  // both queries, the first from the journal, once
  EXPECT_TRUE(names.count(first));
}

TEST(Cli, StudiesPrintTheirTables) {
  Result r = run("study saturation --problem b=1,hq=1,sq=64,d=64 --problem b=1,hq=1,sq=64,d=64,dist=outliers:8:100");
  ASSERT_EQ(r.code, 0) << r.out;
  // Each problem twice (scaled, unscaled); unscaled outlier logits overflow f16, N(0,1) ones never do.
  EXPECT_NE(r.out.find("| 64 | normal | 1/sqrt(d) | 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| 64 | outliers:8:100 | 1 (unscaled) |"), std::string::npos) << r.out;
  const auto row = r.out.find("| 64 | outliers:8:100 | 1 (unscaled) |");
  const std::string line = r.out.substr(row, r.out.find('\n', row) - row);
  const auto last = line.rfind('|', line.size() - 2);
  EXPECT_NE(std::stoll(line.substr(last + 1)), 0) << "expected f16 overflows: " << line;
  r = run("study error --backend naive --problem b=1,hq=1,sq=32,d=16,dtype=f16 --problem b=1,hq=1,sq=32,d=16,dtype=bf16");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("| naive | f16 | 32 | none | normal |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| naive | bf16 | 32 | none | normal |"), std::string::npos) << r.out;
  EXPECT_EQ(run("study nonsense").code, 2);
}

// Issue 21 (run side): misuse gives exit 2 with the reason, before anything is computed or written.

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool any_leftover(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp.") != std::string::npos || name.find(".partial.jsonl") != std::string::npos) return true;
  }
  return false;
}

TEST(Cli, AnIsolatedServerRunMeasuresTheServerInItsChildren) {
  const fs::path dir = temp_dir("isolated_server");
  const std::string out = (dir / "r.json").string();
  const Result r = run("run --isolate --backend naive --problem sq=16,d=8 --policy quick --no-calibration "
                       "--scenario server --qps 50 --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(read_text(out));
  EXPECT_EQ(j["context"]["scenario"], "server");
  int medians = 0;
  for (const auto& e : j["benchmarks"]) {
    if (e.value("aggregate_name", "") != "median") continue;
    ++medians;
    EXPECT_EQ(e["scenario"], "server") << e.dump();  // it was single-stream: the children never heard of --qps
    EXPECT_EQ(e["offered_qps"], 50.0);
    EXPECT_TRUE(e.contains("note_threads")) << e.dump();
  }
  EXPECT_EQ(medians, 1);
}

TEST(Cli, IsolatedOfflineIsRefusedBeforeCalibratingOrJournalling) {
  const fs::path dir = temp_dir("isolated_offline");
  const std::string out = (dir / "r.json").string();
  const Result r = run("run --isolate --scenario offline --backend naive --problem sq=16,d=8 --out " + out);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--isolate"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("calibrat"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out + ".partial.jsonl"));
}

TEST(Cli, AbsurdNumbersAreExitTwoNotAHang) {
  const std::string base = "run --backend naive --problem sq=16,d=8 --no-calibration --out /nonexistent/x.json ";
  for (const char* qps : {"0.001", "1e-12", "1e-15"}) {
    const Result r = run(base + "--scenario server --max-time 1 --qps " + qps);
    EXPECT_EQ(r.code, 2) << qps << ": " << r.out;
    EXPECT_NE(r.out.find("--qps"), std::string::npos) << r.out;
  }
  for (const char* bad : {"--max-time nan", "--case-timeout nan --isolate", "--max-time inf", "--max-time -1",
                          "--min-samples 100000000", "--threads 5000", "--policy nosuch"}) {
    const Result r = run(base + bad);
    EXPECT_EQ(r.code, 2) << bad << ": " << r.out;
    EXPECT_EQ(r.out.find("179769313486231570"), std::string::npos) << r.out;  // DBL_MAX in full
  }
  Result r = run("env OMP_NUM_THREADS=100000 " + std::string(SDPA_BENCH_EXE) + " " + base, "");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("OMP_NUM_THREADS=100000"), std::string::npos) << r.out;
  r = run("env SDPA_BLOCKED_CPU_ISA=garbage " + std::string(SDPA_BENCH_EXE) + " check --problem sq=16,d=8", "");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("SDPA_BLOCKED_CPU_ISA=garbage"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("pass "), std::string::npos) << "ran before refusing: " << r.out;
}

TEST(Cli, TheMachineOverrideNeverLeavesResults) {
  const fs::path dir = temp_dir("machine");
  for (const char* bad : {"../../escaped", "", ".."}) {
    const Result r = run("env SDPA_MACHINE='" + std::string(bad) + "' sh -c 'cd " + dir.string() + " && " +
                             SDPA_BENCH_EXE + " run --backend naive --problem sq=8,d=8 --policy quick --no-calibration'",
                         "");
    EXPECT_EQ(r.code, 2) << bad << ": " << r.out;
    EXPECT_NE(r.out.find("SDPA_MACHINE"), std::string::npos) << r.out;
  }
  EXPECT_FALSE(fs::exists(dir.parent_path().parent_path() / "escaped"));
  EXPECT_FALSE(fs::exists(dir / "results"));
}

TEST(Cli, ASecondRunToTheSameOutIsRefusedNamingTheHolder) {
  const fs::path dir = temp_dir("lock");
  const std::string out = (dir / "r.json").string();
  const std::string pidfile = (dir / "pid").string();
  // The first run hangs in its only case (in-process), holding the lock.
  std::system((std::string(SDPA_BENCH_FAULTS_EXE) + " run --backend fault_hang --problem sq=8,d=8 --no-calibration "
               "--policy quick --out " + out + " >/dev/null 2>&1 & echo $! > " + pidfile).c_str());
  for (int i = 0; i < 200 && !fs::exists(out + ".lock"); ++i) usleep(50000);
  usleep(200000);
  const std::string holder = read_text(pidfile);
  const Result r = run("run --backend naive --problem sq=8,d=8 --no-calibration --policy quick --out " + out);
  const pid_t pid = static_cast<pid_t>(std::stol(holder));
  ::kill(pid, SIGKILL);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("another run (pid " + std::to_string(pid)), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
}

TEST(Cli, AWriteThatFailsSaysWhyAndLeavesNothing) {
  const fs::path dir = temp_dir("leftovers");
  Result r = run("run --backend naive --problem sq=8,d=8 --no-calibration --policy quick --out " + dir.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("is a directory"), std::string::npos) << r.out;
  r = run("run --backend naive --problem sq=8,d=8 --no-calibration --policy quick --out ''");
  EXPECT_EQ(r.code, 2) << r.out;
  // A file size limit stands in for a full disk: the write fails with the system's reason.
  const std::string out = (dir / "r.json").string();
  r = run("sh -c \"trap '' XFSZ; ulimit -f 1; " + std::string(SDPA_BENCH_EXE) +
              " run --backend naive --problem sq=64,d=8 --problem sq=32,d=8 --no-calibration --policy quick --out " +
              out + "\"",
          "");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("File too large"), std::string::npos) << r.out;
  for (const auto& e : fs::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  }
}

TEST(Cli, AResumeWithOtherRunOptionsIsRefused) {
  const fs::path dir = temp_dir("resume_options");
  const std::string out = (dir / "r.json").string();
  const std::string args = "run --backend naive --no-calibration --problem sq=16,d=8 --problem sq=32,d=8 --out " + out;
  Result r = run(args + " --policy quick --scenario server --qps 200");
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(read_text(out));
  // The journal of a run killed after its first case: the context, then the case.
  fs::remove(out);
  {
    nlohmann::json first_case = nlohmann::json::array();
    for (const auto& e : j["benchmarks"]) {
      if (e["run_name"] == j["benchmarks"][0]["run_name"]) first_case.push_back(e);
    }
    std::ofstream journal(out + ".partial.jsonl");
    journal << nlohmann::json{{"context", j["context"]}}.dump() << "\n" << first_case.dump() << "\n";
  }
  r = run(args + " --policy gate");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("scenario \"server\" -> \"single-stream\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("policy"), std::string::npos) << r.out;
  r = run(args + " --policy quick --scenario server --qps 200 --threads 7");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("threads"), std::string::npos) << r.out;
  r = run(args + " --policy quick --scenario server --qps 200");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("resuming"), std::string::npos) << r.out;
}

TEST(Cli, ShardsSplitStudiesAndDump) {
  const std::string problems = " --problem b=1,hq=1,sq=16,d=8 --problem b=1,hq=1,sq=32,d=8";
  const Result a = run("study error --backend naive --shard 0/2" + problems);
  const Result b = run("study error --backend naive --shard 1/2" + problems);
  ASSERT_EQ(a.code, 0) << a.out;
  ASSERT_EQ(b.code, 0) << b.out;
  EXPECT_NE(a.out, b.out);
  EXPECT_NE(a.out.find("| naive |"), std::string::npos) << a.out;
  EXPECT_NE(b.out.find("| naive |"), std::string::npos) << b.out;
  const Result sa = run("study saturation --shard 0/2" + problems);
  const Result sb = run("study saturation --shard 1/2" + problems);
  EXPECT_NE(sa.out, sb.out);
  EXPECT_EQ(run("study saturation --backend nonexistent" + problems).code, 2);
  const Result dist = run("study error --backend naive --dist uniform --problem b=1,hq=1,sq=16,d=8");
  EXPECT_NE(dist.out.find("| uniform |"), std::string::npos) << dist.out;
  EXPECT_EQ(run("study error --backend naive --dist nosuch --problem b=1,hq=1,sq=16,d=8").code, 2);

  const fs::path dir = temp_dir("dump_shard");
  Result d = run("dump --backend naive --problem sq=8,d=8 --shard 1/2 --out-dir " + dir.string());
  EXPECT_EQ(d.code, 0) << d.out;
  EXPECT_FALSE(fs::exists(dir / "q.npy"));
  d = run("dump --backend naive --problem sq=8,d=8 --shard 0/2 --out-dir " + dir.string());
  EXPECT_EQ(d.code, 0) << d.out;
  EXPECT_TRUE(fs::exists(dir / "q.npy"));
}

TEST(Cli, HelpNamesDefaultsAndExitCodesAndPoliciesComeFromTheRegistry) {
  for (const char* cmd : {"run", "check", "dump", "study", "report", "merge", "gate", "list"}) {
    const Result r = run(std::string(cmd) + " --help");
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("Exit codes: 0 ok; 1"), std::string::npos) << cmd << ": " << r.out;
  }
  const Result help = run("run --help");
  EXPECT_NE(help.out.find("default 0: all cores"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("gate: 16+ samples"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("190 in default"), std::string::npos) << help.out;
  const Result list = run("list --policies --json");
  ASSERT_EQ(list.code, 0) << list.out;
  const nlohmann::json policies = nlohmann::json::parse(list.out);
  std::set<std::string> names;
  for (const auto& p : policies) names.insert(p["name"].get<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{"default", "quick", "gate", "p99"}));
  // check --out is check --json's new name.
  const fs::path dir = temp_dir("check_out");
  EXPECT_EQ(run("check --backend naive --problem sq=8,d=8 --out " + (dir / "c.json").string()).code, 0);
  EXPECT_TRUE(fs::exists(dir / "c.json"));
}

TEST(Cli, ARunWhereNothingCanRunIsNotAPass) {
  // A backend folder that is not built, or built without its device, runs nothing: say so.
  Result r = run("check --backend cudnn --problem sq=16,d=64,dtype=f16");
  if (r.out.find("skip") == std::string::npos) GTEST_SKIP() << "cudnn ran here: " << r.out;
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("nothing ran"), std::string::npos) << r.out;
  r = run("check --backend cudnn --problem sq=16,d=64,dtype=f16 --allow-unavailable");
  EXPECT_EQ(r.code, 0) << r.out;
}

}  // namespace
