// Flash-decoding for the flash driver (flash.h, both paths): when a problem has few (batch, kv
// head, query position) combinations — a decode step — the keys are split into ranges too, so
// every core has work. Each (item, range) unit runs the online softmax over its range and
// leaves its unnormalised O, running max m and sum l here; a combine then merges the ranges of
// every row in increasing range order. The plan depends on the problem only, never on the
// thread count, so results stay bit-identical for any number of threads.
#pragma once

#include <cstdint>
#include <vector>

#include "core/problem.h"

namespace sdpa::blocked {

struct KeySplit {
  int64_t splits = 1;     // key ranges
  int64_t range_keys = 0;  // keys per range: a multiple of the driver's key block bc
};

// More than one range only below 32 (batch, kv head, query position) combinations, with at
// least 512 keys per range. `forced` > 0 (tests) asks for that many ranges.
KeySplit plan_key_split(const Problem& p, int64_t bc, int64_t forced = 0);

// The partial results of every (item, range) unit of one run.
class PartialResults {
 public:
  // items: work items of the run; rows: most rows per item; width: O floats kept per row (≥ dv).
  void reset(int64_t items, int64_t rows, int64_t splits, int64_t width);
  // Rows [0, n) of one unit: O (row stride ldo), m and l.
  void store(int64_t item, int64_t split, int64_t n, const float* o, int64_t ldo, const float* m, const float* l);
  // Row `row` of `item` merged over its ranges: acc[0, dv) = Σ w·O, returns Σ w·l, with
  // w = 2^((m_range − m_max)·c); ranges that saw no key are skipped (l = 0 when none did).
  float merge(int64_t item, int64_t row, int64_t dv, float c, float* acc) const;
  uint64_t bytes() const { return (o_.size() + m_.size() + l_.size()) * sizeof(float); }

 private:
  int64_t slot(int64_t item, int64_t split, int64_t row) const { return (item * splits_ + split) * rows_ + row; }
  int64_t rows_ = 0, splits_ = 1, width_ = 0;
  std::vector<float> o_, m_, l_;
};

}  // namespace sdpa::blocked
