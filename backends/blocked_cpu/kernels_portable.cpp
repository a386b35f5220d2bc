// The portable table: the same algorithms as the SIMD tables in plain C++ (plus GCC / Clang
// vector extensions in the GEMM), for CPUs without AVX2 + FMA + F16C.
// Products and sums are separate roundings here (no FMA contraction in ISO C++ mode), so its
// results differ from the AVX2 table's in the last bits; both pass the same accuracy rule.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>

#include "backends/blocked_cpu/kernels.h"
#include "core/half.h"

namespace sdpa::blocked {
namespace {

constexpr int kMr = 4;
constexpr int kNr = 8;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The same 2^x as kernels_simd.h (see there for the derivation), one element at a time.
float exp2_scalar(float x) {
  constexpr float magic = 12582912.0f + 127.0f;
  x = x > -127.0f ? x : -127.0f;  // NaN compares false: mapped to -127 like the SIMD max
  const float t = x + magic;
  const float f = x - (t - magic);
  float p = 1.559467782e-04f * f + 1.340664341e-03f;
  p = p * f + 9.617692791e-03f;
  p = p * f + 5.550310388e-02f;
  p = p * f + 2.402265221e-01f;
  p = p * f + 6.931472421e-01f;
  p = p * f + 1.0f;
  return p * std::bit_cast<float>(std::bit_cast<uint32_t>(t) << 23);
}

void exp2_array(const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = exp2_scalar(x[i]);
}

// GCC / Clang vector extensions: 4-lane vectors the compiler maps to whatever the baseline
// target has (SSE2 on x86-64, NEON on AArch64, scalar code elsewhere). M rows × 8 columns in
// 2·M of them, the same register blocking as the SIMD tables at a quarter of the width.
typedef float v4 __attribute__((vector_size(16)));

inline v4 load4(const float* p) {
  v4 x;
  std::memcpy(&x, p, sizeof x);
  return x;
}
inline void store4(float* p, v4 x) { std::memcpy(p, &x, sizeof x); }

template <int M, int Mode>
void gemm_tile(int64_t k, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
               const float* row_scale) {
  static_assert(kNr == 8, "two 4-lane vectors per row");
  v4 acc0[M], acc1[M];
  for (int r = 0; r < M; ++r) {
    if constexpr (Mode == gemm_store) {
      acc0[r] = v4{};
      acc1[r] = v4{};
    } else {
      acc0[r] = load4(c + r * ldc);
      acc1[r] = load4(c + r * ldc + 4);
      if constexpr (Mode == gemm_scale_accumulate) {
        acc0[r] *= row_scale[r];
        acc1[r] *= row_scale[r];
      }
    }
  }
  for (int64_t kk = 0; kk < k; ++kk) {
    const v4 b0 = load4(b + kk * kNr), b1 = load4(b + kk * kNr + 4);
    for (int r = 0; r < M; ++r) {
      const float x = a[r * lda + kk];
      acc0[r] += x * b0;
      acc1[r] += x * b1;
    }
  }
  for (int r = 0; r < M; ++r) {
    store4(c + r * ldc, acc0[r]);
    store4(c + r * ldc + 4, acc1[r]);
  }
}

template <int M>
void gemm_rows(int64_t k, const float* a, int64_t lda, const float* b, float* c, int64_t ldc, int mode,
               const float* row_scale) {
  switch (mode) {
    case gemm_store: return gemm_tile<M, gemm_store>(k, a, lda, b, c, ldc, row_scale);
    case gemm_accumulate: return gemm_tile<M, gemm_accumulate>(k, a, lda, b, c, ldc, row_scale);
    default: return gemm_tile<M, gemm_scale_accumulate>(k, a, lda, b, c, ldc, row_scale);
  }
}

void gemm(int m, int64_t k, const float* a, int64_t lda, const float* b, float* c, int64_t ldc, int mode,
          const float* row_scale) {
  switch (m) {
    case 1: return gemm_rows<1>(k, a, lda, b, c, ldc, mode, row_scale);
    case 2: return gemm_rows<2>(k, a, lda, b, c, ldc, mode, row_scale);
    case 3: return gemm_rows<3>(k, a, lda, b, c, ldc, mode, row_scale);
    default: return gemm_rows<4>(k, a, lda, b, c, ldc, mode, row_scale);
  }
}

float load1(const void* src, int type, int64_t i) {
  if (type == src_f32) return static_cast<const float*>(src)[i];
  const uint16_t h = static_cast<const uint16_t*>(src)[i];
  return type == src_f16 ? f16_bits_to_f32(h) : bf16_bits_to_f32(h);
}

void pack_k(const void* src, int type, int64_t ld, int64_t nk, int64_t d, int64_t npanels, float* dst) {
  for (int64_t p = 0; p < npanels; ++p) {
    float* panel = dst + p * d * kNr;
    for (int j = 0; j < kNr; ++j) {
      const int64_t key = p * kNr + j;
      for (int64_t c = 0; c < d; ++c) panel[c * kNr + j] = key < nk ? load1(src, type, key * ld + c) : 0.0f;
    }
  }
}

void pack_v(const void* src, int type, int64_t ld, int64_t nk, int64_t dv, int64_t nrows, int64_t kstride,
            float* dst) {
  const int64_t nchunks = (dv + kNr - 1) / kNr;
  for (int64_t ch = 0; ch < nchunks; ++ch) {
    for (int64_t j = 0; j < nrows; ++j) {
      float* out = dst + ch * kstride * kNr + j * kNr;
      for (int c = 0; c < kNr; ++c) {
        const int64_t col = ch * kNr + c;
        out[c] = (j < nk && col < dv) ? load1(src, type, j * ld + col) : 0.0f;
      }
    }
  }
}

void to_f32(const void* src, int type, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = load1(src, type, i);
}

void softmax(float* s, int64_t lds, int rows, int64_t ncols, const int64_t* limit, float c, float* m, float* l,
             float* alpha) {
  for (int r = 0; r < rows; ++r) {
    float* row = s + r * lds;
    if (limit) {
      for (int64_t j = std::clamp<int64_t>(limit[r], 0, ncols); j < ncols; ++j) row[j] = kNegInf;
    }
    float block_max = kNegInf;
    for (int64_t j = 0; j < ncols; ++j) block_max = std::max(block_max, row[j]);
    const float m_new = std::max(m[r], block_max);
    const float m_use = m_new == kNegInf ? 0.0f : m_new;  // keeps 2^(-inf) = 0, never NaN
    alpha[r] = exp2_scalar((m[r] - m_use) * c);
    // kNr partial sums, added in a fixed order: the same association whatever the tiling.
    float partial[kNr] = {};
    for (int64_t j = 0; j < ncols; j += kNr) {
      for (int i = 0; i < kNr; ++i) {
        row[j + i] = exp2_scalar((row[j + i] - m_use) * c);
        partial[i] += row[j + i];
      }
    }
    float sum = 0.0f;
    for (int i = 0; i < kNr; ++i) sum += partial[i];
    l[r] = alpha[r] * l[r] + sum;
    m[r] = m_new;
  }
}

void finalize(const float* o, int64_t n, float l, int type, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = l == 0.0f ? 0.0f : o[i] / l;
    out[i] = type == src_f16 ? round_to_f16(x) : type == src_bf16 ? round_to_bf16(x) : x;
  }
}

const Kernels kTable = {"portable", kMr, kNr, gemm, pack_k, pack_v, to_f32, softmax, finalize, exp2_array};

}  // namespace

const Kernels& kernels_portable() { return kTable; }

}  // namespace sdpa::blocked
