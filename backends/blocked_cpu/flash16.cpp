#include "backends/blocked_cpu/flash16.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace sdpa::blocked {

namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

}  // namespace

// bc = 256 keys, twice the f32 driver's: the softmax's per-row bookkeeping (two horizontal
// reductions, the scalar max / sum / alpha) and the load + store of the O tiles in P·V are paid
// once per row and block, and on AMX they weigh more than on the f32 path because the GEMMs
// are so much faster. Measured on Sapphire Rapids (one thread, CPU time, b=1 h=8 n=4096
// d=128): bc = 128 / 256 / 512 took 135-141 / 116-126 / 111-124 ms; d=64 (h=16, n=2048)
// 53-56 / 47-50 / 48-50 ms. 256 keeps the causal waste on diagonal blocks lower than 512.
// br: the smallest multiple of the kernel's row block reaching 32 rows (AMX: one 2 × 2 tile
// block; AVX512-BF16: 3 × 14 = 42); br = 64 or 96 measured no faster. Rows per item fill half
// of L2 with the item's Q (bf16) and O (f32) rows, which every key block revisits; the packed
// K/V block takes the rest. f16's Q rows are four segments wide (flash16.h), so an item holds
// fewer rows (d = 128: 682 instead of 1024 in 2 MiB of L2; both past the point where packing
// each K/V block per item stops mattering).
Blocking choose_blocking16(int64_t d, int64_t dv, int64_t group, int mr, CacheSizes caches, DType dtype) {
  Blocking b;
  b.bc = 256;
  b.br = round_up(32, mr);
  const int64_t q_segments = dtype == DType::f16 ? 4 : 1;
  const int64_t row_bytes = 2 * q_segments * round_up(d, 32) + 4 * round_up(dv, 32);
  const int64_t rows = std::clamp<int64_t>(caches.l2_bytes / 2 / row_bytes, b.br, 1024);
  int64_t positions = std::max<int64_t>(1, rows / group);
  if (positions >= b.br) positions = positions / b.br * b.br;
  b.item_positions = positions;
  return b;
}

Blocking Bf16Path::choose(const Problem& p) const {
  return choose_blocking16(p.d, p.dv, p.group(), k_.mr, host_cache_sizes(), p.dtype);
}

void Bf16Path::check(const Blocking& b) const {
  if (b.br < 1 || b.br % k_.row_pad != 0 || b.br % k_.mr != 0 || b.bc < 32 || b.bc % 32 != 0 ||
      b.item_positions < 1) {
    throw std::invalid_argument("blocked_cpu: bf16 blocking br=" + std::to_string(b.br) + " bc=" +
                                std::to_string(b.bc) + " must have br a multiple of mr=" + std::to_string(k_.mr) +
                                " and of row_pad=" + std::to_string(k_.row_pad) + ", bc a multiple of 32");
  }
}

void Bf16Path::setup(const Problem& p, const Blocking& b) {
  if (p.dtype != DType::bf16 && p.dtype != DType::f16) {
    throw std::invalid_argument("blocked_cpu: the bf16 driver got " + p.to_string());
  }
  f16_ = p.dtype == DType::f16;
  d_ = p.d;
  dv_ = p.dv;
  bc_ = b.bc;
  br_ = b.br;
  dpad_ = round_up(p.d, 32);
  dvpad_ = round_up(p.dv, 32);
  qk_width_ = f16_ ? 4 * dpad_ : dpad_;
}

void Bf16Path::carve(Buffers& w, Carver& c, int64_t rows) const {
  w.q = c.take<uint16_t>(rows * qk_width_);
  w.kp = c.take<uint16_t>(bc_ * qk_width_);
  w.vp = c.take<uint16_t>(bc_ * dvpad_);
  w.pb = c.take<uint16_t>(br_ * bc_ * (f16_ ? 2 : 1));
  w.kst = w.vhi = w.vlo = w.vp_lo = nullptr;
  if (f16_) {
    w.kst = c.take<uint16_t>(bc_ * qk_width_);
    w.vhi = c.take<uint16_t>(bc_ * dv_);
    w.vlo = c.take<uint16_t>(bc_ * dv_);
    w.vp_lo = c.take<uint16_t>(bc_ * dvpad_);
  }
}

