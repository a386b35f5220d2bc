// The parts of the bf16 tables that are not GEMMs, written once for both (kernels_amx.cpp,
// kernels_avx512bf16.cpp): packing K and V into VNNI panels (layout in kernels16.h), the online
// softmax that rounds P to bf16 (or to f16, split into bf16 pairs), the f16 → bf16 pair
// splitter, the O rescale and the final division. Needs AVX-512 F/BW/VL
// and AVX512-BF16 (vcvtne2ps2bf16 rounds to nearest-even); every includer is compiled for them.
// Anonymous namespace, as in kernels_simd.h: one private copy per translation unit.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "backends/blocked_cpu/kernels.h"
#include "backends/blocked_cpu/simd_avx512.h"
#include "backends/blocked_cpu/kernels_simd.h"

namespace sdpa::blocked {
namespace {

// Lanes [0, n) of 16 (n may be ≤ 0 or ≥ 16).
inline __mmask16 first16(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1);
}
inline __mmask32 first32(int64_t n) {
  return n >= 32 ? 0xffffffffu : n <= 0 ? 0 : static_cast<__mmask32>((1u << n) - 1);
}

// 16 rows of 16 dwords transposed in registers: unpack dword pairs, then qword pairs (each
// 128-bit lane now holds a 4 × 4 transposed block), then move 128-bit lanes across rows.
inline void transpose16x16_epi32(__m512i r[16]) {
  __m512i a[16], b[16];
  for (int i = 0; i < 8; ++i) {
    a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; ++g) {  // b[4g + c], lane L: column 4L + c of rows 4g .. 4g + 3
    b[4 * g + 0] = _mm512_unpacklo_epi64(a[4 * g], a[4 * g + 2]);
    b[4 * g + 1] = _mm512_unpackhi_epi64(a[4 * g], a[4 * g + 2]);
    b[4 * g + 2] = _mm512_unpacklo_epi64(a[4 * g + 1], a[4 * g + 3]);
    b[4 * g + 3] = _mm512_unpackhi_epi64(a[4 * g + 1], a[4 * g + 3]);
  }
  for (int c = 0; c < 4; ++c) {  // r[4L + c], lane g = b[4g + c], lane L
    const __m512i u0 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0x44), u1 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0xEE);
    const __m512i u2 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0x44),
                  u3 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0xEE);
    r[c] = _mm512_shuffle_i32x4(u0, u2, 0x88);
    r[4 + c] = _mm512_shuffle_i32x4(u0, u2, 0xDD);
    r[8 + c] = _mm512_shuffle_i32x4(u1, u3, 0x88);
    r[12 + c] = _mm512_shuffle_i32x4(u1, u3, 0xDD);
  }
}

// Kᵀ as VNNI panels: a pair of head-dim elements of one key is one dword, so the panel of 16
// keys is a dword transpose of 16 key rows, 32 head-dim elements (16 pairs) at a time.
void pack_k16(const uint16_t* src, int64_t ld, int64_t nk, int64_t d, int64_t dpad, int64_t npanels,
              uint16_t* dst) {
  for (int64_t p = 0; p < npanels; ++p) {
    uint16_t* panel = dst + p * (dpad / 2) * 32;
    for (int64_t c0 = 0; c0 < dpad; c0 += 32) {
      const __mmask32 cols = first32(d - c0);
      __m512i r[16];
      for (int i = 0; i < 16; ++i) {
        const int64_t key = p * 16 + i;
        r[i] = key < nk ? _mm512_maskz_loadu_epi16(cols, src + key * ld + c0) : _mm512_setzero_si512();
      }
      transpose16x16_epi32(r);
      for (int i = 0; i < 16; ++i) _mm512_storeu_si512(panel + (c0 / 2 + i) * 32, r[i]);
    }
  }
}

// V as VNNI panels: the pair is two consecutive keys of one column, so each output row
// interleaves 16 columns of key 2i with the same columns of key 2i + 1.
void pack_v16(const uint16_t* src, int64_t ld, int64_t nk, int64_t dv, int64_t kpad, int64_t dvpad,
              uint16_t* dst) {
  const int64_t panel_elems = (kpad / 2) * 32;
  for (int64_t i = 0; i < kpad / 2; ++i) {
    const int64_t k0 = 2 * i, k1 = 2 * i + 1;
    for (int64_t p = 0; p < dvpad / 16; ++p) {
      const __mmask16 cols = first16(dv - p * 16);
      const __m256i lo = k0 < nk ? _mm256_maskz_loadu_epi16(cols, src + k0 * ld + p * 16) : _mm256_setzero_si256();
      const __m256i hi = k1 < nk ? _mm256_maskz_loadu_epi16(cols, src + k1 * ld + p * 16) : _mm256_setzero_si256();
      const __m512i pair = _mm512_or_si512(_mm512_cvtepu16_epi32(lo), _mm512_slli_epi32(_mm512_cvtepu16_epi32(hi), 16));
      _mm512_storeu_si512(dst + p * panel_elems + i * 32, pair);
    }
  }
}

