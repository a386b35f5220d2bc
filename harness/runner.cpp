#include "harness/runner.h"

#include "core/memory.h"
#include "harness/machine_info.h"
#include "harness/offline.h"

namespace sdpa {

void admit_problems(const std::vector<Problem>& problems) {
  for (const Problem& p : problems) {
    // Inputs as float and 16-bit storage; output, reference, Σp|v| and a row flag per output.
    const double bytes = static_cast<double>(p.q_elems() + p.k_elems() + p.v_elems()) * (4 + 2) +
                         static_cast<double>(p.o_elems()) * (8 + 8 + 8 + 4);
    const std::string refusal = host_memory_refusal(bytes, "the inputs, outputs and fp64 reference");
    if (!refusal.empty()) throw SpecError("problem " + p.to_string() + ": " + refusal);
  }
}

SelectedBackends select_cases(const Selection& sel, const std::vector<Problem>& problems) {
  SelectedBackends selected = select_backends(sel);
  admit_problems(problems);
  apply_shard(selected, problems, sel.shard_index, sel.shard_count);
  return selected;
}

RunnerOptions runner_options(const RunPlan& plan) {
  RunnerOptions options;
  options.policy = plan.stopping();
  options.reference_budget_flops = kRunReferenceFlops;
  options.offline = plan.scenario == "offline";
  if (plan.isolate) options.isolate = IsolationOptions{plan.isolated_case_timeout(), true, plan.child_args()};
  return options;
}

std::size_t run_cases(const std::vector<Problem>& problems, SelectedBackends& selected, const RunnerOptions& options,
                      const std::vector<Reporter*>& reporters) {
  std::size_t total = 0;
  for (const Problem& p : problems) {
    for (const auto& b : selected.backends) total += selected.wants(*b, p) ? 1 : 0;
  }
  std::size_t index = 0, ran = 0;
  for (const Problem& p : problems) {
    std::vector<Backend*> todo;
    for (auto& b : selected.backends) {
      if (!selected.wants(*b, p)) continue;
      if (options.already_done && options.already_done(*b, p)) {
        ++index;
        continue;
      }
      todo.push_back(b.get());
    }
    if (todo.empty()) continue;
    // Inputs and the oracle are computed once per problem and shared by every backend (an
    // isolated case computes its own in the child).
    const bool own_data = options.isolate || options.offline;
    const ProblemData data = own_data ? ProblemData{p, {}, {}} : make_problem_data(p, options.reference_budget_flops);
    for (Backend* b : todo) {
      ++index;
      for (Reporter* r : reporters) r->case_started(*b, p, index, total);
      CaseResult result =
          options.isolate   ? run_case_isolated(b->name(), p, *options.isolate)
          : options.offline ? run_offline_case(*b, p, *options.policy, options.reference_budget_flops)
                            : run_case(*b, data, options.policy ? &*options.policy : nullptr, options.keep_output);
      ++ran;
      // The threads a case ran on (an isolated child reports its own): a resumed run at another
      // count is refused, and the file says what each case used.
      if (result.notes.count("threads") == 0) result.notes["threads"] = std::to_string(omp_threads());
      for (Reporter* r : reporters) r->case_finished(result, data);
    }
  }
  return ran;
}

}  // namespace sdpa
