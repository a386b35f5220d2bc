// The instruction tier's view of valgrind: the command that runs a worker under callgrind with
// collection off until the worker's client requests turn it on around a backend's run(), and the
// reader of the dump files those requests write. Under valgrind the CPU reports no AVX-512 (and
// no AMX), so dispatching code takes its AVX2 paths: counts judge those paths only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sdpa {

// `valgrind --tool=callgrind --collect-atstart=no ... BIN worker --threads 1`, dumps written as
// <out_prefix>.<pid>.<n> (callgrind's naming for client-request dumps).
std::vector<std::string> callgrind_worker_command(const std::string& valgrind, const std::string& bin,
                                                  const std::string& out_prefix);

// The environment a counted worker needs: one OpenMP thread that sleeps when idle.
std::vector<std::string> callgrind_worker_env();

// The instruction count (Ir) of a dump file: its "summary:" (or "totals:") line. Throws
// std::runtime_error naming the file when there is none.
uint64_t read_callgrind_total(const std::string& path);

// The newest dump of `pid` under `out_prefix` (the highest .<n>), read and removed. Throws
// std::runtime_error when there is none.
uint64_t take_callgrind_dump(const std::string& out_prefix, long pid);

}  // namespace sdpa
