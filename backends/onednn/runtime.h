// The library's process-wide state and facts, for both oneDNN backends: bringing up its CPU
// engine (which, with the PyPI wheels, is a SYCL CPU device behind Intel's OpenCL driver), the
// storage types it runs on this CPU, the thread limit, the version / ISA / runtime strings for
// describe() and context(), and error messages.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <oneapi/dnnl/dnnl.hpp>

#include "backends/backend.h"

namespace sdpa::onednn {

// Whether the CPU engine can be created, and if not why (no SYCL CPU device, missing driver).
// The first call prepares the process environment the SYCL runtime reads (the OpenCL driver's
// path) and must come before any other oneDNN call; every entry point below calls it.
Support cpu_engine_status();

// A new engine on CPU device 0. Throws when cpu_engine_status() is no.
dnnl::engine make_cpu_engine();

// Whether oneDNN computes in this storage type on this CPU, asked of the library with a small
// matmul: its CPU f16 kernels (even the reference ones) need AVX512-FP16 or AVX-NE-CONVERT.
Support dtype_support(DType dtype);

// Caps oneDNN's worker threads for as long as it lives (0: leave the library's default). With
// TBB threading this is a tbb::global_control, which is process-wide: the cap applies to every
// oneDNN object while any backend holding one is alive.
class ThreadLimit {
 public:
  explicit ThreadLimit(int threads);
  ~ThreadLimit();
  ThreadLimit(const ThreadLimit&) = delete;
  ThreadLimit& operator=(const ThreadLimit&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The number of threads oneDNN's CPU kernels run on now.
int threads_used();

// "3.11.4 (c852e73e)"
std::string library_version();
// "avx512_core_bf16": the ISA oneDNN dispatches to on this CPU.
std::string effective_isa();
// "SYCL CPU device (OpenCL driver), TBB threads" or "OpenMP" for a native build.
std::string runtime_name();
// The keys both backends add to the results context.
std::map<std::string, std::string> library_context();

// Turns a dnnl::error into a message that names the call and the library status. An
// unimplemented status is thrown as Unsupported, which the harness reports as a skip.
[[noreturn]] void rethrow(const dnnl::error& e, std::string_view call);

}  // namespace sdpa::onednn
