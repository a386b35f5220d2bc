#include "backends/cudnn/cudnn_backend.h"

#include <library_types.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "backends/cudnn/cuda_check.h"
#include "backends/cudnn/gemm_calibration.h"
#include "backends/cudnn/register.h"
#include "backends/cudnn/support_contract.h"
#include "core/half.h"
#include "core/memory.h"

namespace sdpa::cudnn {

namespace {

// The calibration GEMM: as large as the biggest attention cases, so it runs at the clocks and
// power the GPU sustains under load rather than a short burst.
constexpr int kGemmN = 8192;
constexpr int kGemmReps = 10;

// SDPA_CUDNN_LAUNCH_GATE=0 times with plain events (launch cost inside), e.g. to compare.
constexpr const char* kGateEnv = "SDPA_CUDNN_LAUNCH_GATE";

// What the two timings of a case mean; in describe() and the results context.
constexpr const char* kTimingNote =
    "real_time = CUDA events around the attention on a stream held (cuStreamWaitValue32 on a host-released word) "
    "until the whole case is queued, so host launch cost is outside it; cpu_time = the harness's wall clock over "
    "run()+sync(), launch included";

std::string cublas_version() {
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) != CUBLAS_STATUS_SUCCESS ||
      cublasGetProperty(MINOR_VERSION, &minor) != CUBLAS_STATUS_SUCCESS ||
      cublasGetProperty(PATCH_LEVEL, &patch) != CUBLAS_STATUS_SUCCESS) {
    return "unknown";
  }
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::string library_versions() {
  return "cuDNN " + cudnn_version_string(cudnnGetVersion()) + " (frontend " + cudnn_frontend_version() + ")";
}

}  // namespace

CudnnBackend::~CudnnBackend() {
  // Nothing may still be queued behind the gate when its host word is freed.
  if (stream_) static_cast<void>(cudaStreamSynchronize(stream_));
  gate_.reset();
  // Plans hold cuDNN descriptors: release them before the handle they were built with.
  plans_.clear();
  // Teardown errors (e.g. at process exit, after the runtime unloaded) have no one to report to.
  if (cublas_) static_cast<void>(cublasDestroy(cublas_));
  if (handle_) static_cast<void>(cudnnDestroy(handle_));
  if (start_) static_cast<void>(cudaEventDestroy(start_));
  if (stop_) static_cast<void>(cudaEventDestroy(stop_));
  if (stream_) static_cast<void>(cudaStreamDestroy(stream_));
}

Support CudnnBackend::available() const {
  if (!availability_) availability_ = cuda_device_support(device_);
  return *availability_;
}

const CudaDeviceInfo& CudnnBackend::device_info() const {
  if (!info_) info_ = query_cuda_device(device_);
  return *info_;
}

std::string CudnnBackend::describe() const {
  const Support avail = available();
  if (!avail) return library_versions() + " fused SDPA; " + avail.reason;
  const CudaDeviceInfo& info = device_info();
  return library_versions() + " fused SDPA, f32 accumulation, on " + describe_device(info) + "; driver CUDA " +
         cuda_version_string(info.driver_version) + ", runtime " + cuda_version_string(info.runtime_version) + "; " +
         kTimingNote;
}

std::map<std::string, std::string> CudnnBackend::context() const {
  std::map<std::string, std::string> ctx;
  if (Support avail = available(); avail) {
    ctx = device_context(device_info());
  } else {
    ctx["cuda_device"] = "unavailable: " + avail.reason;
  }
  // The harness prefixes each key with "cudnn_": cudnn_library_version, cudnn_frontend_version...
  ctx["library_version"] = cudnn_version_string(cudnnGetVersion());  // the cuDNN loaded at run time
  ctx["compiled_version"] = cudnn_version_string(CUDNN_VERSION);    // the cudnn.h built against
  ctx["frontend_version"] = cudnn_frontend_version();
  ctx["cublas_version"] = cublas_version();
  ctx["timing"] = kTimingNote;
  return ctx;
}

