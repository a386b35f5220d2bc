#include "backends/blocked_cpu/flash16.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <numbers>
#include <stdexcept>
#include <string>

namespace sdpa::blocked {

namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

template <class T>
T* carve(char* base, int64_t& used, int64_t count) {
  T* p = base ? reinterpret_cast<T*>(base + used) : nullptr;
  used += round_up(std::max<int64_t>(count, 1) * static_cast<int64_t>(sizeof(T)), 64);
  return p;
}

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

void FlashAttention16::prepare(const Problem& p, const Blocking* forced, int64_t forced_splits) {
  if (p.dtype != DType::bf16 && p.dtype != DType::f16) {
    throw std::invalid_argument("blocked_cpu: the bf16 driver got " + p.to_string());
  }
  p_ = p;
  f16_ = p.dtype == DType::f16;
  blocking_ = forced ? *forced : choose_blocking16(p.d, p.dv, p.group(), k_.mr, host_cache_sizes(), p.dtype);
  if (blocking_.br < 1 || blocking_.br % k_.row_pad != 0 || blocking_.br % k_.mr != 0 || blocking_.bc < 32 ||
      blocking_.bc % 32 != 0 || blocking_.item_positions < 1) {
    throw std::invalid_argument("blocked_cpu: bf16 blocking br=" + std::to_string(blocking_.br) +
                                " bc=" + std::to_string(blocking_.bc) + " must have br a multiple of mr=" +
                                std::to_string(k_.mr) + " and of row_pad=" + std::to_string(k_.row_pad) +
                                ", bc a multiple of 32");
  }
  positions_ = blocked::positions_per_item(blocking_, p.sq, p.b * p.hkv, threads_);
  dpad_ = round_up(p.d, 32);
  dvpad_ = round_up(p.dv, 32);
  qk_width_ = f16_ ? 4 * dpad_ : dpad_;
  const int64_t item_rows = blocking_.item_positions * p.group();
  rows_pad_ = round_up(item_rows, std::max<int64_t>(k_.row_pad, 1));
  split_ = plan_key_split(p, blocking_.bc, forced_splits);

  const int64_t br = blocking_.br, bc = blocking_.bc;
  auto lay_out = [&](Workspace& ws, char* base) {
    int64_t used = 0;
    ws.q = carve<uint16_t>(base, used, rows_pad_ * qk_width_);
    ws.o = carve<float>(base, used, rows_pad_ * dvpad_);
    ws.m = carve<float>(base, used, rows_pad_);
    ws.l = carve<float>(base, used, rows_pad_);
    ws.alpha = carve<float>(base, used, rows_pad_);
    ws.limit = carve<int64_t>(base, used, rows_pad_ + br);
    ws.kp = carve<uint16_t>(base, used, bc * qk_width_);
    ws.vp = carve<uint16_t>(base, used, bc * dvpad_);
    ws.s = carve<float>(base, used, br * bc);
    ws.pb = carve<uint16_t>(base, used, br * bc * (f16_ ? 2 : 1));
    if (f16_) {
      ws.kst = carve<uint16_t>(base, used, bc * qk_width_);
      ws.vhi = carve<uint16_t>(base, used, bc * p.dv);
      ws.vlo = carve<uint16_t>(base, used, bc * p.dv);
      ws.vp_lo = carve<uint16_t>(base, used, bc * dvpad_);
    }
    return used;
  };
  ws_.clear();
  ws_.resize(static_cast<std::size_t>(threads_));
  for (Workspace& ws : ws_) {
    const int64_t bytes = lay_out(ws, nullptr);
    ws.memory.reset(static_cast<char*>(std::aligned_alloc(64, static_cast<std::size_t>(bytes))));
    if (!ws.memory) throw std::bad_alloc();
    // Faults the pages in now, untimed; and padding rows of P that no softmax writes stay 0, as
    // do the padding columns of the f16 K staging rows (pack_block writes only [0, d) of each
    // segment).
    std::memset(ws.memory.get(), 0, static_cast<std::size_t>(bytes));
    ws.bytes = static_cast<uint64_t>(bytes);
    lay_out(ws, ws.memory.get());
  }
  partial_.reset(ceil_div(p.sq, positions_) * p.b * p.hkv, positions_ * p.group(), split_.splits, p.dv);
}

uint64_t FlashAttention16::scratch_bytes() const {
  uint64_t total = partial_.bytes();
  for (const Workspace& ws : ws_) total += ws.bytes;
  return total;
}

void FlashAttention16::run(const Inputs& inputs, float* out) {
  const int64_t blocks = ceil_div(p_.sq, positions_);
  const int64_t heads = p_.b * p_.hkv;
  const int64_t splits = split_.splits;
  const int64_t units = blocks * heads * splits;
#pragma omp parallel num_threads(threads_)
  {
    Workspace& ws = ws_[static_cast<std::size_t>(omp_get_thread_num())];
    if (k_.thread_begin) k_.thread_begin();
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < units; ++it) {
      // Later positions see at least as many keys under every mask: hand the heavy items out first.
      const int64_t item = it / splits;
      const int64_t qb = blocks - 1 - item / heads;
      const int64_t bh = item % heads;
      run_unit(ws, inputs, out, bh / p_.hkv, bh % p_.hkv, qb * positions_, it % splits, qb * heads + bh);
    }
    if (k_.thread_end) k_.thread_end();
    if (splits > 1) {  // after the implicit barrier of the loop above: every range is done
      const int64_t rows = p_.b * p_.hq * p_.sq;
      std::vector<float> acc(static_cast<std::size_t>(p_.dv));
#pragma omp for schedule(static)
      for (int64_t row = 0; row < rows; ++row) combine_row(row, acc.data(), out);
    }
  }
}

