// Micro-kernels written once over a vector-traits type V and instantiated by each x86 ISA
// translation unit (kernels_avx2.cpp, kernels_avx512.cpp) after it includes <immintrin.h> and
// defines its traits: V::reg, V::W (lanes), zero, set1, load, store, broadcast, fma, add, sub,
// mul, max, hmax, hsum, exp2_scale (2^n from the integer bits of a magic-rounded float).
// Everything here sits in an anonymous namespace: each ISA translation unit gets its own copy
// compiled with its own flags, and no symbol is shared with code compiled for other CPUs.
// Conversions use 256-bit AVX2 / F16C forms, which every table built on this file may use.
#pragma once

namespace sdpa::blocked {
namespace {

constexpr float kNegInf = -__builtin_inff();

// ---------------------------------------------------------------------------------------
// 2^x for x ≤ 0, the softmax's exponential: 2^x = 2^f · 2^n with a degree-6 polynomial for 2^f
// (relative-error minimax, Remez at 50 digits, coefficients rounded to float) and an exact 2^n.
// Two ways, by what the vector ISA has:
//  - AVX2: n = round(x) from a magic-number rounding, f = x − n in [-1/2, 1/2], 2^n built in the
//    exponent field; x is clamped at -127, where n + 127 = 0 builds +0: -inf (a masked score)
//    gives exactly 0, x < -126.5 flushes to 0, and a NaN becomes -127 (max returns its second
//    operand). 13 operations.
//  - AVX-512 (with DQ): f = x − floor(x) in [0, 1) by one vreduceps, then vscalefps multiplies
//    by 2^floor(x) itself, so n is never formed: 8 operations (the softmax is about 10% of an f32
//    d=64 run). -inf reduces to f = 0 and scales to exactly 0; a NaN stays NaN, as README's
//    non-finite rule wants. Below -126 the result is subnormal, which the f32 driver flushes to
//    0 (MXCSR FTZ/DAZ in its threads, flash.cpp): no subnormal reaches the row sums or P·V.
// Measured max relative error over [-126, 0]: see exp2_max_rel_error in kernels.h.
// The coefficients of f, f², …, f⁶ (the constant is 1). On [-1/2, 1/2] (AVX2):
constexpr float kExp2Half[6] = {6.931472421e-01f, 2.402265221e-01f, 5.550310388e-02f,
                                9.617692791e-03f, 1.340664341e-03f, 1.559467782e-04f};
// On [0, 1] (AVX-512): minimax error 1.9e-9; Horner in float with FMA, 6.1e-8 at worst.
constexpr float kExp2Unit[6] = {6.931470036506653e-01f, 2.402298301458359e-01f, 5.548334121704102e-02f,
                                9.678840637207031e-03f, 1.243968727067113e-03f, 2.170225634472445e-04f};
// 1.5·2^23 + 127: adding it rounds x to an integer n (ties to even) and leaves n + 127 in the
// low mantissa bits, ready to be shifted into the exponent field.
constexpr float kExp2Magic = 12582912.0f + 127.0f;

template <class V>
inline typename V::reg exp2_poly(typename V::reg f, const float (&c)[6]) {
  typename V::reg p = V::fma(V::set1(c[5]), f, V::set1(c[4]));
  for (int i = 3; i >= 0; --i) p = V::fma(p, f, V::set1(c[i]));
  return V::fma(p, f, V::set1(1.0f));
}

template <class V>
inline typename V::reg vexp2(typename V::reg x) {
  if constexpr (V::has_scalef) {
    return V::scalef(exp2_poly<V>(V::frac_floor(x), kExp2Unit), x);
  } else {
    x = V::max(x, V::set1(-127.0f));  // also maps NaN to -127 (max returns its second operand)
    typename V::reg t = V::add(x, V::set1(kExp2Magic));
    typename V::reg f = V::sub(x, V::sub(t, V::set1(kExp2Magic)));  // exact: |f| ≤ 1/2
    return V::mul(exp2_poly<V>(f, kExp2Half), V::exp2_scale(t));
  }
}

template <class V>
void exp2_array(const float* x, int64_t n, float* y) {
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W) V::store(y + i, vexp2<V>(V::load(x + i)));
  if (i < n) {
    alignas(64) float buf[V::W];
    for (int j = 0; j < V::W; ++j) buf[j] = i + j < n ? x[i + j] : 0.0f;
    V::store(buf, vexp2<V>(V::load(buf)));
    for (int j = 0; i + j < n; ++j) y[i + j] = buf[j];
  }
}

// ---------------------------------------------------------------------------------------
// GEMM micro-kernel: M rows × (2 vectors) columns held in 2·M accumulators (AVX2: 6×16 in
// 12 of the 16 ymm registers, leaving 2 for the B row and 1 for the broadcast A element;
// AVX-512: 14×32 in 28 of the 32 zmm registers). On L1-resident operands both run at 98-99%
// of the FMA peak (blocked_cpu_bench micro_kernel/*).
template <class V, int M, int Mode>
void gemm_tile(int64_t k, const float* __restrict a, int64_t lda, const float* __restrict b,
               float* __restrict c, int64_t ldc, const float* __restrict row_scale) {
  constexpr int W = V::W;
  constexpr int NR = 2 * W;
  typename V::reg acc0[M], acc1[M];
#pragma GCC unroll 16
  for (int r = 0; r < M; ++r) {
    if constexpr (Mode == gemm_store) {
      acc0[r] = V::zero();
      acc1[r] = V::zero();
    } else {
      acc0[r] = V::load(c + r * ldc);
      acc1[r] = V::load(c + r * ldc + W);
      if constexpr (Mode == gemm_scale_accumulate) {
        typename V::reg s = V::set1(row_scale[r]);
        acc0[r] = V::mul(acc0[r], s);
        acc1[r] = V::mul(acc1[r], s);
      }
    }
  }
  for (int64_t kk = 0; kk < k; ++kk) {
    typename V::reg b0 = V::load(b + kk * NR);
    typename V::reg b1 = V::load(b + kk * NR + W);
#pragma GCC unroll 16
    for (int r = 0; r < M; ++r) {
      typename V::reg x = V::broadcast(a + r * lda + kk);
      acc0[r] = V::fma(x, b0, acc0[r]);
      acc1[r] = V::fma(x, b1, acc1[r]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < M; ++r) {
    V::store(c + r * ldc, acc0[r]);
    V::store(c + r * ldc + W, acc1[r]);
  }
}

template <class V, int M>
void gemm_rows(int64_t k, const float* a, int64_t lda, const float* b, float* c, int64_t ldc, int mode,
               const float* row_scale) {
  switch (mode) {
    case gemm_store: return gemm_tile<V, M, gemm_store>(k, a, lda, b, c, ldc, row_scale);
    case gemm_accumulate: return gemm_tile<V, M, gemm_accumulate>(k, a, lda, b, c, ldc, row_scale);
    default: return gemm_tile<V, M, gemm_scale_accumulate>(k, a, lda, b, c, ldc, row_scale);
  }
}

// ---------------------------------------------------------------------------------------
// Online softmax of one score block (see Kernels::softmax), in three sweeps so that no row
// waits on another's horizontal reductions: the row maxima, then every row's rescale factor
// in one vector pass, then the exponentials and row sums.
template <class V>
void softmax_rows(float* s, int64_t lds, int rows, int64_t ncols, const int64_t* limit, float c, float* m,
                  float* l, float* alpha) {
  constexpr int W = V::W;
  for (int r = 0; r < rows; ++r) {
    float* row = s + r * lds;
    if (limit) {
      int64_t lim = limit[r] < 0 ? 0 : (limit[r] > ncols ? ncols : limit[r]);
      for (int64_t j = lim; j < ncols; ++j) row[j] = kNegInf;
    }
    typename V::reg mx0 = V::set1(kNegInf), mx1 = mx0;
    for (int64_t j = 0; j < ncols; j += 2 * W) {
      mx0 = V::max(mx0, V::load(row + j));
      mx1 = V::max(mx1, V::load(row + j + W));
    }
    const float block_max = V::hmax(V::max(mx0, mx1));
    const float m_new = block_max > m[r] ? block_max : m[r];
    // A row with nothing visible yet keeps m = -inf; subtracting 0 instead keeps every
    // 2^(-inf) an exact 0 rather than a NaN from (-inf) - (-inf).
    const float m_use = m_new == kNegInf ? 0.0f : m_new;
    // The exponents below are s·c − fl(m·c), one FMA each: every p of the row is off by the
    // same factor 2^(m·c − fl(m·c)) (a few f32 ulps), which alpha, formed from the same
    // rounded products, carries over exactly to the earlier blocks, so it cancels in O / l.
    alpha[r] = m[r] == kNegInf ? kNegInf : m[r] * c - m_use * c;
    m[r] = m_new;
  }
  exp2_array<V>(alpha, rows, alpha);
  const typename V::reg cv = V::set1(c);
  for (int r = 0; r < rows; ++r) {
    float* row = s + r * lds;
    const typename V::reg mc = V::set1((m[r] == kNegInf ? 0.0f : m[r]) * c);
    typename V::reg sum0 = V::zero(), sum1 = V::zero();
    for (int64_t j = 0; j < ncols; j += 2 * W) {
      typename V::reg p0 = vexp2<V>(V::fms(V::load(row + j), cv, mc));
      typename V::reg p1 = vexp2<V>(V::fms(V::load(row + j + W), cv, mc));
      V::store(row + j, p0);
      V::store(row + j + W, p1);
      sum0 = V::add(sum0, p0);
      sum1 = V::add(sum1, p1);
    }
    l[r] = alpha[r] * l[r] + V::hsum(V::add(sum0, sum1));
  }
}

// ---------------------------------------------------------------------------------------
// Conversions (AVX2 + F16C): f16 through vcvtph2ps, bf16 by a 16-bit shift into the top half.
template <int Type>
inline __m256 load8(const void* src, int64_t i) {
  if constexpr (Type == src_f32) {
    return _mm256_loadu_ps(static_cast<const float*>(src) + i);
  } else {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(src) + i));
    if constexpr (Type == src_f16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

template <int Type>
inline float load1(const void* src, int64_t i) {
  if constexpr (Type == src_f32) {
    return static_cast<const float*>(src)[i];
  } else {
    uint16_t h = static_cast<const uint16_t*>(src)[i];
    if constexpr (Type == src_f16) return _cvtsh_ss(h);
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    __builtin_memcpy(&f, &bits, sizeof f);
    return f;
  }
}

inline void transpose8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// K is transposed 8 keys × 8 dims at a time; ragged key groups and the d tail go one by one.
template <int NR, int Type>
void pack_k_typed(const void* src, int64_t ld, int64_t nk, int64_t d, int64_t npanels, float* dst) {
  for (int64_t p = 0; p < npanels; ++p) {
    float* panel = dst + p * d * NR;
    for (int jg = 0; jg < NR; jg += 8) {
      const int64_t j0 = p * NR + jg;
      const int64_t valid = nk - j0 < 0 ? 0 : (nk - j0 > 8 ? 8 : nk - j0);
      int64_t c = 0;
      if (valid == 8) {
        for (; c + 8 <= d; c += 8) {
          __m256 r[8];
          for (int i = 0; i < 8; ++i) r[i] = load8<Type>(src, (j0 + i) * ld + c);
          transpose8(r);
          for (int i = 0; i < 8; ++i) _mm256_storeu_ps(panel + (c + i) * NR + jg, r[i]);
        }
      }
      for (; c < d; ++c) {
        for (int i = 0; i < 8; ++i) panel[c * NR + jg + i] = i < valid ? load1<Type>(src, (j0 + i) * ld + c) : 0.0f;
      }
    }
  }
}

template <int NR, int Type>
void pack_v_typed(const void* src, int64_t ld, int64_t nk, int64_t dv, int64_t nrows, int64_t kstride,
                  float* dst) {
  const int64_t nchunks = (dv + NR - 1) / NR;
  for (int64_t ch = 0; ch < nchunks; ++ch) {
    float* chunk = dst + ch * kstride * NR;
    if ((ch + 1) * NR <= dv) {  // a full chunk: straight copies, then zero rows past nk
      for (int64_t j = 0; j < nk; ++j) {
        for (int cc = 0; cc < NR; cc += 8) _mm256_storeu_ps(chunk + j * NR + cc, load8<Type>(src, j * ld + ch * NR + cc));
      }
      for (int64_t j = nk; j < nrows; ++j) {
        for (int cc = 0; cc < NR; cc += 8) _mm256_storeu_ps(chunk + j * NR + cc, _mm256_setzero_ps());
      }
      continue;
    }
    for (int64_t j = 0; j < nrows; ++j) {
      float* out = chunk + j * NR;
      for (int cc = 0; cc < NR; cc += 8) {
        const int64_t col = ch * NR + cc;
        if (j < nk && col + 8 <= dv) {
          _mm256_storeu_ps(out + cc, load8<Type>(src, j * ld + col));
        } else {
          for (int i = 0; i < 8; ++i) out[cc + i] = (j < nk && col + i < dv) ? load1<Type>(src, j * ld + col + i) : 0.0f;
        }
      }
    }
  }
}

template <int NR>
void pack_k(const void* src, int type, int64_t ld, int64_t nk, int64_t d, int64_t npanels, float* dst) {
  switch (type) {
    case src_f32: return pack_k_typed<NR, src_f32>(src, ld, nk, d, npanels, dst);
    case src_f16: return pack_k_typed<NR, src_f16>(src, ld, nk, d, npanels, dst);
    default: return pack_k_typed<NR, src_bf16>(src, ld, nk, d, npanels, dst);
  }
}

template <int NR>
void pack_v(const void* src, int type, int64_t ld, int64_t nk, int64_t dv, int64_t nrows, int64_t kstride,
            float* dst) {
  switch (type) {
    case src_f32: return pack_v_typed<NR, src_f32>(src, ld, nk, dv, nrows, kstride, dst);
    case src_f16: return pack_v_typed<NR, src_f16>(src, ld, nk, dv, nrows, kstride, dst);
    default: return pack_v_typed<NR, src_bf16>(src, ld, nk, dv, nrows, kstride, dst);
  }
}

template <int Type>
void to_f32_typed(const void* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8<Type>(src, i));
  for (; i < n; ++i) dst[i] = load1<Type>(src, i);
}

inline void to_f32(const void* src, int type, int64_t n, float* dst) {
  switch (type) {
    case src_f32: return to_f32_typed<src_f32>(src, n, dst);
    case src_f16: return to_f32_typed<src_f16>(src, n, dst);
    default: return to_f32_typed<src_bf16>(src, n, dst);
  }
}

// Round to the storage type, nearest-even: f16 through vcvtps2ph, bf16 by adding
// 0x7fff + (the lowest kept bit) and truncating (outputs are finite: no NaN case needed).
inline __m256 round8(__m256 x, int type) {
  if (type == src_f16) return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  if (type == src_bf16) {
    __m256i bits = _mm256_castps_si256(x);
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    bits = _mm256_add_epi32(bits, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd));
    return _mm256_castsi256_ps(_mm256_and_si256(bits, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
  }
  return x;
}

inline void finalize(const float* o, int64_t n, float l, int type, float* out) {
  int64_t i = 0;
  if (l == 0.0f) {  // fully masked row
    for (; i < n; ++i) out[i] = 0.0f;
    return;
  }
  const __m256 lv = _mm256_set1_ps(l);
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, round8(_mm256_div_ps(_mm256_loadu_ps(o + i), lv), type));
  if (i < n) {
    alignas(32) float buf[8] = {};
    for (int64_t j = i; j < n; ++j) buf[j - i] = o[j];
    _mm256_store_ps(buf, round8(_mm256_div_ps(_mm256_load_ps(buf), lv), type));
    for (int64_t j = i; j < n; ++j) out[j] = buf[j - i];
  }
}

}  // namespace
}  // namespace sdpa::blocked
