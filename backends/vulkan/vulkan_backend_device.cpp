// The Vulkan backend's device side: which context it runs on (the one the user asked for, and
// for coopmat cases one without an old validation layer), what it says about the device, and
// the device-wide work that is not a case (calibration GEMMs, cache flushes). The cases
// themselves: vulkan_backend.cpp.
#include <cstdio>

#include "backends/vulkan/vulkan_backend.h"
#include "backends/vulkan/vulkan_gemm.h"
#include "backends/vulkan/vulkan_pipeline.h"

namespace sdpa {

using vulkan::Buffer;
using vulkan::MemoryKind;
using vulkan::Shader;
VulkanBackend::VulkanBackend(VulkanPath path, BackendOptions options) : path_(path), options_(std::move(options)) {
  // A device the user named must exist: running on another one (lavapipe) instead would
  // measure the wrong machine. A machine without any Vulkan stays a skip (available()).
  const std::string selector = vulkan::effective_selector(options_.vulkan_device);
  if (selector.empty()) return;
  try {
    context_or_null(nullptr);
    if (!ctx_) vulkan::acquire_context(options_.vulkan_device);  // rethrows the remembered failure
  } catch (const vulkan::DeviceNotFound& e) {
    throw SpecError(std::string(options_.vulkan_device.empty() ? vulkan::kDeviceEnv : "--vulkan-device") + " " +
                    selector + ": " + e.what());
  } catch (const std::exception&) {
    // Any other failure (no loader, no driver) is reported by available() as the reason to skip.
  }
}

std::shared_ptr<vulkan::Context> VulkanBackend::context_or_null(std::string* why) const {
  if (!ctx_tried_) {
    ctx_tried_ = true;
    try {
      ctx_ = vulkan::acquire_context(options_.vulkan_device);
    } catch (const std::exception& e) {
      ctx_error_ = e.what();
    }
  }
  if (!ctx_ && why) *why = ctx_error_;
  return ctx_;
}

std::shared_ptr<vulkan::Context> VulkanBackend::coopmat_context(std::string* why) const {
  const auto ctx = context_or_null(why);
  if (!ctx || !ctx->coopmat_needs_plain_context()) return ctx;
  if (!coopmat_ctx_tried_) {
    coopmat_ctx_tried_ = true;
    try {
      coopmat_ctx_ = vulkan::acquire_context(options_.vulkan_device, /*validate=*/false);
    } catch (const std::exception& e) {
      coopmat_ctx_error_ = e.what();
    }
  }
  if (!coopmat_ctx_ && why) *why = "coopmat context without the validation layer: " + coopmat_ctx_error_;
  return coopmat_ctx_;
}

const vulkan::DeviceInfo& VulkanBackend::coopmat_info() const {
  const auto cm = coopmat_context(nullptr);
  return cm ? cm->info() : ctx_->info();
}

Support VulkanBackend::available() const {
  std::string why;
  const auto ctx = context_or_null(&why);
  if (!ctx) return Support::no("no usable Vulkan device: " + why);
  // The pinned coopmat path has nothing to run on a device without cooperative matrices (or a
  // build without the shader): the backend, not each case, is unavailable there.
  if (path_ == VulkanPath::coopmat) {
    const auto& cm = coopmat_info();
    if (!cm.coopmat) return Support::no(cm.coopmat_reason + " (" + ctx->info().name + ")");
    if (vulkan::spirv(Shader::coopmat_f16).empty()) return Support::no(vulkan::missing_shader_reason(Shader::coopmat_f16));
  }
  return Support::yes();
}

std::string VulkanBackend::device_class() const {
  const auto ctx = context_or_null(nullptr);
  return ctx ? "vulkan:" + ctx->info().name : "vulkan:none";
}

std::string VulkanBackend::describe() const {
  std::string why;
  const auto ctx = context_or_null(&why);
  if (!ctx) return "Vulkan compute: unavailable (" + why + ")";
  const auto& info = ctx->info();
  const auto& cm = coopmat_info();
  std::string path;
  switch (path_) {
    case VulkanPath::automatic:
      path = cm.coopmat && !vulkan::spirv(Shader::coopmat_f16).empty()
                 ? "cooperative matrices for f16, scalar otherwise"
                 : "scalar (" +
                       (cm.coopmat ? vulkan::missing_shader_reason(Shader::coopmat_f16) : cm.coopmat_reason) + ")";
      break;
    case VulkanPath::scalar: path = "scalar fp32 flash kernel"; break;
    case VulkanPath::coopmat: path = "cooperative-matrix f16 flash kernel"; break;
  }
  std::string validation;
  if (ctx->validation()) {
    validation = ", validation on (layer " + ctx->validation_layer_version() + ")";
    if (ctx->coopmat_needs_plain_context() && path_ != VulkanPath::scalar) {
      validation += ", off for coopmat cases (" + info.coopmat_reason + ")";
    }
  }
  return "Vulkan " + info.api_string() + " on " + info.name + " (" + info.driver_name + " " + info.driver_info +
         ", subgroup " + std::to_string(info.subgroup_size) + "), " + path + validation +
         (info.fallback_warning.empty() ? "" : "; WARNING: " + info.fallback_warning);
}

// Keys without a "vulkan_" prefix: the results file prefixes them with the backend's name.
std::map<std::string, std::string> VulkanBackend::context() const {
  std::string why;
  const auto ctx = context_or_null(&why);
  if (!ctx) return {{"unavailable", why}};
  const auto& info = ctx->info();
  const auto& cm = coopmat_info();
  char period[32];
  std::snprintf(period, sizeof period, "%g", info.timestamp_period_ns);
  std::map<std::string, std::string> out = {
      {"device", info.name},
      {"device_index", std::to_string(info.index)},
      {"device_type", info.type_string()},
      {"driver", info.driver_name + " " + info.driver_info},
      {"driver_version", std::to_string(info.driver_version)},
      {"api_version", info.api_string()},
      {"subgroup_size", std::to_string(info.subgroup_size)},
      {"max_shared_bytes", std::to_string(info.max_shared_bytes)},
      {"16bit_storage", info.storage_16bit ? "yes" : "no"},
      {"coopmat", cm.coopmat ? "yes (f16 shapes " + cm.coopmat_shapes + ")" : "no: " + cm.coopmat_reason},
      {"coopmat_shader", vulkan::spirv(Shader::coopmat_f16).empty()
                                    ? vulkan::missing_shader_reason(Shader::coopmat_f16)
                                    : "compiled"},
      {"timestamp_period_ns", period},
      {"timestamp_valid_bits", std::to_string(info.timestamp_valid_bits)},
      {"validation", ctx->validation() ? "on" : "off"},
  };
  if (ctx->validation()) {
    out["validation_layer_version"] = ctx->validation_layer_version();
    if (ctx->coopmat_needs_plain_context()) out["validation_coopmat"] = "off: " + info.coopmat_reason;
  }
  if (!info.fallback_warning.empty()) out["warning"] = info.fallback_warning;
  return out;
}

std::vector<Calibration> VulkanBackend::calibrate() {
  const auto ctx = context_or_null(nullptr);
  // A CPU device's GEMM would measure lavapipe's code generation (our scalar GEMM runs at a
  // fraction of the attention kernel there), not the machine: no peak rather than a false one.
  if (!ctx || ctx->info().type == VK_PHYSICAL_DEVICE_TYPE_CPU) return {};
  const auto cm = coopmat_context(nullptr);
  return vulkan::calibration_gemms(*ctx, cm && cm->info().coopmat ? cm.get() : nullptr, device_class());
}

void VulkanBackend::flush_device_caches() {
  const auto ctx = active_ ? active_ : context_or_null(nullptr);
  if (!ctx) return;
  const uint64_t bytes = vulkan::cache_flush_bytes(ctx->info().type, ctx->info().device_local_bytes);
  if (bytes == 0) return;
  if (!flush_ || flush_.bytes() != bytes) {
    flush_ = Buffer(*ctx, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT, MemoryKind::device);
  }
  // A new value each time, so that no write can be elided; waited for, so it is not timed.
  const uint32_t value = ++flush_salt_;
  ctx->run_once([&](VkCommandBuffer cmd) { vkCmdFillBuffer(cmd, flush_.handle(), 0, VK_WHOLE_SIZE, value); });
  check_validation("flush_device_caches");
}

}  // namespace sdpa
