#include "backends/vulkan/vulkan_context.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <sstream>

#include "backends/vulkan/vk_coopmat_khr.h"

namespace sdpa::vulkan {

std::string result_name(VkResult result) {
  switch (result) {
#define SDPA_VK_RESULT(name) \
  case name: return #name;
    SDPA_VK_RESULT(VK_SUCCESS)
    SDPA_VK_RESULT(VK_NOT_READY)
    SDPA_VK_RESULT(VK_TIMEOUT)
    SDPA_VK_RESULT(VK_INCOMPLETE)
    SDPA_VK_RESULT(VK_ERROR_OUT_OF_HOST_MEMORY)
    SDPA_VK_RESULT(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    SDPA_VK_RESULT(VK_ERROR_INITIALIZATION_FAILED)
    SDPA_VK_RESULT(VK_ERROR_DEVICE_LOST)
    SDPA_VK_RESULT(VK_ERROR_MEMORY_MAP_FAILED)
    SDPA_VK_RESULT(VK_ERROR_LAYER_NOT_PRESENT)
    SDPA_VK_RESULT(VK_ERROR_EXTENSION_NOT_PRESENT)
    SDPA_VK_RESULT(VK_ERROR_FEATURE_NOT_PRESENT)
    SDPA_VK_RESULT(VK_ERROR_INCOMPATIBLE_DRIVER)
    SDPA_VK_RESULT(VK_ERROR_TOO_MANY_OBJECTS)
    SDPA_VK_RESULT(VK_ERROR_FORMAT_NOT_SUPPORTED)
    SDPA_VK_RESULT(VK_ERROR_FRAGMENTED_POOL)
    SDPA_VK_RESULT(VK_ERROR_UNKNOWN)
    SDPA_VK_RESULT(VK_ERROR_OUT_OF_POOL_MEMORY)
    SDPA_VK_RESULT(VK_ERROR_INVALID_SHADER_NV)
#undef SDPA_VK_RESULT
    default: return "VkResult " + std::to_string(static_cast<int>(result));
  }
}

void check(VkResult result, const char* call) {
  if (result == VK_SUCCESS) return;
  std::string message = std::string(call) + " failed: " + result_name(result);
  if (result == VK_ERROR_INCOMPATIBLE_DRIVER) message += " (no Vulkan driver installed: apt mesa-vulkan-drivers)";
  if (result == VK_ERROR_DEVICE_LOST) {
    message += " (the device was lost: a shader fault, a hang the driver reset, or the GPU failing; every later "
               "call on this device fails, so the process must be restarted; see dmesg for NVIDIA Xid lines)";
  }
  throw VulkanError(message);
}

bool validation_requested() {
  const char* v = std::getenv(kValidationEnv);
  return v != nullptr && std::strcmp(v, "1") == 0;
}

bool validation_layer_knows_coopmat(uint32_t layer_spec_version) {
  // Compare major.minor.patch only: the variant bits are 0 for every Khronos layer.
  return VK_API_VERSION_MAJOR(layer_spec_version) * 1000000ull + VK_API_VERSION_MINOR(layer_spec_version) * 1000ull +
             VK_API_VERSION_PATCH(layer_spec_version) >=
         VK_API_VERSION_MAJOR(kValidationLayerCoopmatVersion) * 1000000ull +
             VK_API_VERSION_MINOR(kValidationLayerCoopmatVersion) * 1000ull +
             VK_API_VERSION_PATCH(kValidationLayerCoopmatVersion);
}

bool nvidia_driver_present() {
  std::error_code ec;
  if (std::filesystem::exists("/proc/driver/nvidia/version", ec)) return true;
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::stringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && std::filesystem::exists(std::filesystem::path(dir) / "nvidia-smi", ec)) return true;
  }
  return false;
}

std::string cpu_fallback_warning(VkPhysicalDeviceType chosen, const std::string& chosen_name, bool selector_given,
                                 bool nvidia_present) {
  if (selector_given || !nvidia_present || chosen != VK_PHYSICAL_DEVICE_TYPE_CPU) return "";
  return "an NVIDIA driver is loaded but Vulkan sees no NVIDIA GPU, so the default device is the CPU device '" +
         chosen_name +
         "': the NVIDIA Vulkan driver (ICD) is not visible. In a container, the NVIDIA runtime mounts it only "
         "with the graphics capability (NVIDIA_DRIVER_CAPABILITIES=all or compute,utility,graphics); on a host, "
         "check for nvidia_icd.json in /usr/share/vulkan/icd.d or /etc/vulkan/icd.d and for libGLX_nvidia.so.0. "
         "Vulkan results of this run are a CPU's";
}

