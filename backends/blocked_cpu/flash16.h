// The bf16 path of the flash driver (flash.h): the same work items, row order and masking
// rules as the f32 path, but Q, packed K/V and P stay bf16 and the GEMMs (kernels16.h)
// accumulate in f32.
// f16 problems run here too, as exact bf16 pairs (kernels16.h): Q and each K block are split
// into [Qhi | Qhi | Qlo | Qlo] and [Khi | Klo | Khi | Klo] (four head-dim segments, one Q·Kᵀ of
// four times the depth, every product exact), V into Vhi and Vlo, and P, rounded to f16, into
// Phi and Plo; O += Phi·Vhi + Phi·Vlo + Plo·Vhi. The lo·lo product is kept in Q·Kᵀ: it is
// ≤ 2^-18 of each product, but the logit error it leaves is absolute, and with large logits
// (dist=outliers:4:20: 404 elements up to 2.3x the bound) it passes the accuracy rule's f32
// logit term, (√d + 4)·2^-24 of maxₖ scale·Σ|qk|. In P·V it only costs 2^-18 of p·v.
#pragma once

#include <cstdint>

#include "backends/blocked_cpu/flash.h"
#include "backends/blocked_cpu/kernels16.h"
#include "backends/blocked_cpu/tiling.h"
#include "core/problem.h"
#include "core/tensor.h"

namespace sdpa::blocked {

// br, bc and rows per item of the bf16 path (reasons in flash16.cpp); mr: the table's row block;
// dtype bf16 or f16 (whose Q rows are four times as wide).
Blocking choose_blocking16(int64_t d, int64_t dv, int64_t group, int mr, CacheSizes caches, DType dtype = DType::bf16);

// bf16 problems natively, f16 as bf16 pairs; the problem's dtype must be one of them.
class Bf16Path {
 public:
  using Table = Kernels16;
  struct Buffers {
    uint16_t* q = nullptr;      // rows × qk_width: the item's queries, zero rows past the last
    uint16_t* kp = nullptr;     // one K block in VNNI panels: bc keys × qk_width
    uint16_t* vp = nullptr;     // one V block in VNNI panels: bc keys × dvpad (f16: Vhi)
    uint16_t* pb = nullptr;     // br × bc probabilities in bf16 (f16: br × 2·bc, Phi then Plo)
    // f16 only (null otherwise):
    uint16_t* kst = nullptr;    // bc × qk_width: the K block split into [Khi | Klo | Khi | Klo] rows
    uint16_t* vhi = nullptr;    // bc × dv: the V block's hi halves, rows as in the input
    uint16_t* vlo = nullptr;    // bc × dv: and its lo halves
    uint16_t* vp_lo = nullptr;  // Vlo in VNNI panels: bc keys × dvpad
  };
  explicit Bf16Path(const Kernels16& k) : k_(k) {}

  Blocking choose(const Problem& p) const;
  void check(const Blocking& b) const;  // throws std::invalid_argument
  void setup(const Problem& p, const Blocking& b);  // throws std::invalid_argument unless bf16 or f16
  int64_t ldo() const { return dvpad_; }
  int64_t row_pad() const { return k_.row_pad; }
  int64_t key_step() const { return 32; }  // one AMX K step
  void carve(Buffers& w, Carver& c, int64_t rows) const;
  void thread_begin() const {
    if (k_.thread_begin) k_.thread_begin();
  }
  void thread_end() const {
    if (k_.thread_end) k_.thread_end();
  }
  void load_query(Buffers& w, const Inputs& in, int64_t index, int64_t r) const;
  void pad_queries(Buffers& w, int64_t rows, int64_t tile_rows) const;
  void pack(Buffers& w, const Inputs& in, int64_t kv_row, int64_t nk) const;
  void tile(Buffers& w, RowState& rs, const Tile& t) const;
  void finalize(const float* o, float l, float* out) const;

 private:
  const Kernels16& k_;
  bool f16_ = false;  // f16 as bf16 pairs
  int64_t d_ = 0, dv_ = 0, bc_ = 0, br_ = 0;
  int64_t dpad_ = 0, dvpad_ = 0;
  int64_t qk_width_ = 0;  // columns of the Q and K rows the scores read: dpad, f16 4·dpad
};

using FlashAttention16 = FlashDriver<Bf16Path>;
extern template class FlashDriver<Bf16Path>;

}  // namespace sdpa::blocked
