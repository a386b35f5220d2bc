// One cudaMalloc'd allocation, freed with its owner. Move-only, so a buffer has one owner; an
// allocation the GPU has no room for is a skip that names the size and the free memory.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

#include "backends/backend.h"
#include "backends/cudnn/cuda_check.h"
#include "core/memory.h"

namespace sdpa::cudnn {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
    if (bytes == 0) return;
    const cudaError_t status = cudaMalloc(&ptr_, bytes);
    if (status == cudaErrorMemoryAllocation) {
      // Not sticky: clear it, and report the case as one this GPU cannot hold (a skip).
      static_cast<void>(cudaGetLastError());
      std::size_t free_bytes = 0, total_bytes = 0;
      static_cast<void>(cudaMemGetInfo(&free_bytes, &total_bytes));
      throw Unsupported("out of device memory (needs " + format_bytes(static_cast<double>(bytes)) + ", free " +
                        format_bytes(static_cast<double>(free_bytes)) + ")");
    }
    check_cuda(status, "cudaMalloc");
  }
  ~DeviceBuffer() { release(); }

  DeviceBuffer(DeviceBuffer&& other) noexcept
      : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      release();
      ptr_ = std::exchange(other.ptr_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void release() noexcept {
    // Errors here (e.g. the runtime already torn down at exit) have no one left to report to.
    if (ptr_ != nullptr) static_cast<void>(cudaFree(ptr_));
    ptr_ = nullptr;
    bytes_ = 0;
  }

  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace sdpa::cudnn