std::string effective_selector(const std::string& selector) {
  if (!selector.empty()) return selector;
  const char* env = std::getenv(kDeviceEnv);
  return env ? std::string(env) : std::string();
}

namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";
constexpr std::size_t kKeptMessages = 16;

std::atomic<int> g_errors{0};
std::mutex g_messages_mutex;
std::vector<std::string> g_messages;  // the latest kKeptMessages errors, oldest first

VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                    VkDebugUtilsMessageTypeFlagsEXT,
                                                    const VkDebugUtilsMessengerCallbackDataEXT* data, void*) {
  const char* text = data && data->pMessage ? data->pMessage : "(no message)";
  if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
    ++g_errors;
    std::fprintf(stderr, "vulkan validation error: %s\n", text);
    std::lock_guard<std::mutex> lock(g_messages_mutex);
    if (g_messages.size() == kKeptMessages) g_messages.erase(g_messages.begin());
    g_messages.emplace_back(text);
  } else if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    std::fprintf(stderr, "vulkan validation warning: %s\n", text);
  }
  return VK_FALSE;  // never abort the call: the count is what fails the case
}

}  // namespace

bool has_extension(const std::vector<VkExtensionProperties>& list, const char* name) {
  return std::any_of(list.begin(), list.end(),
                     [&](const VkExtensionProperties& e) { return std::strcmp(e.extensionName, name) == 0; });
}

std::string version_string(uint32_t v) {
  return std::to_string(VK_API_VERSION_MAJOR(v)) + "." + std::to_string(VK_API_VERSION_MINOR(v)) + "." +
         std::to_string(VK_API_VERSION_PATCH(v));
}

int validation_error_count() { return g_errors.load(); }
std::vector<std::string> validation_errors() {
  std::lock_guard<std::mutex> lock(g_messages_mutex);
  return g_messages;
}

Context::Context(const std::string& selector, bool validate) {
  try {
    create_instance(validate);
    pick_device(selector);
    query_device();
    create_device();
  } catch (...) {
    release();  // a throwing constructor runs no destructor
    throw;
  }
  info_.fallback_warning = cpu_fallback_warning(info_.type, info_.name, !selector.empty(), nvidia_driver_present());
  // Said once per context, on stderr, so that it shows in every command's log (run, check, list).
  if (!info_.fallback_warning.empty()) {
    std::fprintf(stderr, "sdpa-bench: warning: vulkan: %s\n", info_.fallback_warning.c_str());
  }
}

Context::~Context() { release(); }

void Context::release() {
  if (device_ != VK_NULL_HANDLE) {
    vkDeviceWaitIdle(device_);
    if (command_pool_ != VK_NULL_HANDLE) vkDestroyCommandPool(device_, command_pool_, nullptr);
    vkDestroyDevice(device_, nullptr);
    device_ = VK_NULL_HANDLE;
  }
  if (messenger_ != VK_NULL_HANDLE) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance_, messenger_, nullptr);
    messenger_ = VK_NULL_HANDLE;
  }
  if (instance_ != VK_NULL_HANDLE) {
    vkDestroyInstance(instance_, nullptr);
    instance_ = VK_NULL_HANDLE;
  }
}

