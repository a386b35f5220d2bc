#include "backends/cudnn/gemm_calibration.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "backends/cudnn/cuda_check.h"
#include "backends/cudnn/device_buffer.h"
#include "core/best_of.h"
#include "core/half.h"

namespace sdpa::cudnn {

namespace {

// Events are released on every path, including a failed GEMM.
struct EventPair {
  cudaEvent_t start = nullptr, stop = nullptr;
  EventPair() {
    SDPA_CUDA(cudaEventCreate(&start));
    SDPA_CUDA(cudaEventCreate(&stop));
  }
  ~EventPair() {
    if (start) static_cast<void>(cudaEventDestroy(start));
    if (stop) static_cast<void>(cudaEventDestroy(stop));
  }
};

// Operands in [-1, 1): zeros or constants would let the tensor cores idle at lower power and
// report a peak that no real input reaches.
std::vector<uint16_t> operand(std::size_t elems, uint32_t seed) {
  std::vector<uint16_t> bits(elems);
  uint32_t state = seed;
  for (auto& b : bits) {
    state = state * 1664525u + 1013904223u;  // LCG: cheap, and quality does not matter here
    b = f32_to_f16_bits(static_cast<float>(state >> 8) / 8388608.0f - 1.0f);
  }
  return bits;
}

}  // namespace

GemmTiming time_half_gemm(cublasHandle_t handle, cudaStream_t stream, int n, int reps) {
  const std::size_t elems = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  const std::size_t bytes = elems * sizeof(uint16_t);
  DeviceBuffer a(bytes), b(bytes), c(bytes);
  const std::vector<uint16_t> host_a = operand(elems, 1), host_b = operand(elems, 2);
  SDPA_CUDA(cudaMemcpy(a.get(), host_a.data(), bytes, cudaMemcpyHostToDevice));
  SDPA_CUDA(cudaMemcpy(b.get(), host_b.data(), bytes, cudaMemcpyHostToDevice));

  SDPA_CUBLAS(cublasSetStream(handle, stream));
  const float alpha = 1.0f, beta = 0.0f;
  auto gemm = [&] {
    SDPA_CUBLAS(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a.get(), CUDA_R_16F, n, b.get(),
                             CUDA_R_16F, n, &beta, c.get(), CUDA_R_16F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  };
  EventPair events;
  const double best_ms = 1e3 * best_of_seconds(reps, [&] {
    SDPA_CUDA(cudaEventRecord(events.start, stream));
    gemm();
    SDPA_CUDA(cudaEventRecord(events.stop, stream));
    SDPA_CUDA(cudaEventSynchronize(events.stop));
    float ms = 0;
    SDPA_CUDA(cudaEventElapsedTime(&ms, events.start, events.stop));
    return 1e-3 * static_cast<double>(ms);
  });
  const double flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  return {best_ms, flops / (best_ms * 1e-3) / 1e12};
}

}  // namespace sdpa::cudnn
