// What cuDNN's fused SDPA runs on Ampere and later without exception: f16 / bf16 with head dim
// 64 or 128 (d = dv), any mask, GQA / MQA. These are the shapes every cuDNN 9 release lists for
// sm_80+ and the ones PyTorch routes to cuDNN, so a refusal of one is a bug (ours in building
// the graph, or cuDNN's) and must show as a failure, never as a skip that reads green.
//
// The one exception is a known cuDNN bug, declined by supports() with its reason: before 9.25,
// the rows of a batch item whose key length is 0 come back NaN instead of 0
// (NVIDIA/cudnn-frontend#943; the frontend's own tests gate zero lengths on 9.25).
#pragma once

#include <algorithm>
#include <cstddef>

#include "core/problem.h"

namespace sdpa::cudnn {

inline constexpr std::size_t kCudnnZeroLengthFixed = 92500;

inline bool has_zero_kv_length(const Problem& p) {
  return p.mask == MaskKind::kvlen && std::find(p.kvlen.begin(), p.kvlen.end(), 0) != p.kvlen.end();
}

inline bool cudnn_must_support(const Problem& p, int cc_major, std::size_t cudnn_version) {
  const bool half = p.dtype == DType::f16 || p.dtype == DType::bf16;
  if (has_zero_kv_length(p) && cudnn_version < kCudnnZeroLengthFixed) return false;
  return cc_major >= 8 && half && p.d == p.dv && (p.d == 64 || p.d == 128);
}

}  // namespace sdpa::cudnn
