// The measuring loop: knows a Backend's run()/sync() and nothing else about it. When to stop is
// a named policy (nvbench-style), not a loop bound buried in code.
#pragma once

#include <string>
#include <vector>

#include "backends/backend.h"
#include "harness/stats.h"

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
  bool cold = false;         // flush the host caches before every sample (CPU backends)
};

// Named policies: "default" (above), "quick" (tests and smoke runs: 8 samples, no claims on
// percentiles) and "p99" (662 samples, MLPerf's minimum for a p99 claim).
StoppingPolicy stopping_policy(const std::string& name);

struct Measurement {
  std::vector<double> wall_ms;    // one entry per timed query
  std::vector<double> device_ms;  // same length when the backend has a device clock
  std::string stopped_because;    // "rel_stderr 0.4% <= 0.5%", "max_time 10 s", ...
  Summary wall() const { return summarize(wall_ms); }
  Summary device() const { return summarize(device_ms); }
  // The samples latency figures come from: the device clock where there is one.
  const std::vector<double>& primary() const { return device_ms.empty() ? wall_ms : device_ms; }
};

Measurement measure(Backend& backend, const StoppingPolicy& policy);

}  // namespace sdpa
