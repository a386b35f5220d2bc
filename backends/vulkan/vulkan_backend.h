// FlashAttention-style SDPA in Vulkan compute shaders. Three registered names share this
// class: `vulkan` (cooperative matrices for f16 where the device has them, else scalar),
// `vulkan_scalar` and `vulkan_coopmat` (each path forced, so both are checked).
//
// prepare() uploads Q, K, V, builds (or re-uses) the specialised pipeline and records one
// command buffer: timestamp, dispatch, timestamp. run() only submits it; sync() waits and
// reads the timestamps. With SDPA_VULKAN_VALIDATION=1 every call throws if the validation
// layer reported an error since the case began; coopmat cases run without the layer where it
// predates VK_KHR_cooperative_matrix, and their case notes say so.
#pragma once

#include <vulkan/vulkan.h>

#include <memory>
#include <optional>
#include <string>

#include "backends/backend.h"
#include "backends/vulkan/vulkan_context.h"
#include "backends/vulkan/vulkan_memory.h"
#include "backends/vulkan/vulkan_pipeline.h"

namespace sdpa {

enum class VulkanPath { automatic, scalar, coopmat };

class VulkanBackend : public Backend {
 public:
  VulkanBackend(VulkanPath path, BackendOptions options);
  ~VulkanBackend() override;

  std::string name() const override;
  std::string describe() const override;
  std::map<std::string, std::string> context() const override;
  std::string device_class() const override;
  Support available() const override;
  Support supports(const Problem& problem) const override;
  void prepare(const Problem& problem, const Inputs& inputs) override;
  void run() override;
  void sync() override;
  std::optional<double> last_device_ms() const override { return device_ms_; }
  std::vector<double> output() override;
  uint64_t scratch_bytes() const override;
  std::map<std::string, std::string> case_notes() const override;
  void release() override;
  // The device's scalar GEMMs (f32, f16) or its cooperative-matrix GEMM (f16): vulkan_gemm.h.
  // None on a CPU device (lavapipe).
  std::vector<Calibration> calibrate() override;
  // Writes a buffer larger than any GPU's last-level cache (a no-op on a CPU device, whose
  // caches the harness flushes).
  void flush_device_caches() override;

  // How a problem runs: plan() is the one place that decides path, tiles and grid.
  struct Plan {
    std::string path;  // "scalar" or "coopmat"
    vulkan::PipelineKey key;
    uint32_t groups[3] = {1, 1, 1};
    uint32_t workgroup = 0;
    uint32_t shared_bytes = 0;
    std::string tiles;
  };

 private:
  Support plan(const Problem& problem, Plan* out) const;
  std::shared_ptr<vulkan::Context> context_or_null(std::string* why) const;
  // The context coopmat cases run on: context_or_null()'s, or where its validation layer predates
  // VK_KHR_cooperative_matrix, one of the same device without the layer.
  std::shared_ptr<vulkan::Context> coopmat_context(std::string* why) const;
  // What the coopmat decisions read (the device as coopmat_context() sees it).
  const vulkan::DeviceInfo& coopmat_info() const;
  void check_validation(const char* stage) const;

  VulkanPath path_;
  BackendOptions options_;
  mutable std::shared_ptr<vulkan::Context> ctx_;
  mutable std::string ctx_error_;
  mutable bool ctx_tried_ = false;
  mutable std::shared_ptr<vulkan::Context> coopmat_ctx_;
  mutable std::string coopmat_ctx_error_;
  mutable bool coopmat_ctx_tried_ = false;
  // The context of the prepared case (ctx_ or coopmat_ctx_).
  std::shared_ptr<vulkan::Context> active_;

  // The prepared case.
  Problem problem_;
  Plan plan_;
  vulkan::Buffer q_, k_, v_, o_, kvlen_, readback_;
  vulkan::Buffer flush_;
  uint32_t flush_salt_ = 0;
  std::size_t staging_bytes_ = 0;
  VkDescriptorPool descriptor_pool_ = VK_NULL_HANDLE;
  VkQueryPool queries_ = VK_NULL_HANDLE;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  bool in_flight_ = false;
  std::optional<double> device_ms_;
  int validation_baseline_ = 0;
};

}  // namespace sdpa
