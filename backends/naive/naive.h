// The textbook attention a first-time author writes: S = Q·Kᵀ·scale materialised for every
// head in fp32, mask, row softmax with max subtraction, O = P·V. Inputs in f16 / bf16 are
// widened to fp32; the output is rounded to the storage dtype. Its O(b·h·sq·skv) scores are
// the scratch the blocked backends exist to avoid.
#pragma once

#include <vector>

#include "backends/backend.h"

namespace sdpa {

class NaiveBackend : public Backend {
 public:
  std::string name() const override { return "naive"; }
  std::string describe() const override;
  Support supports(const Problem& problem) const override;
  void prepare(const Problem& problem, const Inputs& inputs) override;
  void run() override;
  std::vector<double> output() override;
  uint64_t scratch_bytes() const override;
  void release() override;

 private:
  Problem problem_;
  const Inputs* inputs_ = nullptr;
  std::vector<float> scores_;  // b, hq, sq, skv
  uint64_t scratch_bytes_ = 0;  // kept after release()
  std::vector<float> out_;
};

}  // namespace sdpa
