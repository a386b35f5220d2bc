// The AVX-512 table: the same kernels as kernels_avx2.cpp on 512-bit vectors (14×32 GEMM
// micro-kernel: 28 of the 32 zmm registers accumulate, 2 hold the B row, broadcasts of A fold
// into the FMAs). Compiled with -mavx512f -mavx512dq -mavx2 -mfma -mf16c; conversions stay
// 256-bit.
// Used only after blocked_cpu.cpp checked the CPU for all five.
#include <cstdint>

#include "backends/blocked_cpu/kernels.h"
#include "backends/blocked_cpu/simd_avx512.h"
#include "backends/blocked_cpu/kernels_simd.h"

namespace sdpa::blocked {
namespace {

constexpr int kMr = 14;
constexpr int kNr = 2 * Avx512::W;

template <int M>
void gemm_up_to(int m, int64_t k, const float* a, int64_t lda, const float* b, float* c, int64_t ldc, int mode,
                const float* row_scale) {
  if constexpr (M > 1) {
    if (m < M) return gemm_up_to<M - 1>(m, k, a, lda, b, c, ldc, mode, row_scale);
  }
  gemm_rows<Avx512, M>(k, a, lda, b, c, ldc, mode, row_scale);
}

void gemm(int m, int64_t k, const float* a, int64_t lda, const float* b, float* c, int64_t ldc, int mode,
          const float* row_scale) {
  gemm_up_to<kMr>(m, k, a, lda, b, c, ldc, mode, row_scale);
}

const Kernels kTable = {
    "avx512", kMr, kNr, gemm, pack_k<kNr>, pack_v<kNr>, to_f32, softmax_rows<Avx512>, finalize, exp2_array<Avx512>,
};

}  // namespace

const Kernels* kernels_avx512() { return &kTable; }

}  // namespace sdpa::blocked
