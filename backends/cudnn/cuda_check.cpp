#include "backends/cudnn/cuda_check.h"

#include <stdexcept>
#include <string>

namespace sdpa::cudnn {

namespace {

// Errors after which the CUDA context is unusable: every later call returns the same error, so
// the message must say that the process, not the case, is over.
bool context_lost(cudaError_t status) {
  switch (status) {
    case cudaErrorLaunchFailure:
    case cudaErrorIllegalAddress:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorHardwareStackError:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
    case cudaErrorAssert:
    case cudaErrorDevicesUnavailable:
      return true;
    default:
      return false;
  }
}

}  // namespace

void check_cuda(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  std::string message = std::string("cudnn backend: ") + call + " failed: " + cudaGetErrorName(status) + " (" +
                        cudaGetErrorString(status) + ")";
  if (context_lost(status)) {
    message += "; the CUDA context is lost (a kernel fault, an uncorrectable ECC error or a GPU that fell off the "
               "bus): every later CUDA call in this process fails, so rerun from a fresh process and "
               "look for NVIDIA Xid lines in dmesg";
  }
  throw std::runtime_error(message);
}

void check_cublas(cublasStatus_t status, const char* call) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw std::runtime_error(std::string("cudnn backend: ") + call + " failed: " + cublasGetStatusName(status) +
                           " (" + cublasGetStatusString(status) + ")");
}

void check_cudnn(cudnnStatus_t status, const char* call) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  throw std::runtime_error(std::string("cudnn backend: ") + call + " failed: " + cudnnGetErrorString(status));
}

}  // namespace sdpa::cudnn
