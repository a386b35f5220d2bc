#include "backends/vulkan/vulkan_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <stdexcept>

#include "backends/vulkan/register.h"
#include "backends/vulkan/vulkan_tiles.h"
#include "core/half.h"
#include "core/memory.h"

namespace sdpa {

using vulkan::Buffer;
using vulkan::MemoryKind;
using vulkan::Shader;

namespace {

uint32_t mask_code(MaskKind mask) {
  switch (mask) {
    case MaskKind::none: return 0;
    case MaskKind::causal: return 1;
    case MaskKind::causal_br: return 2;
    case MaskKind::kvlen: return 3;
  }
  return 0;
}

// The head dim the shaders' shared tiles and register arrays are written for.
constexpr int64_t kMaxHeadDim = 256;

std::string path_name(VulkanPath path) {
  switch (path) {
    case VulkanPath::automatic: return "vulkan";
    case VulkanPath::scalar: return "vulkan_scalar";
    case VulkanPath::coopmat: return "vulkan_coopmat";
  }
  return "vulkan";
}

// The subgroup size the coopmat pipeline asks for: 32 where the device lets us choose it
// (NVIDIA's only size, AMD's wave32), else the device's own (lavapipe: 8, with 8×8×8 matrices).
uint32_t coopmat_subgroup(const vulkan::DeviceInfo& info, uint32_t* required) {
  *required = 0;
  if (info.subgroup_size_control && info.min_subgroup_size <= 32 && 32 <= info.max_subgroup_size) {
    *required = 32;
    return 32;
  }
  return info.subgroup_size;
}

// The coopmat plan for `p`, false (with why) when no tile fits.
bool plan_coopmat(const Problem& p, const vulkan::DeviceInfo& info, vulkan::TileLimits limits,
                  VulkanBackend::Plan& plan, std::string* why) {
  limits.subgroup_size = coopmat_subgroup(info, &plan.key.required_subgroup_size);
  const auto t = vulkan::choose_coopmat_tiles(p.d, p.dv, p.sq, info.coopmat_size, limits, why);
  if (!t) {
    plan.key.required_subgroup_size = 0;
    return false;
  }
  plan.path = "coopmat";
  plan.key.shader = Shader::coopmat_f16;
  plan.key.spec = {{0, t->wg}, {1, t->subgroup}, {2, t->bc}, {3, static_cast<uint32_t>(p.d)},
                   {4, static_cast<uint32_t>(p.dv)}, {5, t->ms}};
  plan.workgroup = t->wg;
  plan.shared_bytes = t->shared_bytes;
  plan.groups[0] = static_cast<uint32_t>((p.sq + t->br - 1) / t->br);
  plan.tiles = "subgroups=" + std::to_string(t->nsg) + "x" + std::to_string(t->subgroup) + " matrices=" +
               std::to_string(t->ms) + "^3 br=" + std::to_string(t->br) + " bc=" + std::to_string(t->bc);
  return true;
}

// The scalar plan for `p`, false (with why) when no tile fits.
bool plan_scalar(const Problem& p, const vulkan::TileLimits& limits, VulkanBackend::Plan& plan, std::string* why) {
  const auto t = vulkan::choose_scalar_tiles(p.d, p.dv, p.sq, limits, why);
  if (!t) return false;
  plan.path = "scalar";
  plan.key.shader = p.dtype == DType::f32 ? Shader::scalar_f32 : Shader::scalar_16bit;
  plan.key.spec = {{0, t->wg}, {1, t->br}, {2, t->bc}, {3, static_cast<uint32_t>(p.d)},
                   {4, static_cast<uint32_t>(p.dv)}, {5, t->tm}, {6, t->tn}, {7, t->om}, {8, t->on}};
  if (p.dtype != DType::f32) plan.key.spec.push_back({9, p.dtype == DType::bf16 ? 1u : 0u});
  plan.workgroup = t->wg;
  plan.shared_bytes = t->shared_bytes;
  plan.groups[0] = static_cast<uint32_t>((p.sq + t->br - 1) / t->br);
  plan.tiles = "wg=" + std::to_string(t->wg) + " br=" + std::to_string(t->br) + " bc=" + std::to_string(t->bc) +
               " s=" + std::to_string(t->tm) + "x" + std::to_string(t->tn) + " o=" + std::to_string(t->om) + "x" +
               std::to_string(t->on) + "vec4";
  return true;
}

}  // namespace

VulkanBackend::~VulkanBackend() {
  try {
    release();
  } catch (...) {
    // A destructor must not throw; the device is torn down with the process.
  }
}

std::string VulkanBackend::name() const { return path_name(path_); }

Support VulkanBackend::plan(const Problem& p, Plan* out) const {
  std::string why;
  const auto ctx = context_or_null(&why);
  if (!ctx) return Support::no("no usable Vulkan device: " + why);
  const auto& info = ctx->info();
  const auto& cm = coopmat_info();

  if (p.d > kMaxHeadDim || p.dv > kMaxHeadDim) {
    return Support::no("d=" + std::to_string(p.d) + ", dv=" + std::to_string(p.dv) +
                       ": the Vulkan shaders take head dims up to " + std::to_string(kMaxHeadDim));
  }
  // Every tensor is one storage buffer indexed with 32-bit element offsets.
  const std::size_t elem = storage_bytes(p.dtype);
  const struct {
    const char* what;
    int64_t elems;
  } tensors[] = {{"Q", p.q_elems()}, {"K", p.k_elems()}, {"V", p.v_elems()}, {"O", p.o_elems()}};
  double total = 0;
  for (const auto& t : tensors) {
    const double bytes = static_cast<double>(t.elems) * static_cast<double>(elem);
    total += bytes;
    if (bytes > static_cast<double>(info.max_storage_buffer_range) || t.elems >= (int64_t{1} << 32)) {
      return Support::no(std::string(t.what) + " takes " + format_bytes(bytes) + ", above the device's " +
                         "maxStorageBufferRange of " + format_bytes(static_cast<double>(info.max_storage_buffer_range)));
    }
  }
  // The previous case's buffers are released before this case asks (the harness's order).
  if (const std::string refusal = memory_refusal(total, static_cast<double>(ctx->device_local_free_bytes()),
                                                 "Q, K, V and O", "device");
      !refusal.empty()) {
    return Support::no(refusal + " (" + info.name + ")");
  }

  const bool coopmat_built = !vulkan::spirv(Shader::coopmat_f16).empty();
  bool use_coopmat = false;
  if (path_ == VulkanPath::coopmat) {
    if (!cm.coopmat) return Support::no(cm.coopmat_reason + " (" + info.name + ")");
    if (!coopmat_built) return Support::no(vulkan::missing_shader_reason(Shader::coopmat_f16));
    if (p.dtype != DType::f16) {
      return Support::no("the coopmat path takes f16 (f16 x f16 -> f32 matrices); " +
                         std::string(to_string(p.dtype)) + " runs on vulkan_scalar");
    }
    use_coopmat = true;
  } else if (path_ == VulkanPath::automatic) {
    use_coopmat = cm.coopmat && coopmat_built && p.dtype == DType::f16;
  }

  if (p.dtype != DType::f32 && !info.storage_16bit) {
    return Support::no("device has no 16-bit storage (storageBuffer16BitAccess), needed for " +
                       std::string(to_string(p.dtype)));
  }
  if (!info.subgroup_shuffle) return Support::no("device has no subgroup shuffle in compute shaders");

  Plan plan;
  const vulkan::TileLimits limits{info.max_shared_bytes, info.subgroup_size, info.max_invocations};
  std::string tile_why;
  if (use_coopmat && !plan_coopmat(p, cm, limits, plan, &tile_why)) {
    if (path_ == VulkanPath::coopmat) return Support::no(tile_why);
    use_coopmat = false;  // automatic: the scalar path takes what the coopmat tiles cannot
  }
  if (!use_coopmat && !plan_scalar(p, limits, plan, &tile_why)) return Support::no(tile_why);
  // The shaders' one data-dependent loop runs over key tiles (the rest unroll).
  const uint32_t bc = [&] {
    for (const auto& [id, value] : plan.key.spec) {
      if (id == 2) return value;
    }
    return 1u;
  }();
  const int64_t tiles = (p.skv + bc - 1) / bc;
  if (info.max_key_tiles != 0 && tiles > info.max_key_tiles) {
    return Support::no(info.driver_info + " lavapipe stops a shader after 65535 loop iterations; skv=" +
                       std::to_string(p.skv) + " needs " + std::to_string(tiles) + " key tiles of " +
                       std::to_string(bc) + ", more than the " + std::to_string(info.max_key_tiles) +
                       " that run correctly there");
  }
  plan.groups[1] = static_cast<uint32_t>(p.hq);
  plan.groups[2] = static_cast<uint32_t>(p.b);
  for (int i = 0; i < 3; ++i) {
    if (plan.groups[i] > info.max_group_count[i]) {
      return Support::no("dispatch needs " + std::to_string(plan.groups[i]) + " workgroups along axis " +
                         std::to_string(i) + ", above the device's " + std::to_string(info.max_group_count[i]));
    }
  }
  if (out) *out = std::move(plan);
  return Support::yes();
}

Support VulkanBackend::supports(const Problem& problem) const { return plan(problem, nullptr); }

void VulkanBackend::check_validation(const char* stage) const {
  if (!active_ || !active_->validation()) return;
  const int errors = vulkan::validation_error_count() - validation_baseline_;
  if (errors <= 0) return;
  const auto messages = vulkan::validation_errors();
  throw std::runtime_error(name() + ": the Vulkan validation layer reported " + std::to_string(errors) +
                           " error(s) by the end of " + stage + "; latest: " +
                           (messages.empty() ? std::string("(none kept)") : messages.back()));
}

void VulkanBackend::release() {
  if (!active_) return;
  const VkDevice device = active_->device();
  if (in_flight_ && fence_ != VK_NULL_HANDLE) vkWaitForFences(device, 1, &fence_, VK_TRUE, UINT64_MAX);
  in_flight_ = false;
  if (fence_ != VK_NULL_HANDLE) vkDestroyFence(device, fence_, nullptr);
  if (cmd_ != VK_NULL_HANDLE) {
    std::lock_guard<std::mutex> lock(active_->queue_mutex());
    vkFreeCommandBuffers(device, active_->command_pool(), 1, &cmd_);
  }
  if (queries_ != VK_NULL_HANDLE) vkDestroyQueryPool(device, queries_, nullptr);
  if (descriptor_pool_ != VK_NULL_HANDLE) vkDestroyDescriptorPool(device, descriptor_pool_, nullptr);
  fence_ = VK_NULL_HANDLE;
  cmd_ = VK_NULL_HANDLE;
  queries_ = VK_NULL_HANDLE;
  descriptor_pool_ = VK_NULL_HANDLE;
  q_ = Buffer();
  k_ = Buffer();
  v_ = Buffer();
  o_ = Buffer();
  kvlen_ = Buffer();
  readback_ = Buffer();
  flush_ = Buffer();
  staging_bytes_ = 0;
  device_ms_.reset();
}

void VulkanBackend::prepare(const Problem& p, const Inputs& inputs) {
  Plan plan;
  const Support ok = this->plan(p, &plan);
  if (!ok) throw Unsupported(ok.reason);
  release();
  // Coopmat cases run on the context without the validation layer where the layer predates the
  // extension; everything else on the context the user asked for.
  active_ = plan.path == "coopmat" ? coopmat_context(nullptr) : ctx_;
  if (!active_) throw std::logic_error(name() + ": no context for the " + plan.path + " path");
  const vulkan::Context& ctx = *active_;
  const VkDevice device = ctx.device();
  validation_baseline_ = vulkan::validation_error_count();
  problem_ = p;
  plan_ = std::move(plan);

  const std::size_t elem = storage_bytes(p.dtype);
  const VkBufferUsageFlags in_usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  const VkBufferUsageFlags out_usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  q_ = Buffer(ctx, static_cast<std::size_t>(p.q_elems()) * elem, in_usage, MemoryKind::device);
  k_ = Buffer(ctx, static_cast<std::size_t>(p.k_elems()) * elem, in_usage, MemoryKind::device);
  v_ = Buffer(ctx, static_cast<std::size_t>(p.v_elems()) * elem, in_usage, MemoryKind::device);
  o_ = Buffer(ctx, static_cast<std::size_t>(p.o_elems()) * elem, out_usage, MemoryKind::device);
  std::vector<uint32_t> kvlen(static_cast<std::size_t>(p.b), static_cast<uint32_t>(p.skv));
  if (p.mask == MaskKind::kvlen) {
    for (std::size_t i = 0; i < kvlen.size(); ++i) {
      kvlen[i] = static_cast<uint32_t>(std::clamp<int64_t>(p.kvlen[i], 0, p.skv));
    }
  }
  kvlen_ = Buffer(ctx, kvlen.size() * sizeof(uint32_t), in_usage, MemoryKind::device);
  staging_bytes_ = std::max({vulkan::upload(ctx, q_, inputs.q.storage(), static_cast<std::size_t>(p.q_elems()) * elem),
                             vulkan::upload(ctx, k_, inputs.k.storage(), static_cast<std::size_t>(p.k_elems()) * elem),
                             vulkan::upload(ctx, v_, inputs.v.storage(), static_cast<std::size_t>(p.v_elems()) * elem),
                             vulkan::upload(ctx, kvlen_, kvlen.data(), kvlen.size() * sizeof(uint32_t))});

  const vulkan::Pipeline& pipeline = vulkan::get_pipeline(ctx, plan_.key);

  VkDescriptorPoolSize pool_size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, vulkan::kBindings};
  VkDescriptorPoolCreateInfo pool_info{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  pool_info.maxSets = 1;
  pool_info.poolSizeCount = 1;
  pool_info.pPoolSizes = &pool_size;
  vulkan::check(vkCreateDescriptorPool(device, &pool_info, nullptr, &descriptor_pool_), "vkCreateDescriptorPool");
  VkDescriptorSetAllocateInfo set_info{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  set_info.descriptorPool = descriptor_pool_;
  set_info.descriptorSetCount = 1;
  set_info.pSetLayouts = &pipeline.set_layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  vulkan::check(vkAllocateDescriptorSets(device, &set_info, &set), "vkAllocateDescriptorSets");
  const Buffer* buffers[vulkan::kBindings] = {&q_, &k_, &v_, &o_, &kvlen_};
  VkDescriptorBufferInfo buffer_infos[vulkan::kBindings];
  VkWriteDescriptorSet writes[vulkan::kBindings];
  for (uint32_t i = 0; i < vulkan::kBindings; ++i) {
    buffer_infos[i] = {buffers[i]->handle(), 0, VK_WHOLE_SIZE};
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes[i].dstSet = set;
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &buffer_infos[i];
  }
  vkUpdateDescriptorSets(device, vulkan::kBindings, writes, 0, nullptr);

  if (ctx.info().timestamp_valid_bits > 0) {
    VkQueryPoolCreateInfo query_info{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    query_info.queryType = VK_QUERY_TYPE_TIMESTAMP;
    query_info.queryCount = 2;
    vulkan::check(vkCreateQueryPool(device, &query_info, nullptr, &queries_), "vkCreateQueryPool");
  }
  VkFenceCreateInfo fence_info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  vulkan::check(vkCreateFence(device, &fence_info, nullptr, &fence_), "vkCreateFence");

  vulkan::PushConstants push;
  push.batch = static_cast<uint32_t>(p.b);
  push.hq = static_cast<uint32_t>(p.hq);
  push.hkv = static_cast<uint32_t>(p.hkv);
  push.sq = static_cast<uint32_t>(p.sq);
  push.skv = static_cast<uint32_t>(p.skv);
  push.mask_kind = mask_code(p.mask);
  push.group = static_cast<uint32_t>(p.group());
  push.scale_log2e = static_cast<float>(p.scale() * std::numbers::log2e);

  std::lock_guard<std::mutex> lock(ctx.queue_mutex());
  VkCommandBufferAllocateInfo alloc{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  alloc.commandPool = ctx.command_pool();
  alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  alloc.commandBufferCount = 1;
  vulkan::check(vkAllocateCommandBuffers(device, &alloc, &cmd_), "vkAllocateCommandBuffers");
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  vulkan::check(vkBeginCommandBuffer(cmd_, &begin), "vkBeginCommandBuffer");
  if (queries_ != VK_NULL_HANDLE) vkCmdResetQueryPool(cmd_, queries_, 0, 2);
  // The uploads' transfers, and the previous run's writes of O, come before this dispatch.
  VkMemoryBarrier before{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  before.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  before.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &before, 0, nullptr, 0, nullptr);
  if (queries_ != VK_NULL_HANDLE) vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_, 0);
  vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline);
  vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout, 0, 1, &set, 0, nullptr);
  vkCmdPushConstants(cmd_, pipeline.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof push, &push);
  vkCmdDispatch(cmd_, plan_.groups[0], plan_.groups[1], plan_.groups[2]);
  if (queries_ != VK_NULL_HANDLE) vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, 1);
  // O is read by the host (mapped) or by a transfer (staged read-back).
  VkMemoryBarrier after{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  after.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  after.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT;
  vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &after, 0, nullptr, 0,
                       nullptr);
  vulkan::check(vkEndCommandBuffer(cmd_), "vkEndCommandBuffer");
  check_validation("prepare");
}

