#include "backends/onednn/backend_base.h"

#include <utility>

#include "backends/onednn/calibration.h"
#include "core/memory.h"

namespace sdpa::onednn {

OnednnBackendBase::OnednnBackendBase(const BackendOptions& options, std::string code_path,
                                     std::string path_detail)
    : thread_limit_(options.threads),
      code_path_(std::move(code_path)),
      path_detail_(std::move(path_detail)) {}

// Nothing may still run on buffers the derived class has already freed; it waits in its own
// release() too, this is the last line of defence before the stream goes.
OnednnBackendBase::~OnednnBackendBase() { wait_idle(); }

std::string OnednnBackendBase::describe() const {
  return "oneDNN " + library_version() + " " + code_path_ + " (" + SDPA_ONEDNN_PACKAGE + "), " +
         runtime_name() + ", " + std::to_string(threads_used()) + " threads, ISA " +
         effective_isa();
}

std::map<std::string, std::string> OnednnBackendBase::context() const {
  auto ctx = library_context();
  ctx["path"] = path_detail_;
  return ctx;
}

void OnednnBackendBase::sync() { wait_idle(); }

std::vector<Calibration> OnednnBackendBase::calibrate() { return matmul_peaks(); }

const dnnl::engine& OnednnBackendBase::engine() {
  if (!engine_) {
    engine_ = create_engine();
    stream_.emplace(*engine_);
  }
  return *engine_;
}

dnnl::stream& OnednnBackendBase::stream() {
  engine();
  return *stream_;
}

void OnednnBackendBase::wait_idle() {
  if (stream_) stream_->wait();
}

Support OnednnBackendBase::admit(const Problem& problem, double need_bytes,
                                 const std::string& what) {
  if (Support s = dtype_support(problem.dtype); !s) return s;
  if (std::string refusal = host_memory_refusal(need_bytes, what); !refusal.empty()) {
    return Support::no(std::move(refusal));
  }
  return Support::yes();
}

}  // namespace sdpa::onednn
