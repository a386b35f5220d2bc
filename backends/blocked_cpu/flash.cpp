#include "backends/blocked_cpu/flash.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <numbers>
#include <stdexcept>
#include <string>

namespace sdpa::blocked {

static_assert(static_cast<int>(DType::f32) == src_f32 && static_cast<int>(DType::f16) == src_f16 &&
                  static_cast<int>(DType::bf16) == src_bf16,
              "kernels.h SrcType mirrors sdpa::DType");

namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

const void* element(const void* base, int64_t index, std::size_t elem_bytes) {
  return static_cast<const char*>(base) + static_cast<std::size_t>(index) * elem_bytes;
}

// Carves 64-byte aligned arrays out of one allocation: first a dry run to size it.
class Carver {
 public:
  explicit Carver(char* base) : base_(base) {}
  template <class T>
  T* take(int64_t count) {
    T* p = base_ ? reinterpret_cast<T*>(base_ + used_) : nullptr;
    used_ += round_up(std::max<int64_t>(count, 1) * static_cast<int64_t>(sizeof(T)), 64);
    return p;
  }
  int64_t used() const { return used_; }

 private:
  char* base_;
  int64_t used_ = 0;
};

}  // namespace

void FlashAttention::prepare(const Problem& p, const Blocking* forced, int64_t forced_splits) {
  p_ = p;
  blocking_ = forced ? *forced : choose_blocking(p.d, p.dv, p.group(), k_.mr, k_.nr, host_cache_sizes());
  if (blocking_.br < 1 || blocking_.br % k_.mr != 0 || blocking_.bc < 1 || blocking_.bc % k_.nr != 0 ||
      blocking_.item_positions < 1) {
    throw std::invalid_argument("blocked_cpu: blocking br=" + std::to_string(blocking_.br) +
                                " bc=" + std::to_string(blocking_.bc) + " positions=" +
                                std::to_string(blocking_.item_positions) + " must have br a multiple of mr=" +
                                std::to_string(k_.mr) + " and bc a multiple of nr=" + std::to_string(k_.nr));
  }
  positions_ = blocked::positions_per_item(blocking_, p.sq, p.b * p.hkv, threads_);
  dv_pad_ = round_up(p.dv, k_.nr);
  item_rows_ = blocking_.item_positions * p.group();
  split_ = plan_key_split(p, blocking_.bc, forced_splits);
  partial_.reset((p.sq + positions_ - 1) / positions_ * p.b * p.hkv, positions_ * p.group(), split_.splits, p.dv);

  auto carve = [&](Workspace& ws, char* base) {
    Carver c(base);
    ws.q = c.take<float>(item_rows_ * p.d);
    ws.o = c.take<float>(item_rows_ * dv_pad_);
    ws.m = c.take<float>(item_rows_);
    ws.l = c.take<float>(item_rows_);
    ws.alpha = c.take<float>(item_rows_);
    ws.limit = c.take<int64_t>(item_rows_ + blocking_.br);
    ws.kp = c.take<float>(blocking_.bc * p.d);
    ws.vp = c.take<float>(blocking_.bc * dv_pad_);
    ws.s = c.take<float>(blocking_.br * blocking_.bc);
    return c.used();
  };
  ws_.clear();
  ws_.resize(static_cast<std::size_t>(threads_));
  for (Workspace& ws : ws_) {
    const int64_t bytes = carve(ws, nullptr);
    ws.memory.reset(static_cast<char*>(std::aligned_alloc(64, static_cast<std::size_t>(bytes))));
    if (!ws.memory) throw std::bad_alloc();
    std::memset(ws.memory.get(), 0, static_cast<std::size_t>(bytes));  // fault the pages in now, untimed
    ws.bytes = static_cast<uint64_t>(bytes);
    carve(ws, ws.memory.get());
  }
}

uint64_t FlashAttention::scratch_bytes() const {
  uint64_t total = partial_.bytes();
  for (const Workspace& ws : ws_) total += ws.bytes;
  return total;
}

void FlashAttention::run(const Inputs& inputs, float* out) {
  const int64_t blocks = (p_.sq + positions_ - 1) / positions_;
  const int64_t heads = p_.b * p_.hkv;
  const int64_t splits = split_.splits;
  const int64_t units = blocks * heads * splits;
#pragma omp parallel num_threads(threads_)
  {
    Workspace& ws = ws_[static_cast<std::size_t>(omp_get_thread_num())];
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < units; ++it) {
      // Later positions see at least as many keys under every mask: hand the heavy items out first.
      const int64_t item = it / splits;
      const int64_t qb = blocks - 1 - item / heads;
      const int64_t bh = item % heads;
      run_item(ws, inputs, out, bh / p_.hkv, bh % p_.hkv, qb * positions_, it % splits, qb * heads + bh);
    }
    if (splits > 1) {  // after the implicit barrier of the loop above: every range is done
      const int64_t rows = p_.b * p_.hq * p_.sq;
      std::vector<float> acc(static_cast<std::size_t>(p_.dv));
#pragma omp for schedule(static)
      for (int64_t row = 0; row < rows; ++row) combine_row(row, acc.data(), out);
    }
  }
}

