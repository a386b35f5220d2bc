// A fuzzer for the results-file readers that ctest runs as a plain test: generated results files,
// mutated as documents (fields of another type, cases given twice, edge format versions, hostile
// names and reasons, huge numbers) and as bytes (cut off, a byte changed), must each be refused
// with a SpecError naming the file, or be read by the gate, merge and the report without any
// other exception (harness/results_fuzz_property.h states the property). The inputs are a pure
// function of the seed: a failure prints the input, and SDPA_FUZZ_SEED / SDPA_FUZZ_INPUTS
// reproduce or lengthen the run. The corpus of damaged files, harness/fuzz_corpus/results/, is
// read here too, and given to the command line: each bad-*.json must exit 2 naming the file.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness/results_fuzz_property.h"

namespace sdpa::fuzz {
namespace {

namespace fs = std::filesystem;

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

std::string shown(const std::string& text) {
  return text.size() <= 2000 ? text : text.substr(0, 2000) + "... (" + std::to_string(text.size()) + " bytes)";
}

TEST(ResultsFuzz, EveryGeneratedFileIsRefusedNamingItOrReadByEveryReader) {
  const uint64_t seed = env_or("SDPA_FUZZ_SEED", 21), inputs = env_or("SDPA_FUZZ_INPUTS", 10000);
  Rng rng{seed};
  uint64_t accepted = 0, refused = 0;
  double slowest_s = 0;
  for (uint64_t i = 0; i < inputs; ++i) {
    const std::string text = fuzz_text(rng);
    std::string why;
    const auto t0 = std::chrono::steady_clock::now();
    const ResultsFuzzOutcome outcome = check_results_text(text, &why);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    slowest_s = std::max(slowest_s, seconds);
    ASSERT_NE(outcome, ResultsFuzzOutcome::broken) << "input " << i << " of seed " << seed << ": " << why << "\n"
                                                   << shown(text);
    // A hang in all but name: no input of a few kilobytes takes a second.
    ASSERT_LT(seconds, 2.0) << "input " << i << " of seed " << seed << " took " << seconds << " s\n" << shown(text);
    (outcome == ResultsFuzzOutcome::accepted ? accepted : refused) += 1;
  }
  // Both sides of the property were exercised, not only the refusals.
  EXPECT_GT(accepted, inputs / 20);
  EXPECT_GT(refused, inputs / 20);
  std::printf("%llu inputs: %llu accepted, %llu refused; slowest %.3f s\n", static_cast<unsigned long long>(inputs),
              static_cast<unsigned long long>(accepted), static_cast<unsigned long long>(refused), slowest_s);
}

const fs::path kCorpus = fs::path(SDPA_SOURCE_DIR) / "harness" / "fuzz_corpus" / "results";

std::vector<fs::path> corpus(const std::string& prefix) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(kCorpus)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// What a damaged file's refusal must say, besides its path: its "fuzz_expect" (a key the reader
// ignores), else what a file that is not JSON gets.
std::string expected_words(const std::string& text) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_object() && doc.contains("fuzz_expect")) return doc["fuzz_expect"].get<std::string>();
  return doc.is_discarded() ? "not JSON" : "";
}

TEST(ResultsFuzz, TheDamagedCorpusIsRefusedNamingFileAndFieldAndTheRestIsRead) {
  const auto bad = corpus("bad-"), ok = corpus("ok-");
  ASSERT_GE(bad.size(), 20u);
  ASSERT_GE(ok.size(), 5u);
  for (const fs::path& path : bad) {
    try {
      load_results(path.string());
      ADD_FAILURE() << path << " was read";
    } catch (const SpecError& e) {
      const std::string m = e.what();
      EXPECT_EQ(m.rfind(path.string() + ": ", 0), 0u) << m;
      EXPECT_NE(m.find(expected_words(bytes_of(path))), std::string::npos) << path << ": " << m;
    }
    std::string why;
    EXPECT_EQ(check_results_text(bytes_of(path), &why), ResultsFuzzOutcome::refused) << path << ": " << why;
  }
  for (const fs::path& path : ok) {
    std::string why;
    EXPECT_EQ(check_results_text(bytes_of(path), &why), ResultsFuzzOutcome::accepted) << path << ": " << why;
  }
}

struct CliResult {
  int code = -1;
  std::string out;
};

CliResult run(const std::string& args) {
  CliResult r;
  // `timeout`: a reader that hangs fails here instead of holding ctest.
  FILE* pipe = popen(("timeout 60 " + std::string(SDPA_BENCH_EXE) + " " + args + " 2>&1").c_str(), "r");
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, pipe)) r.out.append(buf, n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(ResultsFuzz, TheCommandLineRefusesEachDamagedFileWithExit2NamingIt) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("sdpa_results_cli_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string sound = (kCorpus / "ok-sound.json").string(), out = (dir / "merged.json").string();
  const auto bad_files = corpus("bad-");
  for (std::size_t i = 0; i < bad_files.size(); ++i) {
    const std::string bad = bad_files[i].string();
    // Every file through gate, report and merge; the other ways in, one file each in turn (a
    // process start costs up to a second on a loaded machine).
    const std::string other[] = {"gate " + bad + " " + sound, "gate --markdown " + sound + " " + sound + " --confirm " + bad,
                                 "gate --update " + bad + " --baselines " + (dir / "b").string(),
                                 "report --csv " + (dir / "csv").string() + " " + bad};
    for (const std::string& args : {"gate " + sound + " " + bad, "report " + bad,
                                    "merge " + bad + " --out " + out + " --force", other[i % 4]}) {
      const CliResult r = run(args);
      EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
      EXPECT_NE(r.out.find(bad + ": "), std::string::npos) << args << "\n" << r.out;
      EXPECT_EQ(r.out.find("[json.exception"), std::string::npos) << args << "\n" << r.out;
    }
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(dir / "csv"));
  EXPECT_FALSE(fs::exists(dir / "b"));
  // The hostile files that are read: the gate finishes, its Markdown rows keep their columns.
  for (const fs::path& path : corpus("ok-")) {
    const CliResult r = run("gate --markdown " + path.string() + " " + path.string());
    EXPECT_TRUE(r.code == 0 || r.code == 1) << path << "\n" << r.out;
    std::string why;
    EXPECT_TRUE(markdown_rows_hold(r.out, &why)) << path << ": " << why;
    EXPECT_NE(r.out.find("gate: "), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace sdpa::fuzz
