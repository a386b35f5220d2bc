// One cudaMalloc'd allocation, freed with its owner. Move-only, so a buffer has one owner and
// a failed allocation names its size.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

#include "backends/cudnn/cuda_check.h"

namespace sdpa::cudnn {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
    if (bytes == 0) return;
    const cudaError_t status = cudaMalloc(&ptr_, bytes);
    if (status != cudaSuccess) {
      throw std::runtime_error("cudnn backend: cudaMalloc of " + std::to_string(bytes) +
                               " bytes failed: " + cudaGetErrorString(status));
    }
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
