// Flash-style attention over the kernel table: tiles of br query rows × bc keys, online
// softmax with fp32 accumulators, never an n × n matrix. One work item = (batch, kv head,
// a run of query positions) with all the query heads that share that kv head (GQA), so each
// packed K/V block serves group × positions rows. Items go to OpenMP threads dynamically;
// every output row is computed by one thread in a fixed order, so results are bit-identical
// whatever the thread count. Decode steps also split the keys into ranges (key_split.h).
#pragma once

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

class FlashAttention {
 public:
  FlashAttention(const Kernels& kernels, int threads) : k_(kernels), threads_(threads) {}

  // Chooses the blocking (or takes `forced`, for tests) and allocates the per-thread
  // workspaces, sized by the blocking (a cache-sized capacity), not by n. `forced_splits` > 0
  // (tests) replaces the key split of plan_key_split.
  void prepare(const Problem& problem, const Blocking* forced = nullptr, int64_t forced_splits = 0);
  // out: b, hq, sq, dv floats, each already rounded to the problem's dtype.
  void run(const Inputs& inputs, float* out);

  const Blocking& blocking() const { return blocking_; }
  int64_t positions_per_item() const { return positions_; }
  int64_t splits() const { return split_.splits; }
  int threads() const { return threads_; }
  // Bytes of the workspaces allocated by prepare().
  uint64_t scratch_bytes() const;

 private:
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };
  // One thread's buffers, carved from one 64-byte aligned allocation.
  struct Workspace {
    std::unique_ptr<char, FreeDeleter> memory;
    uint64_t bytes = 0;
    float* q = nullptr;      // rows × d: the item's queries in f32
    float* o = nullptr;      // rows × dv_pad: unnormalised output accumulators
    float* m = nullptr;      // rows: running max of the raw scores
    float* l = nullptr;      // rows: running sum of 2^((s − m)·c)
    float* alpha = nullptr;  // rows: rescale factors of the last block
    int64_t* limit = nullptr;  // rows: visible keys of each row; then relative to a block
    float* kp = nullptr;     // bc × d: one K block in panels
    float* vp = nullptr;     // bc × dv_pad: one V block in column chunks
    float* s = nullptr;      // br × bc: scores, then probabilities
  };

  void run_item(Workspace& ws, const Inputs& inputs, float* out, int64_t bi, int64_t kvh, int64_t pos0, int64_t split,
                int64_t item);
  void combine_row(int64_t row, float* acc, float* out) const;

  const Kernels& k_;
  int threads_;
  Problem p_;
  Blocking blocking_;
  int64_t positions_ = 0;  // per work item in this run: ≤ blocking_.item_positions
  int64_t dv_pad_ = 0;
  int64_t item_rows_ = 0;
  std::vector<Workspace> ws_;
  KeySplit split_;
  PartialResults partial_;  // empty unless split_.splits > 1
};

}  // namespace sdpa::blocked
