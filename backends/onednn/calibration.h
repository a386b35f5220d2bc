// The peaks of oneDNN's matmul on this CPU, the denominators of fraction-of-peak: one GEMM per
// storage type the CPU runs (see dtype_support()), measured at every call (the run's end-of-run
// noise check must see the machine as it is then); the harness keeps one reading per GEMM when
// `onednn` and `onednn_prims` both measure it.
#pragma once

#include <vector>

#include "backends/backend.h"

namespace sdpa::onednn {

// f32, then bf16 and f16 where oneDNN runs them on this CPU, at the current thread limit.
// Empty when there is no CPU engine.
std::vector<Calibration> matmul_peaks();

}  // namespace sdpa::onednn