void VulkanBackend::run() {
  if (cmd_ == VK_NULL_HANDLE) throw std::logic_error(name() + ": run() before prepare()");
  if (in_flight_) sync();
  const VkDevice device = active_->device();
  vulkan::check(vkResetFences(device, 1, &fence_), "vkResetFences");
  VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  submit.commandBufferCount = 1;
  submit.pCommandBuffers = &cmd_;
  {
    std::lock_guard<std::mutex> lock(active_->queue_mutex());
    vulkan::check(vkQueueSubmit(active_->queue(), 1, &submit, fence_), "vkQueueSubmit");
  }
  in_flight_ = true;
}

void VulkanBackend::sync() {
  if (!in_flight_) return;
  const VkDevice device = active_->device();
  vulkan::check(vkWaitForFences(device, 1, &fence_, VK_TRUE, UINT64_MAX), "vkWaitForFences");
  in_flight_ = false;
  device_ms_.reset();
  if (queries_ != VK_NULL_HANDLE) {
    uint64_t stamps[2] = {0, 0};
    vulkan::check(vkGetQueryPoolResults(device, queries_, 0, 2, sizeof stamps, stamps, sizeof(uint64_t),
                                        VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
                  "vkGetQueryPoolResults");
    const uint32_t bits = active_->info().timestamp_valid_bits;
    const uint64_t mask = bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
    const uint64_t ticks = (stamps[1] - stamps[0]) & mask;
    device_ms_ = static_cast<double>(ticks) * active_->info().timestamp_period_ns * 1e-6;
  }
  check_validation("run");
}

std::vector<double> VulkanBackend::output() {
  if (!o_) throw std::logic_error(name() + ": output() before prepare()");
  sync();
  const auto n = static_cast<std::size_t>(problem_.o_elems());
  std::vector<double> out;
  if (problem_.dtype == DType::f32) {
    std::vector<float> raw(n);
    vulkan::download(*active_, o_, raw.data(), n * sizeof(float), readback_);
    out.assign(raw.begin(), raw.end());
  } else {
    std::vector<uint16_t> raw(n);
    vulkan::download(*active_, o_, raw.data(), n * sizeof(uint16_t), readback_);
    out = widen_16bit(raw, problem_.dtype == DType::bf16);
  }
  check_validation("output");
  return out;
}

// The buffers the computation needs beyond Q, K, V and O (the kvlen table) plus the shared
// memory of one workgroup. Staging buffers only move data to and from the host and are
// reported in case_notes instead.
uint64_t VulkanBackend::scratch_bytes() const {
  return (kvlen_ ? kvlen_.bytes() : 0) + plan_.shared_bytes;
}

std::map<std::string, std::string> VulkanBackend::case_notes() const {
  if (!o_) return {};
  std::map<std::string, std::string> notes = {
      {"path", plan_.path},
      {"shader", vulkan::to_string(plan_.key.shader)},
      {"tiles", plan_.tiles},
      {"workgroups", std::to_string(uint64_t{plan_.groups[0]} * plan_.groups[1] * plan_.groups[2])},
      {"workgroup_threads", std::to_string(plan_.workgroup)},
      {"shared_bytes_per_workgroup", std::to_string(plan_.shared_bytes)},
      {"staging_bytes", std::to_string(staging_bytes_ + (readback_ ? readback_.bytes() : 0))},
      {"fused", "1"},
  };
  if (vulkan::validation_requested()) {
    // Says which cases the layer watched: a stale layer cannot check the coopmat shader.
    notes["validation"] = active_->validation() ? "on" : "off: " + ctx_->info().coopmat_reason;
  }
  return notes;
}

void register_vulkan(Registry& registry) {
  for (VulkanPath path : {VulkanPath::automatic, VulkanPath::scalar, VulkanPath::coopmat}) {
    auto make = [path](const BackendOptions& options) { return std::make_unique<VulkanBackend>(path, options); };
    if (path == VulkanPath::automatic) {
      registry.add(path_name(path), make);
    } else {
      registry.add_variant(path_name(path), path_name(VulkanPath::automatic), make);
    }
  }
}

}  // namespace sdpa
