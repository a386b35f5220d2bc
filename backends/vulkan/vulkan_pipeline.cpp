#include "backends/vulkan/vulkan_pipeline.h"

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "spirv_flash_scalar_16bit.h"
#include "spirv_flash_scalar_f32.h"
#include "spirv_gemm_scalar_f16.h"
#include "spirv_gemm_scalar_f32.h"
#ifdef SDPA_VULKAN_COOPMAT_SHADER
#include "spirv_flash_coopmat_f16.h"
#include "spirv_gemm_coopmat_f16.h"
#endif

namespace sdpa::vulkan {

std::string to_string(Shader shader) {
  switch (shader) {
    case Shader::scalar_f32: return "flash_scalar_f32";
    case Shader::scalar_16bit: return "flash_scalar_16bit";
    case Shader::coopmat_f16: return "flash_coopmat_f16";
    case Shader::gemm_scalar_f32: return "gemm_scalar_f32";
    case Shader::gemm_scalar_f16: return "gemm_scalar_f16";
    case Shader::gemm_coopmat_f16: return "gemm_coopmat_f16";
  }
  return "?";
}

std::span<const uint32_t> spirv(Shader shader) {
  switch (shader) {
    case Shader::scalar_f32: return spirv_flash_scalar_f32;
    case Shader::scalar_16bit: return spirv_flash_scalar_16bit;
    case Shader::coopmat_f16:
#ifdef SDPA_VULKAN_COOPMAT_SHADER
      return spirv_flash_coopmat_f16;
#else
      return {};
#endif
    case Shader::gemm_scalar_f32: return spirv_gemm_scalar_f32;
    case Shader::gemm_scalar_f16: return spirv_gemm_scalar_f16;
    case Shader::gemm_coopmat_f16:
#ifdef SDPA_VULKAN_COOPMAT_SHADER
      return spirv_gemm_coopmat_f16;
#else
      return {};
#endif
  }
  return {};
}

std::string missing_shader_reason(Shader shader) {
#ifdef SDPA_VULKAN_COOPMAT_MISSING
  if (shader == Shader::coopmat_f16 || shader == Shader::gemm_coopmat_f16) {
    return std::string("coopmat shader not compiled: ") + SDPA_VULKAN_COOPMAT_MISSING;
  }
#endif
  return to_string(shader) + " is compiled in";
}

namespace {

// Per device: one descriptor-set layout and pipeline layout (every shader has the same
// interface), and the pipelines built so far. Never destroyed, like the contexts.
struct DeviceCache {
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  std::map<PipelineKey, Pipeline> pipelines;
};

void create_layouts(const Context& ctx, DeviceCache& cache) {
  VkDescriptorSetLayoutBinding bindings[kBindings];
  for (uint32_t i = 0; i < kBindings; ++i) {
    bindings[i] = {};
    bindings[i].binding = i;
    bindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    bindings[i].descriptorCount = 1;
    bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo set_info{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  set_info.bindingCount = kBindings;
  set_info.pBindings = bindings;
  check(vkCreateDescriptorSetLayout(ctx.device(), &set_info, nullptr, &cache.set_layout),
        "vkCreateDescriptorSetLayout");
  VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(PushConstants)};
  VkPipelineLayoutCreateInfo layout_info{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  layout_info.setLayoutCount = 1;
  layout_info.pSetLayouts = &cache.set_layout;
  layout_info.pushConstantRangeCount = 1;
  layout_info.pPushConstantRanges = &push;
  check(vkCreatePipelineLayout(ctx.device(), &layout_info, nullptr, &cache.layout), "vkCreatePipelineLayout");
}

VkPipeline build(const Context& ctx, const DeviceCache& cache, const PipelineKey& key) {
  const std::span<const uint32_t> code = spirv(key.shader);
  if (code.empty()) throw VulkanError(missing_shader_reason(key.shader));
  VkShaderModuleCreateInfo module_info{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  module_info.codeSize = code.size_bytes();
  module_info.pCode = code.data();
  VkShaderModule module = VK_NULL_HANDLE;
  check(vkCreateShaderModule(ctx.device(), &module_info, nullptr, &module), "vkCreateShaderModule");

  std::vector<VkSpecializationMapEntry> entries;
  std::vector<uint32_t> values;
  for (const auto& [id, value] : key.spec) {
    entries.push_back({id, static_cast<uint32_t>(values.size() * sizeof(uint32_t)), sizeof(uint32_t)});
    values.push_back(value);
  }
  VkSpecializationInfo spec{};
  spec.mapEntryCount = static_cast<uint32_t>(entries.size());
  spec.pMapEntries = entries.data();
  spec.dataSize = values.size() * sizeof(uint32_t);
  spec.pData = values.data();

  VkPipelineShaderStageRequiredSubgroupSizeCreateInfo required{
      VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO};
  required.requiredSubgroupSize = key.required_subgroup_size;
  VkComputePipelineCreateInfo info{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  info.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  info.stage.module = module;
  info.stage.pName = "main";
  info.stage.pSpecializationInfo = &spec;
  if (key.required_subgroup_size != 0) info.stage.pNext = &required;
  // The shaders assume a softmax row's lanes sit in one subgroup, which full subgroups
  // guarantee; the device allows them for workgroups that are a multiple of the largest
  // subgroup it may pick (constant_id 0 is the workgroup size in every shader).
  uint32_t workgroup = 0;
  for (const auto& [id, value] : key.spec) {
    if (id == 0) workgroup = value;
  }
  const uint32_t largest = key.required_subgroup_size ? key.required_subgroup_size : ctx.info().max_subgroup_size;
  if (ctx.info().compute_full_subgroups && largest != 0 && workgroup % largest == 0) {
    info.stage.flags |= VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT;
  }
  info.layout = cache.layout;
  VkPipeline pipeline = VK_NULL_HANDLE;
  const VkResult result = vkCreateComputePipelines(ctx.device(), VK_NULL_HANDLE, 1, &info, nullptr, &pipeline);
  vkDestroyShaderModule(ctx.device(), module, nullptr);
  check(result, ("vkCreateComputePipelines(" + to_string(key.shader) + ")").c_str());
  return pipeline;
}

}  // namespace

const Pipeline& get_pipeline(const Context& ctx, const PipelineKey& key) {
  static std::mutex mutex;
  static auto* caches = new std::map<VkDevice, DeviceCache>();
  std::lock_guard<std::mutex> lock(mutex);
  DeviceCache& cache = (*caches)[ctx.device()];
  if (cache.layout == VK_NULL_HANDLE) create_layouts(ctx, cache);
  auto it = cache.pipelines.find(key);
  if (it == cache.pipelines.end()) {
    Pipeline p;
    p.pipeline = build(ctx, cache, key);
    p.layout = cache.layout;
    p.set_layout = cache.set_layout;
    it = cache.pipelines.emplace(key, p).first;
  }
  return it->second;
}

}  // namespace sdpa::vulkan
