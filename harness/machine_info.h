// The host half of a results file's hardware fingerprint, plus build facts.
#pragma once

#include <map>
#include <string>

namespace sdpa {

// cpu_model, cpu_cores_online, threads_used, isa_flags, caches, memory, compiler, flags,
// build type, git commit, date, hostname; the CPU identity (cpu_vendor, cpu_family,
// cpu_model_number, cpu_stepping, cpu_microcode, cpu_uarch, cpu_isa_tier, cpu_virtualised,
// cpu_mhz, cpu_max_mhz) and machine_class (harness/machine_class.h).
std::map<std::string, std::string> host_context(int threads_used);

// Number of threads OpenMP will use for a parallel region.
int omp_threads();

}  // namespace sdpa
