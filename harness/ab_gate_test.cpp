// The worker protocol and `sdpa-bench ab` end to end, on a small problem: an A/A run is never
// SLOWER, a 50% slowdown injected into the current side (sdpa-bench-faults' SDPA_FAULT_SLOWDOWN)
// is, a base without the protocol is reported (speed not judged), and bad input exits 2.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/child_process.h"
#include "harness/worker_client.h"

namespace sdpa {
namespace {

namespace fs = std::filesystem;
const std::string kSpec = "b=1,hq=2,sq=64,d=32,dtype=f32,mask=causal";

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("sdpa_ab_test_" + std::to_string(getpid()));
  fs::create_directories(dir);
  return dir / name;
}

TEST(Worker, ServesTheProtocol) {
  WorkerClient w("current", {SDPA_BENCH_EXE, "worker", "--threads", "1"}, {}, scratch("w.stderr").string());
  EXPECT_EQ(w.request("hello", 60), "ok sdpa-bench-worker 1");
  EXPECT_EQ(w.request("time 3", 60).rfind("error no prepared case", 0), 0u);
  const std::string prepared = w.request("prepare naive " + kSpec + " check", 120);
  ASSERT_EQ(prepared.rfind("ok pass ", 0), 0u) << prepared;
  const std::string timed = w.request("time 5", 60);
  EXPECT_NE(timed.find(" | "), std::string::npos) << timed;  // wall times, then CPU times
  ASSERT_EQ(timed.rfind("ok ", 0), 0u) << timed;
  std::istringstream in(timed.substr(3));
  int n = 0;
  for (double v; in >> v; ++n) EXPECT_GT(v, 0);
  EXPECT_EQ(n, 5);  // then "|" and the 5 CPU times
  EXPECT_EQ(w.request("count 1", 60).rfind("error count:", 0), 0u);  // not under valgrind
  EXPECT_EQ(w.request("time 0", 60).rfind("error usage", 0), 0u);
  EXPECT_EQ(w.request("frobnicate", 60).rfind("error unknown request", 0), 0u);
  EXPECT_EQ(w.request("release", 60), "ok");
  EXPECT_EQ(w.request("prepare no_such_backend " + kSpec + " check", 60).rfind("error ", 0), 0u);
  EXPECT_EQ(w.request("prepare naive b=oops check", 60).rfind("error ", 0), 0u);
  EXPECT_EQ(w.request("hello", 60), "ok sdpa-bench-worker 1");  // still alive after bad requests
}

ChildOutcome ab(std::vector<std::string> extra, const std::string& current = SDPA_BENCH_EXE,
                const std::string& base = SDPA_BENCH_EXE) {
  std::vector<std::string> argv = {SDPA_BENCH_EXE, "ab",       "--base",       base,   "--current", current,
                                   "--problem",    kSpec,      "--threads",    "1",    "--work-dir",
                                   scratch("work").string(),   "--round-ms",   "20",   "--max-case-s", "4"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_child(argv, 300);
}

TEST(AbGate, AATestIsNeverSlower) {
  const fs::path out = scratch("aa.json");
  const ChildOutcome r = ab({"--backend", "naive", "--out", out.string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find(" SLOWER x"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ab: PASS"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(out));
}

TEST(AbGate, InjectedSlowdownIsFlagged) {
  const ChildOutcome r = ab({"--backend", "naive", "--current-env", "SDPA_FAULT_SLOWDOWN=naive:0.5"}, SDPA_BENCH_FAULTS_EXE);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  // Spinning after each call makes it at least 50% slower: more on this call of a few
  // microseconds, where the worker's bookkeeping between two calls (which the knob counts as the
  // call's cost, to catch the OpenMP helpers' late CPU time) is a large part of the call.
  EXPECT_NE(r.output.find(" SLOWER x"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("confirmed: first batch"), std::string::npos) << r.output;
}

TEST(AbGate, BaseWithoutTheProtocolIsNotJudged) {
  const fs::path old = scratch("old-sdpa-bench");
  {
    std::ofstream f(old);
    f << "#!/bin/sh\necho \"The following argument was not expected: worker\" >&2\nexit 109\n";
  }
  fs::permissions(old, fs::perms::owner_all);
  const ChildOutcome r = ab({"--backend", "naive"}, SDPA_BENCH_EXE, old.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("speed not judged"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("does not serve the worker protocol"), std::string::npos) << r.output;
}

TEST(AbGate, BadInputExitsTwo) {
  EXPECT_EQ(ab({"--backend", "no_such_backend"}).exit_code, 2);
  EXPECT_EQ(ab({"--backend", "naive"}, "/no/such/binary").exit_code, 2);
  EXPECT_EQ(ab({"--backend", "naive", "--threshold", "0"}).exit_code, 2);
}

}  // namespace
}  // namespace sdpa