Support CudnnBackend::supports(const Problem& p) const {
  // What cuDNN's fused SDPA cannot do on any device, decided without touching one.
  if (p.dtype == DType::f32) return Support::no("f32: cuDNN's fused SDPA has no f32 path (f16 and bf16 only)");
  if (p.d % 8 != 0 || p.dv % 8 != 0) {
    return Support::no("d=" + std::to_string(p.d) + ", dv=" + std::to_string(p.dv) +
                       ": cuDNN SDPA needs head dims that are multiples of 8 (16-byte rows)");
  }
  if (p.d > 256 || p.dv > 256) {
    return Support::no("d=" + std::to_string(p.d) + ", dv=" + std::to_string(p.dv) +
                       ": cuDNN's f16/bf16 SDPA supports head dims up to 256");
  }
  if (has_zero_kv_length(p) && cudnnGetVersion() < kCudnnZeroLengthFixed) {
    return Support::no("kvlen 0 (a batch item with no keys) needs cuDNN >= 9.25: cuDNN " +
                       cudnn_version_string(cudnnGetVersion()) + " returns NaN for its rows instead of 0");
  }
  // What a previous build on this device found cuDNN declines.
  if (auto it = declined_.find(graph_key(p)); it != declined_.end()) return Support::no(it->second);

  if (Support avail = available(); !avail) return avail;
  std::size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
    // Buffers this backend still holds are freed before the case allocates its own.
    const double usable = static_cast<double>(free_bytes + q_.bytes() + k_.bytes() + v_.bytes() + o_.bytes() +
                                              workspace_.bytes() + flush_.bytes());
    if (std::string refusal = memory_refusal(p.io_bytes(), usable, "Q, K, V and O", "device"); !refusal.empty()) {
      return Support::no(refusal + " (" + device_info().name + ")");
    }
  } else {
    static_cast<void>(cudaGetLastError());
  }
  // Ask cuDNN itself (ask first, like ggml's supports_op): the graph is built here, once per
  // shape and cached for prepare(), so a shape cuDNN declines is a declared skip, never a
  // refusal after supports() said yes.
  try {
    ensure_started();
    plan_for(p);
  } catch (const Unsupported& e) {
    return Support::no(e.what());
  } catch (const std::exception&) {
    // A failed build, or a refusal of a shape cuDNN must run (see support_contract.h), is no
    // reason to skip: prepare() meets it again and reports it as the error it is.
  }
  return Support::yes();
}

void CudnnBackend::ensure_started() const {
  if (Support avail = available(); !avail) throw std::runtime_error("cudnn backend: " + avail.reason);
  SDPA_CUDA(cudaSetDevice(device_));
  // A stream of our own that does not wait for the legacy default stream: the events around
  // the execute then time the attention and nothing else.
  if (!stream_) SDPA_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  if (!start_) SDPA_CUDA(cudaEventCreate(&start_));
  if (!stop_) SDPA_CUDA(cudaEventCreate(&stop_));
  if (!handle_) {
    SDPA_CUDNN(cudnnCreate(&handle_));
    SDPA_CUDNN(cudnnSetStream(handle_, stream_));
  }
  if (!gate_) {
    const char* gate = std::getenv(kGateEnv);
    gate_ = std::make_unique<LaunchGate>(gate == nullptr || std::string(gate) != "0");
  }
}

const SdpaPlan& CudnnBackend::plan_for(const Problem& p) const {
  const std::string key = graph_key(p);
  if (auto it = plans_.find(key); it != plans_.end()) return *it->second;
  if (auto it = declined_.find(key); it != declined_.end()) throw UnsupportedProblem(it->second);
  try {
    auto plan = SdpaPlan::build(p, handle_);
    return *plans_.emplace(key, std::move(plan)).first->second;
  } catch (const UnsupportedProblem& e) {
    const CudaDeviceInfo& info = device_info();
    if (cudnn_must_support(p, info.cc_major, cudnnGetVersion())) {
      // Not remembered as declined: a skip would read green in every later run.
      throw std::runtime_error("cudnn backend: cuDNN refused a problem it supports on sm_80+ (f16/bf16, d=dv=64 "
                               "or 128, any mask), here sm_" + std::to_string(info.cc_major) +
                               std::to_string(info.cc_minor) + ": " + e.what());
    }
    declined_[key] = e.what();
    throw;
  }
}

