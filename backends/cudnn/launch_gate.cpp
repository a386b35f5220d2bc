#include "backends/cudnn/launch_gate.h"

#include <cuda.h>
#include <cudaTypedefs.h>

namespace sdpa::cudnn {

namespace {

// The driver entry point's ABI since CUDA 11.7 (cuStreamWaitValue32_v2).
constexpr unsigned int kWaitValueAbi = 12000;

}  // namespace

LaunchGate::LaunchGate(bool enabled) {
  if (!enabled) {
    why_not_ = "SDPA_CUDNN_LAUNCH_GATE=0";
    return;
  }
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
  if (cudaGetDriverEntryPointByVersion("cuStreamWaitValue32", &fn, kWaitValueAbi, cudaEnableDefault, &found) !=
          cudaSuccess ||
      found != cudaDriverEntryPointSuccess || fn == nullptr) {
    static_cast<void>(cudaGetLastError());
    why_not_ = "the driver has no cuStreamWaitValue32";
    return;
  }
  void* host = nullptr;
  if (cudaHostAlloc(&host, sizeof(uint32_t), cudaHostAllocMapped) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    why_not_ = "cudaHostAlloc(cudaHostAllocMapped) failed";
    return;
  }
  void* device = nullptr;
  if (cudaHostGetDevicePointer(&device, host, 0) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    static_cast<void>(cudaFreeHost(host));
    why_not_ = "cudaHostGetDevicePointer failed (no mapped host memory)";
    return;
  }
  word_ = static_cast<volatile uint32_t*>(host);
  *word_ = 0;
  word_device_ = reinterpret_cast<unsigned long long>(device);
  wait_ = fn;
}

LaunchGate::~LaunchGate() {
  if (word_ != nullptr) static_cast<void>(cudaFreeHost(const_cast<uint32_t*>(word_)));
}

bool LaunchGate::hold(cudaStream_t stream) {
  auto wait = reinterpret_cast<PFN_cuStreamWaitValue32_v11070>(wait_);
  // GEQ compares (int32)(*word - value) >= 0, so the counter may wrap.
  const CUresult status = wait(stream, word_device_, ticket_ + 1, CU_STREAM_WAIT_VALUE_GEQ);
  if (status != CUDA_SUCCESS) {
    // The case still runs, timed by ungated events; the case notes say so (why_not()).
    wait_ = nullptr;
    why_not_ = "cuStreamWaitValue32 failed with CUresult " + std::to_string(static_cast<int>(status));
    return false;
  }
  ++ticket_;
  return true;
}

void LaunchGate::release() {
  // A release store: the device must see the word change after everything queued before it.
  __atomic_store_n(const_cast<uint32_t*>(word_), ticket_, __ATOMIC_RELEASE);
}

}  // namespace sdpa::cudnn
