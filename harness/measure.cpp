#include "harness/measure.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace sdpa {

namespace {

// Twice the last-level cache (at least 64 MiB), so writing it evicts a kernel's working set; a
// 2-core slice of a server part can still see a 300 MiB L3.
std::size_t flush_bytes() {
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  const std::size_t largest = static_cast<std::size_t>(std::max({l3, l2, 0L}));
  return std::max<std::size_t>(2 * largest, std::size_t{64} << 20);
}

void flush_host_caches() {
  static std::vector<char> junk(flush_bytes());
  static char salt = 0;
  ++salt;
  for (std::size_t i = 0; i < junk.size(); i += 64) junk[i] = salt;
}

}  // namespace

Measurement measure(Backend& backend, const StoppingPolicy& policy) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < policy.warmup; ++i) {
    backend.run();
    backend.sync();
  }
  Measurement m;
  StoppingRule rule(policy);
  const auto start = clock::now();
  while (true) {
    if (policy.cold) {
      flush_host_caches();
      backend.flush_device_caches();
    }
    const auto t0 = clock::now();
    backend.run();
    backend.sync();
    const auto t1 = clock::now();
    m.wall_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    if (auto dev = backend.last_device_ms()) m.device_ms.push_back(*dev);

    rule.add_sample(m.primary().back(), std::chrono::duration<double>(clock::now() - start).count());
    if (!rule.done()) continue;
    m.stopped_because = rule.reason();
    return m;
  }
}

}  // namespace sdpa
