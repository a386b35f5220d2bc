// A run's plan: everything that decides what a measuring command runs and how, in one value that
// every executor takes whole (in-process, isolated child, offline, study, dump, a worker).
//
//   RunPlan plan;                     // filled by the CLI (add_plan_options) or by hand
//   plan.resolve();                   // validates every field: SpecError (exit 2) on bad input
//   plan.stopping();                  // the stopping policy with the overrides applied
//   plan.child_args();                // the plan as argv for `sdpa-bench run` (an isolated child)
//   parse_plan_args(args);            // ... and back: parse_plan_args(p.child_args()) == p
//   plan.fingerprint();               // what a resumed run must share with the journal
//   RunPlan one = case_plan(plan, "blocked_cpu", problem);   // one (backend, problem) case
//   CaseResult r = run_planned_case(one);                    // run it as the plan says
//   PreparedCase c(one); c.measure(); c.measure();           // or prepare once, measure often
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/cases.h"
#include "harness/selection.h"
#include "harness/stopping.h"

namespace CLI {
class App;
}

namespace sdpa {

// The fp64 oracle checks a sample of rows above these budgets (FLOPs): a benchmark run checks
// less than `check` does.
inline constexpr double kCheckReferenceFlops = 2e10;
inline constexpr double kRunReferenceFlops = 5e8;
// The server scenario's highest arrival rate: one a nanosecond, the clock's resolution.
inline constexpr double kMaxServerQps = 1e9;
// A rate or a number of seconds as a short decimal ("0.3", "1e+09"), never 300 digits.
std::string rate_text(double qps);

struct RunPlan {
  Selection selection;
  std::string shard;  // --shard i/n as given; resolve() sets selection.shard_index/count

  // How each case is measured.
  std::string policy = "default";  // a name of stopping_policies()
  int min_samples = 0;             // 0: the policy's
  double max_time_s = 0;           // 0: the policy's
  bool cold = false;
  std::string scenario = "single-stream";  // single-stream, server, offline
  double server_qps = 0;                   // server: the arrival rate
  double server_p99_ms = 0;                // server: search the highest rate under this p99

  // How cases are executed.
  bool isolate = false;
  double case_timeout_s = 0;  // 0: the policy's budget + max time + 120 s
  bool calibration = true;

  // Where the results go.
  std::string out;     // results file; empty: results/<machine>/<suite>-<date>.json
  bool fresh = false;  // ignore a journal left by a killed run
  bool force = false;  // replace a finished results file

  // Validates every field and the environment it runs in (OMP_NUM_THREADS); throws SpecError
  // naming the option. Idempotent.
  void resolve();
  // The named policy with --min-samples, --max-time, --cold and the server rate applied.
  StoppingPolicy stopping() const;
  // Seconds an isolated case may take before its child is killed.
  double isolated_case_timeout() const;
  // The options an isolated child gets besides --backend/--problem/--out: threads, device and
  // every measurement field (policy, overrides, cold, scenario, rate), as argv for `sdpa-bench
  // run`. Selection, output, isolation and calibration stay with the parent.
  std::vector<std::string> child_args() const;
  // The options that change a measurement (scenario, rate, policy, overrides, threads,
  // isolation, cold caches, the binary's commit): a resumed run must match its journal's.
  nlohmann::json fingerprint() const;
};

bool operator==(const RunPlan& a, const RunPlan& b);

// Registers the selection options (--backend, --problem, --suite, filters, --threads, --shard)
// and, with `measurement`, the measuring ones (--policy ... --case-timeout) on `cmd`, writing
// into `plan`. The help text of each names its default.
void add_selection_options(CLI::App* cmd, RunPlan& plan, bool problems_required);
void add_measurement_options(CLI::App* cmd, RunPlan& plan);

// The inverse of RunPlan::child_args(): the options parsed as `sdpa-bench run` parses them
// (SpecError on anything else); parse_plan_args(p.child_args()) == p in the fields it carries.
RunPlan parse_plan_args(const std::vector<std::string>& args);

// The plan of one (backend, problem) case: `base` with its selection narrowed to them, not
// isolated, no output file. A gate worker or a test runs it with run_planned_case().
RunPlan case_plan(const RunPlan& base, const std::string& backend, const Problem& problem);

// Runs the one case of a case_plan() as its scenario says (measured, server, offline; isolated
// in a child when plan.isolate), with the run's reference budget. SpecError for a plan that
// selects other than one backend and one problem.
CaseResult run_planned_case(const RunPlan& plan);

// One case prepared once and measured as often as asked (an A/B worker interleaves two of
// these): the backend selected, the inputs generated and prepare() done in the constructor,
// release() in the destructor. Throws SpecError for a plan of other than one backend and one
// problem, std::runtime_error when the backend cannot run the case here (with its reason).
class PreparedCase {
 public:
  explicit PreparedCase(const RunPlan& plan);
  ~PreparedCase();
  PreparedCase(const PreparedCase&) = delete;
  PreparedCase& operator=(const PreparedCase&) = delete;
  // One measurement under the plan's policy and scenario (single-stream or server).
  Measurement measure();
  Backend& backend() { return *selected_.backends.front(); }
  const Problem& problem() const { return problem_; }

 private:
  SelectedBackends selected_;
  Problem problem_;
  Inputs inputs_;  // a backend may read its inputs in place until release()
  StoppingPolicy policy_;
};

// SDPA_MACHINE, when set, as a results folder name: a single safe path component (letters,
// digits, '.', '_', '-'; not "." or ".."), else SpecError.
std::string checked_machine_override(const char* value);

}  // namespace sdpa
