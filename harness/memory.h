// Host memory figures for size checks and reports.
#pragma once

#include <cstdint>
#include <string>

namespace sdpa {

// Memory the process can still use: MemAvailable, capped by a cgroup limit where one is set.
uint64_t available_memory_bytes();
// Empty when `bytes` fit in half of the available memory (the other half is the inputs, the
// reference and everything else); otherwise why not: "<what> need 8.00 GiB, more than half of
// the 12.00 GiB available".
std::string half_memory_refusal(double bytes, const std::string& what);
// Peak resident set of this process so far (VmHWM).
uint64_t peak_rss_bytes();
// "1.50 GiB", "512 KiB"...
std::string format_bytes(double bytes);

}  // namespace sdpa
