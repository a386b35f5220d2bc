// Host tensors in the B,H,S,D contiguous layout of the spec, and the three inputs of a problem.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/problem.h"

namespace sdpa {

struct Tensor {
  DType dtype = DType::f32;
  std::array<int64_t, 4> shape{};  // B, H, S, D
  // The values exactly as stored: already rounded to dtype, so f32 arithmetic on them sees
  // what a kernel reading the 16-bit storage sees.
  std::vector<float> values;
  // The 16-bit storage for f16 / bf16 (empty for f32): what GPU backends upload.
  std::vector<uint16_t> bits16;

  int64_t elems() const { return shape[0] * shape[1] * shape[2] * shape[3]; }
  const void* storage() const {
    return dtype == DType::f32 ? static_cast<const void*>(values.data())
                               : static_cast<const void*>(bits16.data());
  }
};

struct Inputs {
  Tensor q;  // b, hq,  sq,  d
  Tensor k;  // b, hkv, skv, d
  Tensor v;  // b, hkv, skv, dv
};

}  // namespace sdpa
