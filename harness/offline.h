// MLPerf's offline scenario: all queries are available at once, so a backend may batch them. A
// query is one instance of the problem; queries are stacked along b (Q, K, V of each query are
// independent batch items) and the batch grows while throughput still improves.
#pragma once

#include "harness/cases.h"
#include "harness/stopping.h"

namespace sdpa {

// The problem with `queries` instances of `problem` stacked along b (kvlen lengths repeated).
Problem batched(const Problem& problem, int64_t queries);

// Doubles the batch (1, 2, 4, ... queries) while queries/s improves by at least 5%, the batch's
// inputs fit in memory, the backend supports it and one batch takes under 2 s; then measures
// the best batch with `policy`. The result's problem is the batched one (its repro runs exactly
// that), its measurement has scenario "offline" and queries_per_batch set.
CaseResult run_offline_case(Backend& backend, const Problem& problem, const StoppingPolicy& policy,
                            double reference_budget_flops);

}  // namespace sdpa