void FlashAttention::run_item(Workspace& ws, const Inputs& in, float* out, int64_t bi, int64_t kvh, int64_t pos0,
                              int64_t split, int64_t item) {
  const Problem& p = p_;
  const int64_t g = p.group();
  const int64_t rows = std::min(positions_, p.sq - pos0) * g;
  const int64_t d = p.d, dv = p.dv, ldo = dv_pad_, bc = blocking_.bc, br = blocking_.br;
  const int mr = k_.mr, nr = k_.nr;
  const int type = static_cast<int>(p.dtype);
  const std::size_t eb = storage_bytes(p.dtype);
  const float c = static_cast<float>(p.scale() * std::numbers::log2e);
  int64_t* rel = ws.limit + rows;  // the current tile's limits relative to the block start

  // Rows are position-major (row = position·g + head within the group): masks depend on the
  // position only, so a tile may mix heads, which keeps decode tiles (sq = 1) full under GQA.
  int64_t kv_end = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t pos = pos0 + r / g, h = kvh * g + r % g;
    ws.limit[r] = p.visible_keys(bi, pos);
    kv_end = std::max(kv_end, ws.limit[r]);
    k_.to_f32(element(in.q.storage(), ((bi * p.hq + h) * p.sq + pos) * d, eb), type, d, ws.q + r * d);
    ws.m[r] = -std::numeric_limits<float>::infinity();
    ws.l[r] = 0.0f;
  }
  std::fill(ws.o, ws.o + rows * ldo, 0.0f);

  const int64_t key0 = split * split_.range_keys;
  kv_end = std::min(kv_end, key0 + split_.range_keys);
  const int64_t kv_row0 = (bi * p.hkv + kvh) * p.skv;
  for (int64_t j0 = key0; j0 < kv_end; j0 += bc) {  // kvlen and causal: stop at the last visible key
    const int64_t nk = std::min(bc, kv_end - j0);
    const int64_t npanels = (nk + nr - 1) / nr;
    k_.pack_k(element(in.k.storage(), (kv_row0 + j0) * d, eb), type, d, nk, d, npanels, ws.kp);
    k_.pack_v(element(in.v.storage(), (kv_row0 + j0) * dv, eb), type, dv, nk, dv, npanels * nr, bc, ws.vp);

    for (int64_t t0 = 0; t0 < rows; t0 += br) {
      const int tr = static_cast<int>(std::min(br, rows - t0));
      int64_t kmin = std::numeric_limits<int64_t>::max(), kmax = 0;
      for (int r = 0; r < tr; ++r) {
        kmin = std::min(kmin, ws.limit[t0 + r]);
        kmax = std::max(kmax, ws.limit[t0 + r]);
      }
      if (kmax <= j0) continue;  // fully masked block for this tile (causal: above the diagonal)
      // Panels past every row's last key are skipped; only a block that some row sees partly
      // (a diagonal block, a kvlen or skv tail in the zero-padded panel) pays for masking.
      const int64_t ncols = round_up(std::min(nk, kmax - j0), nr);
      const bool masked = kmin < j0 + ncols;
      const float* q = ws.q + t0 * d;
      float* o = ws.o + t0 * ldo;

      for (int64_t pn = 0; pn < ncols / nr; ++pn) {
        for (int r0 = 0; r0 < tr; r0 += mr) {
          k_.gemm(std::min(mr, tr - r0), d, q + r0 * d, d, ws.kp + pn * d * nr, ws.s + r0 * bc + pn * nr, bc,
                  gemm_store, nullptr);
        }
      }
      if (masked) {
        for (int r = 0; r < tr; ++r) rel[r] = ws.limit[t0 + r] - j0;
      }
      k_.softmax(ws.s, bc, tr, ncols, masked ? rel : nullptr, c, ws.m + t0, ws.l + t0, ws.alpha + t0);
      for (int64_t ch = 0; ch < ldo / nr; ++ch) {
        for (int r0 = 0; r0 < tr; r0 += mr) {
          k_.gemm(std::min(mr, tr - r0), ncols, ws.s + r0 * bc, bc, ws.vp + ch * bc * nr, o + r0 * ldo + ch * nr,
                  ldo, gemm_scale_accumulate, ws.alpha + t0 + r0);
        }
      }
    }
  }

  if (split_.splits > 1) {
    partial_.store(item, split, rows, ws.o, ldo, ws.m, ws.l);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t pos = pos0 + r / g, h = kvh * g + r % g;
    k_.finalize(ws.o + r * ldo, dv, ws.l[r], type, out + ((bi * p.hq + h) * p.sq + pos) * dv);
  }
}

// One output row (b, hq, sq order) merged over its key ranges (key_split.h).
void FlashAttention::combine_row(int64_t row, float* acc, float* out) const {
  const Problem& p = p_;
  const int64_t g = p.group();
  const int64_t pos = row % p.sq, h = row / p.sq % p.hq, bi = row / (p.sq * p.hq);
  const int64_t qb = pos / positions_;
  const int64_t item = qb * p.b * p.hkv + bi * p.hkv + h / g;
  const int64_t r = (pos - qb * positions_) * g + h % g;
  const float l = partial_.merge(item, r, p.dv, static_cast<float>(p.scale() * std::numbers::log2e), acc);
  k_.finalize(acc, p.dv, l, static_cast<int>(p.dtype), out + row * p.dv);
}

}  // namespace sdpa::blocked
