#include "backends/blocked_cpu/flash.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <numbers>
#include <stdexcept>
#include <string>

#include "backends/blocked_cpu/flash16.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace sdpa::blocked {

static_assert(static_cast<int>(DType::f32) == src_f32 && static_cast<int>(DType::f16) == src_f16 &&
                  static_cast<int>(DType::bf16) == src_bf16,
              "kernels.h SrcType mirrors sdpa::DType");

namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

const void* element(const void* base, int64_t index, std::size_t elem_bytes) {
  return static_cast<const char*>(base) + static_cast<std::size_t>(index) * elem_bytes;
}

}  // namespace

// ---- the f32 path ----

Blocking F32Path::choose(const Problem& p) const {
  const bool decode_split = plan_key_split(p, kShortBlockKeys).splits > 1;
  return choose_blocking(p.d, p.dv, p.group(), k_.mr, k_.nr, host_cache_sizes(),
                         decode_split ? kShortBlockKeys : kLongBlockKeys);
}

void F32Path::check(const Blocking& b) const {
  if (b.br < 1 || b.br % k_.mr != 0 || b.bc < 1 || b.bc % k_.nr != 0 || b.item_positions < 1) {
    throw std::invalid_argument("blocked_cpu: blocking br=" + std::to_string(b.br) + " bc=" + std::to_string(b.bc) +
                                " positions=" + std::to_string(b.item_positions) +
                                " must have br a multiple of mr=" + std::to_string(k_.mr) +
                                " and bc a multiple of nr=" + std::to_string(k_.nr));
  }
}

void F32Path::setup(const Problem& p, const Blocking& b) {
  d_ = p.d;
  dv_ = p.dv;
  ldo_ = round_up(p.dv, k_.nr);
  bc_ = b.bc;
  br_ = b.br;
  type_ = static_cast<int>(p.dtype);
  eb_ = storage_bytes(p.dtype);
}

#if defined(__SSE__)
namespace {
constexpr unsigned kFlushSubnormals = 0x8040;  // MXCSR FTZ (bit 15) and DAZ (bit 6)
thread_local unsigned saved_mxcsr = 0;            // the caller's, given back at the end
}  // namespace
void F32Path::thread_begin() const {
  saved_mxcsr = _mm_getcsr();
  _mm_setcsr(saved_mxcsr | kFlushSubnormals);
}
void F32Path::thread_end() const { _mm_setcsr(saved_mxcsr); }
#else
void F32Path::thread_begin() const {}
void F32Path::thread_end() const {}
#endif

void F32Path::carve(Buffers& w, Carver& c, int64_t rows) const {
  w.q = c.take<float>(rows * d_);
  w.kp = c.take<float>(bc_ * d_);
  w.vp = c.take<float>(bc_ * ldo_);
}

void F32Path::load_query(Buffers& w, const Inputs& in, int64_t index, int64_t r) const {
  k_.to_f32(element(in.q.storage(), index, eb_), type_, d_, w.q + r * d_);
}

void F32Path::pack(Buffers& w, const Inputs& in, int64_t kv_row, int64_t nk) const {
  const int64_t npanels = (nk + k_.nr - 1) / k_.nr;
  k_.pack_k(element(in.k.storage(), kv_row * d_, eb_), type_, d_, nk, d_, npanels, w.kp);
  k_.pack_v(element(in.v.storage(), kv_row * dv_, eb_), type_, dv_, nk, dv_, npanels * k_.nr, bc_, w.vp);
}

void F32Path::tile(Buffers& w, RowState& rs, const Tile& t) const {
  const int mr = k_.mr, nr = k_.nr;
  const int64_t d = d_, bc = bc_, ldo = ldo_;
  const float* q = w.q + t.t0 * d;
  float* o = rs.o + t.t0 * ldo;
  for (int64_t pn = 0; pn < t.ncols / nr; ++pn) {
    for (int r0 = 0; r0 < t.tr; r0 += mr) {
      k_.gemm(std::min(mr, t.tr - r0), d, q + r0 * d, d, w.kp + pn * d * nr, rs.s + r0 * bc + pn * nr, bc, gemm_store,
              nullptr);
    }
  }
  k_.softmax(rs.s, bc, t.tr, t.ncols, t.limit, t.c, rs.m + t.t0, rs.l + t.t0, rs.alpha + t.t0);
  for (int64_t ch = 0; ch < ldo / nr; ++ch) {
    for (int r0 = 0; r0 < t.tr; r0 += mr) {
      k_.gemm(std::min(mr, t.tr - r0), t.ncols, rs.s + r0 * bc, bc, w.vp + ch * bc * nr, o + r0 * ldo + ch * nr, ldo,
              gemm_scale_accumulate, rs.alpha + t.t0 + r0);
    }
  }
}

