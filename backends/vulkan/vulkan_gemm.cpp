#include "backends/vulkan/vulkan_gemm.h"

#include <chrono>
#include <cmath>
#include <map>
#include <mutex>

#include "backends/vulkan/vulkan_memory.h"
#include "core/best_of.h"
#include "core/half.h"

namespace sdpa::vulkan {

namespace {

constexpr int kReps = 5;
// Elements of C checked against the host: enough to catch a wrong tile or index, cheap at n=4096.
constexpr uint32_t kChecked = 64;

// Operands in [-1, 1): zeros or constants would let a GPU idle at lower power and report a peak
// that no real input reaches.
std::vector<float> operand(std::size_t elems, uint32_t seed) {
  std::vector<float> v(elems);
  uint32_t state = seed;
  for (auto& x : v) {
    state = state * 1664525u + 1013904223u;  // LCG: cheap, and quality does not matter here
    x = static_cast<float>(state >> 8) / 8388608.0f - 1.0f;
  }
  return v;
}

bool is_f16(Shader shader) { return shader == Shader::gemm_scalar_f16 || shader == Shader::gemm_coopmat_f16; }

// Destroys what one timing allocated, on every path.
struct GemmObjects {
  VkDevice device = VK_NULL_HANDLE;
  const Context* ctx = nullptr;
  VkDescriptorPool pool = VK_NULL_HANDLE;
  VkQueryPool queries = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  ~GemmObjects() {
    if (fence != VK_NULL_HANDLE) {
      vkWaitForFences(device, 1, &fence, VK_TRUE, UINT64_MAX);
      vkDestroyFence(device, fence, nullptr);
    }
    if (cmd != VK_NULL_HANDLE) {
      std::lock_guard<std::mutex> lock(ctx->queue_mutex());
      vkFreeCommandBuffers(device, ctx->command_pool(), 1, &cmd);
    }
    if (queries != VK_NULL_HANDLE) vkDestroyQueryPool(device, queries, nullptr);
    if (pool != VK_NULL_HANDLE) vkDestroyDescriptorPool(device, pool, nullptr);
  }
};

// The pipeline key of a GEMM shader on this device.
PipelineKey gemm_key(const Context& ctx, Shader shader) {
  PipelineKey key;
  key.shader = shader;
  if (shader != Shader::gemm_coopmat_f16) {
    key.spec = {{0, 256}};
    return key;
  }
  const DeviceInfo& info = ctx.info();
  uint32_t sg = info.subgroup_size;
  if (info.subgroup_size_control && info.min_subgroup_size <= 32 && 32 <= info.max_subgroup_size) {
    sg = 32;  // NVIDIA's only size, AMD's wave32: the size the coopmat attention runs with
    key.required_subgroup_size = 32;
  }
  key.spec = {{0, 4 * sg}, {1, sg}, {2, info.coopmat_size}};
  return key;
}

}  // namespace

uint32_t gemm_size(VkPhysicalDeviceType type) { return type == VK_PHYSICAL_DEVICE_TYPE_CPU ? 256 : 4096; }

double time_gemm(const Context& ctx, Shader shader, uint32_t n, int reps) {
  const VkDevice device = ctx.device();
  const std::size_t elems = std::size_t{n} * n;
  const std::vector<float> a = operand(elems, 1), b = operand(elems, 2);
  const VkBufferUsageFlags in_usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  const std::size_t in_bytes = elems * (is_f16(shader) ? 2 : 4);
  Buffer ab(ctx, in_bytes, in_usage, MemoryKind::device), bb(ctx, in_bytes, in_usage, MemoryKind::device);
  Buffer cb(ctx, elems * 4, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT, MemoryKind::device);
  std::vector<float> a_used = a, b_used = b;  // the values the device multiplies
  if (is_f16(shader)) {
    std::vector<uint16_t> ah(elems), bh(elems);
    for (std::size_t i = 0; i < elems; ++i) {
      ah[i] = f32_to_f16_bits(a[i]);
      bh[i] = f32_to_f16_bits(b[i]);
      a_used[i] = f16_bits_to_f32(ah[i]);
      b_used[i] = f16_bits_to_f32(bh[i]);
    }
    upload(ctx, ab, ah.data(), in_bytes);
    upload(ctx, bb, bh.data(), in_bytes);
  } else {
    upload(ctx, ab, a.data(), in_bytes);
    upload(ctx, bb, b.data(), in_bytes);
  }

  const Pipeline& pipeline = get_pipeline(ctx, gemm_key(ctx, shader));
  GemmObjects o;
  o.device = device;
  o.ctx = &ctx;
  VkDescriptorPoolSize pool_size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 3};
  VkDescriptorPoolCreateInfo pool_info{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  pool_info.maxSets = 1;
  pool_info.poolSizeCount = 1;
  pool_info.pPoolSizes = &pool_size;
  check(vkCreateDescriptorPool(device, &pool_info, nullptr, &o.pool), "vkCreateDescriptorPool");
  VkDescriptorSetAllocateInfo set_info{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  set_info.descriptorPool = o.pool;
  set_info.descriptorSetCount = 1;
  set_info.pSetLayouts = &pipeline.set_layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  check(vkAllocateDescriptorSets(device, &set_info, &set), "vkAllocateDescriptorSets");
  // Bindings 3 and 4 of the shared layout are not used by the GEMM shaders and stay unwritten.
  const Buffer* buffers[3] = {&ab, &bb, &cb};
  VkDescriptorBufferInfo infos[3];
  VkWriteDescriptorSet writes[3];
  for (uint32_t i = 0; i < 3; ++i) {
    infos[i] = {buffers[i]->handle(), 0, VK_WHOLE_SIZE};
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes[i].dstSet = set;
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  vkUpdateDescriptorSets(device, 3, writes, 0, nullptr);

  const DeviceInfo& info = ctx.info();
  if (info.timestamp_valid_bits > 0) {
    VkQueryPoolCreateInfo query_info{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    query_info.queryType = VK_QUERY_TYPE_TIMESTAMP;
    query_info.queryCount = 2;
    check(vkCreateQueryPool(device, &query_info, nullptr, &o.queries), "vkCreateQueryPool");
  }
  VkFenceCreateInfo fence_info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  check(vkCreateFence(device, &fence_info, nullptr, &o.fence), "vkCreateFence");

  {
    std::lock_guard<std::mutex> lock(ctx.queue_mutex());
    VkCommandBufferAllocateInfo alloc{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    alloc.commandPool = ctx.command_pool();
    alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    alloc.commandBufferCount = 1;
    check(vkAllocateCommandBuffers(device, &alloc, &o.cmd), "vkAllocateCommandBuffers");
  }
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  check(vkBeginCommandBuffer(o.cmd, &begin), "vkBeginCommandBuffer");
  if (o.queries != VK_NULL_HANDLE) vkCmdResetQueryPool(o.cmd, o.queries, 0, 2);
  // The uploads, and the previous run's writes of C, come before this dispatch.
  VkMemoryBarrier before{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  before.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  before.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  vkCmdPipelineBarrier(o.cmd, VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &before, 0, nullptr, 0, nullptr);
  if (o.queries != VK_NULL_HANDLE) vkCmdWriteTimestamp(o.cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, o.queries, 0);
  vkCmdBindPipeline(o.cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline);
  vkCmdBindDescriptorSets(o.cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout, 0, 1, &set, 0, nullptr);
  vkCmdPushConstants(o.cmd, pipeline.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof n, &n);
  if (shader == Shader::gemm_coopmat_f16) {
    // One 2MS×2MS block of C per subgroup, 4 subgroups per workgroup (gemm_key).
    const uint32_t ms = info.coopmat_size;
    vkCmdDispatch(o.cmd, (n / (2 * ms)) * (n / (2 * ms)) / 4, 1, 1);
  } else {
    vkCmdDispatch(o.cmd, n / 64, n / 64, 1);
  }
  if (o.queries != VK_NULL_HANDLE) vkCmdWriteTimestamp(o.cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, o.queries, 1);
  VkMemoryBarrier after{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  after.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  after.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT;
  vkCmdPipelineBarrier(o.cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &after, 0, nullptr, 0,
                       nullptr);
  check(vkEndCommandBuffer(o.cmd), "vkEndCommandBuffer");

  auto timed_run = [&] {
    check(vkResetFences(device, 1, &o.fence), "vkResetFences");
    VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    submit.commandBufferCount = 1;
    submit.pCommandBuffers = &o.cmd;
    const auto t0 = std::chrono::steady_clock::now();
    {
      std::lock_guard<std::mutex> lock(ctx.queue_mutex());
      check(vkQueueSubmit(ctx.queue(), 1, &submit, o.fence), "vkQueueSubmit");
    }
    check(vkWaitForFences(device, 1, &o.fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (o.queries == VK_NULL_HANDLE) return wall;
    uint64_t stamps[2] = {0, 0};
    check(vkGetQueryPoolResults(device, o.queries, 0, 2, sizeof stamps, stamps, sizeof(uint64_t),
                                VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
          "vkGetQueryPoolResults");
    const uint64_t mask =
        info.timestamp_valid_bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << info.timestamp_valid_bits) - 1;
    return static_cast<double>((stamps[1] - stamps[0]) & mask) * info.timestamp_period_ns * 1e-9;
  };
  const double best = best_of_seconds(reps, timed_run);

  std::vector<float> c(elems);
  Buffer staging;
  download(ctx, cb, c.data(), elems * 4, staging);
  for (uint32_t s = 0; s < kChecked; ++s) {
    const std::size_t row = (std::size_t{s} * 2654435761u) % n, col = (std::size_t{s} * 40503u + 7) % n;
    double want = 0, magnitude = 0;
    for (uint32_t k = 0; k < n; ++k) {
      const double p = static_cast<double>(a_used[row * n + k]) * b_used[std::size_t{k} * n + col];
      want += p;
      magnitude += std::fabs(p);
    }
    // f32 accumulation over n terms: a relative error of n·2^-24 of Σ|a·b| at most; 4x margin.
    const double got = c[row * n + col];
    if (!(std::fabs(got - want) <= 4.0 * n * 5.96e-8 * magnitude + 1e-6)) {
      throw VulkanError("calibration GEMM " + to_string(shader) + " on " + info.name + " computed C[" +
                        std::to_string(row) + "][" + std::to_string(col) + "] = " + std::to_string(got) +
                        ", expected " + std::to_string(want) + ": its timing is not a peak");
    }
  }
  return best;
}

std::vector<Calibration> calibration_gemms(const Context& ctx, const Context* coopmat_ctx,
                                           const std::string& device_class) {
  static std::mutex mutex;
  static auto* done = new std::map<std::string, std::vector<Calibration>>();
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = done->find(device_class); it != done->end()) return it->second;

  const uint32_t n = gemm_size(ctx.info().type);
  const double flops = 2.0 * n * n * static_cast<double>(n);
  auto measure = [&](const Context& on, Shader shader, DType dtype, const std::string& what) {
    const double seconds = time_gemm(on, shader, n, kReps);
    return Calibration{device_class,
                       what + " " + std::to_string(n) + "^3 (this project's " + to_string(shader) +
                           " shader, f32 accumulate), best of " + std::to_string(kReps),
                       flops / seconds / 1e12, dtype, /*from_library=*/false};
  };
  std::vector<Calibration> out;
  out.push_back(measure(ctx, Shader::gemm_scalar_f32, DType::f32, "Vulkan scalar GEMM f32"));
  if (coopmat_ctx != nullptr && coopmat_ctx->info().coopmat && !spirv(Shader::gemm_coopmat_f16).empty()) {
    out.push_back(measure(*coopmat_ctx, Shader::gemm_coopmat_f16, DType::f16, "Vulkan cooperative-matrix GEMM f16"));
  } else {
    out.push_back(measure(ctx, Shader::gemm_scalar_f16, DType::f16, "Vulkan scalar GEMM f16"));
  }
  done->emplace(device_class, out);
  return out;
}

}  // namespace sdpa::vulkan
