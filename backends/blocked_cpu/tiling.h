// Block sizes of the tiled attention, from the head dims and the cache sizes. Pure, so the
// choice is testable and the reasoning sits in one place (tiling.cpp).
#pragma once

#include <cstdint>

namespace sdpa::blocked {

struct CacheSizes {
  int64_t l1d_bytes = 48 * 1024;  // per core
  int64_t l2_bytes = 1024 * 1024;  // per core
};

// This host's per-core L1d and L2 (sysconf), with the defaults above where it does not say.
CacheSizes host_cache_sizes();

struct Blocking {
  int64_t br = 0;              // query rows per tile: a multiple of the micro-kernel's mr
  int64_t bc = 0;              // keys per block: a multiple of its nr
  int64_t item_positions = 0;  // most query positions per work item; × the GQA group = rows
};

// Keys per block of the f32 path (tiling.cpp says why): long, except for a decode step, whose
// key split (key_split.h) cuts ranges of whole blocks, kept as fine as its rule wants by short
// ones, and where L2 is too small to hold many query rows beside a long block.
inline constexpr int64_t kLongBlockKeys = 512;
inline constexpr int64_t kShortBlockKeys = 128;
inline constexpr int64_t kLongBlockMinRows = 1024;  // query rows L2 must hold beside a long block

// mr, nr: the micro-kernel's shape. `group` = hq / hkv: the query heads that share K/V.
// Depends on neither sq nor skv: the workspaces it sizes are the same at every length.
Blocking choose_blocking(int64_t d, int64_t dv, int64_t group, int mr, int nr, CacheSizes caches,
                         int64_t block_keys = kLongBlockKeys);

// Positions per work item for this run: at most `b.item_positions`, fewer when that would
// leave fewer than 4 items per thread (dynamic scheduling then still evens out causal work).
// Rows are summed in the same order however they are grouped, so this changes no bit.
int64_t positions_per_item(const Blocking& b, int64_t sq, int64_t kv_heads, int threads);

}  // namespace sdpa::blocked
