// Tile sizes of the two shader paths, chosen from the problem's head dims and the device's
// limits. Pure functions: the shaders trust the relations these guarantee (see the comments
// at the top of shaders/flash_scalar.glsl and shaders/flash_coopmat_f16.comp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace sdpa::vulkan {

// What the tile choice depends on.
struct TileLimits {
  uint32_t shared_bytes = 0;    // usable shared memory per workgroup
  uint32_t subgroup_size = 0;   // the size the pipeline runs with
  uint32_t max_invocations = 0; // maxComputeWorkGroupInvocations
};

// Shared memory we allow a workgroup even where the device offers more: 48 KiB is what
// NVIDIA gives a Vulkan workgroup without opting in, and more would cut occupancy anyway.
inline constexpr uint32_t kSharedBudgetBytes = 48 * 1024;
// Kept free below the smaller of the device limit and the budget. The limit is inclusive, but a
// shader compiler may place variables of its own in shared memory (spills, reduction scratch,
// staging for cooperative-matrix loads) and count them against the same limit, so a tile that
// fills it exactly can fail pipeline creation on a driver that does; 1 KiB is what CUDA reserves
// per block for the same reason.
inline constexpr uint32_t kSharedHeadroomBytes = 1024;

// The shared memory a tile may declare under `limits`: min(device, budget) − headroom.
uint32_t usable_shared_bytes(const TileLimits& limits);

// Scalar path. S = Q·Kᵀ: each thread computes tm × tn scores; O: om rows × on vec4 columns.
struct ScalarTiles {
  uint32_t wg = 0, br = 0, bc = 0, tm = 0, tn = 0, om = 0, on = 0;
  uint32_t shared_bytes = 0;
};

// The shared memory the scalar shader declares for these tiles and head dims.
uint32_t scalar_shared_bytes(uint32_t br, uint32_t bc, int64_t d, int64_t dv);

// The largest tiles that fit; nullopt (with `why`) when none does.
std::optional<ScalarTiles> choose_scalar_tiles(int64_t d, int64_t dv, int64_t sq, const TileLimits& limits,
                                               std::string* why = nullptr);

// Cooperative-matrix path: nsg subgroups of ms query rows each (ms×ms×ms matrices), tiles of
// bc keys.
struct CoopmatTiles {
  uint32_t wg = 0, subgroup = 0, nsg = 0, ms = 0, br = 0, bc = 0;
  uint32_t shared_bytes = 0;
};

uint32_t coopmat_shared_bytes(uint32_t nsg, uint32_t bc, int64_t d, int64_t dv, uint32_t ms);

std::optional<CoopmatTiles> choose_coopmat_tiles(int64_t d, int64_t dv, int64_t sq, uint32_t ms,
                                                 const TileLimits& limits, std::string* why = nullptr);

}  // namespace sdpa::vulkan
