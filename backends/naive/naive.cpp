#include "backends/naive/naive.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/naive/register.h"
#include "core/half.h"
#include "core/memory.h"

namespace sdpa {

std::string NaiveBackend::describe() const {
  return "textbook fp32 attention, materialised scores, OpenMP over rows";
}

Support NaiveBackend::supports(const Problem& p) const {
  const double score_bytes = static_cast<double>(p.b * p.hq) * static_cast<double>(p.sq) *
                             static_cast<double>(p.skv) * sizeof(float);
  const std::string refusal = host_memory_refusal(score_bytes, "scores");
  return refusal.empty() ? Support::yes() : Support::no(refusal);
}

void NaiveBackend::prepare(const Problem& p, const Inputs& inputs) {
  problem_ = p;
  inputs_ = &inputs;
  scores_.assign(static_cast<std::size_t>(p.b * p.hq * p.sq * p.skv), 0.0f);
  scratch_bytes_ = scores_.size() * sizeof(float);
  out_.assign(static_cast<std::size_t>(p.o_elems()), 0.0f);
}

void NaiveBackend::run() {
  const Problem& p = problem_;
  const float scale = static_cast<float>(p.scale());
  const float* q_all = inputs_->q.values.data();
  const float* k_all = inputs_->k.values.data();
  const float* v_all = inputs_->v.values.data();
  const int64_t rows = p.b * p.hq * p.sq;

#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t i = row % p.sq;
    const int64_t h = (row / p.sq) % p.hq;
    const int64_t bi = row / (p.sq * p.hq);
    const int64_t kv_head = bi * p.hkv + h / p.group();
    const float* q = q_all + row * p.d;
    const float* k = k_all + kv_head * p.skv * p.d;
    const float* v = v_all + kv_head * p.skv * p.dv;
    float* s = scores_.data() + row * p.skv;
    float* o = out_.data() + row * p.dv;

    const int64_t visible = p.visible_keys(bi, i);
    for (int64_t j = 0; j < p.skv; ++j) {
      if (j >= visible) {
        s[j] = -std::numeric_limits<float>::infinity();
        continue;
      }
      float dot = 0.0f;
      for (int64_t c = 0; c < p.d; ++c) dot += q[c] * k[j * p.d + c];
      s[j] = dot * scale;
    }
    std::fill(o, o + p.dv, 0.0f);
    if (visible == 0) continue;  // fully masked row outputs 0

    float m = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < p.skv; ++j) m = std::max(m, s[j]);
    float sum = 0.0f;
    for (int64_t j = 0; j < p.skv; ++j) {
      s[j] = std::exp(s[j] - m);
      sum += s[j];
    }
    for (int64_t j = 0; j < p.skv; ++j) s[j] /= sum;
    for (int64_t j = 0; j < p.skv; ++j) {
      for (int64_t c = 0; c < p.dv; ++c) o[c] += s[j] * v[j * p.dv + c];
    }
    if (p.dtype == DType::f16) {
      for (int64_t c = 0; c < p.dv; ++c) o[c] = round_to_f16(o[c]);
    } else if (p.dtype == DType::bf16) {
      for (int64_t c = 0; c < p.dv; ++c) o[c] = round_to_bf16(o[c]);
    }
  }
}

std::vector<double> NaiveBackend::output() { return {out_.begin(), out_.end()}; }

uint64_t NaiveBackend::scratch_bytes() const { return scratch_bytes_; }

void NaiveBackend::release() {
  scores_ = {};
  out_ = {};
}

void register_naive(Registry& registry) {
  registry.add("naive", [](const BackendOptions&) { return std::make_unique<NaiveBackend>(); });
}

}  // namespace sdpa
