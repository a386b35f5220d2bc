#include "backends/blocked_cpu/key_split.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace sdpa::blocked {

namespace {

int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

// Enough units for 32 threads, fixed so that no bit depends on the thread count (a decode step
// with 8 kv heads gets 4 ranges: 32 units, 16 per core on two cores, so the dynamic schedule
// evens them out). A range keeps at least kMinRangeKeys keys: below that the combine and the
// per-unit set-up (loading Q, clearing O) would cost more than the parallelism gains.
constexpr int64_t kTargetUnits = 32;
constexpr int64_t kMinRangeKeys = 512;

}  // namespace

KeySplit plan_key_split(const Problem& p, int64_t bc, int64_t forced) {
  int64_t wanted = forced;
  if (wanted <= 0) {
    const int64_t combos = p.b * p.hkv * p.sq;
    wanted = combos >= kTargetUnits ? 1 : std::min(ceil_div(kTargetUnits, combos), p.skv / kMinRangeKeys);
  }
  KeySplit plan;
  plan.range_keys = ceil_div(std::max<int64_t>(p.skv, 1), bc) * bc;  // one range: every key
  if (wanted > 1) plan.range_keys = ceil_div(ceil_div(p.skv, wanted), bc) * bc;  // whole blocks per range
  plan.splits = ceil_div(std::max<int64_t>(p.skv, 1), plan.range_keys);
  return plan;
}

void PartialResults::reset(int64_t items, int64_t rows, int64_t splits, int64_t width) {
  rows_ = rows;
  splits_ = splits;
  width_ = width;
  const int64_t slots = splits > 1 ? items * splits * rows : 0;
  o_.assign(static_cast<std::size_t>(slots * width), 0.0f);
  m_.assign(static_cast<std::size_t>(slots), 0.0f);
  l_.assign(static_cast<std::size_t>(slots), 0.0f);
}

void PartialResults::store(int64_t item, int64_t split, int64_t n, const float* o, int64_t ldo, const float* m,
                           const float* l) {
  const int64_t s0 = slot(item, split, 0);
  for (int64_t r = 0; r < n; ++r) {
    std::memcpy(o_.data() + (s0 + r) * width_, o + r * ldo, static_cast<std::size_t>(width_) * sizeof(float));
  }
  std::memcpy(m_.data() + s0, m, static_cast<std::size_t>(n) * sizeof(float));
  std::memcpy(l_.data() + s0, l, static_cast<std::size_t>(n) * sizeof(float));
}

float PartialResults::merge(int64_t item, int64_t row, int64_t dv, float c, float* acc) const {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t s = 0; s < splits_; ++s) {
    const auto at = static_cast<std::size_t>(slot(item, s, row));
    if (l_[at] > 0.0f) m = std::max(m, m_[at]);
  }
  std::fill(acc, acc + dv, 0.0f);
  float l = 0.0f;
  for (int64_t s = 0; s < splits_; ++s) {
    const auto at = static_cast<std::size_t>(slot(item, s, row));
    if (l_[at] == 0.0f) continue;  // no visible key in this range
    const float w = std::exp2((m_[at] - m) * c);
    l += w * l_[at];
    const float* o = o_.data() + at * static_cast<std::size_t>(width_);
    for (int64_t j = 0; j < dv; ++j) acc[j] += w * o[j];
  }
  return l;
}

}  // namespace sdpa::blocked
