// The AVX512-BF16 table, for CPUs with vdpbf16ps but no AMX (Zen 4 / Zen 5, Cooper Lake):
// each vdpbf16ps multiplies 16 bf16 pairs and adds the pair sums to 16 f32 lanes, twice the
// work of an f32 FMA per instruction, with f32 accumulation. The micro-kernels keep the f32
// table's register blocking: 14 rows × 32 columns (two VNNI panels) in 28 accumulators, one
// broadcast pair of A per row and k step. Compiled with -mavx512f/bw/vl/dq -mavx512bf16; used
// only after blocked_cpu.cpp checked the CPU for them.
// Not a win on every CPU that has the instruction: on Sapphire Rapids a dependency-free loop
// ran vdpbf16ps zmm at 0.65 G/s against 2.9 G/s for vfmadd231ps zmm (2.2× fewer flops per
// cycle), and whole attention at 80 GFLOP/s against the f32 table's 140 (one core). There AMX
// takes bf16 anyway; where this table is the automatic choice (AVX512-BF16 without AMX: Zen 4 /
// Zen 5, Cooper Lake) it has not been measured in this project yet.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backends/blocked_cpu/kernels16.h"
#include "backends/blocked_cpu/kernels16_simd.h"

namespace sdpa::blocked {
namespace {

constexpr int kMr = 14;

inline __m512bh pair_broadcast(const uint16_t* a) {
  int32_t pair;
  std::memcpy(&pair, a, sizeof pair);
  return reinterpret_cast<__m512bh>(_mm512_set1_epi32(pair));
}
inline __m512bh load_bh(const uint16_t* p) { return reinterpret_cast<__m512bh>(_mm512_loadu_si512(p)); }

// C[M × 32] (+)= A[M × 2·pairs] · B, B as two VNNI panels b0, b1 (32 elements per pair row).
template <int M, bool Accumulate>
void tile(int64_t pairs, const uint16_t* __restrict a, int64_t lda, const uint16_t* __restrict b0,
          const uint16_t* __restrict b1, float* __restrict c, int64_t ldc) {
  __m512 acc0[M], acc1[M];
#pragma GCC unroll 16
  for (int r = 0; r < M; ++r) {
    acc0[r] = Accumulate ? _mm512_loadu_ps(c + r * ldc) : _mm512_setzero_ps();
    acc1[r] = Accumulate ? _mm512_loadu_ps(c + r * ldc + 16) : _mm512_setzero_ps();
  }
  for (int64_t i = 0; i < pairs; ++i) {
    const __m512bh x0 = load_bh(b0 + i * 32), x1 = load_bh(b1 + i * 32);
#pragma GCC unroll 16
    for (int r = 0; r < M; ++r) {
      const __m512bh y = pair_broadcast(a + r * lda + 2 * i);
      acc0[r] = _mm512_dpbf16_ps(acc0[r], y, x0);
      acc1[r] = _mm512_dpbf16_ps(acc1[r], y, x1);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < M; ++r) {
    _mm512_storeu_ps(c + r * ldc, acc0[r]);
    _mm512_storeu_ps(c + r * ldc + 16, acc1[r]);
  }
}

template <int M, bool Accumulate>
void tile_up_to(int m, int64_t pairs, const uint16_t* a, int64_t lda, const uint16_t* b0, const uint16_t* b1, float* c,
                int64_t ldc) {
  if constexpr (M > 1) {
    if (m < M) return tile_up_to<M - 1, Accumulate>(m, pairs, a, lda, b0, b1, c, ldc);
  }
  tile<M, Accumulate>(pairs, a, lda, b0, b1, c, ldc);
}

void scores(int rows, int64_t dpad, const uint16_t* q, int64_t ldq, const uint16_t* kp, int64_t npanels, float* s,
            int64_t lds) {
  const int64_t panel = (dpad / 2) * 32;
  for (int64_t pn = 0; pn < npanels; pn += 2) {
    for (int r0 = 0; r0 < rows; r0 += kMr) {
      tile_up_to<kMr, false>(rows - r0 < kMr ? rows - r0 : kMr, dpad / 2, q + r0 * ldq, ldq, kp + pn * panel,
                             kp + (pn + 1) * panel, s + r0 * lds + pn * 16, lds);
    }
  }
}

void accumulate(int rows, int64_t nkeys, const uint16_t* p, int64_t ldp, const uint16_t* vp, int64_t kpad,
                int64_t dvpad, float* o, int64_t ldo) {
  const int64_t panel = (kpad / 2) * 32;
  for (int64_t pn = 0; pn < dvpad / 16; pn += 2) {
    for (int r0 = 0; r0 < rows; r0 += kMr) {
      tile_up_to<kMr, true>(rows - r0 < kMr ? rows - r0 : kMr, nkeys / 2, p + r0 * ldp, ldp, vp + pn * panel,
                            vp + (pn + 1) * panel, o + r0 * ldo + pn * 16, ldo);
    }
  }
}

const Kernels16 kTable = {
    "avx512bf16", kMr, 1, nullptr, nullptr, pack_k16, pack_v16, scores, accumulate, softmax16, rescale16, finalize16,
    split_f16, softmax16_f16, finalize16_f16,
};

}  // namespace

const Kernels16* kernels_avx512bf16() { return &kTable; }

}  // namespace sdpa::blocked
