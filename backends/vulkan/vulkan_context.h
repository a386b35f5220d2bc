// A headless Vulkan compute context: instance (with the validation layer when asked),
// the chosen physical device and what it can do, a logical device with one compute queue.
// Contexts are created once per process and device selection, and shared by every backend
// object (the harness makes one per case; instance creation costs far more than a case).
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace sdpa::vulkan {

// A failed Vulkan call, with the call and the VkResult by name.
class VulkanError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A device selector (--vulkan-device, $SDPA_VULKAN_DEVICE) that names no enumerated device: a
// user's mistake, never a reason to fall back to another device.
class DeviceNotFound : public VulkanError {
 public:
  using VulkanError::VulkanError;
};

std::string result_name(VkResult result);
// Throws VulkanError("<call> failed: VK_ERROR_...") unless result is VK_SUCCESS.
void check(VkResult result, const char* call);

// Environment variables: SDPA_VULKAN_DEVICE picks the device where the command line did not;
// SDPA_VULKAN_VALIDATION=1 loads VK_LAYER_KHRONOS_validation and makes every validation
// error an exception at the next backend call.
inline constexpr const char* kDeviceEnv = "SDPA_VULKAN_DEVICE";
inline constexpr const char* kValidationEnv = "SDPA_VULKAN_VALIDATION";
bool validation_requested();

// The Khronos validation layer learnt SPV_KHR_cooperative_matrix in its 1.3.261 release (the
// SDK of August 2023: Vulkan-ValidationLayers #6093, completed by #6231 for the final operand
// names). An older layer (Debian 12 ships 1.3.239) rejects the coopmat shader's capability 6022
// as invalid SPIR-V: a limitation of the layer, not a fault of the kernel.
inline constexpr uint32_t kValidationLayerCoopmatVersion = VK_MAKE_API_VERSION(0, 1, 3, 261);
bool validation_layer_knows_coopmat(uint32_t layer_spec_version);

// Whether this machine has an NVIDIA kernel driver (/proc/driver/nvidia, or nvidia-smi on PATH).
bool nvidia_driver_present();
// The warning for a default device choice that fell back to a CPU device although an NVIDIA
// driver is loaded: Vulkan cannot see the GPU, and results would be lavapipe's. Empty when the
// choice is not such a fallback (a GPU was picked, the user asked for this device, no NVIDIA).
std::string cpu_fallback_warning(VkPhysicalDeviceType chosen, const std::string& chosen_name, bool selector_given,
                                 bool nvidia_present);

// Whether `name` is in an enumerated extension list; "1.3.230" from a packed API version.
bool has_extension(const std::vector<VkExtensionProperties>& list, const char* name);
std::string version_string(uint32_t packed);

// Validation messages of every context of this process.
int validation_error_count();
std::vector<std::string> validation_errors();  // the latest few, verbatim, oldest first

// One enumerated physical device, as device selection sees it.
struct DeviceCandidate {
  std::string name;
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
};

// `selector`: empty = the first discrete GPU, else the first integrated / virtual GPU, else the
// first CPU device (lavapipe); a number = that index; anything else = the first device whose
// name contains it (case-insensitive). Returns the index; throws VulkanError naming the
// devices when nothing matches.
std::size_t choose_device(const std::vector<DeviceCandidate>& devices, const std::string& selector);

// What the chosen device offers that the backend cares about.
struct DeviceInfo {
  std::string name;
  std::string driver_name;  // VkPhysicalDeviceDriverProperties
  std::string driver_info;
  uint32_t api_version = 0;
  uint32_t driver_version = 0;
  uint32_t vendor_id = 0;
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  uint32_t index = 0;  // among the enumerated devices

  uint32_t subgroup_size = 0;
  bool subgroup_shuffle = false;       // compute stages have shuffle ops
  bool subgroup_vote = false;
  bool subgroup_size_control = false;  // can require a subgroup size per pipeline
  uint32_t min_subgroup_size = 0, max_subgroup_size = 0;
  bool compute_full_subgroups = false;

  uint32_t max_shared_bytes = 0;
  uint32_t max_invocations = 0;
  uint32_t max_group_count[3] = {0, 0, 0};
  uint64_t max_storage_buffer_range = 0;
  uint64_t device_local_bytes = 0;  // largest device-local heap

  bool storage_16bit = false;  // storageBuffer16BitAccess
  bool shader_float16 = false;
  bool vulkan_memory_model = false;
  bool maintenance4 = false;  // SPIR-V 1.6 shaders (the coopmat one) declare LocalSizeId

  // lavapipe before Mesa 24 ends a shader invocation after 65535 loop iterations in total
  // (gallivm's loop limiter), so a workgroup may loop over this many key tiles at most;
  // 0: no limit. See vulkan_device.cpp for the measurements behind the number.
  uint32_t max_key_tiles = 0;

  float timestamp_period_ns = 0;
  uint32_t timestamp_valid_bits = 0;

  // VK_KHR_cooperative_matrix with a square f16·f16 -> f32 subgroup shape the shader takes
  // (16×16×16, else 8×8×8) and everything else the coopmat shader needs; otherwise why not.
  bool coopmat = false;
  uint32_t coopmat_size = 0;   // the MS of that shape
  std::string coopmat_reason;
  std::string coopmat_shapes;  // the f16 shapes the device lists: "16x16x16/f32 16x8x16/f16 ..."

  // Set when the default choice fell back to a CPU device on a machine with an NVIDIA driver.
  std::string fallback_warning;
  // The coopmat path is hidden from a context whose validation layer predates the extension;
  // a context without the layer runs those cases (see Context::coopmat_needs_plain_context).
  bool coopmat_hidden_by_layer = false;

  std::string api_string() const;     // "1.3.230"
  std::string type_string() const;    // "discrete GPU", "CPU", ...
};

class Context {
 public:
  // Creates instance and device for `selector` (see choose_device), with the validation layer
  // when `validate`; throws VulkanError (DeviceNotFound for a selector that matches nothing).
  Context(const std::string& selector, bool validate);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  VkInstance instance() const { return instance_; }
  VkPhysicalDevice physical() const { return physical_; }
  VkDevice device() const { return device_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return queue_family_; }
  VkCommandPool command_pool() const { return command_pool_; }
  const DeviceInfo& info() const { return info_; }
  bool validation() const { return messenger_ != VK_NULL_HANDLE; }
  // "1.3.239" of the loaded VK_LAYER_KHRONOS_validation; empty without the layer.
  const std::string& validation_layer_version() const { return layer_version_; }
  // The layer is on, predates SPV_KHR_cooperative_matrix, and the device has the extension:
  // coopmat cases must run on a context without the layer.
  bool coopmat_needs_plain_context() const { return info_.coopmat_hidden_by_layer; }

  // Device-local memory free now: the heap's budget minus its usage where the device has
  // VK_EXT_memory_budget, else the whole largest device-local heap.
  uint64_t device_local_free_bytes() const;

  // A memory type with all of `required`, preferring one that also has `preferred`; throws
  // when none has `required`.
  uint32_t memory_type(uint32_t type_bits, VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred,
                       VkMemoryPropertyFlags* chosen_flags = nullptr) const;

  // Records with `record` into a one-time command buffer, submits it and waits (uploads,
  // read-backs).
  void run_once(const std::function<void(VkCommandBuffer)>& record) const;

  std::mutex& queue_mutex() const { return queue_mutex_; }

 private:
  void create_instance(bool validate);
  void pick_device(const std::string& selector);
  void query_device();
  void create_device();
  void release();

  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  std::string layer_version_;
  bool layer_knows_coopmat_ = true;
  bool memory_budget_ = false;  // VK_EXT_memory_budget enabled
  VkCommandPool command_pool_ = VK_NULL_HANDLE;
  DeviceInfo info_;
  // The queue and the command pool need external synchronisation, and backend objects share
  // a context.
  mutable std::mutex queue_mutex_;
};

// $SDPA_VULKAN_DEVICE where `selector` is empty; else `selector`.
std::string effective_selector(const std::string& selector);

// The process-wide context for `selector` (empty: $SDPA_VULKAN_DEVICE, else the default rule),
// with the validation layer when `validate`. Creation is attempted once per selector and mode; a
// failure is remembered and rethrown as the same exception type.
std::shared_ptr<Context> acquire_context(const std::string& selector, bool validate = validation_requested());

}  // namespace sdpa::vulkan
