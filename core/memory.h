// Host memory figures for size checks and reports.
#pragma once

#include <cstdint>
#include <string>

namespace sdpa {

// Memory the process can still use: MemAvailable, capped by a cgroup limit where one is set.
uint64_t available_memory_bytes();

// The one admission rule for a working set, host or device: it must fit in this share of the
// memory available when it is asked for. The other half is headroom for what is not counted
// (allocator slack, the OS page cache, a driver's own reservations); the harness asks after the
// inputs and the reference exist and after the previous case's backend has released its buffers.
constexpr double kMemoryAdmitFraction = 0.5;

// Empty when `need_bytes` is admitted against `available_bytes` of `where` ("host", "device");
// otherwise why not: "<what> need 8.00 GiB, more than half of the 12.00 GiB of host memory
// available".
std::string memory_refusal(double need_bytes, double available_bytes, const std::string& what,
                           const std::string& where = "host");
// The same against the host memory available now.
std::string host_memory_refusal(double need_bytes, const std::string& what);
// "1.50 GiB", "512 KiB"...
std::string format_bytes(double bytes);

}  // namespace sdpa