// 2^x for the probabilities that are rounded to bf16 or f16 next (half an ulp: at most 2^-9 or
// 2^-11 relative; a p within 2^-18 of an f16 tie may round the other way, off by half an ulp
// plus 2^-18·p, so the accuracy rule's u·p still holds to 1%), so a
// cheaper exponential than kernels_simd.h's suffices: degree 4 (interpolation at the Chebyshev
// nodes of [-1/2, 1/2], coefficients rounded to float; max relative error 3.6e-6 ≈ 2^-18,
// measured over 2·10^5 points) and 2^n applied by vscalefps, 9 vector operations instead of 13.
// x is clamped at -125 so that every result stays a normal float (no denormal assists in the
// row sums); a probability below 2^-125 is off by < 3e-38 absolute, far below bf16's reach.
// The clamp is max(-125, x), in that order: vmaxps returns its second operand when either is
// NaN, so a NaN logit stays NaN and makes its row NaN (README, Non-finite values).
constexpr float kExp2Bf16C1 = 6.931210160e-01f;
constexpr float kExp2Bf16C2 = 2.402234972e-01f;
constexpr float kExp2Bf16C3 = 5.592197552e-02f;
constexpr float kExp2Bf16C4 = 9.666368365e-03f;

inline __m512 vexp2_bf16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-125.0f), x);
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(x, n);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(kExp2Bf16C4), f, _mm512_set1_ps(kExp2Bf16C3));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2Bf16C2));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2Bf16C1));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// Where exp_row's probabilities go, 32 columns at a time (a template parameter, so the choice
// costs nothing per element). bf16: P rounded to bf16, one row.
struct StoreBf16 {
  uint16_t* row;
  void operator()(int64_t j, __m512 p0, __m512 p1) const {
    _mm512_storeu_si512(row + j, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(p1, p0)));
  }
};

inline __m512 widen_bf16(__m256bh h) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(h)), 16));
}

// x (an f16 value held in f32) as hi + lo, both bf16 and exact (kernels16.h).
inline void split16(__m512 x, uint16_t* hi, uint16_t* lo, __mmask16 k) {
  const __m256bh h = _mm512_cvtneps_pbh(x);
  const __m256bh l = _mm512_cvtneps_pbh(_mm512_sub_ps(x, widen_bf16(h)));
  _mm256_mask_storeu_epi16(hi, k, reinterpret_cast<__m256i>(h));
  _mm256_mask_storeu_epi16(lo, k, reinterpret_cast<__m256i>(l));
}

inline __m512 round_f16(__m512 x) {
  return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// f16: P rounded to f16, then split into its exact bf16 pair, hi in `row`, lo `lo_offset` on.
struct StoreF16Pairs {
  uint16_t* row;
  int64_t lo_offset;
  void operator()(int64_t j, __m512 p0, __m512 p1) const {
    split16(round_f16(p0), row + j, row + lo_offset + j, 0xffff);
    split16(round_f16(p1), row + j + 16, row + lo_offset + j + 16, 0xffff);
  }
};

void split_f16(const uint16_t* src, int64_t n, uint16_t* hi, uint16_t* lo) {
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = first16(n - j);
    split16(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, src + j)), hi + j, lo + j, k);
  }
}

// One row of probabilities against a reference max (raw score units, mref_c = mref·c):
// P = 2^(s·c − mref_c), 0 at and past `lim`, handed to `store` (rounded to bf16, or to f16 and
// split); returns Σ p in f32 (before the
// rounding) and the largest visible raw score in *seen. The exponent is s·c − mref_c in one FMA
// (instead of (s − mref)·c): for |mref·c| ≲ 100 that moves p by a few f32 ulps, 2^-16 of
// bf16's half ulp. The mask is applied to the results, so S is never written (-inf or else).
template <class Store>
inline float exp_row(const float* row, int64_t ncols, int64_t lim, __m512 cv, float mref_c, Store store, float* seen) {
  const __m512 mc = _mm512_set1_ps(mref_c);
  __m512 sum0 = _mm512_setzero_ps(), sum1 = sum0;
  __m512 mx0 = _mm512_set1_ps(kNegInf), mx1 = mx0;
  for (int64_t j = 0; j < ncols; j += 32) {
    const __m512 x0 = _mm512_loadu_ps(row + j), x1 = _mm512_loadu_ps(row + j + 16);
    __m512 p0 = vexp2_bf16(_mm512_fmsub_ps(x0, cv, mc));
    __m512 p1 = vexp2_bf16(_mm512_fmsub_ps(x1, cv, mc));
    if (j + 32 > lim) {
      const __mmask16 k0 = first16(lim - j), k1 = first16(lim - j - 16);
      p0 = _mm512_maskz_mov_ps(k0, p0);
      p1 = _mm512_maskz_mov_ps(k1, p1);
      mx0 = _mm512_mask_max_ps(mx0, k0, mx0, x0);
      mx1 = _mm512_mask_max_ps(mx1, k1, mx1, x1);
    } else {
      mx0 = _mm512_max_ps(mx0, x0);
      mx1 = _mm512_max_ps(mx1, x1);
    }
    sum0 = _mm512_add_ps(sum0, p0);
    sum1 = _mm512_add_ps(sum1, p1);
    store(j, p0, p1);
  }
  *seen = Avx512::hmax(_mm512_max_ps(mx0, mx1));
  return Avx512::hsum(_mm512_add_ps(sum0, sum1));
}

