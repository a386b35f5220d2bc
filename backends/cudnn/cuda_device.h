// What the results file needs to know about the GPU and the CUDA stack it ran on, and whether
// there is a GPU at all (CI machines have none: the backend then reports why and is skipped).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "backends/backend.h"

namespace sdpa::cudnn {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;  // compute capability, sm_<major><minor>
  int sm_count = 0;
  int sm_clock_mhz = 0;   // peak clock the driver reports, not the current one
  int mem_clock_mhz = 0;
  int mem_bus_bits = 0;
  uint64_t mem_bytes = 0;
  int l2_bytes = 0;
  int driver_version = 0;   // CUDA version the driver supports, 13000 = 13.0
  int runtime_version = 0;  // CUDA runtime this binary loaded
};

// ok, or "no CUDA device (<the runtime's reason>)": a missing driver and a machine with zero
// devices both land here, with the CUDA error text telling them apart.
Support cuda_device_support(int index);

// Throws if the device cannot be queried; call after cuda_device_support said ok.
CudaDeviceInfo query_cuda_device(int index);

// 13000 -> "13.0", 12080 -> "12.8" (CUDA's encoding: 1000·major + 10·minor).
std::string cuda_version_string(int version);
// 91900 -> "9.19.0" (cuDNN 9's encoding: 10000·major + 100·minor + patch).
std::string cudnn_version_string(std::size_t version);

// "NVIDIA H100 80GB HBM3, sm_90, 132 SMs @ 1980 MHz, 79.1 GiB"
std::string describe_device(const CudaDeviceInfo& info);
// Keys for the results context: cuda_device, cuda_sm_count, cuda_driver, ...
std::map<std::string, std::string> device_context(const CudaDeviceInfo& info);

}  // namespace sdpa::cudnn
