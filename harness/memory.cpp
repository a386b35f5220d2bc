#include "harness/memory.h"

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

std::string half_memory_refusal(double bytes, const std::string& what) {
  const double available = static_cast<double>(available_memory_bytes());
  if (bytes <= 0.5 * available) return "";
  return what + " need " + format_bytes(bytes) + ", more than half of the " + format_bytes(available) + " available";
}

uint64_t peak_rss_bytes() { return proc_kib("/proc/self/status", "VmHWM:"); }

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
