// Which machine a results file came from, told apart well enough that timings of two CPU
// generations never share a folder, a baseline or a merge: the vendor, the microarchitecture
// (from the CPUID family and model), the ISA tier the kernels dispatch on, cores and threads,
// virtualisation, and each GPU a backend ran on.
#pragma once

#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

namespace sdpa {

// What /proc/cpuinfo says about the first processor.
struct CpuIdentity {
  std::string vendor_id;   // "GenuineIntel", "AuthenticAMD"
  std::string model_name;  // "AMD EPYC 9R14 96-Core Processor"
  int family = -1, model = -1, stepping = -1;  // -1: not reported
  std::string microcode;   // "0xa101148"
  double mhz = 0;          // the "cpu MHz" line (the current clock as the kernel last saw it)
  std::set<std::string> flags;
  bool hypervisor() const { return flags.count("hypervisor") != 0; }
};
CpuIdentity parse_cpuinfo(const std::string& cpuinfo_text);

// The highest of base < avx2 < avx512 < avx512bf16 < avx512fp16 < amx that the flags carry: the
// step at which blocked_cpu and oneDNN switch kernels.
std::string isa_tier(const std::set<std::string>& flags);

// The microarchitecture. `name` is "zen4", "sapphirerapids", ... or, where the family/model is
// not in the table or the flags rule the table's answer out (a KVM guest may report a model
// whose real part lacks the flags it shows), the raw "<family>-<model>"; `guess` then says what
// the flags suggest, marked as a guess ("sapphirerapids or later (by flags: amx_bf16)").
struct Microarchitecture {
  std::string name;
  bool known = false;
  std::string guess;  // "" when known
};
Microarchitecture microarchitecture(const CpuIdentity& cpu);

// The identity keys every results file's context records: cpu_vendor, cpu_family,
// cpu_model_number, cpu_stepping, cpu_microcode, cpu_uarch, cpu_uarch_guess (when guessed),
// cpu_isa_tier, cpu_virtualised, cpu_mhz, cpu_max_mhz (where cpufreq exposes it).
std::map<std::string, std::string> cpu_identity_context(const CpuIdentity& cpu, double max_mhz = 0);

// The class of a results file's context, e.g. "amd-zen4-avx512bf16-2c2t-vm" or
// "intel-6-167-amx-2c2t-vm" (a model the table does not know, kept raw):
//   <vendor>-<uarch>-<isa tier>-<cores online>c<threads used>t[-vm][-<gpu>...]
// Files written before the identity keys existed are classed from what they recorded: an AMD
// part with AVX-512 and 48 KiB L1d is a zen5, with 32 KiB a zen4; otherwise the uarch reads
// "unknowngen". Throws SpecError when the context has no cpu_model.
std::string hardware_class(const nlohmann::json& context);

// The class of this machine for a run on `threads` threads (scripts/bench's folder).
std::string host_hardware_class(int threads);

}  // namespace sdpa
