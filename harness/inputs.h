// Deterministic inputs: value i of a tensor is a pure function of (seed, tensor, i), so the
// data is the same whatever the thread count or the order of generation.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace sdpa {

enum class TensorId : uint64_t { q = 1, k = 2, v = 3 };

// An N(0,1) sample for element `index` of tensor `id` (Box-Muller on a counter-based hash).
float normal_sample(uint64_t seed, TensorId id, uint64_t index);

// Fills q, k, v with samples of the problem's distribution (N(0,1) by default) rounded
// (nearest-even) to its dtype; a value past the f16 range becomes inf (what an f16 store does).
Inputs generate_inputs(const Problem& problem);

// Rounds every value to `dtype` and fills the 16-bit storage (used by hand-made test inputs).
void round_to_dtype(Tensor& tensor);

}  // namespace sdpa
