// The SDPA pattern of oneDNN's Graph API for one problem, as the library documents it:
//   MatMul(Q, Kᵀ) → Multiply(scale) → [mask] → SoftMax(inf_as_zero) → MatMul(·, V)
// with the mask
//   causal     GenIndex(rows), GenIndex(cols) → GreaterEqual(rows, cols) → Select(·, s, -inf)
//   causal_br  the same with rows + skv − sq (Add, Subtract), the bottom-right diagonal
//   kvlen      Add of an explicit additive mask (0 / −inf) of shape b,1,1,skv
// Scores are f32 whatever the storage type; the probabilities are rounded to the storage type
// for the second MatMul (oneDNN does not mix f32 and f16/bf16 operands in one MatMul).
#pragma once

#include <vector>

#include <oneapi/dnnl/dnnl_graph.hpp>

#include "core/problem.h"

namespace sdpa::onednn {

// What the caller binds to each input of the partition, in compile / execute order.
enum class GraphInput { query, key, value, scale, neg_inf, kv_len, q_len, mask };

struct SdpaGraph {
  dnnl::graph::graph graph{dnnl::engine::kind::cpu};
  std::vector<dnnl::graph::logical_tensor> inputs;
  std::vector<GraphInput> roles;  // one per input
  dnnl::graph::logical_tensor output;
};

SdpaGraph build_sdpa_graph(const Problem& problem);

}  // namespace sdpa::onednn
