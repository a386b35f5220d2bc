// The one loop every command runs: problems × selected backends, each case through run_case()
// (capability query, prepare, run, check, optional measurement, release), results handed to
// reporters. `check`, `run` and `dump` differ only in their options and reporters.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

#include "harness/cases.h"
#include "harness/isolation.h"
#include "harness/run_plan.h"
#include "harness/selection.h"
#include "harness/stopping.h"

namespace sdpa {

// Receives the cases as they finish (google/benchmark's reporter idea: what to do with a
// result is not the loop's business).
class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void case_started(const Backend& /*backend*/, const Problem& /*problem*/, std::size_t /*index*/,
                            std::size_t /*total*/) {}
  // `data.problem` is always the case's problem. `data.inputs` and `data.reference` are filled for
  // in-process cases only: an isolated or offline case computes its own (in the child, or per
  // batch), so they are empty there; the reporters that read them (dump, the studies) never run
  // isolated or offline.
  virtual void case_finished(const CaseResult& result, const ProblemData& data) = 0;
};

struct RunnerOptions {
  std::optional<StoppingPolicy> policy;  // measure each case when set
  // The fp64 oracle checks a sample of rows above this many FLOPs (0: every row).
  double reference_budget_flops = 0;
  bool keep_output = false;  // CaseResult::output (for dump)
  // Cases already done (a resumed run): skipped without computing anything.
  std::function<bool(const Backend&, const Problem&)> already_done;
  // --isolate: each case in a child process (which computes its own inputs and reference).
  std::optional<IsolationOptions> isolate;
  // MLPerf's offline scenario: each case searches its best batch (run_offline_case).
  bool offline = false;
};

// The options of a measured run of `plan` (resolved): its policy, the run's reference budget,
// isolated children that get the whole plan (child_args), or the offline search.
RunnerOptions runner_options(const RunPlan& plan);

// Refuses (SpecError, exit 2) a problem whose inputs, output and fp64 reference would not fit
// in memory, before any case runs.
void admit_problems(const std::vector<Problem>& problems);

// The cases of a command: the selection's backends, its problems admitted (admit_problems),
// and its shard applied (apply_shard). Every command that runs a matrix starts here.
SelectedBackends select_cases(const Selection& sel, const std::vector<Problem>& problems);

// Returns the number of cases run (not counting those already done or outside the selection).
std::size_t run_cases(const std::vector<Problem>& problems, SelectedBackends& selected, const RunnerOptions& options,
                      const std::vector<Reporter*>& reporters);

}  // namespace sdpa
