// Flash-style attention: tiles of br query rows × bc keys, online softmax with fp32
// accumulators, never an n × n matrix. One driver (FlashDriver) runs every path; a path
// (F32Path here, Bf16Path in flash16.h) supplies what differs: the element type of Q and the
// packed K/V, how a query row is loaded, how a K/V block is packed, what one tile computes
// (Q·Kᵀ, softmax, P·V) and how an output row is finalised.
//
// One work item = (batch, kv head, a run of query positions) with all the query heads that
// share that kv head (GQA), so each packed K/V block serves group × positions rows. Items go
// to OpenMP threads dynamically; every output row is computed by one thread in a fixed order,
// so results are bit-identical whatever the thread count. Decode steps also split the keys
// into ranges (key_split.h).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "backends/blocked_cpu/kernels.h"
#include "backends/blocked_cpu/key_split.h"
#include "backends/blocked_cpu/tiling.h"
#include "core/problem.h"
#include "core/tensor.h"

namespace sdpa::blocked {

// Carves 64-byte aligned arrays out of one allocation: first a dry run (base null) to size it.
class Carver {
 public:
  explicit Carver(char* base) : base_(base) {}
  template <class T>
  T* take(int64_t count) {
    T* p = base_ ? reinterpret_cast<T*>(base_ + used_) : nullptr;
    used_ += (std::max<int64_t>(count, 1) * static_cast<int64_t>(sizeof(T)) + 63) / 64 * 64;
    return p;
  }
  int64_t used() const { return used_; }

 private:
  char* base_;
  int64_t used_ = 0;
};

// The buffers of one thread that every path has, sized for one item (rows = the item's rows
// rounded up to the path's row_pad).
struct RowState {
  float* o = nullptr;        // rows × ldo: unnormalised output accumulators
  float* m = nullptr;        // rows: running (or reference) max of the raw scores
  float* l = nullptr;        // rows: running sum of the probabilities
  float* alpha = nullptr;    // rows: rescale factors of the last block
  int64_t* limit = nullptr;  // rows + br: visible keys of each row; then relative to a block
  float* s = nullptr;        // br × bc: scores (f32 path: then probabilities)
};

// One tile of one K/V block, as the driver hands it to a path.
struct Tile {
  int64_t t0 = 0;                  // first row of the tile in the item
  int tr = 0;                      // rows
  int64_t ncols = 0;               // keys of the block the tile reads (a multiple of key_step)
  const int64_t* limit = nullptr;  // visible keys of each row relative to the block; null: all
  float c = 0.0f;                  // scale · log2(e)
};

// The f32 path: inputs of any dtype converted to f32 while loading and packing, the GEMMs on
// the Kernels table's micro-kernel.
class F32Path {
 public:
  using Table = Kernels;
  struct Buffers {
    float* q = nullptr;   // rows × d: the item's queries in f32
    float* kp = nullptr;  // bc × d: one K block in panels
    float* vp = nullptr;  // bc × ldo: one V block in column chunks
  };
  explicit F32Path(const Kernels& k) : k_(k) {}

  Blocking choose(const Problem& p) const;
  void check(const Blocking& b) const;  // throws std::invalid_argument
  void setup(const Problem& p, const Blocking& b);
  int64_t ldo() const { return ldo_; }
  int64_t row_pad() const { return 1; }
  int64_t key_step() const { return k_.nr; }
  void carve(Buffers& w, Carver& c, int64_t rows) const;
  // Subnormals flushed to 0 in this thread while it runs the path (MXCSR FTZ and DAZ): the
  // AVX-512 exponential leaves p < 2^-126 subnormal (kernels_simd.h), and a subnormal operand
  // or result can cost a microcode assist each. A p that small is 0 next to the row's max.
  void thread_begin() const;
  void thread_end() const;
  // Query row at element `index` of Q into row r; pad rows [rows, tile_rows) (none here).
  void load_query(Buffers& w, const Inputs& in, int64_t index, int64_t r) const;
  void pad_queries(Buffers&, int64_t, int64_t) const {}
  // Keys [0, nk) from K/V row `kv_row`.
  void pack(Buffers& w, const Inputs& in, int64_t kv_row, int64_t nk) const;
  void tile(Buffers& w, RowState& rs, const Tile& t) const;
  void finalize(const float* o, float l, float* out) const;

 private:
  const Kernels& k_;
  int64_t d_ = 0, dv_ = 0, ldo_ = 0, bc_ = 0, br_ = 0;
  int type_ = 0;
  std::size_t eb_ = 4;
};

template <class Path>
class FlashDriver {
 public:
  FlashDriver(const typename Path::Table& table, int threads) : path_(table), threads_(threads) {}

  // Chooses the blocking (or takes `forced`, for tests) and allocates the per-thread
  // workspaces, sized by the blocking (a cache-sized capacity), not by n. `forced_splits` > 0
  // replaces the key split of plan_key_split (tests, and measured dispatch).
  void prepare(const Problem& problem, const Blocking* forced = nullptr, int64_t forced_splits = 0);
  // out: b, hq, sq, dv floats, each already rounded to the problem's dtype.
  void run(const Inputs& inputs, float* out);

  const Blocking& blocking() const { return blocking_; }
  int64_t positions_per_item() const { return positions_; }
  int64_t splits() const { return split_.splits; }
  int threads() const { return threads_; }
  // Bytes of the workspaces allocated by prepare(), and of the decode split's partial results.
  uint64_t scratch_bytes() const;

 private:
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };
  // One thread's buffers, carved from one 64-byte aligned allocation.
  struct Workspace {
    std::unique_ptr<char, FreeDeleter> memory;
    uint64_t bytes = 0;
    RowState rows;
    typename Path::Buffers path;
  };

  void run_item(Workspace& ws, const Inputs& inputs, float* out, int64_t bi, int64_t kvh, int64_t pos0, int64_t split,
                int64_t item);
  void combine_row(int64_t row, float* acc, float* out) const;

  Path path_;
  int threads_;
  Problem p_;
  Blocking blocking_;
  int64_t positions_ = 0;  // per work item in this run: ≤ blocking_.item_positions
  int64_t rows_pad_ = 0;   // workspace rows: item rows rounded up to the path's row_pad
  std::vector<Workspace> ws_;
  KeySplit split_;
  PartialResults partial_;  // empty unless split_.splits > 1
};

using FlashAttention = FlashDriver<F32Path>;
extern template class FlashDriver<F32Path>;

}  // namespace sdpa::blocked
