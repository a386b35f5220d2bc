// The AVX-512 vector traits that kernels_simd.h's templates run on (see there for the list),
// shared by every translation unit compiled with at least -mavx512f -mavx512dq -mavx2 -mfma: the
// f32 table (kernels_avx512.cpp) and the bf16 tables (kernels_avx512bf16.cpp, kernels_amx.cpp). In an
// anonymous namespace like kernels_simd.h: each includer gets its own copy under its own flags.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace sdpa::blocked {
namespace {

struct Avx512 {
  using reg = __m512;
  static constexpr int W = 16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(float x) { return _mm512_set1_ps(x); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, reg x) { _mm512_storeu_ps(p, x); }
  static reg broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg fms(reg a, reg b, reg c) { return _mm512_fmsub_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  // vexp2 (kernels_simd.h): x − floor(x) by vreduceps (AVX512DQ; -inf gives 0, NaN stays NaN),
  // p·2^floor(x) by vscalefps.
  static constexpr bool has_scalef = true;
  static reg frac_floor(reg x) { return _mm512_reduce_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static reg scalef(reg p, reg x) { return _mm512_scalef_ps(p, x); }
  static reg exp2_scale(reg t) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(t), 23)); }
  static __m256 high(reg x) { return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)); }
  static float hmax(reg x) {
    __m256 m8 = _mm256_max_ps(_mm512_castps512_ps256(x), high(x));
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  static float hsum(reg x) {
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(x), high(x));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

}  // namespace
}  // namespace sdpa::blocked
