#include "backends/vulkan/vulkan_tiles.h"

#include <algorithm>

namespace sdpa::vulkan {

namespace {

uint32_t ceil_div(int64_t a, int64_t b) { return static_cast<uint32_t>((a + b - 1) / b); }

uint32_t next_pow2(int64_t v) {
  uint32_t p = 1;
  while (p < v && p < (1u << 30)) p <<= 1;
  return p;
}

bool is_pow2(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Threads per scalar workgroup: enough warps to hide latency, few enough that small query
// tiles still give each thread work.
constexpr uint32_t kScalarThreads = 128;
// Accumulator registers per thread we allow (S micro-tile, O micro-tile in floats).
constexpr uint32_t kMaxScoreRegs = 16;
constexpr uint32_t kMaxOutRegs = 64;

// The O micro-tile with the fewest shared-memory loads per useful FMA.
bool choose_out_tile(ScalarTiles& t, int64_t dv) {
  const uint32_t dv4 = ceil_div(dv, 4);
  double best = 1e30;
  bool found = false;
  for (uint32_t nox = 1; nox <= t.wg; nox <<= 1) {
    const uint32_t noy = t.wg / nox;
    if (noy > t.br || t.br % noy != 0) continue;
    const uint32_t om = t.br / noy, on = ceil_div(dv4, nox);
    if (om * on * 4 > kMaxOutRegs) continue;
    const double useful = static_cast<double>(dv4) / (nox * on);
    const double cost = (om + on) / (om * on * useful);
    if (cost < best - 1e-9) {
      best = cost;
      t.om = om;
      t.on = on;
      found = true;
    }
  }
  return found;
}

}  // namespace

uint32_t usable_shared_bytes(const TileLimits& limits) {
  const uint32_t limit = std::min(limits.shared_bytes, kSharedBudgetBytes);
  return limit > kSharedHeadroomBytes ? limit - kSharedHeadroomBytes : 0;
}

uint32_t scalar_shared_bytes(uint32_t br, uint32_t bc, int64_t d, int64_t dv) {
  const uint32_t d4 = ceil_div(d, 4), dv4 = ceil_div(dv, 4);
  const uint32_t q = br * (d4 + 1) * 16;
  const uint32_t kv = bc * (std::max(d4, dv4) + 1) * 16;
  const uint32_t p = br * bc * 4;
  const uint32_t row_scale = br * 4;
  return q + kv + p + row_scale;
}

std::optional<ScalarTiles> choose_scalar_tiles(int64_t d, int64_t dv, int64_t sq, const TileLimits& limits,
                                               std::string* why) {
  const uint32_t wg = std::min(kScalarThreads, limits.max_invocations);
  if (!is_pow2(limits.subgroup_size) || !is_pow2(wg)) {
    if (why) *why = "subgroup size " + std::to_string(limits.subgroup_size) + " or workgroup size " +
                    std::to_string(wg) + " is not a power of two";
    return std::nullopt;
  }
  // A softmax row's threads (wg / br of them) must sit in one subgroup.
  const uint32_t min_br = std::max(1u, wg / limits.subgroup_size);
  // Query tiles much taller than sq would leave most rows idle (decode: sq = 1).
  const uint32_t max_br = std::max(next_pow2(sq), min_br);
  const uint32_t shared_limit = usable_shared_bytes(limits);
  uint32_t smallest_shared = UINT32_MAX;
  for (uint32_t br = 64; br >= 1; br >>= 1) {
    if (br < min_br || br > max_br) continue;
    for (uint32_t bc = 64; bc >= 8; bc >>= 1) {
      const uint32_t per_thread = br * bc / wg;
      if (br * bc < wg || per_thread > kMaxScoreRegs) continue;
      const uint32_t bytes = scalar_shared_bytes(br, bc, d, dv);
      smallest_shared = std::min(smallest_shared, bytes);
      if (bytes > shared_limit) continue;
      ScalarTiles t;
      t.wg = wg;
      t.br = br;
      t.bc = bc;
      t.tn = std::min({4u, per_thread, bc});
      t.tm = per_thread / t.tn;
      t.shared_bytes = bytes;
      if (t.tm > br || !choose_out_tile(t, dv)) continue;
      return t;
    }
  }
  if (why) {
    *why = "no scalar tile fits: d=" + std::to_string(d) + ", dv=" + std::to_string(dv) + " need " +
           (smallest_shared == UINT32_MAX ? std::string("a larger workgroup")
                                          : std::to_string(smallest_shared) + " bytes of shared memory") +
           ", the limit is " + std::to_string(shared_limit);
  }
  return std::nullopt;
}

uint32_t coopmat_shared_bytes(uint32_t nsg, uint32_t bc, int64_t d, int64_t dv, uint32_t ms) {
  const uint32_t dk = ceil_div(d, ms), dvk = ceil_div(dv, ms);
  const uint32_t k = bc * (dk * ms / 4 + 2) * 8;  // f16vec4
  const uint32_t v = bc * (dvk * ms / 4 + 2) * 8;
  const uint32_t s = nsg * ms * (bc + 4) * 4;
  const uint32_t p = nsg * ms * (bc / 2 + 4) * 4;  // f16vec2
  const uint32_t t = nsg * ms * ms * 4;
  return k + v + s + p + t;
}

std::optional<CoopmatTiles> choose_coopmat_tiles(int64_t d, int64_t dv, int64_t sq, uint32_t ms,
                                                 const TileLimits& limits, std::string* why) {
  const uint32_t sg = limits.subgroup_size;
  // ms rows per subgroup, sg / ms lanes per row (a power of two: the row reductions shuffle).
  if ((ms != 8 && ms != 16) || !is_pow2(sg) || sg < ms) {
    if (why) {
      *why = "subgroup size " + std::to_string(sg) + " with " + std::to_string(ms) + "x" + std::to_string(ms) +
             " matrices: the coopmat shader needs a power-of-two subgroup of at least the matrix size (8 or 16)";
    }
    return std::nullopt;
  }
  const uint32_t shared_limit = usable_shared_bytes(limits);
  const uint32_t max_br = std::max(next_pow2(sq), ms);
  uint32_t smallest_shared = UINT32_MAX;
  for (uint32_t nsg = 4; nsg >= 1; nsg >>= 1) {
    if (nsg * sg > limits.max_invocations || ms * nsg > max_br) continue;
    for (uint32_t bc = 64; bc >= ms; bc >>= 1) {
      const uint32_t bytes = coopmat_shared_bytes(nsg, bc, d, dv, ms);
      smallest_shared = std::min(smallest_shared, bytes);
      if (bytes > shared_limit) continue;
      return CoopmatTiles{nsg * sg, sg, nsg, ms, ms * nsg, bc, bytes};
    }
  }
  if (why) {
    *why = "no coopmat tile fits: d=" + std::to_string(d) + ", dv=" + std::to_string(dv) + " need " +
           std::to_string(smallest_shared) + " bytes of shared memory, the limit is " + std::to_string(shared_limit);
  }
  return std::nullopt;
}

}  // namespace sdpa::vulkan
