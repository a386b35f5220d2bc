#include "backends/vulkan/vulkan_memory.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "backends/backend.h"
#include "core/memory.h"

namespace sdpa::vulkan {

namespace {

// A device that is out of memory cannot run the case: a skip with the figures, not an error.
void check_allocation(VkResult result, const char* call, const Context& ctx, std::size_t bytes) {
  if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY) {
    throw Unsupported("out of device memory (needs " + format_bytes(static_cast<double>(bytes)) + ", free " +
                      format_bytes(static_cast<double>(ctx.device_local_free_bytes())) + "): " + call + " on " +
                      ctx.info().name);
  }
  check(result, call);
}

}  // namespace

Buffer::Buffer(const Context& ctx, std::size_t bytes, VkBufferUsageFlags usage, MemoryKind kind)
    : device_(ctx.device()) {
  bytes_ = std::max<std::size_t>(4, (bytes + 3) / 4 * 4);
  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  info.size = bytes_;
  info.usage = usage;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  check_allocation(vkCreateBuffer(device_, &info, nullptr, &buffer_), "vkCreateBuffer", ctx, bytes_);

  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device_, buffer_, &req);
  VkMemoryPropertyFlags required = 0, preferred = 0;
  switch (kind) {
    case MemoryKind::device:
      required = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
      // A discrete GPU's host-visible device memory is a small BAR window: keep tensors out of
      // it and stage. Elsewhere (lavapipe, integrated GPUs) device memory is host memory.
      preferred = ctx.info().type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU
                      ? VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT
                      : VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
      break;
    case MemoryKind::upload:
      required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
      break;
    case MemoryKind::readback:
      required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
      preferred = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
      break;
  }
  VkMemoryPropertyFlags flags = 0;
  VkMemoryAllocateInfo alloc{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  alloc.allocationSize = req.size;
  try {
    alloc.memoryTypeIndex = ctx.memory_type(req.memoryTypeBits, required, preferred, &flags);
    check_allocation(vkAllocateMemory(device_, &alloc, nullptr, &memory_), "vkAllocateMemory", ctx, bytes_);
    check(vkBindBufferMemory(device_, buffer_, memory_, 0), "vkBindBufferMemory");
    const bool host_visible = (flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) != 0;
    coherent_ = (flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
    if (host_visible) {
      check(vkMapMemory(device_, memory_, 0, VK_WHOLE_SIZE, 0, &mapped_), "vkMapMemory");
    }
  } catch (...) {
    release();
    throw;
  }
}

Buffer::~Buffer() { release(); }

void Buffer::release() {
  if (device_ == VK_NULL_HANDLE) return;
  if (mapped_) vkUnmapMemory(device_, memory_);
  if (buffer_ != VK_NULL_HANDLE) vkDestroyBuffer(device_, buffer_, nullptr);
  if (memory_ != VK_NULL_HANDLE) vkFreeMemory(device_, memory_, nullptr);
  mapped_ = nullptr;
  buffer_ = VK_NULL_HANDLE;
  memory_ = VK_NULL_HANDLE;
}

Buffer::Buffer(Buffer&& other) noexcept { *this = std::move(other); }

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    release();
    device_ = std::exchange(other.device_, VK_NULL_HANDLE);
    buffer_ = std::exchange(other.buffer_, VK_NULL_HANDLE);
    memory_ = std::exchange(other.memory_, VK_NULL_HANDLE);
    bytes_ = std::exchange(other.bytes_, 0);
    mapped_ = std::exchange(other.mapped_, nullptr);
    coherent_ = other.coherent_;
  }
  return *this;
}

void Buffer::write(const void* src, std::size_t bytes, std::size_t offset) {
  if (!mapped_) throw VulkanError("Buffer::write on a buffer that is not host-visible");
  std::memcpy(static_cast<char*>(mapped_) + offset, src, bytes);
  if (!coherent_) {
    VkMappedMemoryRange range{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
    range.memory = memory_;
    range.size = VK_WHOLE_SIZE;
    check(vkFlushMappedMemoryRanges(device_, 1, &range), "vkFlushMappedMemoryRanges");
  }
}

void Buffer::read(void* dst, std::size_t bytes) const {
  if (!mapped_) throw VulkanError("Buffer::read on a buffer that is not host-visible");
  if (!coherent_) {
    VkMappedMemoryRange range{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
    range.memory = memory_;
    range.size = VK_WHOLE_SIZE;
    check(vkInvalidateMappedMemoryRanges(device_, 1, &range), "vkInvalidateMappedMemoryRanges");
  }
  std::memcpy(dst, mapped_, bytes);
}

uint64_t cache_flush_bytes(VkPhysicalDeviceType type, uint64_t device_local_bytes) {
  if (type == VK_PHYSICAL_DEVICE_TYPE_CPU) return 0;
  constexpr uint64_t kLargestLastLevelCache = uint64_t{256} << 20;
  return std::min(2 * kLargestLastLevelCache, device_local_bytes / 8) / 4 * 4;  // vkCmdFillBuffer: multiple of 4
}

std::size_t upload(const Context& ctx, Buffer& dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return 0;
  if (dst.mapped()) {
    dst.write(src, bytes);
    return 0;
  }
  Buffer staging(ctx, bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, MemoryKind::upload);
  staging.write(src, bytes);
  ctx.run_once([&](VkCommandBuffer cmd) {
    VkBufferCopy region{0, 0, bytes};
    vkCmdCopyBuffer(cmd, staging.handle(), dst.handle(), 1, &region);
  });
  return staging.bytes();
}

void download(const Context& ctx, const Buffer& src, void* dst, std::size_t bytes, Buffer& staging) {
  if (src.mapped()) {
    src.read(dst, bytes);
    return;
  }
  if (!staging || staging.bytes() < bytes) {
    staging = Buffer(ctx, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT, MemoryKind::readback);
  }
  ctx.run_once([&](VkCommandBuffer cmd) {
    VkMemoryBarrier before{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    before.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    before.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &before, 0,
                         nullptr, 0, nullptr);
    VkBufferCopy region{0, 0, bytes};
    vkCmdCopyBuffer(cmd, src.handle(), staging.handle(), 1, &region);
    VkMemoryBarrier after{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    after.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    after.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &after, 0, nullptr, 0,
                         nullptr);
  });
  staging.read(dst, bytes);
}

}  // namespace sdpa::vulkan
