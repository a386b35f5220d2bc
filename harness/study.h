// `sdpa-bench study error|saturation`: the FP16/BF16 questions this suite exists for, as tables.
//   error:      backend × dtype × n × mask × dist: relative RMS error, max abs error, worst
//               fraction of the bound, pass, and where f16 overflows (logits or outputs past
//               65504) — f16 beside bf16 and f32 on the same inputs.
//   saturation: from the fp64 reference alone, for d ∈ {64, 128, 256}, each dist, with the 1/√d
//               scale and without it: logit std and max |logit|, mean max-probability, share of
//               rows whose max-probability exceeds 0.95, softmax entropy, logits past f16.
#pragma once

#include <string>

#include "harness/run_plan.h"

namespace sdpa {

// Without --problem/--suite each study runs its own matrix (see study.cpp); --dtype, --mask,
// --filter and --shard narrow it; `dist` (--dist) gives every problem that input distribution.
// Returns 0 (a failing case is a finding of the study, shown in its table).
int cmd_study_error(RunPlan plan, const std::string& dist = "");
int cmd_study_saturation(RunPlan plan, const std::string& dist = "");

}  // namespace sdpa
