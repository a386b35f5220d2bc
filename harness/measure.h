// The measuring loop: knows a Backend's run()/sync() and nothing else about it. When to stop is
// a named policy (nvbench-style), not a loop bound buried in code.
#pragma once

#include <string>
#include <vector>

#include "backends/backend.h"
#include "harness/stats.h"
#include "harness/stopping.h"

namespace sdpa {

struct Measurement {
  std::vector<double> wall_ms;    // one entry per timed query
  std::vector<double> device_ms;  // same length when the backend has a device clock
  std::string stopped_because;    // "rel_stderr 0.4% <= 0.5%", "max_time 10 s", ...
  // "single-stream" or "server"; for the server, the offered and achieved query rates.
  std::string scenario = "single-stream";
  double offered_qps = 0, achieved_qps = 0;
  int64_t queries_per_batch = 1;  // offline: queries stacked in one timed run
  Summary wall() const { return summarize(wall_ms); }
  // The samples latency figures come from: the device clock where there is one.
  const std::vector<double>& primary() const { return device_ms.empty() ? wall_ms : device_ms; }
};

// Single-stream (one query at a time, back to back) or, with policy.server_qps or
// policy.server_p99_bound_ms, the server scenario.
Measurement measure(Backend& backend, const StoppingPolicy& policy);

// One query at a time, back to back, until the policy's rule stops.
Measurement measure_single_stream(Backend& backend, const StoppingPolicy& policy);

// The server scenario at `qps`: Poisson arrivals, one query in service at a time (the backend
// is the server), each sample = completion − arrival in ms. Stops by the policy's rule.
Measurement measure_server(Backend& backend, const StoppingPolicy& policy, double qps);

}  // namespace sdpa