void F32Path::finalize(const float* o, float l, float* out) const { k_.finalize(o, dv_, l, type_, out); }

// ---- the driver ----

template <class Path>
void FlashDriver<Path>::prepare(const Problem& p, const Blocking* forced, int64_t forced_splits) {
  p_ = p;
  blocking_ = forced ? *forced : path_.choose(p);
  path_.check(blocking_);
  path_.setup(p, blocking_);
  positions_ = blocked::positions_per_item(blocking_, p.sq, p.b * p.hkv, threads_);
  rows_pad_ = round_up(blocking_.item_positions * p.group(), std::max<int64_t>(path_.row_pad(), 1));
  split_ = plan_key_split(p, blocking_.bc, forced_splits);
  partial_.reset(ceil_div(p.sq, positions_) * p.b * p.hkv, positions_ * p.group(), split_.splits, p.dv);

  const int64_t rows = rows_pad_, br = blocking_.br, bc = blocking_.bc, ldo = path_.ldo();
  auto carve = [&](Workspace& ws, char* base) {
    Carver c(base);
    path_.carve(ws.path, c, rows);
    ws.rows.o = c.take<float>(rows * ldo);
    ws.rows.m = c.take<float>(rows);
    ws.rows.l = c.take<float>(rows);
    ws.rows.alpha = c.take<float>(rows);
    ws.rows.limit = c.take<int64_t>(rows + br);
    ws.rows.s = c.take<float>(br * bc);
    return c.used();
  };
  ws_.clear();
  ws_.resize(static_cast<std::size_t>(threads_));
  for (Workspace& ws : ws_) {
    const int64_t bytes = carve(ws, nullptr);
    ws.memory.reset(static_cast<char*>(std::aligned_alloc(64, static_cast<std::size_t>(bytes))));
    if (!ws.memory) throw std::bad_alloc();
    // Faults the pages in now, untimed; buffers a path writes only in part (padding rows of
    // P, padding columns of staged K rows) stay 0.
    std::memset(ws.memory.get(), 0, static_cast<std::size_t>(bytes));
    ws.bytes = static_cast<uint64_t>(bytes);
    carve(ws, ws.memory.get());
  }
}

template <class Path>
uint64_t FlashDriver<Path>::scratch_bytes() const {
  uint64_t total = partial_.bytes();
  for (const Workspace& ws : ws_) total += ws.bytes;
  return total;
}

template <class Path>
void FlashDriver<Path>::run(const Inputs& inputs, float* out) {
  const int64_t blocks = ceil_div(p_.sq, positions_);
  const int64_t heads = p_.b * p_.hkv;
  const int64_t splits = split_.splits;
  const int64_t units = blocks * heads * splits;
#pragma omp parallel num_threads(threads_)
  {
    Workspace& ws = ws_[static_cast<std::size_t>(omp_get_thread_num())];
    path_.thread_begin();
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < units; ++it) {
      // Later positions see at least as many keys under every mask: hand the heavy items out first.
      const int64_t item = it / splits;
      const int64_t qb = blocks - 1 - item / heads;
      const int64_t bh = item % heads;
      run_item(ws, inputs, out, bh / p_.hkv, bh % p_.hkv, qb * positions_, it % splits, qb * heads + bh);
    }
    path_.thread_end();
    if (splits > 1) {  // after the implicit barrier of the loop above: every range is done
      const int64_t rows = p_.b * p_.hq * p_.sq;
      std::vector<float> acc(static_cast<std::size_t>(p_.dv));
#pragma omp for schedule(static)
      for (int64_t row = 0; row < rows; ++row) combine_row(row, acc.data(), out);
    }
  }
}