void Context::create_instance(bool validate) {
  uint32_t loader_version = VK_API_VERSION_1_0;
  check(vkEnumerateInstanceVersion(&loader_version), "vkEnumerateInstanceVersion");
  if (loader_version < VK_API_VERSION_1_2) {
    throw VulkanError("the Vulkan loader supports " + version_string(loader_version) + " only; the backend needs 1.2");
  }
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "sdpa-bench";
  app.apiVersion = std::min<uint32_t>(loader_version, VK_API_VERSION_1_3);

  std::vector<const char*> layers, extensions;
  VkDebugUtilsMessengerCreateInfoEXT messenger_info{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  messenger_info.messageSeverity =
      VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  messenger_info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  messenger_info.pfnUserCallback = on_validation_message;
  // Synchronisation validation catches a missing barrier between upload, dispatch and read-back.
  VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
  features.enabledValidationFeatureCount = 1;
  features.pEnabledValidationFeatures = enables;

  if (validate) {
    uint32_t count = 0;
    check(vkEnumerateInstanceLayerProperties(&count, nullptr), "vkEnumerateInstanceLayerProperties");
    std::vector<VkLayerProperties> available(count);
    check(vkEnumerateInstanceLayerProperties(&count, available.data()), "vkEnumerateInstanceLayerProperties");
    const auto layer = std::find_if(available.begin(), available.end(), [](const VkLayerProperties& l) {
      return std::strcmp(l.layerName, kValidationLayer) == 0;
    });
    if (layer == available.end()) {
      throw VulkanError(std::string(kValidationEnv) + "=1 but " + kValidationLayer +
                        " is not installed (apt vulkan-validationlayers)");
    }
    layers.push_back(kValidationLayer);
    layer_version_ = version_string(layer->specVersion);
    layer_knows_coopmat_ = validation_layer_knows_coopmat(layer->specVersion);
    uint32_t ext_count = 0;
    check(vkEnumerateInstanceExtensionProperties(kValidationLayer, &ext_count, nullptr),
          "vkEnumerateInstanceExtensionProperties");
    std::vector<VkExtensionProperties> layer_exts(ext_count);
    check(vkEnumerateInstanceExtensionProperties(kValidationLayer, &ext_count, layer_exts.data()),
          "vkEnumerateInstanceExtensionProperties");
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    if (has_extension(layer_exts, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME)) {
      extensions.push_back(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
      messenger_info.pNext = &features;
    }
  }

  VkInstanceCreateInfo create{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  create.pApplicationInfo = &app;
  create.enabledLayerCount = static_cast<uint32_t>(layers.size());
  create.ppEnabledLayerNames = layers.data();
  create.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  create.ppEnabledExtensionNames = extensions.data();
  if (validate) create.pNext = &messenger_info;  // also reports on instance creation itself
  check(vkCreateInstance(&create, nullptr, &instance_), "vkCreateInstance");

  if (validate) {
    messenger_info.pNext = nullptr;
    auto make = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
    if (!make) throw VulkanError("vkCreateDebugUtilsMessengerEXT not found although the validation layer is on");
    check(make(instance_, &messenger_info, nullptr, &messenger_), "vkCreateDebugUtilsMessengerEXT");
  }
}

void Context::pick_device(const std::string& selector) {
  uint32_t count = 0;
  check(vkEnumeratePhysicalDevices(instance_, &count, nullptr), "vkEnumeratePhysicalDevices");
  std::vector<VkPhysicalDevice> devices(count);
  check(vkEnumeratePhysicalDevices(instance_, &count, devices.data()), "vkEnumeratePhysicalDevices");
  std::vector<DeviceCandidate> candidates;
  for (VkPhysicalDevice d : devices) {
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(d, &props);
    candidates.push_back({props.deviceName, props.deviceType});
  }
  const std::size_t index = choose_device(candidates, selector);
  physical_ = devices[index];
  info_.index = static_cast<uint32_t>(index);
}

void Context::create_device() {
  const bool v13 = info_.api_version >= VK_API_VERSION_1_3;
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  queue_info.queueFamilyIndex = queue_family_;
  queue_info.queueCount = 1;
  queue_info.pQueuePriorities = &priority;

  // Enable exactly what the shaders use, where the device has it.
  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  f11.storageBuffer16BitAccess = info_.storage_16bit;
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  f12.shaderFloat16 = info_.shader_float16;
  f12.vulkanMemoryModel = info_.vulkan_memory_model;
  VkPhysicalDeviceVulkan13Features f13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  f13.subgroupSizeControl = info_.subgroup_size_control;
  f13.computeFullSubgroups = info_.compute_full_subgroups;
  f13.maintenance4 = info_.maintenance4;
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR fcm{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
  fcm.cooperativeMatrix = info_.coopmat;
  f11.pNext = &f12;
  void** tail = &f12.pNext;
  if (v13) {
    *tail = &f13;
    tail = &f13.pNext;
  }
  std::vector<const char*> extensions;
  if (info_.coopmat) {
    *tail = &fcm;
    extensions.push_back(VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
  }
  if (memory_budget_) extensions.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);

  VkDeviceCreateInfo create{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  create.pNext = &f11;
  create.queueCreateInfoCount = 1;
  create.pQueueCreateInfos = &queue_info;
  create.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  create.ppEnabledExtensionNames = extensions.data();
  check(vkCreateDevice(physical_, &create, nullptr, &device_), "vkCreateDevice");
  vkGetDeviceQueue(device_, queue_family_, 0, &queue_);

  VkCommandPoolCreateInfo pool{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pool.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pool.queueFamilyIndex = queue_family_;
  check(vkCreateCommandPool(device_, &pool, nullptr, &command_pool_), "vkCreateCommandPool");
}

uint64_t Context::device_local_free_bytes() const {
  VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
  VkPhysicalDeviceMemoryProperties2 mem{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
  if (memory_budget_) mem.pNext = &budget;
  vkGetPhysicalDeviceMemoryProperties2(physical_, &mem);
  uint64_t best = 0;
  for (uint32_t i = 0; i < mem.memoryProperties.memoryHeapCount; ++i) {
    if (!(mem.memoryProperties.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)) continue;
    uint64_t free_bytes = mem.memoryProperties.memoryHeaps[i].size;
    if (memory_budget_) {
      free_bytes = budget.heapBudget[i] > budget.heapUsage[i] ? budget.heapBudget[i] - budget.heapUsage[i] : 0;
    }
    best = std::max(best, free_bytes);
  }
  return best;
}

uint32_t Context::memory_type(uint32_t type_bits, VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred,
                              VkMemoryPropertyFlags* chosen_flags) const {
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(physical_, &mem);
  int fallback = -1;
  for (uint32_t i = 0; i < mem.memoryTypeCount; ++i) {
    if (!(type_bits & (1u << i))) continue;
    const VkMemoryPropertyFlags flags = mem.memoryTypes[i].propertyFlags;
    if ((flags & required) != required) continue;
    if ((flags & preferred) == preferred) {
      if (chosen_flags) *chosen_flags = flags;
      return i;
    }
    if (fallback < 0) fallback = static_cast<int>(i);
  }
  if (fallback < 0) throw VulkanError("no Vulkan memory type with the required properties on " + info_.name);
  if (chosen_flags) *chosen_flags = mem.memoryTypes[fallback].propertyFlags;
  return static_cast<uint32_t>(fallback);
}

void Context::run_once(const std::function<void(VkCommandBuffer)>& record) const {
  std::lock_guard<std::mutex> lock(queue_mutex_);
  VkCommandBufferAllocateInfo alloc{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  alloc.commandPool = command_pool_;
  alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  alloc.commandBufferCount = 1;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  check(vkAllocateCommandBuffers(device_, &alloc, &cmd), "vkAllocateCommandBuffers");
  VkFence fence = VK_NULL_HANDLE;
  try {
    VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    check(vkBeginCommandBuffer(cmd, &begin), "vkBeginCommandBuffer");
    record(cmd);
    check(vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
    VkFenceCreateInfo fence_info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    check(vkCreateFence(device_, &fence_info, nullptr, &fence), "vkCreateFence");
    VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    submit.commandBufferCount = 1;
    submit.pCommandBuffers = &cmd;
    check(vkQueueSubmit(queue_, 1, &submit, fence), "vkQueueSubmit");
    check(vkWaitForFences(device_, 1, &fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
  } catch (...) {
    if (fence != VK_NULL_HANDLE) vkDestroyFence(device_, fence, nullptr);
    vkFreeCommandBuffers(device_, command_pool_, 1, &cmd);
    throw;
  }
  vkDestroyFence(device_, fence, nullptr);
  vkFreeCommandBuffers(device_, command_pool_, 1, &cmd);
}

std::shared_ptr<Context> acquire_context(const std::string& selector, bool validate) {
  const std::string device = effective_selector(selector);
  const std::string key = device + (validate ? "\n+validation" : "\n-validation");
  struct Entry {
    std::shared_ptr<Context> context;
    std::exception_ptr error;  // rethrown as its own type: DeviceNotFound stays DeviceNotFound
  };
  static std::mutex mutex;
  // Deliberately never destroyed: tearing a device down from a static destructor races the
  // driver's own (LLVM's, for lavapipe) at exit, and the OS reclaims it all anyway.
  static auto* cache = new std::map<std::string, Entry>();
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache->find(key);
  if (it == cache->end()) {
    Entry entry;
    try {
      entry.context = std::make_shared<Context>(device, validate);
    } catch (...) {
      entry.error = std::current_exception();
    }
    it = cache->emplace(key, std::move(entry)).first;
  }
  if (!it->second.context) std::rethrow_exception(it->second.error);
  return it->second.context;
}

}  // namespace sdpa::vulkan
