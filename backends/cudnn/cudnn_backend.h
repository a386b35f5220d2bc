// cuDNN's fused scaled dot-product attention (the FlashAttention-style kernels behind
// PyTorch's cuDNN SDPA backend) through the cuDNN C++ frontend, on CUDA device 0.
//
// supports() asks cuDNN: it builds the graph's plan (cached per shape, so a repeated shape costs
// nothing), and a shape cuDNN declines is a skip with its reason. prepare() uploads Q, K, V
// (their f16 / bf16 storage), takes the cached plan and allocates the workspace once. run() enqueues
// the execute between two CUDA events on the backend's own stream, behind a launch gate that
// holds the stream until everything is queued; last_device_ms() is the time between the
// events (device time without host launch cost; the harness's wall clock has it). Nothing
// touches the GPU before available() says there is one.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "backends/backend.h"
#include "backends/cudnn/cuda_device.h"
#include "backends/cudnn/device_buffer.h"
#include "backends/cudnn/launch_gate.h"
#include "backends/cudnn/sdpa_graph.h"
#include "backends/cudnn/sdpa_layout.h"

namespace sdpa::cudnn {

class CudnnBackend : public Backend {
 public:
  CudnnBackend() = default;
  ~CudnnBackend() override;
  CudnnBackend(const CudnnBackend&) = delete;
  CudnnBackend& operator=(const CudnnBackend&) = delete;

  std::string name() const override { return "cudnn"; }
  std::string describe() const override;
  std::map<std::string, std::string> context() const override;
  std::string device_class() const override { return "cuda:" + std::to_string(device_); }

  Support available() const override;
  Support supports(const Problem& problem) const override;

  void prepare(const Problem& problem, const Inputs& inputs) override;
  void run() override;
  void sync() override;
  std::optional<double> last_device_ms() const override;

  std::vector<double> output() override;
  uint64_t scratch_bytes() const override;
  std::map<std::string, std::string> case_notes() const override;

  std::vector<Calibration> calibrate() override;
  // Frees the case's device buffers and the cache-flush buffer; built plans stay cached (they
  // hold no per-case memory).
  void release() override;
  // Writes a buffer of twice the GPU's L2 (--cold).
  void flush_device_caches() override;

 private:
  // The stream, events, cuDNN handle and launch gate, created on first use (they need a device;
  // supports() builds plans with them, hence const, over mutable caches).
  void ensure_started() const;
  const CudaDeviceInfo& device_info() const;
  const SdpaPlan& plan_for(const Problem& problem) const;

  int device_ = 0;
  mutable std::optional<Support> availability_;
  mutable std::optional<CudaDeviceInfo> info_;

  mutable cudaStream_t stream_ = nullptr;
  mutable cudaEvent_t start_ = nullptr, stop_ = nullptr;
  mutable cudnnHandle_t handle_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  mutable std::unique_ptr<LaunchGate> gate_;
  bool gated_ = false;  // whether the last run() was timed behind the gate
  DeviceBuffer flush_;
  unsigned char flush_salt_ = 0;

  // Built plans and cuDNN's refusals, by graph_key(): a shape is built or declined once.
  mutable std::map<std::string, std::unique_ptr<SdpaPlan>> plans_;
  mutable std::map<std::string, std::string> declined_;

  // The prepared case.
  Problem problem_;
  SdpaLayout layout_;
  const SdpaPlan* plan_ = nullptr;
  DeviceBuffer q_, k_, v_, o_, seq_len_q_, seq_len_kv_, workspace_;
  std::unordered_map<int64_t, void*> bindings_;
  bool ran_ = false;
};

}  // namespace sdpa::cudnn
