// How a problem maps onto one cuDNN SDPA call. Pure, so the mapping is tested without a GPU.
//
// cuDNN rejects a bottom-right causal mask with s_q > s_kv: the first s_q − s_kv query rows
// see no key at all. Those rows are fully masked, and the spec defines their output as 0, so
// the backend zeroes them and hands cuDNN only the last s_kv rows (a view into Q and O with the
// full tensors' strides), where bottom-right and top-left alignment coincide.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "core/problem.h"

namespace sdpa::cudnn {

struct SdpaLayout {
  int64_t q_rows = 0;     // query rows per (batch, head) that cuDNN computes
  int64_t dead_rows = 0;  // leading query rows with no visible key: zeroed, not computed
  bool padding = false;   // mask=kvlen: cuDNN's padding mask with per-batch key lengths
};

inline SdpaLayout sdpa_layout(const Problem& p) {
  SdpaLayout layout;
  layout.q_rows = p.sq;
  if (p.mask == MaskKind::causal_br && p.sq > p.skv) layout.q_rows = p.skv;
  layout.dead_rows = p.sq - layout.q_rows;
  layout.padding = p.mask == MaskKind::kvlen;
  return layout;
}

// Everything a compiled graph depends on: shapes, dtype, mask kind and scale. Not the seed,
// and not the kvlen values, which are runtime data (device tensors) of the same graph.
inline std::string graph_key(const Problem& p) {
  Problem shape = p;
  shape.seed = 0;
  std::fill(shape.kvlen.begin(), shape.kvlen.end(), 0);
  return shape.to_string();
}

}  // namespace sdpa::cudnn
