// The micro-kernels of the blocked backend, one table per instruction set. The attention
// driver (flash.cpp) and the calibration GEMM (sgemm.cpp) are written once against this
// table; each ISA lives in its own translation unit compiled with its own flags
// (kernels_avx512.cpp with -mavx512f, kernels_avx2.cpp with -mavx2 -mfma -mf16c,
// kernels_portable.cpp with the baseline), so the binary runs everywhere and picks the table at
// run time.
//
// Plain C types only: the ISA translation units include nothing that defines inline functions
// shared with the rest of the program, so the linker can never pick an AVX2-compiled copy of
// a shared inline function for a CPU without AVX2.
#pragma once

#include <cstdint>

namespace sdpa::blocked {

// Element type of a source tensor; values match sdpa::DType (checked in flash.cpp).
enum SrcType : int { src_f32 = 0, src_f16 = 1, src_bf16 = 2 };

// What the GEMM micro-kernel does with the C block it computes.
enum GemmMode : int {
  gemm_store = 0,           // C = A·B
  gemm_accumulate = 1,      // C = C + A·B
  gemm_scale_accumulate = 2 // C = diag(row_scale)·C + A·B   (the online-softmax rescale of O)
};

struct Kernels {
  const char* isa;  // "avx512", "avx2", "portable"
  int mr;           // rows of the GEMM micro-kernel
  int nr;           // its columns: the key-panel width of packed K and the column chunk of packed V

  // C[m × nr] (row stride ldc) = mode(C) + A[m × k] (row stride lda, read one element at a
  // time and broadcast) · B[k × nr] (a packed panel, nr contiguous floats per k). m ≤ mr.
  // Each C element is a sum in increasing k, whatever m: results do not depend on tiling.
  void (*gemm)(int m, int64_t k, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
               int mode, const float* row_scale);

  // K rows [0, nk) of `src` (row stride ld elements, d columns, type `type`) transposed into
  // `npanels` panels of nr keys: dst[p·d·nr + c·nr + j] = K[p·nr + j][c]; keys ≥ nk are 0.
  void (*pack_k)(const void* src, int type, int64_t ld, int64_t nk, int64_t d, int64_t npanels, float* dst);

  // V rows [0, nk) (row stride ld, dv columns) into column chunks of nr:
  // dst[ch·kstride·nr + j·nr + c] = V[j][ch·nr + c], for j < nrows (a multiple of nr, ≤ kstride);
  // rows ≥ nk and columns ≥ dv are 0, so masked keys (p = 0) never meet a NaN.
  void (*pack_v)(const void* src, int type, int64_t ld, int64_t nk, int64_t dv, int64_t nrows,
                 int64_t kstride, float* dst);

  // n consecutive elements of type `type` to f32 (query rows).
  void (*to_f32)(const void* src, int type, int64_t n, float* dst);

  // Online softmax over one block of scores, row by row. S[rows × ncols] (stride lds, ncols a
  // multiple of nr) holds raw Q·Kᵀ; when `limit` is given, columns ≥ limit[r] of row r are
  // masked first. With the running max m and sum l of each row (m = -inf, l = 0 at the start):
  //   m' = max(m, max_j S),  alpha = 2^((m − m')·c),  S = 2^((S − m')·c),  l = alpha·l + Σ_j S
  // where c = scale·log2(e). alpha[r] rescales the row's output accumulator.
  void (*softmax)(float* s, int64_t lds, int rows, int64_t ncols, const int64_t* limit, float c, float* m,
                  float* l, float* alpha);

  // out[0, n) = o[0, n) / l rounded to `type` (0 where l = 0: a fully masked row).
  void (*finalize)(const float* o, int64_t n, float l, int type, float* out);

  // The vectorised 2^x the softmax uses, over an array (for the accuracy test).
  void (*exp2)(const float* x, int64_t n, float* y);
};

// nullptr where this build has no such table (non-x86 compilers).
const Kernels* kernels_avx512();
const Kernels* kernels_avx2();
const Kernels& kernels_portable();

// The documented worst relative error of exp2() over x in [-126, 0], every table: 1 ulp of
// 2^-23. The result is p(f)·2^n with an exact scaling, so the error depends on the fraction f
// only; an exhaustive run over every float in [-1, 0] (which reaches every f) measured 8.4e-8
// for AVX2 (FMA Horner on [-1/2, 1/2]) and 1.08e-7 for portable (separate roundings); the
// AVX-512 polynomial on [0, 1) reached 6.1e-8 over 2^16 fractions in an exact emulation of its
// float FMA Horner steps. blocked_cpu_test checks the bound over a dense sweep. Below x = -126
// the result is 0 or subnormal (AVX-512 applies 2^floor(x) by vscalefps; the f32 driver runs
// with subnormals flushed to 0); -inf gives exactly 0.
inline constexpr double exp2_max_rel_error = 1.2e-7;

}  // namespace sdpa::blocked
