#include "harness/machine_class.h"

#include <omp.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "core/problem.h"  // SpecError

namespace sdpa {

namespace {

using nlohmann::json;

const std::vector<std::string>& tiers() {
  static const std::vector<std::string> t{"base", "avx2", "avx512", "avx512bf16", "avx512fp16", "amx"};
  return t;
}

int tier_rank(const std::string& tier) {
  const auto& t = tiers();
  return static_cast<int>(std::find(t.begin(), t.end(), tier) - t.begin());
}

// One row of the table: a vendor's family and a model range, the name, and the best ISA tier the
// real part has (flags above it mean the reported model is not the real one).
struct Row {
  const char* vendor;
  int family, model_lo, model_hi;
  const char* name;
  const char* best_tier;
};

// Sources: the kernel's arch/x86/include/asm/intel-family.h and AMD's family/model lists.
// Cascade Lake and Cooper Lake share Skylake-SP's model 85 and differ by stepping (below).
constexpr Row kTable[] = {
    {"amd", 23, 0x00, 0x2f, "zen", "avx2"},
    {"amd", 23, 0x30, 0xff, "zen2", "avx2"},
    {"amd", 25, 0x00, 0x0f, "zen3", "avx2"},          // Milan
    {"amd", 25, 0x10, 0x1f, "zen4", "avx512bf16"},    // Genoa (0x11)
    {"amd", 25, 0x20, 0x5f, "zen3", "avx2"},          // Vermeer, Cezanne, Rembrandt
    {"amd", 25, 0x60, 0x7f, "zen4", "avx512bf16"},    // Raphael, Phoenix
    {"amd", 25, 0xa0, 0xaf, "zen4", "avx512bf16"},    // Bergamo, Siena
    {"amd", 26, 0x00, 0x4f, "zen5", "avx512bf16"},    // Turin, Granite Ridge, Strix
    {"intel", 6, 0x3c, 0x3c, "haswell", "avx2"},
    {"intel", 6, 0x3f, 0x3f, "haswell", "avx2"},
    {"intel", 6, 0x4f, 0x4f, "broadwell", "avx2"},
    {"intel", 6, 0x55, 0x55, "skylakex", "avx512"},
    {"intel", 6, 0x4e, 0x4e, "skylake", "avx2"},
    {"intel", 6, 0x5e, 0x5e, "skylake", "avx2"},
    {"intel", 6, 0x8e, 0x8e, "kabylake", "avx2"},
    {"intel", 6, 0x9e, 0x9e, "coffeelake", "avx2"},
    {"intel", 6, 0x6a, 0x6a, "icelake", "avx512"},    // Ice Lake-SP
    {"intel", 6, 0x6c, 0x6c, "icelake", "avx512"},    // Ice Lake-D
    {"intel", 6, 0x7d, 0x7e, "icelake", "avx512"},    // client
    {"intel", 6, 0x8c, 0x8d, "tigerlake", "avx512"},
    {"intel", 6, 0xa7, 0xa7, "rocketlake", "avx512"},
    {"intel", 6, 0x8f, 0x8f, "sapphirerapids", "amx"},
    {"intel", 6, 0xcf, 0xcf, "emeraldrapids", "amx"},
    {"intel", 6, 0xad, 0xae, "graniterapids", "amx"},
    {"intel", 6, 0xaf, 0xaf, "sierraforest", "avx2"},
    {"intel", 6, 0x97, 0x97, "alderlake", "avx2"},
    {"intel", 6, 0x9a, 0x9a, "alderlake", "avx2"},
    {"intel", 6, 0xb7, 0xb7, "raptorlake", "avx2"},
    {"intel", 6, 0xba, 0xba, "raptorlake", "avx2"},
    {"intel", 6, 0xbf, 0xbf, "raptorlake", "avx2"},
    {"intel", 6, 0xaa, 0xac, "meteorlake", "avx2"},
    {"intel", 6, 0xbd, 0xbd, "lunarlake", "avx2"},
    {"intel", 6, 0xc5, 0xc6, "arrowlake", "avx2"},
    {"intel", 19, 0x01, 0x01, "diamondrapids", "amx"},
};

std::string vendor_word(const std::string& vendor_id, const std::string& model_name) {
  if (vendor_id == "GenuineIntel") return "intel";
  if (vendor_id == "AuthenticAMD") return "amd";
  std::string probe = vendor_id.empty() ? model_name : vendor_id;
  std::transform(probe.begin(), probe.end(), probe.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* v : {"intel", "amd", "ampere", "arm", "apple"}) {
    if (probe.find(v) != std::string::npos) return v;
  }
  return "cpu";
}

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

int to_int(const std::string& s) {
  try {
    return std::stoi(s, nullptr, 0);
  } catch (const std::exception&) {
    return -1;
  }
}

std::string lower_words(const std::string& text) {
  std::string out, word;
  auto flush = [&] {
    if (!word.empty()) out += (out.empty() ? "" : "-") + word;
    word.clear();
  };
  for (char ch : text) {
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    } else {
      flush();
    }
  }
  flush();
  return out;
}

std::string text_of(const json& context, const char* key) {
  if (!context.contains(key)) return "";
  const json& v = context[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return "";
}

std::set<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::set<std::string> out;
  for (std::string w; in >> w;) out.insert(w);
  return out;
}

// The flags the guess for an unknown Intel model reads, newest first.
std::string intel_guess_by_flags(const std::set<std::string>& f) {
  if (f.count("amx_fp16")) return "graniterapids or later (by flags: amx_fp16)";
  if (f.count("amx_bf16")) return "sapphirerapids or later (by flags: amx_bf16" +
                                  std::string(f.count("avx512_fp16") ? ", avx512_fp16" : "") + ")";
  if (f.count("avx512_bf16")) return "cooperlake or later (by flags: avx512_bf16)";
  if (f.count("avx512f")) return "skylakex or later (by flags: avx512f)";
  return "";
}

// The uarch of a file written before cpu_family existed, from what it did record.
std::string legacy_uarch(const json& context, const std::string& vendor) {
  const std::set<std::string> flags = words(text_of(context, "isa_flags"));
  const std::string caches = text_of(context, "caches_per_core");
  if (vendor == "amd" && flags.count("avx512f")) {
    // Zen 5 is the only AMD core with a 48 KiB L1d; Zen 4 (the first with AVX-512) has 32 KiB.
    if (caches.rfind("L1=48K", 0) == 0) return "zen5";
    if (caches.rfind("L1=32K", 0) == 0) return "zen4";
  }
  return "unknowngen";
}

std::string gpu_suffix(const json& context) {
  std::set<std::string> names;
  for (const auto& [key, value] : context.items()) {
    if (!value.is_string()) continue;
    const std::string text = value.get<std::string>();
    if (text.empty() || text.rfind("unavailable", 0) == 0) continue;
    auto ends_with = [&](const std::string& tail) {
      return key.size() > tail.size() && key.compare(key.size() - tail.size(), tail.size(), tail) == 0;
    };
    if (ends_with("_cuda_device")) names.insert(lower_words(text));
    if (ends_with("_device")) {
      const std::string type_key = key + "_type";
      if (context.contains(type_key) && context[type_key].is_string() &&
          context[type_key].get<std::string>().find("GPU") != std::string::npos) {
        names.insert(lower_words(text));
      }
    }
  }
  std::string out;
  for (const std::string& n : names) out += "-" + n;
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

CpuIdentity parse_cpuinfo(const std::string& text) {
  CpuIdentity cpu;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (trim(line).empty()) {
      if (cpu.family >= 0 || !cpu.vendor_id.empty()) break;  // the first processor is enough
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    if (key == "vendor_id") cpu.vendor_id = value;
    else if (key == "model name") cpu.model_name = value;
    else if (key == "cpu family") cpu.family = to_int(value);
    else if (key == "model") cpu.model = to_int(value);
    else if (key == "stepping") cpu.stepping = to_int(value);
    else if (key == "microcode") cpu.microcode = value;
    else if (key == "cpu MHz") cpu.mhz = std::atof(value.c_str());
    else if (key == "flags") cpu.flags = words(value);
  }
  return cpu;
}

std::string isa_tier(const std::set<std::string>& f) {
  if (f.count("amx_bf16") && f.count("amx_tile")) return "amx";
  if (f.count("avx512_fp16")) return "avx512fp16";
  if (f.count("avx512_bf16")) return "avx512bf16";
  if (f.count("avx512f") && f.count("avx512bw") && f.count("avx512vl")) return "avx512";
  if (f.count("avx2") && f.count("fma")) return "avx2";
  return "base";
}

Microarchitecture microarchitecture(const CpuIdentity& cpu) {
  const std::string vendor = vendor_word(cpu.vendor_id, cpu.model_name);
  Microarchitecture u;
  u.name = std::to_string(cpu.family) + "-" + std::to_string(cpu.model);
  if (cpu.family < 0 || cpu.model < 0) {
    u.name = "unknowngen";
    return u;
  }
  const std::string tier = isa_tier(cpu.flags);
  for (const Row& r : kTable) {
    if (vendor != r.vendor || cpu.family != r.family || cpu.model < r.model_lo || cpu.model > r.model_hi) continue;
    if (tier_rank(tier) > tier_rank(r.best_tier)) {
      // The flags rule the table out: a hypervisor reporting some other part's model.
      u.guess = (vendor == "intel" ? intel_guess_by_flags(cpu.flags) : std::string("unknown")) +
                "; the reported model is " + r.name + ", which has no " + tier;
      return u;
    }
    u.name = r.name;
    if (u.name == std::string("skylakex") && cpu.stepping >= 5) u.name = cpu.stepping >= 10 ? "cooperlake" : "cascadelake";
    u.known = true;
    return u;
  }
  if (vendor == "intel") u.guess = intel_guess_by_flags(cpu.flags);
  return u;
}

std::map<std::string, std::string> cpu_identity_context(const CpuIdentity& cpu, double max_mhz) {
  std::map<std::string, std::string> c;
  const Microarchitecture u = microarchitecture(cpu);
  c["cpu_vendor"] = cpu.vendor_id;
  c["cpu_family"] = cpu.family >= 0 ? std::to_string(cpu.family) : "";
  c["cpu_model_number"] = cpu.model >= 0 ? std::to_string(cpu.model) : "";
  c["cpu_stepping"] = cpu.stepping >= 0 ? std::to_string(cpu.stepping) : "";
  c["cpu_microcode"] = cpu.microcode;
  c["cpu_uarch"] = u.name;
  if (!u.guess.empty()) c["cpu_uarch_guess"] = u.guess;
  c["cpu_isa_tier"] = isa_tier(cpu.flags);
  c["cpu_virtualised"] = cpu.hypervisor() ? "yes" : "no";
  char buf[32];
  if (cpu.mhz > 0) {
    std::snprintf(buf, sizeof buf, "%.0f", cpu.mhz);
    c["cpu_mhz"] = buf;
  }
  if (max_mhz > 0) {
    std::snprintf(buf, sizeof buf, "%.0f", max_mhz);
    c["cpu_max_mhz"] = buf;
  }
  return c;
}

std::string hardware_class(const json& context) {
  if (!context.is_object() || !context.contains("cpu_model") || !context["cpu_model"].is_string()) {
    throw SpecError("machine class: the results file's context has no cpu_model");
  }
  const std::string vendor = vendor_word(text_of(context, "cpu_vendor"), text_of(context, "cpu_model"));
  std::string uarch = lower_words(text_of(context, "cpu_uarch"));
  if (uarch.empty()) uarch = legacy_uarch(context, vendor);
  std::string tier = text_of(context, "cpu_isa_tier");
  if (tier.empty()) tier = isa_tier(words(text_of(context, "isa_flags")));
  std::string cls = vendor + "-" + uarch + "-" + lower_words(tier);
  const std::string cores = lower_words(text_of(context, "cpu_cores_online"));
  std::string threads = lower_words(text_of(context, "threads_used"));
  if (threads.empty()) threads = lower_words(text_of(context, "num_cpus"));
  // Threads as well as cores: a run pinned to 2 of 64 cores is its own class of timings.
  if (!cores.empty() || !threads.empty()) cls += "-" + (cores.empty() ? "" : cores + "c") + (threads.empty() ? "" : threads + "t");
  if (text_of(context, "cpu_virtualised") == "yes") cls += "-vm";
  cls += gpu_suffix(context);
  // It names a file and a folder: within any file system's name limit whatever the context holds.
  constexpr std::size_t kMaxClass = 200;
  if (cls.size() > kMaxClass) cls.resize(kMaxClass);
  return cls;
}

std::string host_hardware_class(int threads) {
  const CpuIdentity cpu = parse_cpuinfo(read_file("/proc/cpuinfo"));
  json context = cpu_identity_context(cpu);
  context["cpu_model"] = cpu.model_name;
  context["cpu_cores_online"] = std::to_string(std::thread::hardware_concurrency());
  context["threads_used"] = std::to_string(threads > 0 ? threads : omp_get_max_threads());
  return hardware_class(context);
}

}  // namespace sdpa
