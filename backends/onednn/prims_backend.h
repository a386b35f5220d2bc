// `onednn_prims`: SDPA the way most integrations call oneDNN, three primitives:
//   matmul(Q, Kᵀ) with the scale as an attribute and the mask as a binary-add post-op
//   → softmax (accurate) → matmul(P, V)
// The f32 score matrix (and the probabilities, for f16/bf16) is materialised: that n×n
// intermediate, the mask and the primitives' scratchpad are its scratch, sized from the
// library's memory descriptors.
#pragma once

#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "backends/onednn/backend_base.h"
#include "backends/onednn/verbose_log.h"

namespace sdpa::onednn {

class PrimsBackend : public OnednnBackendBase {
 public:
  explicit PrimsBackend(const BackendOptions& options);
  ~PrimsBackend() override;

  std::string name() const override { return "onednn_prims"; }
  Support supports(const Problem& problem) const override;
  void prepare(const Problem& problem, const Inputs& inputs) override;
  void run() override;
  uint64_t scratch_bytes() const override { return scratch_bytes_; }
  std::map<std::string, std::string> case_notes() const override;
  // Frees the primitives, the scores / probabilities / mask and the scratchpad.
  void release() override;

 private:
  struct Step {
    dnnl::primitive primitive;
    std::unordered_map<int, dnnl::memory> args;
  };
  void create_primitives(const Problem& p, const Inputs& in);

  Problem problem_;
  std::vector<Step> steps_;
  // Host storage behind the memory objects.
  std::vector<float> scores_;
  std::vector<uint16_t> probs16_;  // f16/bf16 probabilities; f32 runs softmax in place
  std::vector<float> mask_;
  std::vector<uint8_t> scratchpad_;
  float scale_ = 1.0f;
  // Rows (b, h, i) that see no key: their softmax is NaN, so run() writes their 0 afterwards.
  std::vector<int64_t> masked_rows_;
  uint64_t scratch_bytes_ = 0;
  KernelLog kernels_;
};

}  // namespace sdpa::onednn
