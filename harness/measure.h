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
  Summary wall() const { return summarize(wall_ms); }
  // The samples latency figures come from: the device clock where there is one.
  const std::vector<double>& primary() const { return device_ms.empty() ? wall_ms : device_ms; }
};

Measurement measure(Backend& backend, const StoppingPolicy& policy);

}  // namespace sdpa
