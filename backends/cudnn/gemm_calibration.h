// The practical peak of the GPU for half-precision matrix work: a cuBLAS GEMM the size of
// the biggest attention cases, run in the same process so attention's fraction of it is
// measured under the same clocks and power state.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

namespace sdpa::cudnn {

struct GemmTiming {
  double best_ms = 0;
  double tflops = 0;  // 2·n³ FLOPs over the best time
};

// C = A·B with n×n f16 A, B, C and f32 accumulation (what fused attention kernels do), timed
// with CUDA events on `stream` by the calibration rule (best_of_seconds over `reps` runs).
GemmTiming time_half_gemm(cublasHandle_t handle, cudaStream_t stream, int n, int reps);

}  // namespace sdpa::cudnn
