#include "backends/cudnn/cuda_device.h"

#include <cuda_runtime_api.h>
#include <unistd.h>

#include <cstdio>

#include "backends/cudnn/cuda_check.h"
#include "core/memory.h"

namespace sdpa::cudnn {

Support cuda_device_support(int index) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    // The failure stays the runtime's "last error"; clear it so no later check reports it.
    static_cast<void>(cudaGetLastError());
    // With no NVIDIA driver at all the runtime says "driver version is insufficient", which reads
    // like an old driver; say what is actually missing when the kernel module is not there.
    if (status == cudaErrorInsufficientDriver && access("/proc/driver/nvidia/version", F_OK) != 0) {
      return Support::no("no CUDA device (no NVIDIA GPU or driver found: /proc/driver/nvidia is absent)");
    }
    return Support::no(std::string("no CUDA device (") + cudaGetErrorName(status) + ": " +
                       cudaGetErrorString(status) + ")");
  }
  if (count == 0) return Support::no("no CUDA device (the driver reports 0 devices)");
  if (index >= count) {
    return Support::no("no CUDA device " + std::to_string(index) + " (the driver reports " + std::to_string(count) +
                       ")");
  }
  return Support::yes();
}

namespace {

int attribute(cudaDeviceAttr attr, int index, const char* what) {
  int value = 0;
  const cudaError_t status = cudaDeviceGetAttribute(&value, attr, index);
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("cudnn backend: cudaDeviceGetAttribute(") + what + ") failed: " +
                             cudaGetErrorString(status));
  }
  return value;
}

}  // namespace

CudaDeviceInfo query_cuda_device(int index) {
  CudaDeviceInfo info;
  info.index = index;
  cudaDeviceProp prop{};
  SDPA_CUDA(cudaGetDeviceProperties(&prop, index));
  info.name = prop.name;
  info.cc_major = prop.major;
  info.cc_minor = prop.minor;
  info.sm_count = prop.multiProcessorCount;
  info.mem_bytes = prop.totalGlobalMem;
  info.l2_bytes = prop.l2CacheSize;
  // CUDA 13 dropped the clock fields from cudaDeviceProp; the attributes remain (in kHz).
  info.sm_clock_mhz = attribute(cudaDevAttrClockRate, index, "cudaDevAttrClockRate") / 1000;
  info.mem_clock_mhz = attribute(cudaDevAttrMemoryClockRate, index, "cudaDevAttrMemoryClockRate") / 1000;
  info.mem_bus_bits = attribute(cudaDevAttrGlobalMemoryBusWidth, index, "cudaDevAttrGlobalMemoryBusWidth");
  SDPA_CUDA(cudaDriverGetVersion(&info.driver_version));
  SDPA_CUDA(cudaRuntimeGetVersion(&info.runtime_version));
  return info;
}

std::string cuda_version_string(int version) {
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

std::string cudnn_version_string(std::size_t version) {
  return std::to_string(version / 10000) + "." + std::to_string((version % 10000) / 100) + "." +
         std::to_string(version % 100);
}

std::string describe_device(const CudaDeviceInfo& info) {
  return info.name + ", sm_" + std::to_string(info.cc_major) + std::to_string(info.cc_minor) + ", " +
         std::to_string(info.sm_count) + " SMs @ " + std::to_string(info.sm_clock_mhz) + " MHz, " +
         format_bytes(static_cast<double>(info.mem_bytes));
}

std::map<std::string, std::string> device_context(const CudaDeviceInfo& info) {
  // Peak DRAM bandwidth from the reported clock and bus: 2 transfers per clock (DDR / HBM).
  const double peak_gbps = 2.0 * info.mem_clock_mhz * 1e6 * (info.mem_bus_bits / 8.0) / 1e9;
  char bandwidth[32];
  std::snprintf(bandwidth, sizeof bandwidth, "%.0f", peak_gbps);
  return {
      {"cuda_device_index", std::to_string(info.index)},
      {"cuda_device", info.name},
      {"cuda_compute_capability", std::to_string(info.cc_major) + "." + std::to_string(info.cc_minor)},
      {"cuda_sm_count", std::to_string(info.sm_count)},
      {"cuda_sm_clock_mhz", std::to_string(info.sm_clock_mhz)},
      {"cuda_mem_clock_mhz", std::to_string(info.mem_clock_mhz)},
      {"cuda_mem_bus_bits", std::to_string(info.mem_bus_bits)},
      {"cuda_mem_peak_gbps", bandwidth},
      {"cuda_mem_bytes", std::to_string(info.mem_bytes)},
      {"cuda_l2_bytes", std::to_string(info.l2_bytes)},
      {"cuda_driver", cuda_version_string(info.driver_version)},
      {"cuda_runtime", cuda_version_string(info.runtime_version)},
  };
}

}  // namespace sdpa::cudnn
