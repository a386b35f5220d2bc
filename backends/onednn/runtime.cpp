#include "backends/onednn/runtime.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include <oneapi/dnnl/dnnl_version.h>

#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_TBB && defined(SDPA_ONEDNN_HAVE_TBB_CONTROL)
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#define SDPA_ONEDNN_TBB 1
#elif DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#endif

namespace sdpa::onednn {

namespace {

// SYCL finds CPU devices through the OpenCL ICD loader, which reads /etc/OpenCL/vendors unless
// told otherwise; the driver we installed lives in the dependency prefix, beside libdnnl. The
// variable is a list, so a user's own ICDs stay visible.
void point_icd_loader_at_prefix_driver() {
#if DNNL_CPU_RUNTIME == DNNL_RUNTIME_SYCL
  const std::string driver = std::string(SDPA_ONEDNN_LIBDIR) + "/libintelocl.so";
  if (!std::filesystem::exists(driver)) return;
  const char* current = std::getenv("OCL_ICD_FILENAMES");
  std::string list = current ? current : "";
  if (list.find(driver) != std::string::npos) return;
  list = list.empty() ? driver : list + ":" + driver;
  setenv("OCL_ICD_FILENAMES", list.c_str(), 1);
#endif
}

Support probe_cpu_engine() {
  point_icd_loader_at_prefix_driver();
  try {
    if (dnnl::engine::get_count(dnnl::engine::kind::cpu) == 0) {
#if DNNL_CPU_RUNTIME == DNNL_RUNTIME_SYCL
      return Support::no(
          "oneDNN is built for the SYCL CPU runtime and SYCL found no CPU device (it needs Unified "
          "Runtime's OpenCL adapter and Intel's OpenCL CPU driver from " SDPA_ONEDNN_LIBDIR
          "; run scripts/setup-deps)");
#else
      return Support::no("oneDNN reports no CPU engine");
#endif
    }
    dnnl::engine probe(dnnl::engine::kind::cpu, 0);
  } catch (const dnnl::error& e) {
    return Support::no(std::string("oneDNN could not create a CPU engine: ") + e.what());
  }
  return Support::yes();
}

}  // namespace

Support cpu_engine_status() {
  static const Support status = probe_cpu_engine();
  return status;
}

dnnl::engine make_cpu_engine() {
  if (Support s = cpu_engine_status(); !s) throw std::runtime_error(s.reason);
  try {
    return dnnl::engine(dnnl::engine::kind::cpu, 0);
  } catch (const dnnl::error& e) {
    rethrow(e, "dnnl::engine(cpu, 0)");
  }
}

namespace {

Support probe_dtype(DType dtype) {
  if (dtype == DType::f32) return Support::yes();
  if (Support s = cpu_engine_status(); !s) return s;
  const auto type = dtype == DType::f16 ? dnnl::memory::data_type::f16
                                        : dnnl::memory::data_type::bf16;
  try {
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    const dnnl::memory::desc in({16, 16}, type, dnnl::memory::format_tag::ab);
    const dnnl::memory::desc out({16, 16}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
    dnnl::matmul::primitive_desc pd(engine, in, in, out);
  } catch (const dnnl::error&) {
    return Support::no("oneDNN " + library_version() + " has no " + std::string(to_string(dtype)) +
                       " matmul on this CPU (effective ISA " + effective_isa() +
                       "): its CPU kernels for that type need " +
                       (dtype == DType::f16 ? "AVX512-FP16 or AVX-NE-CONVERT" : "AVX512-BF16 or AVX-NE-CONVERT"));
  }
  return Support::yes();
}

}  // namespace

Support dtype_support(DType dtype) {
  static const Support f16 = probe_dtype(DType::f16);
  static const Support bf16 = probe_dtype(DType::bf16);
  switch (dtype) {
    case DType::f16: return f16;
    case DType::bf16: return bf16;
    default: return Support::yes();
  }
}

struct ThreadLimit::Impl {
#ifdef SDPA_ONEDNN_TBB
  std::unique_ptr<tbb::global_control> control;
#elif DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
  int previous = 0;
#endif
};

ThreadLimit::ThreadLimit(int threads) : impl_(std::make_unique<Impl>()) {
  if (threads <= 0) return;
#ifdef SDPA_ONEDNN_TBB
  impl_->control = std::make_unique<tbb::global_control>(
      tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
#elif DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
  // The harness already sets OpenMP's thread count; nothing of ours to hold.
  (void)threads;
#else
  (void)threads;
#endif
}

ThreadLimit::~ThreadLimit() = default;

int threads_used() {
#ifdef SDPA_ONEDNN_TBB
  const auto cap = tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism);
  return static_cast<int>(std::min<std::size_t>(cap, static_cast<std::size_t>(
                                                         tbb::this_task_arena::max_concurrency())));
#elif DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
  return omp_get_max_threads();
#else
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
#endif
}

std::string library_version() {
  const dnnl_version_t* v = dnnl_version();
  std::string out = std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                    std::to_string(v->patch);
  if (v->hash && *v->hash) out += " (" + std::string(v->hash).substr(0, 8) + ")";
  return out;
}

std::string effective_isa() {
  using dnnl::cpu_isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case cpu_isa::sse41: return "sse41";
    case cpu_isa::avx: return "avx";
    case cpu_isa::avx2: return "avx2";
    case cpu_isa::avx2_vnni: return "avx2_vnni";
    case cpu_isa::avx2_vnni_2: return "avx2_vnni_2";
    case cpu_isa::avx512_core: return "avx512_core";
    case cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case cpu_isa::avx10_1_512: return "avx10_1_512 (avx512_core_fp16)";
    case cpu_isa::avx10_1_512_amx: return "avx10_1_512_amx";
    case cpu_isa::avx10_1_512_amx_fp16: return "avx10_1_512_amx_fp16";
    case cpu_isa::avx10_2_512: return "avx10_2_512";
    case cpu_isa::avx10_2_512_amx_2: return "avx10_2_512_amx_2";
    default: return "isa#" + std::to_string(static_cast<int>(dnnl::get_effective_cpu_isa()));
  }
}

std::string runtime_name() {
  std::string threading;
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_TBB
  threading = "TBB threads";
#elif DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
  threading = "OpenMP threads";
#elif DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_THREADPOOL
  threading = "threadpool";
#else
  threading = "sequential";
#endif
#if DNNL_CPU_RUNTIME == DNNL_RUNTIME_SYCL
  return "SYCL CPU device (Intel OpenCL CPU driver), " + threading;
#else
  return threading;
#endif
}

std::map<std::string, std::string> library_context() {
  std::map<std::string, std::string> ctx;
  ctx["version"] = library_version();
  ctx["package"] = SDPA_ONEDNN_PACKAGE;
  ctx["isa"] = effective_isa();
  ctx["cpu_runtime"] = runtime_name();
  ctx["threads"] = std::to_string(threads_used());
  ctx["library"] = SDPA_ONEDNN_LIBDIR;
  // TBB workers and the harness's OpenMP team are separate pools; the OpenMP team only runs
  // outside the timed region (input generation, the reference), so they never compete there.
  ctx["threading_note"] =
      "oneDNN's own thread pool; the harness's OpenMP threads are idle while it is timed";
  return ctx;
}

void rethrow(const dnnl::error& e, std::string_view call) {
  std::string message = "oneDNN " + std::string(call) + ": " + e.what() +
                        " (status " + std::to_string(static_cast<int>(e.status)) + ")";
  if (e.status == dnnl_unimplemented) throw Unsupported(message);
  throw std::runtime_error(message);
}

}  // namespace sdpa::onednn
