#include "backends/blocked_cpu/tiling.h"

#include <unistd.h>

#include <algorithm>

namespace sdpa::blocked {

CacheSizes host_cache_sizes() {
  CacheSizes c;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
  if (long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE); l1 > 0) c.l1d_bytes = l1;
  if (long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE); l2 > 0) c.l2_bytes = l2;
#endif
  return c;
}

namespace {
int64_t round_down(int64_t x, int64_t m) { return x / m * m; }
int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
}  // namespace

// Where the data of one work item lives (floats are 4 bytes; dv is padded to nr):
//  - L1: the score tile S (br × bc) is written by Q·Kᵀ, read twice by the softmax and read by
//    P·V once per nr output columns; beside it sits the one packed panel a micro-kernel
//    streams (a K panel of d × nr, or a V chunk of bc × nr). Keeping S in half of L1 leaves
//    the other half for that panel and the Q / O strips passing through.
//  - L2: each packed K/V block (bc × (d + dv)) is revisited by every tile of the item, and the
//    item's Q rows and O accumulators (rows × (d + dv)) once per key block; each tile's share
//    is used for br·bc·(d + dv) FMAs, long enough to hide a trip to L3, so the item may fill
//    all of L2 rather than half.
// bc = 128 keys: long enough that the per-row softmax bookkeeping (a horizontal max and sum,
// one 2^x, the O rescale folded into P·V) is a few percent of a block's work, short enough
// that S fits half of a 48 KiB L1 with br = 42..48 rows, and the waste on causal diagonal
// blocks (about (br + nr) / 2 keys per row) stays small at n ≥ 2k. br fills that L1 half.
// Measured on Zen 5 (AVX-512, d = 128, one thread): br 28..84 × bc 64..256 all land within
// ±5% of this choice, bc = 64 lowest.
// Rows per item: every item packs its own K/V blocks (so no buffer grows with n), which costs
// about (d + dv) element copies per key against rows·(d + dv) FMAs: rows are what amortise it
// (profiled at 378 rows per item, packing took ~12% of the time; 756 rows ran 4% faster).
// Capped at 1024 rows; at least one tile.
Blocking choose_blocking(int64_t d, int64_t dv, int64_t group, int mr, int nr, CacheSizes caches) {
  Blocking b;
  b.bc = round_up(128, nr);
  const int64_t s_floats = caches.l1d_bytes / 2 / 4;
  b.br = std::clamp<int64_t>(round_down(s_floats / b.bc, mr), mr, 16 * mr);

  const int64_t row_floats = d + round_up(dv, nr);
  const int64_t l2_floats = caches.l2_bytes / 4;
  const int64_t rows = std::clamp<int64_t>(l2_floats / row_floats - b.bc, b.br, 1024);
  int64_t positions = std::max<int64_t>(1, rows / group);
  if (positions >= b.br) positions = round_down(positions, b.br);
  // Not clipped to sq: the workspace is one fixed, cache-sized budget per thread, so scratch
  // is the same at every n (a short problem simply fills less of it).
  b.item_positions = positions;
  return b;
}

int64_t positions_per_item(const Blocking& b, int64_t sq, int64_t kv_heads, int threads) {
  const int64_t items_per_head = (4 * static_cast<int64_t>(threads) + kv_heads - 1) / kv_heads;
  int64_t positions = (sq + items_per_head - 1) / items_per_head;
  // Whole tiles where the item has more than one; never more than the workspace holds.
  positions = positions > b.br ? round_up(positions, b.br) : positions;
  return std::clamp<int64_t>(std::min(positions, sq), 1, b.item_positions);
}

}  // namespace sdpa::blocked
