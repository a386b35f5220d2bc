// The Vulkan backend's calibration GEMMs: C = A·B on the chosen device with this project's own
// shaders (there is no vendor BLAS behind Vulkan), so a Vulkan case gets a fraction of what
// the same device reaches on plain matrix work: the scalar GEMM in f32 and f16, and the
// cooperative-matrix GEMM in f16 where the device has VK_KHR_cooperative_matrix. Being our own
// kernels, they are never used to normalise timings across runs (from_library = false).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/vulkan/vulkan_context.h"
#include "backends/vulkan/vulkan_pipeline.h"

namespace sdpa::vulkan {

// The matrix size: large on a GPU (so it runs at the clocks it sustains), small on a CPU device
// (lavapipe), where the same work would take minutes. A multiple of 64 (the scalar tile) and of
// 32 (the coopmat block).
uint32_t gemm_size(VkPhysicalDeviceType type);

// Runs C = A·B (n×n, f32 accumulation) with `shader` on `ctx`, checks sampled elements of C
// against a host dot product (a GEMM that computes the wrong thing must not report a peak),
// and returns the best of `reps` timed runs in seconds (timestamps where the queue has them,
// else the wall clock around submit and wait).
double time_gemm(const Context& ctx, Shader shader, uint32_t n, int reps);

// One Calibration per dtype the device can run, for `device_class`: f32 scalar; f16 by
// coopmat where `coopmat_ctx` is given (the context coopmat runs on), else scalar. Measured
// once per process and device.
std::vector<Calibration> calibration_gemms(const Context& ctx, const Context* coopmat_ctx,
                                           const std::string& device_class);

}  // namespace sdpa::vulkan