template <class Path>
void FlashDriver<Path>::run_item(Workspace& ws, const Inputs& in, float* out, int64_t bi, int64_t kvh, int64_t pos0,
                                 int64_t split, int64_t item) {
  const Problem& p = p_;
  RowState& rs = ws.rows;
  const int64_t g = p.group();
  const int64_t rows = std::min(positions_, p.sq - pos0) * g;
  const int64_t bc = blocking_.bc, br = blocking_.br, ldo = path_.ldo(), step = path_.key_step();
  const float c = static_cast<float>(p.scale() * std::numbers::log2e);
  int64_t* rel = rs.limit + rows_pad_;  // the current tile's limits relative to the block start

  // Rows are position-major (row = position·g + head within the group): masks depend on the
  // position only, so a tile may mix heads, which keeps decode tiles (sq = 1) full under GQA.
  int64_t kv_end = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t pos = pos0 + r / g, h = kvh * g + r % g;
    rs.limit[r] = p.visible_keys(bi, pos);
    kv_end = std::max(kv_end, rs.limit[r]);
    path_.load_query(ws.path, in, ((bi * p.hq + h) * p.sq + pos) * p.d, r);
    rs.m[r] = -std::numeric_limits<float>::infinity();
    rs.l[r] = 0.0f;
  }
  const int64_t tile_rows = round_up(rows, std::max<int64_t>(path_.row_pad(), 1));
  path_.pad_queries(ws.path, rows, tile_rows);
  std::fill(rs.o, rs.o + tile_rows * ldo, 0.0f);

  const int64_t key0 = split * split_.range_keys;
  kv_end = std::min(kv_end, key0 + split_.range_keys);
  const int64_t kv_row0 = (bi * p.hkv + kvh) * p.skv;
  for (int64_t j0 = key0; j0 < kv_end; j0 += bc) {  // kvlen and causal: stop at the last visible key
    const int64_t nk = std::min(bc, kv_end - j0);
    path_.pack(ws.path, in, kv_row0 + j0, nk);

    for (int64_t t0 = 0; t0 < rows; t0 += br) {
      const int tr = static_cast<int>(std::min(br, rows - t0));
      int64_t kmin = std::numeric_limits<int64_t>::max(), kmax = 0;
      for (int r = 0; r < tr; ++r) {
        kmin = std::min(kmin, rs.limit[t0 + r]);
        kmax = std::max(kmax, rs.limit[t0 + r]);
      }
      if (kmax <= j0) continue;  // fully masked block for this tile (causal: above the diagonal)
      // Keys past every row's last visible key are skipped in the path's key steps; only a
      // block that some row sees partly (a diagonal block, a kvlen or skv tail in the
      // zero-padded keys) pays for masking.
      Tile t;
      t.t0 = t0;
      t.tr = tr;
      t.ncols = round_up(std::min(nk, kmax - j0), step);
      t.c = c;
      if (kmin < j0 + t.ncols) {
        for (int r = 0; r < tr; ++r) rel[r] = rs.limit[t0 + r] - j0;
        t.limit = rel;
      }
      path_.tile(ws.path, rs, t);
    }
  }

  if (split_.splits > 1) {
    partial_.store(item, split, rows, rs.o, ldo, rs.m, rs.l);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t pos = pos0 + r / g, h = kvh * g + r % g;
    path_.finalize(rs.o + r * ldo, rs.l[r], out + ((bi * p.hq + h) * p.sq + pos) * p.dv);
  }
}

// One output row (b, hq, sq order) merged over its key ranges (key_split.h).
template <class Path>
void FlashDriver<Path>::combine_row(int64_t row, float* acc, float* out) const {
  const Problem& p = p_;
  const int64_t g = p.group();
  const int64_t pos = row % p.sq, h = row / p.sq % p.hq, bi = row / (p.sq * p.hq);
  const int64_t qb = pos / positions_;
  const int64_t item = qb * p.b * p.hkv + bi * p.hkv + h / g;
  const int64_t r = (pos - qb * positions_) * g + h % g;
  const float l = partial_.merge(item, r, p.dv, static_cast<float>(p.scale() * std::numbers::log2e), acc);
  path_.finalize(acc, l, out + row * p.dv);
}

template class FlashDriver<F32Path>;
template class FlashDriver<Bf16Path>;

}  // namespace sdpa::blocked