void CudnnBackend::prepare(const Problem& p, const Inputs& inputs) {
  if (Support s = supports(p); !s) throw UnsupportedProblem(s.reason);
  ensure_started();
  plan_ = nullptr;
  ran_ = false;
  layout_ = {};
  bindings_.clear();
  const SdpaPlan& plan = plan_for(p);

  const std::size_t elem = storage_bytes(p.dtype);
  auto upload = [&](DeviceBuffer& buffer, const Tensor& tensor, const char* name) {
    if (tensor.bits16.size() != static_cast<std::size_t>(tensor.elems())) {
      throw std::runtime_error(std::string("cudnn backend: input ") + name + " has " +
                               std::to_string(tensor.bits16.size()) + " 16-bit values, expected " +
                               std::to_string(tensor.elems()));
    }
    buffer = DeviceBuffer();  // free the previous case's buffer before allocating this one
    buffer = DeviceBuffer(tensor.bits16.size() * elem);
    SDPA_CUDA(cudaMemcpyAsync(buffer.get(), tensor.bits16.data(), buffer.bytes(), cudaMemcpyHostToDevice, stream_));
  };
  upload(q_, inputs.q, "Q");
  upload(k_, inputs.k, "K");
  upload(v_, inputs.v, "V");
  o_ = DeviceBuffer();
  o_ = DeviceBuffer(static_cast<std::size_t>(p.o_elems()) * elem);
  // 0xFFFF is NaN in both f16 and bf16: a row the kernel never writes fails the check
  // instead of passing on stale memory.
  SDPA_CUDA(cudaMemsetAsync(o_.get(), 0xFF, o_.bytes(), stream_));

  const SdpaLayout layout = sdpa_layout(p);
  seq_len_q_ = DeviceBuffer();
  seq_len_kv_ = DeviceBuffer();
  std::vector<int32_t> lengths_q, lengths_kv;  // must outlive the async copies: synced below
  if (layout.padding) {
    lengths_q.assign(static_cast<std::size_t>(p.b), static_cast<int32_t>(p.sq));
    for (int64_t bi = 0; bi < p.b; ++bi) lengths_kv.push_back(static_cast<int32_t>(p.visible_keys(bi, 0)));
    seq_len_q_ = DeviceBuffer(lengths_q.size() * sizeof(int32_t));
    seq_len_kv_ = DeviceBuffer(lengths_kv.size() * sizeof(int32_t));
    SDPA_CUDA(cudaMemcpyAsync(seq_len_q_.get(), lengths_q.data(), seq_len_q_.bytes(), cudaMemcpyHostToDevice, stream_));
    SDPA_CUDA(
        cudaMemcpyAsync(seq_len_kv_.get(), lengths_kv.data(), seq_len_kv_.bytes(), cudaMemcpyHostToDevice, stream_));
  }
  // Allocated here, once per case, and reused by every run(): it is this case's scratch.
  workspace_ = DeviceBuffer();
  workspace_ = DeviceBuffer(static_cast<std::size_t>(plan.workspace_bytes()));
  SDPA_CUDA(cudaStreamSynchronize(stream_));

  problem_ = p;
  layout_ = layout;
  bindings_ = plan.bind(p, {q_.get(), k_.get(), v_.get(), o_.get(), seq_len_q_.get(), seq_len_kv_.get()});
  // One ungated execute before any gated one: the first launch of a kernel loads its module
  // (CUDA's lazy loading), which may wait for the device, and a device held by the gate would
  // then wait for the host forever. The output is overwritten by every run().
  plan.execute(handle_, bindings_, workspace_.get());
  SDPA_CUDA(cudaStreamSynchronize(stream_));
  plan_ = &plan;
}

void CudnnBackend::run() {
  if (!plan_) throw std::logic_error("cudnn backend: run() before a successful prepare()");
  ran_ = false;  // until both events are enqueued
  // Released when this scope ends, after the stop event is queued (or on an exception).
  const LaunchGate::Hold hold(*gate_, stream_);
  gated_ = hold.held();
  SDPA_CUDA(cudaEventRecord(start_, stream_));
  if (layout_.dead_rows > 0) {
    // The fully masked leading rows of each (batch, head): part of the answer, so timed.
    const std::size_t row_bytes = static_cast<std::size_t>(problem_.dv) * storage_bytes(problem_.dtype);
    SDPA_CUDA(cudaMemset2DAsync(o_.get(), static_cast<std::size_t>(problem_.sq) * row_bytes, 0,
                                static_cast<std::size_t>(layout_.dead_rows) * row_bytes,
                                static_cast<std::size_t>(problem_.b * problem_.hq), stream_));
  }
  plan_->execute(handle_, bindings_, workspace_.get());
  SDPA_CUDA(cudaEventRecord(stop_, stream_));
  ran_ = true;
}