// Row r of the item's queries: bf16 as stored, f16 as [Qhi | Qhi | Qlo | Qlo] (flash16.h);
// zeros past d in every segment.
void Bf16Path::load_query(Buffers& w, const Inputs& in, int64_t index, int64_t r) const {
  const int64_t d = d_;
  const uint16_t* qsrc = static_cast<const uint16_t*>(in.q.storage()) + index;
  uint16_t* q = w.q + r * qk_width_;
  if (!f16_) {
    std::memcpy(q, qsrc, static_cast<std::size_t>(d) * 2);
    std::fill(q + d, q + dpad_, uint16_t{0});
    return;
  }
  k_.split_f16(qsrc, d, q, q + 2 * dpad_);
  std::memcpy(q + dpad_, q, static_cast<std::size_t>(d) * 2);
  std::memcpy(q + 3 * dpad_, q + 2 * dpad_, static_cast<std::size_t>(d) * 2);
  for (int64_t seg = 0; seg < 4; ++seg) std::fill(q + seg * dpad_ + d, q + (seg + 1) * dpad_, uint16_t{0});
}

// The tiles read Q rows up to the tile height: those past the item's last row are zeros.
void Bf16Path::pad_queries(Buffers& w, int64_t rows, int64_t tile_rows) const {
  std::fill(w.q + rows * qk_width_, w.q + tile_rows * qk_width_, uint16_t{0});
}

// Keys [0, nk) of one block into VNNI panels: bf16 directly; f16 first split, K into
// [Khi | Klo | Khi | Klo] rows (matching the Q segments), V into hi and lo halves packed apart.
void Bf16Path::pack(Buffers& w, const Inputs& in, int64_t kv_row, int64_t nk) const {
  const int64_t d = d_, dv = dv_, bc = bc_;
  const uint16_t* ksrc = static_cast<const uint16_t*>(in.k.storage()) + kv_row * d;
  const uint16_t* vsrc = static_cast<const uint16_t*>(in.v.storage()) + kv_row * dv;
  const int64_t npanels = round_up(nk, 32) / 16;
  if (!f16_) {
    k_.pack_k(ksrc, d, nk, d, dpad_, npanels, w.kp);
    k_.pack_v(vsrc, dv, nk, dv, bc, dvpad_, w.vp);
    return;
  }
  for (int64_t j = 0; j < nk; ++j) {
    uint16_t* row = w.kst + j * qk_width_;
    k_.split_f16(ksrc + j * d, d, row, row + dpad_);
    std::memcpy(row + 2 * dpad_, row, static_cast<std::size_t>(2 * dpad_) * 2);  // [Khi | Klo], zeros too
  }
  k_.pack_k(w.kst, qk_width_, nk, qk_width_, qk_width_, npanels, w.kp);
  k_.split_f16(vsrc, nk * dv, w.vhi, w.vlo);  // the block's V rows are contiguous
  k_.pack_v(w.vhi, dv, nk, dv, bc, dvpad_, w.vp);
  k_.pack_v(w.vlo, dv, nk, dv, bc, dvpad_, w.vp_lo);
}

void Bf16Path::tile(Buffers& w, RowState& rs, const Tile& t) const {
  const int64_t bc = bc_;
  const int tr = t.tr;
  float* o = rs.o + t.t0 * dvpad_;
  float* m = rs.m + t.t0;
  float* l = rs.l + t.t0;
  float* alpha = rs.alpha + t.t0;
  k_.scores(tr, qk_width_, w.q + t.t0 * qk_width_, qk_width_, w.kp, t.ncols / 16, rs.s, bc);
  if (!f16_) {
    k_.softmax(rs.s, bc, tr, t.ncols, t.limit, t.c, m, l, alpha, w.pb, bc);
    k_.rescale(o, dvpad_, tr, dvpad_, alpha);
    k_.accumulate(tr, t.ncols, w.pb, bc, w.vp, bc, dvpad_, o, dvpad_);
    return;
  }
  // P rows of 2·bc: Phi in [0, bc), Plo in [bc, 2·bc). Plo·Vlo (≤ 2^-18 of p·v) is left out.
  k_.softmax_f16(rs.s, bc, tr, t.ncols, t.limit, t.c, m, l, alpha, w.pb, 2 * bc, bc);
  k_.rescale(o, dvpad_, tr, dvpad_, alpha);
  k_.accumulate(tr, t.ncols, w.pb, 2 * bc, w.vp, bc, dvpad_, o, dvpad_);
  k_.accumulate(tr, t.ncols, w.pb, 2 * bc, w.vp_lo, bc, dvpad_, o, dvpad_);
  k_.accumulate(tr, t.ncols, w.pb + bc, 2 * bc, w.vp, bc, dvpad_, o, dvpad_);
}

void Bf16Path::finalize(const float* o, float l, float* out) const {
  (f16_ ? k_.finalize_f16 : k_.finalize)(o, dv_, l, out);
}

}  // namespace sdpa::blocked
