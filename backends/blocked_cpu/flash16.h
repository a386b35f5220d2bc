// Flash-style attention on bf16 operands (kernels16.h): the same work items, row order and
// masking rules as flash.h, but Q, packed K/V and P stay bf16 and the GEMMs accumulate in f32.
// Decode steps also split the keys into ranges (key_split.h), as flash.h does.
// f16 problems run here too, as exact bf16 pairs (kernels16.h): Q and each K block are split
// into [Qhi | Qhi | Qlo | Qlo] and [Khi | Klo | Khi | Klo] (four head-dim segments, one Q·Kᵀ of
// four times the depth, every product exact), V into Vhi and Vlo, and P, rounded to f16, into
// Phi and Plo; O += Phi·Vhi + Phi·Vlo + Plo·Vhi. The lo·lo product is kept in Q·Kᵀ: it is
// ≤ 2^-18 of each product, but the logit error it leaves is absolute, and with large logits
// (dist=outliers:4:20: 404 elements up to 2.3x the bound) it passes the accuracy rule's f32
// logit term, (√d + 4)·2^-24 of maxₖ scale·Σ|qk|. In P·V it only costs 2^-18 of p·v.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "backends/blocked_cpu/kernels16.h"
#include "backends/blocked_cpu/key_split.h"
#include "backends/blocked_cpu/tiling.h"
#include "core/problem.h"
#include "core/tensor.h"

namespace sdpa::blocked {

// br, bc and rows per item of the bf16 driver (reasons in flash16.cpp); mr: the table's row block;
// dtype bf16 or f16 (whose Q rows are four times as wide).
Blocking choose_blocking16(int64_t d, int64_t dv, int64_t group, int mr, CacheSizes caches, DType dtype = DType::bf16);

class FlashAttention16 {
 public:
  FlashAttention16(const Kernels16& kernels, int threads) : k_(kernels), threads_(threads) {}

  // p.dtype must be bf16 or f16. `forced` (tests) replaces the blocking; `forced_splits` > 0 the key split.
  void prepare(const Problem& problem, const Blocking* forced = nullptr, int64_t forced_splits = 0);
  // out: b, hq, sq, dv floats, each rounded to the problem's dtype.
  void run(const Inputs& inputs, float* out);

  const Blocking& blocking() const { return blocking_; }
  int64_t positions_per_item() const { return positions_; }
  int64_t splits() const { return split_.splits; }
  int threads() const { return threads_; }
  uint64_t scratch_bytes() const;

 private:
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };
  struct Workspace {
    std::unique_ptr<char, FreeDeleter> memory;
    uint64_t bytes = 0;
    uint16_t* q = nullptr;     // rows_pad × qk_width: the item's queries, zero rows past the last
    float* o = nullptr;        // rows_pad × dvpad: unnormalised output accumulators
    float* m = nullptr;        // rows_pad: reference max of the raw scores (kernels16.h)
    float* l = nullptr;        // rows_pad: running sum of the probabilities
    float* alpha = nullptr;    // rows_pad: rescale factors of the last block
    int64_t* limit = nullptr;  // rows_pad + br: visible keys of each row; then relative to a block
    uint16_t* kp = nullptr;    // one K block in VNNI panels: bc keys × qk_width
    uint16_t* vp = nullptr;    // one V block in VNNI panels: bc keys × dvpad (f16: Vhi)
    float* s = nullptr;        // br × bc scores
    uint16_t* pb = nullptr;    // br × bc probabilities in bf16 (f16: br × 2·bc, Phi then Plo)
    // f16 only (empty otherwise):
    uint16_t* kst = nullptr;   // bc × qk_width: the K block split into [Khi | Klo | Khi | Klo] rows
    uint16_t* vhi = nullptr;   // bc × dv: the V block's hi halves, rows as in the input
    uint16_t* vlo = nullptr;   // bc × dv: and its lo halves
    uint16_t* vp_lo = nullptr;  // Vlo in VNNI panels: bc keys × dvpad
  };

  void run_unit(Workspace& ws, const Inputs& in, float* out, int64_t bi, int64_t kvh, int64_t pos0, int64_t split,
                int64_t item);
  void combine_row(int64_t row, float* acc, float* out) const;
  void load_queries(Workspace& ws, const uint16_t* qsrc, int64_t r) const;
  void pack_block(Workspace& ws, const uint16_t* ksrc, const uint16_t* vsrc, int64_t nk) const;
  void finalize(const float* o, float l, float* out) const;

  const Kernels16& k_;
  int threads_;
  Problem p_;
  Blocking blocking_;
  int64_t positions_ = 0;
  bool f16_ = false;        // f16 as bf16 pairs
  int64_t dpad_ = 0, dvpad_ = 0;
  int64_t qk_width_ = 0;    // columns of the Q and K rows the scores read: dpad, f16 4·dpad
  int64_t rows_pad_ = 0;   // workspace rows: item rows rounded up to the tile height
  KeySplit split_;
  std::vector<Workspace> ws_;
  PartialResults partial_;  // empty unless split_.splits > 1
};

}  // namespace sdpa::blocked
