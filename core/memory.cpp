#include "core/memory.h"

#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

namespace sdpa {

namespace {

uint64_t proc_kib(const char* file, const std::string& key) {
  std::ifstream in(file);
  std::string k;
  uint64_t value = 0;
  std::string unit;
  while (in >> k >> value) {
    std::getline(in, unit);
    if (k == key) return value * 1024;
  }
  return 0;
}

uint64_t cgroup_limit() {
  std::ifstream in("/sys/fs/cgroup/memory.max");  // cgroup v2; "max" means none
  uint64_t v = 0;
  if (in >> v) return v;
  return std::numeric_limits<uint64_t>::max();
}

}  // namespace

uint64_t available_memory_bytes() {
  uint64_t avail = proc_kib("/proc/meminfo", "MemAvailable:");
  uint64_t limit = cgroup_limit();
  if (limit != std::numeric_limits<uint64_t>::max()) {
    std::ifstream in("/sys/fs/cgroup/memory.current");
    uint64_t used = 0;
    if (in >> used && used < limit) avail = std::min(avail, limit - used);
  }
  return avail;
}

std::string memory_refusal(double need_bytes, double available_bytes, const std::string& what,
                           const std::string& where) {
  if (need_bytes <= kMemoryAdmitFraction * available_bytes) return "";
  return what + " need " + format_bytes(need_bytes) + ", more than half of the " + format_bytes(available_bytes) +
         " of " + where + " memory available";
}

std::string host_memory_refusal(double need_bytes, const std::string& what) {
  return memory_refusal(need_bytes, static_cast<double>(available_memory_bytes()), what, "host");
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
  return buf;
}

}  // namespace sdpa