void FlashAttention16::run_unit(Workspace& ws, const Inputs& in, float* out, int64_t bi, int64_t kvh, int64_t pos0,
                                int64_t split, int64_t item) {
  const Problem& p = p_;
  const int64_t g = p.group();
  const int64_t rows = std::min(positions_, p.sq - pos0) * g;
  const int64_t d = p.d, dv = p.dv, bc = blocking_.bc, br = blocking_.br;
  const float c = static_cast<float>(p.scale() * std::numbers::log2e);
  const auto* qsrc = static_cast<const uint16_t*>(in.q.storage());
  const auto* ksrc = static_cast<const uint16_t*>(in.k.storage());
  const auto* vsrc = static_cast<const uint16_t*>(in.v.storage());
  int64_t* rel = ws.limit + rows_pad_;

  int64_t kv_end = 0;
  for (int64_t r = 0; r < rows; ++r) {  // position-major rows, as in flash.cpp
    const int64_t pos = pos0 + r / g, h = kvh * g + r % g;
    ws.limit[r] = p.visible_keys(bi, pos);
    kv_end = std::max(kv_end, ws.limit[r]);
    load_queries(ws, qsrc + ((bi * p.hq + h) * p.sq + pos) * d, r);
    ws.m[r] = -std::numeric_limits<float>::infinity();
    ws.l[r] = 0.0f;
  }
  const int64_t tile_rows = round_up(rows, std::max<int64_t>(k_.row_pad, 1));
  std::fill(ws.q + rows * qk_width_, ws.q + tile_rows * qk_width_, uint16_t{0});
  std::fill(ws.o, ws.o + tile_rows * dvpad_, 0.0f);

  const int64_t key0 = split * split_.range_keys;
  kv_end = std::min(kv_end, key0 + split_.range_keys);
  const int64_t kv_row0 = (bi * p.hkv + kvh) * p.skv;
  for (int64_t j0 = key0; j0 < kv_end; j0 += bc) {
    const int64_t nk = std::min(bc, kv_end - j0);
    pack_block(ws, ksrc + (kv_row0 + j0) * d, vsrc + (kv_row0 + j0) * dv, nk);

    for (int64_t t0 = 0; t0 < rows; t0 += br) {
      const int tr = static_cast<int>(std::min(br, rows - t0));
      int64_t kmin = std::numeric_limits<int64_t>::max(), kmax = 0;
      for (int r = 0; r < tr; ++r) {
        kmin = std::min(kmin, ws.limit[t0 + r]);
        kmax = std::max(kmax, ws.limit[t0 + r]);
      }
      if (kmax <= j0) continue;  // fully masked block for this tile
      // Keys past every row's last visible key are skipped in steps of 32 (one AMX K step);
      // zero-padded keys past nk are masked like any other invisible key.
      const int64_t ncols = round_up(std::min(nk, kmax - j0), 32);
      const bool masked = kmin < j0 + ncols;
      k_.scores(tr, qk_width_, ws.q + t0 * qk_width_, qk_width_, ws.kp, ncols / 16, ws.s, bc);
      if (masked) {
        for (int r = 0; r < tr; ++r) rel[r] = ws.limit[t0 + r] - j0;
      }
      const int64_t* lim = masked ? rel : nullptr;
      float* o = ws.o + t0 * dvpad_;
      if (!f16_) {
        k_.softmax(ws.s, bc, tr, ncols, lim, c, ws.m + t0, ws.l + t0, ws.alpha + t0, ws.pb, bc);
        k_.rescale(o, dvpad_, tr, dvpad_, ws.alpha + t0);
        k_.accumulate(tr, ncols, ws.pb, bc, ws.vp, bc, dvpad_, o, dvpad_);
        continue;
      }
      // P rows of 2·bc: Phi in [0, bc), Plo in [bc, 2·bc). Plo·Vlo (≤ 2^-18 of p·v) is left out.
      k_.softmax_f16(ws.s, bc, tr, ncols, lim, c, ws.m + t0, ws.l + t0, ws.alpha + t0, ws.pb, 2 * bc, bc);
      k_.rescale(o, dvpad_, tr, dvpad_, ws.alpha + t0);
      k_.accumulate(tr, ncols, ws.pb, 2 * bc, ws.vp, bc, dvpad_, o, dvpad_);
      k_.accumulate(tr, ncols, ws.pb, 2 * bc, ws.vp_lo, bc, dvpad_, o, dvpad_);
      k_.accumulate(tr, ncols, ws.pb + bc, 2 * bc, ws.vp, bc, dvpad_, o, dvpad_);
    }
  }

  if (split_.splits == 1) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t pos = pos0 + r / g, h = kvh * g + r % g;
      finalize(ws.o + r * dvpad_, ws.l[r], out + ((bi * p.hq + h) * p.sq + pos) * dv);
    }
    return;
  }
  partial_.store(item, split, rows, ws.o, dvpad_, ws.m, ws.l);
}

