// When to stop sampling a case, nvbench-style: a policy (the numbers) and a rule object fed one
// sample at a time that says whether it is done and why. The rule keeps running sums, so asking
// costs O(1) per sample whatever the count (no re-sorting of every sample at every step).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sdpa {

struct StoppingPolicy {
  std::string name = "default";
  int warmup = 3;            // runs before sampling: first-touch, JIT, clocks ramping up
  int min_samples = 64;      // MLPerf's minimum for a p90 claim under early stopping
  int max_samples = 2000;
  double min_time_s = 0.25;  // keep sampling at least this long (short kernels: more samples)
  double max_time_s = 10.0;  // stop after this, once min_samples are in
  // A slow case (the naive kernel at n = 4096) stops here even short of min_samples, with at
  // least 3 samples; the report then makes no p90/p99 claim for it.
  double case_budget_s = 60.0;
  double target_rel_stderr = 0.005;  // stop early once the mean is this well known
  bool cold = false;         // flush the caches before every sample
  // MLPerf's server scenario: queries arrive by a Poisson process at this rate (queries/s) and
  // a sample is the latency from arrival to completion, queueing included. 0: single-stream.
  double server_qps = 0;
  // Server scenario with a latency bound instead of a rate: the highest rate whose p99 stays
  // under this many ms is searched for, then measured. 0: no search.
  double server_p99_bound_ms = 0;
  uint64_t arrival_seed = 1;  // the arrival process is the same from run to run
};

// The named policies, in one registry (nvbench's criterion_manager): adding a policy is one
// entry in stopping.cpp; --policy's check and help, `sdpa-bench list --policies` and the peers'
// copy (scripts/peers/peer_measure.py) read the list from here.
struct NamedPolicy {
  std::string summary;   // one line for --help and `list --policies`
  StoppingPolicy policy;  // its numbers (policy.name is the name)
};
const std::vector<NamedPolicy>& stopping_policies();
std::vector<std::string> stopping_policy_names();
// "default (...), quick (...), ...": the names with their summaries, for --help.
std::string stopping_policy_help();

// The policy of that name; throws std::invalid_argument (SpecError's base) naming the known ones.
StoppingPolicy stopping_policy(const std::string& name);

class StoppingRule {
 public:
  explicit StoppingRule(StoppingPolicy policy) : policy_(std::move(policy)) {}

  // One sample of `value` (ms), taken when `elapsed_s` seconds had passed since sampling began.
  void add_sample(double value, double elapsed_s);
  // No sample, but `elapsed_s` seconds have passed: stops where the time limits say so (the
  // server scenario asks this before waiting for an arrival, so that it never waits past them).
  void check_time(double elapsed_s);
  bool done() const { return !reason_.empty(); }
  // Why it stopped: "rel_stderr 0.41% <= 0.5%", "max_time 10 s", "max_samples 2000",
  // "case budget 60 s, 12 of 64 samples"; empty while not done.
  const std::string& reason() const { return reason_; }
  int64_t samples() const { return count_; }
  // Relative standard error of the mean so far (infinity below two samples).
  double rel_stderr() const;

 private:
  StoppingPolicy policy_;
  int64_t count_ = 0;
  double mean_ = 0, m2_ = 0;  // Welford's running mean and sum of squared deviations
  std::string reason_;
  void decide(double elapsed_s);
};

}  // namespace sdpa
