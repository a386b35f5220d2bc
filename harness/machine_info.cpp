#include "harness/machine_info.h"

#include "build_stamp.h"  // SDPA_GIT_COMMIT, generated at build time by cmake/build_stamp.cmake

#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/memory.h"
#include "harness/machine_class.h"

#ifndef SDPA_CXX_FLAGS
#define SDPA_CXX_FLAGS ""
#endif
#ifndef SDPA_BUILD_TYPE
#define SDPA_BUILD_TYPE ""
#endif

namespace sdpa {

namespace {

std::string cpuinfo_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "";
}

// The SIMD features that decide which kernels can run, not the whole flags line.
std::string isa_flags() {
  std::istringstream flags(cpuinfo_field("flags"));
  std::string flag, out;
  for (const char* wanted : {"sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
                             "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_tile", "amx_bf16"}) {
    std::istringstream scan(cpuinfo_field("flags"));
    while (scan >> flag) {
      if (flag == wanted) {
        out += out.empty() ? flag : " " + flag;
        break;
      }
    }
  }
  return out;
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string caches() {
  std::string out;
  for (int i = 0; i < 8; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    const std::string level = read_first_line(dir + "level");
    if (level.empty()) break;
    const std::string type = read_first_line(dir + "type");
    if (type == "Instruction") continue;
    out += (out.empty() ? "L" : " L") + level + "=" + read_first_line(dir + "size");
  }
  return out;
}

}  // namespace

int omp_threads() { return omp_get_max_threads(); }

std::map<std::string, std::string> host_context(int threads_used) {
  std::map<std::string, std::string> c;
  c["cpu_model"] = cpuinfo_field("model name");
  c["cpu_cores_online"] = std::to_string(std::thread::hardware_concurrency());
  c["threads_used"] = std::to_string(threads_used);
  c["isa_flags"] = isa_flags();
  c["caches_per_core"] = caches();
  c["memory_available"] = format_bytes(static_cast<double>(available_memory_bytes()));
  c["compiler"] = "g++ " __VERSION__;
#ifdef __clang__
  c["compiler"] = "clang " __clang_version__;
#endif
  c["cxx_flags"] = SDPA_CXX_FLAGS;
  c["build_type"] = SDPA_BUILD_TYPE;
  c["git_commit"] = SDPA_GIT_COMMIT;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  c["host_name"] = host;
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  c["date"] = date;
  // Family, model, stepping, microcode, uarch, ISA tier, virtualisation and clock: what tells two
  // generations apart (harness/machine_class.h), and the class that names the results folder.
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::ostringstream text;
  text << cpuinfo.rdbuf();
  const std::string max_khz = read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
  for (auto& [k, v] : cpu_identity_context(parse_cpuinfo(text.str()), max_khz.empty() ? 0 : std::atof(max_khz.c_str()) / 1000)) {
    c[k] = v;
  }
  c["machine_class"] = hardware_class(nlohmann::json(c));
  return c;
}

}  // namespace sdpa