// One output row (b, hq, sq order) merged over its key ranges (key_split.h).
void FlashAttention16::combine_row(int64_t row, float* acc, float* out) const {
  const Problem& p = p_;
  const int64_t g = p.group();
  const int64_t pos = row % p.sq, h = row / p.sq % p.hq, bi = row / (p.sq * p.hq);
  const int64_t qb = pos / positions_;
  const int64_t item = qb * p.b * p.hkv + bi * p.hkv + h / g;
  const int64_t r = (pos - qb * positions_) * g + h % g;
  const float l = partial_.merge(item, r, p.dv, static_cast<float>(p.scale() * std::numbers::log2e), acc);
  finalize(acc, l, out + row * p.dv);
}

// Row r of the item's queries: bf16 as stored, f16 as [Qhi | Qhi | Qlo | Qlo] (flash16.h);
// zeros past d in every segment.
void FlashAttention16::load_queries(Workspace& ws, const uint16_t* qsrc, int64_t r) const {
  const int64_t d = p_.d;
  uint16_t* q = ws.q + r * qk_width_;
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

// Keys [0, nk) of one block into VNNI panels: bf16 directly; f16 first split, K into
// [Khi | Klo | Khi | Klo] rows (matching the Q segments), V into hi and lo halves packed apart.
void FlashAttention16::pack_block(Workspace& ws, const uint16_t* ksrc, const uint16_t* vsrc, int64_t nk) const {
  const int64_t d = p_.d, dv = p_.dv, bc = blocking_.bc;
  const int64_t npanels = round_up(nk, 32) / 16;
  if (!f16_) {
    k_.pack_k(ksrc, d, nk, d, dpad_, npanels, ws.kp);
    k_.pack_v(vsrc, dv, nk, dv, bc, dvpad_, ws.vp);
    return;
  }
  for (int64_t j = 0; j < nk; ++j) {
    uint16_t* row = ws.kst + j * qk_width_;
    k_.split_f16(ksrc + j * d, d, row, row + dpad_);
    std::memcpy(row + 2 * dpad_, row, static_cast<std::size_t>(2 * dpad_) * 2);  // [Khi | Klo], zeros too
  }
  k_.pack_k(ws.kst, qk_width_, nk, qk_width_, qk_width_, npanels, ws.kp);
  k_.split_f16(vsrc, nk * dv, ws.vhi, ws.vlo);  // the block's V rows are contiguous
  k_.pack_v(ws.vhi, dv, nk, dv, bc, dvpad_, ws.vp);
  k_.pack_v(ws.vlo, dv, nk, dv, bc, dvpad_, ws.vp_lo);
}

void FlashAttention16::finalize(const float* o, float l, float* out) const {
  (f16_ ? k_.finalize_f16 : k_.finalize)(o, p_.dv, l, out);
}

}  // namespace sdpa::blocked
