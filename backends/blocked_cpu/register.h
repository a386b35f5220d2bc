#pragma once
#include "backends/registry.h"

namespace sdpa {
// Registers `blocked_cpu` (the widest kernel table this CPU runs), `blocked_cpu_avx2` and
// `blocked_cpu_portable` (those tables forced), so every path meets the conformance test and
// the benchmark.
void register_blocked_cpu(Registry& registry);
}
