#include "harness/measure.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace sdpa {

StoppingPolicy stopping_policy(const std::string& name) {
  StoppingPolicy p;
  p.name = name;
  if (name == "default") return p;
  if (name == "quick") {
    p.warmup = 1;
    p.min_samples = 8;
    p.min_time_s = 0;
    p.max_time_s = 2;
    p.case_budget_s = 10;
    p.target_rel_stderr = 0.02;
    return p;
  }
  if (name == "p99") {
    p.min_samples = 662;
    p.max_samples = 5000;
    p.max_time_s = 60;
    p.case_budget_s = 600;
    return p;
  }
  throw std::invalid_argument("stopping policy '" + name + "': must be default, quick or p99");
}

namespace {

// Larger than any last-level cache here, so writing it evicts the working set of a kernel.
void flush_host_caches() {
  static std::vector<char> junk(256u << 20);
  static char salt = 0;
  ++salt;
  for (std::size_t i = 0; i < junk.size(); i += 64) junk[i] = salt;
}

double rel_stderr(const std::vector<double>& s) {
  Summary sum = summarize(s);
  if (sum.count < 2 || sum.mean <= 0) return INFINITY;
  return sum.stddev / std::sqrt(static_cast<double>(sum.count)) / sum.mean;
}

}  // namespace

Measurement measure(Backend& backend, const StoppingPolicy& policy) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < policy.warmup; ++i) {
    backend.run();
    backend.sync();
  }
  Measurement m;
  const auto start = clock::now();
  while (true) {
    if (policy.cold) flush_host_caches();
    const auto t0 = clock::now();
    backend.run();
    backend.sync();
    const auto t1 = clock::now();
    m.wall_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    if (auto dev = backend.last_device_ms()) m.device_ms.push_back(*dev);

    const int n = static_cast<int>(m.wall_ms.size());
    const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
    char why[96];
    if (n >= policy.max_samples) {
      std::snprintf(why, sizeof why, "max_samples %d", policy.max_samples);
    } else if (n >= 3 && n < policy.min_samples && elapsed >= policy.case_budget_s) {
      std::snprintf(why, sizeof why, "case budget %.3g s, %d of %d samples", policy.case_budget_s, n,
                    policy.min_samples);
    } else if (n < policy.min_samples) {
      continue;
    } else if (elapsed >= policy.max_time_s) {
      std::snprintf(why, sizeof why, "max_time %.3g s", policy.max_time_s);
    } else if (elapsed < policy.min_time_s) {
      continue;
    } else if (double rse = rel_stderr(m.primary()); rse <= policy.target_rel_stderr) {
      std::snprintf(why, sizeof why, "rel_stderr %.2g%% <= %.2g%%", 100 * rse, 100 * policy.target_rel_stderr);
    } else {
      continue;
    }
    m.stopped_because = why;
    return m;
  }
}

}  // namespace sdpa
