// How a problem's B,H,S,D tensors look to oneDNN. Without GQA they are 4-D. With GQA the query
// heads are split into (kv head, group): query head h = kv·group + g, so Q reshapes to
// b,hkv,group,sq,d with no copy, and K / V become b,hkv,1,skv,d: oneDNN's matmul broadcasts the
// size-1 dimension over the group, which is how its Graph API expresses GQA.
#pragma once

#include <cstdint>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "core/half.h"
#include "core/problem.h"

namespace sdpa::onednn {

using Dims = std::vector<int64_t>;

struct SdpaDims {
  Dims q, k, v, o, scores;
  Dims kvlen_mask;   // per batch item, broadcast over heads and query rows
  Dims causal_mask;  // one sq x skv plane, broadcast over batch and heads
};

inline SdpaDims sdpa_dims(const Problem& p) {
  if (p.hq == p.hkv) {
    return {{p.b, p.hq, p.sq, p.d},   {p.b, p.hkv, p.skv, p.d},  {p.b, p.hkv, p.skv, p.dv},
            {p.b, p.hq, p.sq, p.dv},  {p.b, p.hq, p.sq, p.skv},  {p.b, 1, 1, p.skv},
            {1, 1, p.sq, p.skv}};
  }
  const int64_t g = p.group();
  return {{p.b, p.hkv, g, p.sq, p.d},    {p.b, p.hkv, 1, p.skv, p.d},
          {p.b, p.hkv, 1, p.skv, p.dv},  {p.b, p.hkv, g, p.sq, p.dv},
          {p.b, p.hkv, g, p.sq, p.skv},  {p.b, 1, 1, 1, p.skv},
          {1, 1, 1, p.sq, p.skv}};
}

// The same tensors with each GQA group folded into the query rows: the heads of a group are
// adjacent (h = kv·group + g), so Q is b,hkv,group·sq,d without a copy and every matmul is
// plain 4-D with no broadcast. Query row r of a folded head is position r % sq. The primitives
// use this (a broadcast weight with a mask post-op sends matmul to its reference kernel); the
// Graph API cannot, as its GenIndex would number the folded rows.
//
// With a causal mask, batch and kv heads are merged too (3-D: b·hkv, group·sq, ·), so the mask
// plane is broadcast over one dimension, not two: oneDNN 3.11.4's AMX bf16 matmul
// (brg_matmul:avx10_1_512_amx) applies a binary post-op broadcast over both batch dimensions
// wrongly when b > 1 and hkv > 1 (b=2,h=2,sq=skv=64 causal: errors of 3.0 on outputs of ~1).
inline SdpaDims folded_gqa_dims(const Problem& p) {
  const int64_t rows = p.group() * p.sq;
  if (p.mask == MaskKind::causal || p.mask == MaskKind::causal_br) {
    const int64_t heads = p.b * p.hkv;
    return {{heads, rows, p.d},   {heads, p.skv, p.d},  {heads, p.skv, p.dv},
            {heads, rows, p.dv},  {heads, rows, p.skv}, {},
            {1, rows, p.skv}};
  }
  return {{p.b, p.hkv, rows, p.d},   {p.b, p.hkv, p.skv, p.d},  {p.b, p.hkv, p.skv, p.dv},
          {p.b, p.hkv, rows, p.dv},  {p.b, p.hkv, rows, p.skv}, {p.b, 1, 1, p.skv},
          {1, 1, rows, p.skv}};
}

// Row-major strides of a dense tensor.
inline Dims dense_strides(const Dims& dims) {
  Dims strides(dims.size(), 1);
  for (std::size_t i = dims.size() - 1; i > 0; --i) strides[i - 1] = strides[i] * dims[i];
  return strides;
}

inline int64_t elements(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

inline dnnl::memory::data_type memory_type(DType dtype) {
  switch (dtype) {
    case DType::f16: return dnnl::memory::data_type::f16;
    case DType::bf16: return dnnl::memory::data_type::bf16;
    default: return dnnl::memory::data_type::f32;
  }
}

// Gives a vector's storage back. `v = {}` does not: it picks operator=(initializer_list), which
// keeps the capacity.
template <class T>
void free_storage(std::vector<T>& v) {
  std::vector<T>().swap(v);
}

// Host storage for one output tensor, in the problem's dtype.
struct OutputBuffer {
  DType dtype = DType::f32;
  std::vector<float> f32;
  std::vector<uint16_t> bits16;

  void resize(DType type, int64_t elems) {
    dtype = type;
    f32.assign(type == DType::f32 ? static_cast<std::size_t>(elems) : 0, 0.0f);
    bits16.assign(type == DType::f32 ? 0 : static_cast<std::size_t>(elems), 0);
  }
  void* data() {
    return dtype == DType::f32 ? static_cast<void*>(f32.data()) : static_cast<void*>(bits16.data());
  }
  // The fp64 form output() returns; 16-bit storage goes through the project's one conversion.
  std::vector<double> widened() const {
    if (dtype == DType::f32) return {f32.begin(), f32.end()};
    return widen_16bit(bits16, dtype == DType::bf16);
  }
};

}  // namespace sdpa::onednn
