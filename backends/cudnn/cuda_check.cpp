#include "backends/cudnn/cuda_check.h"

#include <stdexcept>
#include <string>

namespace sdpa::cudnn {

void check_cuda(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  throw std::runtime_error(std::string("cudnn backend: ") + call + " failed: " + cudaGetErrorName(status) +
                           " (" + cudaGetErrorString(status) + ")");
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
