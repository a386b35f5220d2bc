// The host half of a results file's hardware fingerprint, plus build facts.
#pragma once

#include <map>
#include <string>

namespace sdpa {

// cpu_model, cpu_cores_online, threads_used, isa_flags, caches, memory, compiler, flags,
// build type, git commit, date, hostname.
std::map<std::string, std::string> host_context(int threads_used);

// Number of threads OpenMP will use for a parallel region.
int omp_threads();

}  // namespace sdpa
