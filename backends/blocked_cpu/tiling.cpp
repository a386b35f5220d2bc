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
//  - L1: the micro-kernel's operands: a strip of mr rows of Q or S broadcast from, and the one
//    packed panel it streams (a K panel of d × nr, or a V chunk of bc × nr).
//  - L2: the score tile S (br × bc), written by Q·Kᵀ, read twice by the softmax and once per
//    nr output columns by P·V; each packed K/V block (bc × (d + dv)), revisited by every tile
//    of the item; and the item's Q rows and O accumulators (rows × (d + dv)) once per key
//    block. Each tile's share is used for br·bc·(d + dv) FMAs, long enough to hide a trip to
//    L3, so the item may fill all of L2 rather than half.
// bc = 512 keys (kLongBlockKeys; a decode step that splits its keys keeps 128, so that its
// ranges of whole blocks stay as fine as key_split.cpp's rule wants, and so does an L2 too small
// to hold 1024 query rows beside a 512-key block: with 256 KiB, items would shrink to one tile
// and repack every K/V block, 27-60% more instructions): a block's fixed work per row (the
// horizontal max and sum, one 2^x, the O rows loaded, rescaled and stored again around P·V)
// shrinks with its length. Measured on Sapphire
// Rapids (2 threads, f32, h8 n4096 d128 and h16 n2048 d64, interleaved `sdpa-bench ab`):
// against bc = 128, 256 ran 2.5-3% and 512 4-5% faster (causal too), 1024 2% slower than 512;
// br made no difference (14, 28 or 42 rows at 128 or 512 keys, within ±0.5%), so S need not
// fit L1 and br is what half of L1 holds at this bc, at least one micro-kernel block (mr).
// The waste on causal diagonal blocks does not grow with bc: a tile stops at its last row's
// last visible key (flash.cpp), about (br + nr) / 2 keys past each row's.
// Earlier, on Zen 5 (AVX-512, d = 128, one thread): br 28..84 × bc 64..256 all landed within
// ±5% of br 42 × bc 128, bc = 64 lowest.
// Rows per item: every item packs its own K/V blocks (so no buffer grows with n), which costs
// about (d + dv) element copies per key against rows·(d + dv) FMAs: rows are what amortise it
// (profiled at 378 rows per item, packing took ~12% of the time; 756 rows ran 4% faster; on
// Sapphire Rapids, 2 threads, d = 64, 2048 rows ran 2-4% faster than 1024, d = 128 the same).
// Capped at 2048 rows; at least one tile.
Blocking choose_blocking(int64_t d, int64_t dv, int64_t group, int mr, int nr, CacheSizes caches,
                         int64_t block_keys) {
  Blocking b;
  const int64_t row_floats = d + round_up(dv, nr);
  const int64_t l2_rows = caches.l2_bytes / 4 / row_floats;  // rows of Q and O (or of K and V) L2 holds
  // A block's packed K/V takes bc rows' worth of L2 from the item: long blocks only where
  // kLongBlockMinRows query rows still fit beside one (2 MiB L2: d ≤ 128), else short ones.
  if (block_keys > kShortBlockKeys && l2_rows - round_up(block_keys, nr) < kLongBlockMinRows) {
    block_keys = kShortBlockKeys;
  }
  b.bc = round_up(block_keys, nr);
  const int64_t s_floats = caches.l1d_bytes / 2 / 4;
  b.br = std::clamp<int64_t>(round_down(s_floats / b.bc, mr), mr, 16 * mr);

  const int64_t budget = l2_rows - b.bc;  // rows whose Q and O fit L2 beside a K/V block
  const int64_t rows = std::clamp<int64_t>(budget, b.br, 2048);
  int64_t positions = std::max<int64_t>(1, rows / group);
  // Whole tiles: rounded up where L2 still holds them (d = 64: 2058 rows, so n = 2048 is one
  // item per head rather than 2016 rows and a 32-row sliver that packs every K/V block again).
  if (positions >= b.br) {
    const int64_t up = round_up(positions, b.br);
    positions = up * group <= budget ? up : round_down(positions, b.br);
  }
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
