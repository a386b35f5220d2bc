// `onednn`: SDPA as one oneDNN Graph API partition (see graph_pattern.h), compiled in
// prepare() and executed in run(). Whether the library fused the partition into one kernel or
// decomposed it into primitives is read from its log and reported in case_notes().
#pragma once

#include <optional>
#include <vector>

#include <oneapi/dnnl/dnnl_graph.hpp>

#include "backends/onednn/backend_base.h"
#include "backends/onednn/verbose_log.h"

namespace sdpa::onednn {

class GraphBackend : public OnednnBackendBase {
 public:
  explicit GraphBackend(const BackendOptions& options);
  ~GraphBackend() override;

  std::string name() const override { return "onednn"; }
  Support supports(const Problem& problem) const override;
  void prepare(const Problem& problem, const Inputs& inputs) override;
  void run() override;
  uint64_t scratch_bytes() const override;
  std::map<std::string, std::string> case_notes() const override;
  // Frees the compiled partition, the tensors bound to it and the pool's cached blocks.
  void release() override;

 private:
  dnnl::engine create_engine() const override;

  Problem problem_;
  std::optional<dnnl::graph::compiled_partition> compiled_;
  std::vector<dnnl::graph::tensor> inputs_;
  std::vector<dnnl::graph::tensor> outputs_;
  // Backing for the scalar and mask inputs (Q, K, V are bound in place, never copied).
  float scale_ = 1.0f;
  float neg_inf_ = 0.0f;
  int32_t kv_len_ = 0;
  int32_t q_len_ = 0;
  std::vector<float> mask_;
  std::size_t partitions_ = 0;
  KernelLog kernels_;
};

}  // namespace sdpa::onednn
