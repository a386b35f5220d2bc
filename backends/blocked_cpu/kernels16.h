// The native bf16 kernels of the blocked backend: Q·Kᵀ and P·V take bf16 operands and
// accumulate in f32, the softmax stays in f32 and rounds P to bf16 (nearest-even) for P·V, as
// fused GPU kernels do. Two tables, each in its own translation unit with its own flags:
// kernels_amx.cpp (AMX-BF16 tiles, Sapphire Rapids and later) and kernels_avx512bf16.cpp
// (vdpbf16ps, for Zen 4/5 and Cooper Lake, which have no AMX). They run as the flash driver's
// (flash.h) bf16 path, Bf16Path in flash16.cpp.
//
// Both tables share one packed layout, "VNNI panels": a B operand of kdim × ncols is stored as
// panels of 16 columns, each panel kpad/2 rows of 16 column-pairs: dst[(panel·kpad/2 + i)·32 +
// 2·n + j] = B[2i + j][16·panel + n]. That is what an AMX B tile reads (16 rows of 64 bytes)
// and what one vdpbf16ps multiplies against a broadcast pair of A. Padding is zeros.
//
// f16 runs on the same tables as pairs of bf16 (flash16.cpp's f16 mode): every f16 value x is
// exactly hi + lo with hi = bf16(x) and lo = bf16(x − hi) (f16 has 11 significant bits, hi takes
// 8 and the remainder, at most half an ulp of hi, fits in 3; bf16's exponents reach below f16's
// subnormals). Q·Kᵀ then runs as one `scores` over [Qhi | Qhi | Qlo | Qlo] · [Khi | Klo | Khi |
// Klo] (every product exact, reasons in flash16.h) and P·V as three `accumulate` calls.
//
// Plain C types only, as in kernels.h: no inline function is shared between translation units
// compiled for different CPUs.
#pragma once

#include <cstdint>

namespace sdpa::blocked {

struct Kernels16 {
  const char* isa;  // "amx", "avx512bf16"
  // Rows the GEMMs compute in one register / tile block: score tiles are a multiple of it.
  int mr;
  // Rows of Q (and P, O) a caller must provide memory for past the last real row: the AMX tiles
  // read and write 16-row blocks (pairs of them), so buffers hold rows rounded up to `row_pad`
  // and the padding rows of Q are zero. Keys come in blocks of 32 (one AMX K step); head dims
  // are padded to 32.
  int row_pad;

  // Per-thread set-up before the first GEMM of a parallel region (AMX: load the tile
  // configuration) and tear-down after the last one (release the tiles). May be null.
  void (*thread_begin)();
  void (*thread_end)();

  // K rows [0, nk) of `src` (bf16, row stride ld, d columns) as the B operand of Q·Kᵀ: kdim = d
  // padded to dpad (a multiple of 32), one column per key, npanels panels of 16 keys.
  void (*pack_k)(const uint16_t* src, int64_t ld, int64_t nk, int64_t d, int64_t dpad, int64_t npanels,
                 uint16_t* dst);
  // V rows [0, nk) (row stride ld, dv columns) as the B operand of P·V: kdim = keys padded to
  // kpad (a multiple of 32), columns = dv padded to dvpad (a multiple of 32).
  void (*pack_v)(const uint16_t* src, int64_t ld, int64_t nk, int64_t dv, int64_t kpad, int64_t dvpad,
                 uint16_t* dst);

  // S[rows × 16·npanels] (f32, row stride lds) = Q[rows × dpad] (bf16, row stride ldq) · Kᵀ from
  // pack_k; npanels even.
  void (*scores)(int rows, int64_t dpad, const uint16_t* q, int64_t ldq, const uint16_t* kp, int64_t npanels,
                 float* s, int64_t lds);
  // O[rows × dvpad] (f32, row stride ldo) += P[rows × nkeys] (bf16, row stride ldp) · V from
  // pack_v with the given kpad; nkeys a multiple of 32, ≤ kpad.
  void (*accumulate)(int rows, int64_t nkeys, const uint16_t* p, int64_t ldp, const uint16_t* vp, int64_t kpad,
                     int64_t dvpad, float* o, int64_t ldo);

  // The online softmax of Kernels::softmax over a score block (ncols a multiple of 32), writing
  // the probabilities rounded to bf16 to P (row stride ldp) and leaving S untouched. The row sum
  // l adds the f32 probabilities, before rounding. m is the row's reference max: it may trail
  // the true max by up to 8 / c (p ≤ 2^8, see kernels16_simd.h), which changes no quotient.
  void (*softmax)(const float* s, int64_t lds, int rows, int64_t ncols, const int64_t* limit, float c, float* m,
                  float* l, float* alpha, uint16_t* p, int64_t ldp);
  // O rows *= alpha[row] (rows whose alpha is 1 are left alone).
  void (*rescale)(float* o, int64_t ldo, int rows, int64_t n, const float* alpha);
  // out[0, n) = o[0, n) / l rounded to bf16 nearest-even, as floats (0 where l = 0).
  void (*finalize)(const float* o, int64_t n, float l, float* out);

  // The f16 mode. src[0, n) (f16) split exactly into hi[0, n) and lo[0, n) (bf16), hi + lo = x.
  // A NaN or ±Inf gives hi = x and lo = NaN (Inf − Inf): whatever reads it turns NaN, which is
  // the reference's rule for a row that reads a non-finite input (README, Non-finite values).
  void (*split_f16)(const uint16_t* src, int64_t n, uint16_t* hi, uint16_t* lo);
  // `softmax` with P rounded to f16 (the input dtype, as fused f16 kernels do) and written as a
  // bf16 pair: hi at p[r·ldp + j], lo at p[r·ldp + lo_offset + j]. l adds the f32 probabilities.
  void (*softmax_f16)(const float* s, int64_t lds, int rows, int64_t ncols, const int64_t* limit, float c, float* m,
                      float* l, float* alpha, uint16_t* p, int64_t ldp, int64_t lo_offset);
  // `finalize` rounding to f16 (vcvtps2ph, nearest-even, subnormals kept).
  void (*finalize_f16)(const float* o, int64_t n, float l, float* out);
};

// nullptr where this build has no such table; callers also check that the CPU runs it.
const Kernels16* kernels_amx();
const Kernels16* kernels_avx512bf16();

// Asks Linux for permission to use the AMX tile data state (arch_prctl ARCH_REQ_XCOMP_PERM,
// XFEATURE_XTILEDATA): without it the first tile instruction faults. Once per process; returns
// the reason on failure, "" on success.
const char* amx_permission_error();

}  // namespace sdpa::blocked
