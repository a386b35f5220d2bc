#include "harness/offline.h"

#include "core/memory.h"
#include "harness/inputs.h"
#include "harness/measure.h"

namespace sdpa {

Problem batched(const Problem& p, int64_t queries) {
  Problem q = p;
  q.b = p.b * queries;
  if (p.mask == MaskKind::kvlen) {
    q.kvlen.clear();
    for (int64_t i = 0; i < queries; ++i) q.kvlen.insert(q.kvlen.end(), p.kvlen.begin(), p.kvlen.end());
  }
  return q;
}

namespace {

constexpr int64_t kMaxQueriesPerBatch = 256;
constexpr double kMinGain = 1.05;        // a doubling must buy 5% more queries/s to be worth it
constexpr double kMaxBatchSeconds = 2.0;  // beyond this a batch is a latency nobody waits for

bool fits(const Problem& p) {
  const double bytes = static_cast<double>(p.q_elems() + p.k_elems() + p.v_elems()) * (4 + 2) +
                       static_cast<double>(p.o_elems()) * (8 + 8 + 8 + 4);
  return host_memory_refusal(bytes, "batch").empty();
}

}  // namespace

CaseResult run_offline_case(Backend& backend, const Problem& problem, const StoppingPolicy& policy,
                            double reference_budget_flops) {
  StoppingPolicy probe = stopping_policy("quick");
  int64_t best_queries = 1;
  double best_qps = 0;
  for (int64_t queries = 1; queries <= kMaxQueriesPerBatch; queries *= 2) {
    const Problem q = batched(problem, queries);
    if (queries > 1 && (!fits(q) || !backend.supports(q))) break;
    // The search checks nothing (the final batch is checked): inputs only, no reference.
    ProblemData data{q, generate_inputs(q), {}};
    if (!backend.available() || !backend.supports(q)) break;
    double seconds = 0;
    try {
      backend.prepare(q, data.inputs);
      const Measurement m = measure(backend, probe);
      backend.release();
      seconds = summarize(m.primary()).p50 * 1e-3;
    } catch (const std::exception&) {
      backend.release();
      break;  // the final run at the best size so far reports what went wrong, if anything
    }
    const double qps = static_cast<double>(queries) / seconds;
    if (qps < kMinGain * best_qps) break;
    best_qps = qps;
    best_queries = queries;
    if (seconds > kMaxBatchSeconds) break;
  }
  const ProblemData data = make_problem_data(batched(problem, best_queries), reference_budget_flops);
  CaseResult r = run_case(backend, data, &policy);
  if (r.measurement) {
    r.measurement->scenario = "offline";
    r.measurement->queries_per_batch = best_queries;
  }
  r.notes["offline_queries_per_batch"] = std::to_string(best_queries);
  r.notes["offline_query"] = problem.to_string();
  return r;
}

}  // namespace sdpa
