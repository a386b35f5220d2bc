// `onednn`: SDPA as one oneDNN Graph API partition (see graph_pattern.h), compiled in
// prepare() and executed in run(). Whether the library fused the partition into one kernel or
// decomposed it into primitives is read from its log and reported in case_notes().
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include <oneapi/dnnl/dnnl_graph.hpp>

#include "backends/backend.h"
#include "backends/onednn/layout.h"
#include "backends/onednn/runtime.h"
#include "backends/onednn/verbose_log.h"

namespace sdpa::onednn {

class GraphBackend : public Backend {
 public:
  explicit GraphBackend(const BackendOptions& options);
  ~GraphBackend() override;

  std::string name() const override { return "onednn"; }
  std::string describe() const override;
  std::map<std::string, std::string> context() const override;
  Support available() const override;
  Support supports(const Problem& problem) const override;
  void prepare(const Problem& problem, const Inputs& inputs) override;
  void run() override;
  void sync() override;
  std::vector<double> output() override;
  uint64_t scratch_bytes() const override;
  std::map<std::string, std::string> case_notes() const override;
  std::vector<Calibration> calibrate() override;
  void release() override;

 private:

  ThreadLimit thread_limit_;
  Problem problem_;
  std::optional<dnnl::engine> engine_;
  std::optional<dnnl::stream> stream_;
  std::optional<dnnl::graph::compiled_partition> compiled_;
  std::vector<dnnl::graph::tensor> inputs_;
  std::vector<dnnl::graph::tensor> outputs_;
  // Backing for the scalar and mask inputs (Q, K, V are bound in place, never copied).
  float scale_ = 1.0f;
  float neg_inf_ = 0.0f;
  int32_t kv_len_ = 0;
  int32_t q_len_ = 0;
  std::vector<float> mask_;
  OutputBuffer out_;
  std::size_t partitions_ = 0;
  KernelLog kernels_;
};

}  // namespace sdpa::onednn
