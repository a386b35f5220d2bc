// What `onednn` and `onednn_prims` share, written once: the thread limit, the CPU engine and
// its stream, describe() / context(), the memory admission of a case, the output buffer and the
// calibration peaks. Each backend adds how it builds, runs and frees its case.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "backends/backend.h"
#include "backends/onednn/layout.h"
#include "backends/onednn/runtime.h"

namespace sdpa::onednn {

class OnednnBackendBase : public Backend {
 public:
  ~OnednnBackendBase() override;

  std::string describe() const final;
  std::map<std::string, std::string> context() const final;
  Support available() const final { return cpu_engine_status(); }
  void sync() final;
  std::vector<double> output() final { return out_.widened(); }
  // The same GEMMs for both backends, measured at every call (calibration.h).
  std::vector<Calibration> calibrate() final;

 protected:
  // `code_path` names the path in describe() ("Graph API SDPA partition"); `path_detail` is the
  // results context's "path", the ops in order and the precision of the scores.
  OnednnBackendBase(const BackendOptions& options, std::string code_path, std::string path_detail);

  // Created on first use, not in the constructor: a backend is built even where no CPU engine
  // exists, and then only says so through available().
  const dnnl::engine& engine();
  dnnl::stream& stream();
  // Blocks until the stream has finished what run() queued; a no-op before the first case.
  void wait_idle();

  // The storage type's support on this CPU, then the one admission rule (core/memory.h) for the
  // `need_bytes` a case allocates: `what` names them ("the materialised scores").
  static Support admit(const Problem& problem, double need_bytes, const std::string& what);

  OutputBuffer out_;

 private:
  // The engine a backend runs on; `onednn` routes the Graph API's allocations through its pool.
  virtual dnnl::engine create_engine() const { return make_cpu_engine(); }

  ThreadLimit thread_limit_;
  std::string code_path_;
  std::string path_detail_;
  std::optional<dnnl::engine> engine_;
  std::optional<dnnl::stream> stream_;
};

}  // namespace sdpa::onednn
