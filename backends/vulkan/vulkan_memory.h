// Storage buffers with their own memory, and the moves between them and the host.
#pragma once

#include <vulkan/vulkan.h>

#include <cstddef>
#include <cstdint>

#include "backends/vulkan/vulkan_context.h"

namespace sdpa::vulkan {

enum class MemoryKind {
  device,    // what shaders read: device-local; also host-visible where that costs nothing
  upload,    // host-visible staging, host writes
  readback,  // host-visible, preferably cached, host reads
};

class Buffer {
 public:
  Buffer() = default;
  // `bytes` is rounded up to 4 (storage-buffer words) and to at least 4.
  Buffer(const Context& ctx, std::size_t bytes, VkBufferUsageFlags usage, MemoryKind kind);
  ~Buffer();
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  VkBuffer handle() const { return buffer_; }
  std::size_t bytes() const { return bytes_; }
  bool mapped() const { return mapped_ != nullptr; }
  explicit operator bool() const { return buffer_ != VK_NULL_HANDLE; }

  // Host access to a mapped buffer (flushes / invalidates non-coherent memory).
  void write(const void* src, std::size_t bytes, std::size_t offset = 0);
  void read(void* dst, std::size_t bytes) const;

 private:
  void release();

  VkDevice device_ = VK_NULL_HANDLE;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  std::size_t bytes_ = 0;
  void* mapped_ = nullptr;
  bool coherent_ = true;
};

// The buffer a cold measurement writes before each sample to evict a GPU's caches: twice 256 MiB,
// the largest last-level cache of any GPU we know of (AMD MI300X's Infinity Cache; NVIDIA's L2
// is at most 126 MB on B200, 50 MB on H100), as Vulkan has no query for it; at most an eighth of
// the device-local heap. 0 on a CPU device, whose caches the harness flushes itself.
uint64_t cache_flush_bytes(VkPhysicalDeviceType type, uint64_t device_local_bytes);

// Copies host data into a device buffer: a plain write when it is mapped, else through a
// staging buffer and a transfer. Returns the staging bytes it had to allocate (0 if none).
std::size_t upload(const Context& ctx, Buffer& dst, const void* src, std::size_t bytes);

// Copies a device buffer's first `bytes` to the host after a compute dispatch wrote it. The
// command buffer that ran the dispatch already made its writes visible to the host when the
// buffer is mapped; otherwise this transfers through `staging` (allocated on first use).
void download(const Context& ctx, const Buffer& src, void* dst, std::size_t bytes, Buffer& staging);

}  // namespace sdpa::vulkan