// Kernels::softmax with bf16 output, with a lazy running max (the rule FlashAttention-4 uses on
// GPUs): once a row has a max m, a block is exponentiated against m in one pass that also finds
// the block's max; only if that exceeds m by more than kLazyLog2 / c (p would pass 2^kLazyLog2)
// is the row redone against the new max. m is then a reference, not always the true max: the
// result is the same quotient Σ p·v / Σ p, and p ≤ 256 loses nothing in bf16 or f32. After the
// first blocks the max rarely moves that far, so most blocks skip the separate max pass and
// the O rescale (alpha = 1). A row's first visible block still takes the two-pass route.
constexpr float kLazyLog2 = 8.0f;

// store_for(r): the Store policy of row r.
template <class StoreFor>
void softmax_rows(const float* s, int64_t lds, int rows, int64_t ncols, const int64_t* limit, float c, float* m,
                  float* l, float* alpha, StoreFor store_for) {
  const __m512 cv = _mm512_set1_ps(c);
  for (int r = 0; r < rows; ++r) {
    const float* row = s + r * lds;
    const auto prow = store_for(r);
    const int64_t lim = limit ? (limit[r] < 0 ? 0 : (limit[r] > ncols ? ncols : limit[r])) : ncols;
    float seen = kNegInf;
    alpha[r] = 1.0f;
    if (m[r] != kNegInf) {
      const float sum = exp_row(row, ncols, lim, cv, m[r] * c, prow, &seen);
      if ((seen - m[r]) * c <= kLazyLog2) {
        l[r] += sum;
        continue;
      }
      float a = (m[r] - seen) * c;  // redo against the new max, rescaling what came before
      exp2_array<Avx512>(&a, 1, &a);
      alpha[r] = a;
    } else {
      __m512 mx = _mm512_set1_ps(kNegInf);
      for (int64_t j = 0; j < lim; j += 16) mx = _mm512_mask_max_ps(mx, first16(lim - j), mx, _mm512_loadu_ps(row + j));
      seen = Avx512::hmax(mx);
      // Nothing visible yet: O and l are still 0, so no rescale either (alpha stays 1); an empty
      // row writes P = 0 against reference 0 and keeps m = -inf.
    }
    const float m_new = seen;
    const float sum = exp_row(row, ncols, lim, cv, (m_new == kNegInf ? 0.0f : m_new) * c, prow, &seen);
    m[r] = m_new;
    l[r] = alpha[r] * l[r] + sum;
  }
}

void softmax16(const float* s, int64_t lds, int rows, int64_t ncols, const int64_t* limit, float c, float* m,
               float* l, float* alpha, uint16_t* p, int64_t ldp) {
  softmax_rows(s, lds, rows, ncols, limit, c, m, l, alpha, [=](int r) { return StoreBf16{p + r * ldp}; });
}

void softmax16_f16(const float* s, int64_t lds, int rows, int64_t ncols, const int64_t* limit, float c, float* m,
                   float* l, float* alpha, uint16_t* p, int64_t ldp, int64_t lo_offset) {
  softmax_rows(s, lds, rows, ncols, limit, c, m, l, alpha,
               [=](int r) { return StoreF16Pairs{p + r * ldp, lo_offset}; });
}

void rescale16(float* o, int64_t ldo, int rows, int64_t n, const float* alpha) {
  for (int r = 0; r < rows; ++r) {
    if (alpha[r] == 1.0f) continue;  // the row's max did not move: most blocks after the first few
    const __m512 a = _mm512_set1_ps(alpha[r]);
    float* row = o + r * ldo;
    for (int64_t j = 0; j < n; j += 16) _mm512_storeu_ps(row + j, _mm512_mul_ps(_mm512_loadu_ps(row + j), a));
  }
}

// Division by l, then rounding to the output dtype by `Round`.
template <class Round>
void finalize_rounded(const float* o, int64_t n, float l, float* out, Round round) {
  const __m512 lv = _mm512_set1_ps(l);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = first16(n - j);
    if (l == 0.0f) {  // fully masked row
      _mm512_mask_storeu_ps(out + j, k, _mm512_setzero_ps());
      continue;
    }
    _mm512_mask_storeu_ps(out + j, k, round(_mm512_div_ps(_mm512_maskz_loadu_ps(k, o + j), lv)));
  }
}

// bf16 nearest-even (vcvtneps2bf16) and back to f32 by a 16-bit shift.
void finalize16(const float* o, int64_t n, float l, float* out) {
  finalize_rounded(o, n, l, out, [](__m512 x) { return widen_bf16(_mm512_cvtneps_pbh(x)); });
}

void finalize16_f16(const float* o, int64_t n, float l, float* out) {
  finalize_rounded(o, n, l, out, [](__m512 x) { return round_f16(x); });
}

}  // namespace
}  // namespace sdpa::blocked
