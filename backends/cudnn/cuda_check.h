// CUDA, cuBLAS and cuDNN status codes become exceptions here, at the library boundary: the
// message names the call that failed and carries the library's own text for the code.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

namespace sdpa::cudnn {

void check_cuda(cudaError_t status, const char* call);
void check_cublas(cublasStatus_t status, const char* call);
void check_cudnn(cudnnStatus_t status, const char* call);

}  // namespace sdpa::cudnn

// The stringified call is the context a user needs: which API, with which arguments.
#define SDPA_CUDA(call) ::sdpa::cudnn::check_cuda((call), #call)
#define SDPA_CUBLAS(call) ::sdpa::cudnn::check_cublas((call), #call)
#define SDPA_CUDNN(call) ::sdpa::cudnn::check_cudnn((call), #call)
