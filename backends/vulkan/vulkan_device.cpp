// Device choice and the capability query: what the chosen physical device offers that the
// backend's shaders need, each missing piece named. (Context's other members: vulkan_context.cpp.)
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "backends/vulkan/vk_coopmat_khr.h"
#include "backends/vulkan/vulkan_context.h"

namespace sdpa::vulkan {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

int type_rank(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

}  // namespace

std::size_t choose_device(const std::vector<DeviceCandidate>& devices, const std::string& selector) {
  auto listing = [&] {
    std::string s;
    for (std::size_t i = 0; i < devices.size(); ++i) s += (i ? ", " : "") + std::to_string(i) + ": " + devices[i].name;
    return s.empty() ? std::string("none") : s;
  };
  if (devices.empty()) {
    const std::string why = "no Vulkan physical device found (apt mesa-vulkan-drivers provides lavapipe)";
    if (!selector.empty()) throw DeviceNotFound("Vulkan device '" + selector + "': " + why);
    throw VulkanError(why);
  }
  if (selector.empty()) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < devices.size(); ++i) {
      if (type_rank(devices[i].type) < type_rank(devices[best].type)) best = i;
    }
    return best;
  }
  if (std::all_of(selector.begin(), selector.end(), [](unsigned char c) { return std::isdigit(c); })) {
    const std::size_t index = std::stoul(selector);
    if (index >= devices.size()) {
      throw DeviceNotFound("Vulkan device index " + selector + " out of range; devices: " + listing());
    }
    return index;
  }
  const std::string want = lower(selector);
  for (std::size_t i = 0; i < devices.size(); ++i) {
    if (lower(devices[i].name).find(want) != std::string::npos) return i;
  }
  throw DeviceNotFound("no Vulkan device name contains '" + selector + "'; devices: " + listing());
}

std::string DeviceInfo::api_string() const { return version_string(api_version); }

std::string DeviceInfo::type_string() const {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
  }
}

