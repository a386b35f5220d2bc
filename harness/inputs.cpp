#include "harness/inputs.h"

#include <cmath>

#include "core/half.h"

namespace sdpa {

namespace {

// SplitMix64's finaliser: a bijective mix with full avalanche, cheap enough to call per element.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

Tensor make_tensor(DType dtype, int64_t b, int64_t h, int64_t s, int64_t d) {
  Tensor t;
  t.dtype = dtype;
  t.shape = {b, h, s, d};
  t.values.resize(static_cast<std::size_t>(t.elems()));
  return t;
}

// Value i of tensor `id` under the problem's distribution (see InputDist); channel = i mod D.
float sample(const InputDist& dist, uint64_t seed, TensorId id, uint64_t i, int64_t channels_per_row) {
  using Kind = InputDist::Kind;
  const bool qk = id != TensorId::v;
  switch (dist.kind) {
    case Kind::normal: return static_cast<float>(dist.sigma * normal_sample(seed, id, i));
    case Kind::uniform: {
      // 53 bits of the same counter hash, mapped to U(-sqrt 3, sqrt 3): unit variance like N(0,1).
      const uint64_t r = mix64(mix64(seed ^ (static_cast<uint64_t>(id) << 56)) ^ i);
      const double u = static_cast<double>(r >> 11) * 0x1.0p-53;
      return static_cast<float>((2 * u - 1) * 1.7320508075688772);
    }
    case Kind::outliers: {
      const float x = normal_sample(seed, id, i);
      const auto channel = static_cast<int64_t>(i % static_cast<uint64_t>(channels_per_row));
      return qk && channel < dist.channels ? static_cast<float>(dist.magnitude * x) : x;
    }
    case Kind::shift: return static_cast<float>(normal_sample(seed, id, i) + (qk ? dist.mu : 0.0));
  }
  return 0;
}

void fill(Tensor& t, const Problem& p, TensorId id) {
  const int64_t n = t.elems();
  const int64_t row = t.shape[3];
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    t.values[static_cast<std::size_t>(i)] = sample(p.dist, p.seed, id, static_cast<uint64_t>(i), row);
  }
  round_to_dtype(t);
}

}  // namespace

float normal_sample(uint64_t seed, TensorId id, uint64_t index) {
  uint64_t r = mix64(mix64(seed ^ (static_cast<uint64_t>(id) << 56)) ^ index);
  // Two 26-bit uniforms in (0, 1) for Box-Muller; the +0.5 keeps log() away from 0.
  double u1 = (static_cast<double>(r >> 38) + 0.5) / static_cast<double>(1ull << 26);
  double u2 = (static_cast<double>((r >> 12) & ((1ull << 26) - 1)) + 0.5) / static_cast<double>(1ull << 26);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

void round_to_dtype(Tensor& t) {
  if (t.dtype == DType::f32) {
    t.bits16.clear();
    return;
  }
  t.bits16.resize(t.values.size());
  const bool half = t.dtype == DType::f16;
  const int64_t n = static_cast<int64_t>(t.values.size());
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    auto idx = static_cast<std::size_t>(i);
    uint16_t bits = half ? f32_to_f16_bits(t.values[idx]) : f32_to_bf16_bits(t.values[idx]);
    t.bits16[idx] = bits;
    t.values[idx] = half ? f16_bits_to_f32(bits) : bf16_bits_to_f32(bits);
  }
}

Inputs generate_inputs(const Problem& p) {
  Inputs in;
  in.q = make_tensor(p.dtype, p.b, p.hq, p.sq, p.d);
  in.k = make_tensor(p.dtype, p.b, p.hkv, p.skv, p.d);
  in.v = make_tensor(p.dtype, p.b, p.hkv, p.skv, p.dv);
  fill(in.q, p, TensorId::q);
  fill(in.k, p, TensorId::k);
  fill(in.v, p, TensorId::v);
  return in;
}

}  // namespace sdpa
