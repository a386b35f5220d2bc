// A packed single-precision GEMM on the attention's own micro-kernel (GotoBLAS / BLIS loop
// nest), used as the calibration peak: the attention's fraction of it measures what tiling,
// softmax and packing cost on top of the same arithmetic core.
#pragma once

#include <cstdint>

#include "backends/blocked_cpu/kernels.h"

namespace sdpa::blocked {

// C[m × n] = A[m × k] · B[k × n], all row-major and contiguous. Each C block is owned by one
// thread and summed in increasing k, so results do not depend on the thread count.
void sgemm(const Kernels& kernels, int threads, int64_t m, int64_t n, int64_t k, const float* a, const float* b,
           float* c);

struct SgemmTiming {
  double tflops = 0;      // best of the timed repetitions
  double seconds = 0;     // of that repetition
};

// Times sgemm on n³ with N(0,1)-like data: one warm-up, then the best of `repetitions`.
SgemmTiming time_sgemm(const Kernels& kernels, int threads, int64_t n, int repetitions);

}  // namespace sdpa::blocked
