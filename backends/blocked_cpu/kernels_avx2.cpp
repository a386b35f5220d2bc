// The AVX2 + FMA + F16C table. This file alone is compiled with -mavx2 -mfma -mf16c (see
// CMakeLists.txt); it is only ever called after blocked_cpu.cpp checked the CPU for all three.
#include <immintrin.h>

#include <cstdint>

#include "backends/blocked_cpu/kernels.h"

namespace sdpa::blocked {
namespace {

struct Avx2 {
  using reg = __m256;
  static constexpr int W = 8;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float x) { return _mm256_set1_ps(x); }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, reg x) { _mm256_storeu_ps(p, x); }
  static reg broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg fms(reg a, reg b, reg c) { return _mm256_fmsub_ps(a, b, c); }
  static constexpr bool has_scalef = false;  // vexp2 builds 2^n in the exponent field
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  // The low 9 bits of t's representation (n + 127, see vexp2) moved into the exponent field.
  static reg exp2_scale(reg t) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 23)); }
  static float hmax(reg x) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  static float hsum(reg x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

}  // namespace
}  // namespace sdpa::blocked

#include "backends/blocked_cpu/kernels_simd.h"

namespace sdpa::blocked {
namespace {

constexpr int kMr = 6;
constexpr int kNr = 2 * Avx2::W;

void gemm(int m, int64_t k, const float* a, int64_t lda, const float* b, float* c, int64_t ldc, int mode,
          const float* row_scale) {
  switch (m) {
    case 1: return gemm_rows<Avx2, 1>(k, a, lda, b, c, ldc, mode, row_scale);
    case 2: return gemm_rows<Avx2, 2>(k, a, lda, b, c, ldc, mode, row_scale);
    case 3: return gemm_rows<Avx2, 3>(k, a, lda, b, c, ldc, mode, row_scale);
    case 4: return gemm_rows<Avx2, 4>(k, a, lda, b, c, ldc, mode, row_scale);
    case 5: return gemm_rows<Avx2, 5>(k, a, lda, b, c, ldc, mode, row_scale);
    default: return gemm_rows<Avx2, 6>(k, a, lda, b, c, ldc, mode, row_scale);
  }
}

const Kernels kTable = {
    "avx2",          kMr,       kNr,      gemm, pack_k<kNr>, pack_v<kNr>, to_f32, softmax_rows<Avx2>,
    finalize,        exp2_array<Avx2>,
};

}  // namespace

const Kernels* kernels_avx2() { return &kTable; }

}  // namespace sdpa::blocked
