// Compute pipelines built from the embedded SPIR-V, specialised per tile configuration and
// head dim, and cached for the life of the process (a case re-uses the pipeline of an earlier
// case with the same shape; building one costs lavapipe an LLVM compile).
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "backends/vulkan/vulkan_context.h"

namespace sdpa::vulkan {

// Mirrors `Params` in shaders/common.glsl, field for field.
struct PushConstants {
  uint32_t batch = 0;
  uint32_t hq = 0;
  uint32_t hkv = 0;
  uint32_t sq = 0;
  uint32_t skv = 0;
  uint32_t mask_kind = 0;  // 0 none, 1 causal, 2 causal_br, 3 kvlen
  uint32_t group = 1;
  float scale_log2e = 0;
};
static_assert(sizeof(PushConstants) == 32);

// The attention shaders, then the calibration GEMMs (gemm_*: bindings 0 A, 1 B, 2 C; the push
// constants hold n alone).
enum class Shader { scalar_f32, scalar_16bit, coopmat_f16, gemm_scalar_f32, gemm_scalar_f16, gemm_coopmat_f16 };
std::string to_string(Shader shader);

// The embedded module; empty for a shader this build could not compile (the coopmat ones
// without a GL_KHR_cooperative_matrix compiler).
std::span<const uint32_t> spirv(Shader shader);
// Why spirv(shader) is empty.
std::string missing_shader_reason(Shader shader);

// Storage buffers: 0 Q, 1 K, 2 V, 3 O, 4 kvlen (shaders/common.glsl).
inline constexpr uint32_t kBindings = 5;

struct PipelineKey {
  Shader shader = Shader::scalar_f32;
  std::vector<std::pair<uint32_t, uint32_t>> spec;  // (constant_id, value)
  uint32_t required_subgroup_size = 0;              // 0: the device's choice
  bool operator<(const PipelineKey& o) const {
    return std::tie(shader, spec, required_subgroup_size) < std::tie(o.shader, o.spec, o.required_subgroup_size);
  }
};

struct Pipeline {
  VkPipeline pipeline = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
};

// Built on first use for this context and key; throws VulkanError when the driver refuses.
const Pipeline& get_pipeline(const Context& ctx, const PipelineKey& key);

}  // namespace sdpa::vulkan