void Context::query_device() {
  VkPhysicalDeviceProperties base;
  vkGetPhysicalDeviceProperties(physical_, &base);
  info_.name = base.deviceName;
  info_.api_version = base.apiVersion;
  info_.driver_version = base.driverVersion;
  info_.vendor_id = base.vendorID;
  info_.type = base.deviceType;
  if (base.apiVersion < VK_API_VERSION_1_2) {
    throw VulkanError("Vulkan device '" + info_.name + "' supports API " + info_.api_string() +
                      "; the backend needs 1.2");
  }
  const bool v13 = base.apiVersion >= VK_API_VERSION_1_3;

  uint32_t ext_count = 0;
  check(vkEnumerateDeviceExtensionProperties(physical_, nullptr, &ext_count, nullptr),
        "vkEnumerateDeviceExtensionProperties");
  std::vector<VkExtensionProperties> exts(ext_count);
  check(vkEnumerateDeviceExtensionProperties(physical_, nullptr, &ext_count, exts.data()),
        "vkEnumerateDeviceExtensionProperties");
  const bool device_has_coopmat = has_extension(exts, VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
  // An old validation layer would reject the extension's structures and SPIR-V: this context
  // leaves it alone (no query, not enabled) and a context without the layer runs coopmat.
  info_.coopmat_hidden_by_layer = device_has_coopmat && messenger_ != VK_NULL_HANDLE && !layer_knows_coopmat_;
  const bool has_coopmat_ext = device_has_coopmat && !info_.coopmat_hidden_by_layer;
  memory_budget_ = has_extension(exts, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);

  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceSubgroupSizeControlProperties size_control{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
  VkPhysicalDeviceProperties2 props2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  props2.pNext = &subgroup;
  subgroup.pNext = &driver;
  if (v13) driver.pNext = &size_control;
  vkGetPhysicalDeviceProperties2(physical_, &props2);

  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceVulkan13Features f13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR fcm{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
  VkPhysicalDeviceFeatures2 features2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  features2.pNext = &f11;
  f11.pNext = &f12;
  void** tail = &f12.pNext;
  if (v13) {
    *tail = &f13;
    tail = &f13.pNext;
  }
  if (has_coopmat_ext) *tail = &fcm;
  vkGetPhysicalDeviceFeatures2(physical_, &features2);

  info_.driver_name = driver.driverName;
  info_.driver_info = driver.driverInfo;
  // Measured on Mesa 22.3.6 (Debian 12): with loops inside the tile loop, outputs went wrong
  // past ~850 tiles (d=128) and ~1040 (d=64), which is where all loop iterations together
  // reach 65535. With those loops unrolled, 3125 tiles still pass and 7800 do not (d=1, where
  // lavapipe apparently keeps some loop). 2048 leaves a margin and covers skv = 32768 at 16
  // keys per tile. Mesa 26.2 has no such limit; the release that dropped it is not known here.
  if (driver.driverID == VK_DRIVER_ID_MESA_LLVMPIPE) {
    int major = 0;
    if (std::sscanf(driver.driverInfo, "Mesa %d", &major) == 1 && major < 24) info_.max_key_tiles = 2048;
  }
  info_.subgroup_size = subgroup.subgroupSize;
  const bool compute_ops = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
  info_.subgroup_shuffle = compute_ops && (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
  info_.subgroup_vote = compute_ops && (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_VOTE_BIT);
  if (v13) {
    info_.subgroup_size_control = f13.subgroupSizeControl &&
                                  (size_control.requiredSubgroupSizeStages & VK_SHADER_STAGE_COMPUTE_BIT);
    info_.compute_full_subgroups = f13.computeFullSubgroups;
    info_.maintenance4 = f13.maintenance4;
    info_.min_subgroup_size = size_control.minSubgroupSize;
    info_.max_subgroup_size = size_control.maxSubgroupSize;
  }
  info_.max_shared_bytes = base.limits.maxComputeSharedMemorySize;
  info_.max_invocations = base.limits.maxComputeWorkGroupInvocations;
  for (int i = 0; i < 3; ++i) info_.max_group_count[i] = base.limits.maxComputeWorkGroupCount[i];
  info_.max_storage_buffer_range = base.limits.maxStorageBufferRange;
  info_.timestamp_period_ns = base.limits.timestampPeriod;
  info_.storage_16bit = f11.storageBuffer16BitAccess;
  info_.shader_float16 = f12.shaderFloat16;
  info_.vulkan_memory_model = f12.vulkanMemoryModel;

  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(physical_, &mem);
  for (uint32_t i = 0; i < mem.memoryHeapCount; ++i) {
    if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) {
      info_.device_local_bytes = std::max<uint64_t>(info_.device_local_bytes, mem.memoryHeaps[i].size);
    }
  }

  uint32_t family_count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &family_count, nullptr);
  std::vector<VkQueueFamilyProperties> families(family_count);
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &family_count, families.data());
  bool found = false;
  for (uint32_t i = 0; i < family_count && !found; ++i) {
    if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      queue_family_ = i;
      info_.timestamp_valid_bits = families[i].timestampValidBits;
      found = true;
    }
  }
  if (!found) throw VulkanError("Vulkan device '" + info_.name + "' has no compute queue");

  // The cooperative-matrix path's requirements, first missing one named.
  if (info_.coopmat_hidden_by_layer) {
    info_.coopmat_reason = "VK_LAYER_KHRONOS_validation " + layer_version_ + " predates SPV_KHR_cooperative_matrix "
                           "(needs " + version_string(kValidationLayerCoopmatVersion) + "): coopmat runs without it";
  } else if (!has_coopmat_ext) {
    info_.coopmat_reason = "device has no VK_KHR_cooperative_matrix";
  } else if (!fcm.cooperativeMatrix) {
    info_.coopmat_reason = "VK_KHR_cooperative_matrix listed but its cooperativeMatrix feature is off";
  } else {
    auto list = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR>(
        vkGetInstanceProcAddr(instance_, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR"));
    uint32_t n = 0;
    if (list) check(list(physical_, &n, nullptr), "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR");
    std::vector<VkCooperativeMatrixPropertiesKHR> shapes(n, {VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR});
    if (list && n) check(list(physical_, &n, shapes.data()), "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR");
    uint32_t size = 0;
    for (const auto& s : shapes) {
      const bool f16_in = s.AType == VK_COMPONENT_TYPE_FLOAT16_KHR && s.BType == VK_COMPONENT_TYPE_FLOAT16_KHR;
      const bool f32_acc = s.CType == VK_COMPONENT_TYPE_FLOAT32_KHR && s.ResultType == VK_COMPONENT_TYPE_FLOAT32_KHR;
      if (f16_in) {
        std::string shape = std::to_string(s.MSize) + "x" + std::to_string(s.NSize) + "x" + std::to_string(s.KSize);
        shape += f32_acc ? "/f32" : "/f16";
        if (s.scope != VK_SCOPE_SUBGROUP_KHR) shape += "/non-subgroup";
        if (!info_.coopmat_shapes.empty()) info_.coopmat_shapes += ' ';
        info_.coopmat_shapes += shape;
      }
      const bool square = s.MSize == s.NSize && s.NSize == s.KSize && (s.MSize == 16 || s.MSize == 8);
      if (f16_in && f32_acc && s.scope == VK_SCOPE_SUBGROUP_KHR && square) size = std::max(size, s.MSize);
    }
    info_.coopmat_size = size;
    if (size == 0) {
      info_.coopmat_reason = "VK_KHR_cooperative_matrix has no 16x16x16 or 8x8x8 f16*f16->f32 subgroup shape "
                             "(f16 shapes: " +
                             (info_.coopmat_shapes.empty() ? std::string("none") : info_.coopmat_shapes) + ")";
    } else if (!v13) {
      info_.coopmat_reason = "the coopmat shader targets Vulkan 1.3; device has " + info_.api_string();
    } else if (!info_.shader_float16 || !info_.storage_16bit || !info_.vulkan_memory_model || !info_.maintenance4) {
      info_.coopmat_reason =
          "coopmat shader needs shaderFloat16, storageBuffer16BitAccess, vulkanMemoryModel and maintenance4";
    } else if (!info_.subgroup_shuffle || !info_.subgroup_vote) {
      info_.coopmat_reason = "coopmat shader needs subgroup shuffle and vote in compute shaders";
    } else {
      info_.coopmat = true;
    }
  }
}

}  // namespace sdpa::vulkan