void CudnnBackend::sync() {
  if (stream_) SDPA_CUDA(cudaStreamSynchronize(stream_));
}

std::optional<double> CudnnBackend::last_device_ms() const {
  if (!ran_) return std::nullopt;
  SDPA_CUDA(cudaEventSynchronize(stop_));
  float ms = 0;
  SDPA_CUDA(cudaEventElapsedTime(&ms, start_, stop_));
  return static_cast<double>(ms);
}

std::vector<double> CudnnBackend::output() {
  if (!ran_) throw std::logic_error("cudnn backend: output() before run()");
  std::vector<uint16_t> bits(static_cast<std::size_t>(problem_.o_elems()));
  SDPA_CUDA(cudaMemcpyAsync(bits.data(), o_.get(), o_.bytes(), cudaMemcpyDeviceToHost, stream_));
  SDPA_CUDA(cudaStreamSynchronize(stream_));
  return widen_16bit(bits, problem_.dtype == DType::bf16);
}

void CudnnBackend::release() {
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  q_ = DeviceBuffer();
  k_ = DeviceBuffer();
  v_ = DeviceBuffer();
  o_ = DeviceBuffer();
  seq_len_q_ = DeviceBuffer();
  seq_len_kv_ = DeviceBuffer();
  workspace_ = DeviceBuffer();
  flush_ = DeviceBuffer();
  bindings_.clear();
  plan_ = nullptr;
  ran_ = false;
}

void CudnnBackend::flush_device_caches() {
  if (!available()) return;
  ensure_started();
  // Writes go through L2 (the point of coherence on NVIDIA GPUs), so writing twice its size
  // leaves none of the case's Q, K, V in it. A new byte each time: no write can be skipped.
  const auto bytes = 2 * static_cast<std::size_t>(std::max(device_info().l2_bytes, 1 << 20));
  if (flush_.bytes() != bytes) flush_ = DeviceBuffer(bytes);
  SDPA_CUDA(cudaMemsetAsync(flush_.get(), ++flush_salt_, flush_.bytes(), stream_));
  SDPA_CUDA(cudaStreamSynchronize(stream_));
}

uint64_t CudnnBackend::scratch_bytes() const {
  return workspace_.bytes() + seq_len_q_.bytes() + seq_len_kv_.bytes();
}

std::map<std::string, std::string> CudnnBackend::case_notes() const {
  std::map<std::string, std::string> notes{{"fused", "1"}};
  if (plan_) {
    notes["engine"] = plan_->engine();
    notes["implementation"] = to_string(plan_->implementation());
    if (!plan_->refusals().empty()) notes["refused_first"] = plan_->refusals();
  }
  if (gate_) notes["device_timing"] = gated_ ? "gated" : "ungated: " + gate_->why_not();
  if (layout_.dead_rows > 0) notes["dead_rows_zeroed"] = std::to_string(layout_.dead_rows);
  return notes;
}

std::vector<Calibration> CudnnBackend::calibrate() {
  if (!available()) return {};
  ensure_started();
  if (!cublas_) SDPA_CUBLAS(cublasCreate(&cublas_));
  const GemmTiming t = time_half_gemm(cublas_, stream_, kGemmN, kGemmReps);
  return {Calibration{device_class(),
                     "cuBLAS HGEMM " + std::to_string(kGemmN) + "^3 (cublasGemmEx f16, f32 accumulate), best of " +
                         std::to_string(kGemmReps),
                     t.tflops, DType::f16, /*from_library=*/true}};
}

}  // namespace sdpa::cudnn

namespace sdpa {

void register_cudnn(Registry& registry) {
  registry.add("cudnn", [](const BackendOptions&) { return std::make_unique<cudnn::CudnnBackend>(); });
}

}  // namespace sdpa
