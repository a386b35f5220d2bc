#pragma once
#include "backends/registry.h"

namespace sdpa {
// Registers `blocked_cpu` (the widest paths this CPU runs) and one variant pinned to each path
// (blocked_cpu_amx, _avx512bf16, _avx512, _avx2, _portable), so every path meets the
// conformance test and the benchmark; a variant the CPU cannot run is unavailable, with why.
void register_blocked_cpu(Registry& registry);
}
