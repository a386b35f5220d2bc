#include "harness/run_plan.h"

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <tuple>

#include "harness/inputs.h"
#include "harness/isolation.h"
#include "harness/machine_info.h"
#include "harness/offline.h"
#include "harness/suite.h"

namespace sdpa {

namespace {

std::string g(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string short_g(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// A positive, finite number of seconds or a rate; 0 means "not given" where `zero_ok`.
void check_positive(const char* option, double v, bool zero_ok = true) {
  if (zero_ok && v == 0) return;
  if (!std::isfinite(v) || v <= 0) throw SpecError(std::string(option) + " " + short_g(v) + ": must be a positive, finite number");
}

// OMP_NUM_THREADS as libgomp reads it: a positive count (or a comma list of them, one per
// nesting level), each at most kMaxThreads; 100000 threads crash the OpenMP runtime.
void check_omp_num_threads() {
  const char* env = std::getenv("OMP_NUM_THREADS");
  if (!env) return;
  const std::string text = env;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    const bool digits = !item.empty() && item.find_first_not_of(" 0123456789") == std::string::npos &&
                        item.find_first_of("0123456789") != std::string::npos;
    const double n = digits ? std::atof(item.c_str()) : 0;
    if (!digits || n < 1 || n > kMaxThreads) {
      throw SpecError("OMP_NUM_THREADS=" + text + ": must be a thread count from 1 to " + std::to_string(kMaxThreads) +
                      " (or a comma list of them); --threads N sets the count too");
    }
    pos = comma + 1;
  }
}

}  // namespace

std::string rate_text(double qps) { return short_g(qps); }

PreparedCase::PreparedCase(const RunPlan& plan) : policy_(plan.stopping()) {
  const std::vector<Problem> problems = select_problems(plan.selection);
  if (plan.selection.backends.size() != 1 || plan.selection.backends.front() == "all" || problems.size() != 1) {
    throw SpecError("PreparedCase: the plan must select one backend and one problem");
  }
  if (plan.scenario == "offline") throw SpecError("PreparedCase: the offline scenario searches its own batches");
  problem_ = problems.front();
  selected_ = select_backends(plan.selection);
  if (selected_.backends.empty()) throw std::runtime_error(selected_.missing.front());
  Backend& b = backend();
  if (const Support s = b.available(); !s) throw std::runtime_error(b.name() + ": unavailable: " + s.reason);
  if (const Support s = b.supports(problem_); !s) throw std::runtime_error(b.name() + ": declines: " + s.reason);
  inputs_ = generate_inputs(problem_);
  b.prepare(problem_, inputs_);
}

PreparedCase::~PreparedCase() { backend().release(); }

Measurement PreparedCase::measure() { return sdpa::measure(backend(), policy_); }

std::string checked_machine_override(const char* value) {
  const std::string name = value ? value : "";
  const bool safe = !name.empty() && name != "." && name != ".." && name.size() <= 128 &&
                    name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
                        std::string::npos;
  if (!safe) {
    throw SpecError("SDPA_MACHINE='" + name + "': must be one folder name under results/ (letters, digits, '.', "
                    "'_', '-'; not empty, '.' or '..')");
  }
  return name;
}

void RunPlan::resolve() {
  check_omp_num_threads();
  if (selection.threads < 0 || selection.threads > kMaxThreads) {
    throw SpecError("--threads " + std::to_string(selection.threads) + ": at most " + std::to_string(kMaxThreads) +
                    " (0: all cores)");
  }
  if (!shard.empty()) std::tie(selection.shard_index, selection.shard_count) = parse_shard(shard);
  StoppingPolicy base;
  try {
    base = stopping_policy(policy);
  } catch (const std::invalid_argument& e) {
    throw SpecError(std::string("--policy: ") + e.what());
  }
  if (min_samples < 0) throw SpecError("--min-samples " + std::to_string(min_samples) + ": must be positive");
  if (min_samples > base.max_samples) {
    throw SpecError("--min-samples " + std::to_string(min_samples) + ": above the " + policy +
                    " policy's cap of " + std::to_string(base.max_samples) + " samples a case");
  }
  check_positive("--max-time", max_time_s);
  check_positive("--case-timeout", case_timeout_s);
  check_positive("--qps", server_qps);
  check_positive("--server-p99-ms", server_p99_ms);
  if (scenario != "single-stream" && scenario != "server" && scenario != "offline") {
    throw SpecError("--scenario " + scenario + ": must be single-stream, server or offline");
  }
  if (scenario == "server") {
    if ((server_qps > 0) == (server_p99_ms > 0)) {
      throw SpecError("--scenario server: give either --qps RATE or --server-p99-ms BOUND");
    }
    // A rate at which fewer than 3 queries (the fewest a case reports) are expected within the
    // case's budget cannot be measured: it would only wait.
    const double budget = stopping().case_budget_s;
    if (server_qps > kMaxServerQps) {
      throw SpecError("--qps " + short_g(server_qps) + ": above " + short_g(kMaxServerQps) +
                      " queries/s the arrivals are closer than the clock's nanosecond");
    }
    if (server_qps > 0 && server_qps * budget < 3) {
      throw SpecError("--qps " + short_g(server_qps) + ": fewer than 3 queries would arrive in the " + policy +
                      " policy's case budget of " + short_g(budget) + " s; the lowest rate is " +
                      short_g(3 / budget) + " queries/s");
    }
  } else if (server_qps > 0 || server_p99_ms > 0) {
    throw SpecError("--qps and --server-p99-ms belong to --scenario server");
  }
  if (isolate && scenario == "offline") {
    throw SpecError("--scenario offline and --isolate: not together (an offline case searches its batch in-process)");
  }
}

StoppingPolicy RunPlan::stopping() const {
  StoppingPolicy p = stopping_policy(policy);
  if (min_samples > 0) p.min_samples = min_samples;
  if (max_time_s > 0) p.max_time_s = max_time_s;
  p.cold = cold;
  if (scenario == "server") {
    p.server_qps = server_qps;
    p.server_p99_bound_ms = server_p99_ms;
  }
  return p;
}

double RunPlan::isolated_case_timeout() const {
  if (case_timeout_s > 0) return case_timeout_s;
  const StoppingPolicy p = stopping();
  return p.case_budget_s + p.max_time_s + 120.0;
}

std::vector<std::string> RunPlan::child_args() const {
  std::vector<std::string> a;
  if (selection.threads > 0) a.insert(a.end(), {"--threads", std::to_string(selection.threads)});
  if (!selection.vulkan_device.empty()) a.insert(a.end(), {"--vulkan-device", selection.vulkan_device});
  a.insert(a.end(), {"--policy", policy, "--scenario", scenario});
  if (min_samples > 0) a.insert(a.end(), {"--min-samples", std::to_string(min_samples)});
  if (max_time_s > 0) a.insert(a.end(), {"--max-time", g(max_time_s)});
  if (cold) a.push_back("--cold");
  if (server_qps > 0) a.insert(a.end(), {"--qps", g(server_qps)});
  if (server_p99_ms > 0) a.insert(a.end(), {"--server-p99-ms", g(server_p99_ms)});
  return a;
}

nlohmann::json RunPlan::fingerprint() const {
  nlohmann::json f;
  f["scenario"] = scenario;
  f["qps"] = server_qps;
  f["server_p99_ms"] = server_p99_ms;
  f["policy"] = policy;
  f["min_samples"] = min_samples;
  f["max_time_s"] = max_time_s;
  f["cold"] = cold;
  f["threads"] = selection.threads > 0 ? selection.threads : omp_threads();
  f["isolate"] = isolate;
  f["git_commit"] = host_context(1)["git_commit"];
  return f;
}

bool operator==(const RunPlan& a, const RunPlan& b) {
  auto key = [](const RunPlan& p) {
    const Selection& s = p.selection;
    return std::tie(s.backends, s.problems, s.suite, s.filter, s.dtypes, s.masks, s.threads, s.vulkan_device,
                    p.shard, p.policy, p.min_samples, p.max_time_s, p.cold, p.scenario, p.server_qps,
                    p.server_p99_ms, p.isolate, p.case_timeout_s, p.calibration, p.out, p.fresh, p.force);
  };
  return key(a) == key(b);
}

void add_selection_options(CLI::App* cmd, RunPlan& plan, bool problems_required) {
  Selection& sel = plan.selection;
  cmd->add_option("--backend,-b", sel.backends,
                  "Backend (repeatable; default: one per implementation and device; 'all': every built one)");
  auto* problem = cmd->add_option("--problem,-p", sel.problems, "Problem spec line (repeatable)");
  auto* suite = cmd->add_option("--suite,-s", sel.suite,
                                "Suite (" + join(known_suites(), ", ") + ") or a file of spec lines");
  problem->excludes(suite);
  if (problems_required) {
    cmd->callback([problem, suite] {
      if (problem->count() == 0 && suite->count() == 0) throw CLI::RequiredError("--problem or --suite");
    });
  }
  cmd->add_option("--filter", sel.filter, "Keep the problems whose spec line matches this regex");
  cmd->add_option("--dtype", sel.dtypes, "Keep only these dtypes (f32, f16, bf16; repeatable)");
  cmd->add_option("--mask", sel.masks, "Keep only these masks (none, causal, causal_br, kvlen; repeatable)");
  cmd->add_option("--threads,-t", sel.threads,
                  "CPU threads, 1 to " + std::to_string(kMaxThreads) + " (default 0: all cores, or OMP_NUM_THREADS)");
  cmd->add_option("--vulkan-device", sel.vulkan_device, "Vulkan device: index or name substring");
  cmd->add_option("--shard", plan.shard, "Run only part i of n of the cases (0-based, e.g. 0/4), balanced by FLOPs");
}

void add_measurement_options(CLI::App* cmd, RunPlan& plan) {
  const std::vector<std::string> names = stopping_policy_names();
  cmd->add_option("--policy", plan.policy, "Stopping policy (default: default). " + stopping_policy_help())
      ->check(CLI::IsMember(names));
  cmd->add_option("--max-time", plan.max_time_s,
                  "Seconds of sampling after which a case stops once it has the policy's minimum samples "
                  "(default: the policy's; 10 s in default)");
  cmd->add_option("--min-samples", plan.min_samples,
                  "Override the policy's minimum samples (at most its cap: 2000 in default)");
  cmd->add_flag("--cold", plan.cold, "Flush the caches (host, and GPU L2) before every sample");
  cmd->add_option("--scenario", plan.scenario,
                  "MLPerf scenario (default single-stream): single-stream (one query at a time), server (Poisson "
                  "arrivals), offline (queries batched along b for the best throughput)")
      ->check(CLI::IsMember({"single-stream", "server", "offline"}));
  cmd->add_option("--qps", plan.server_qps, "Server scenario: the arrival rate (queries/s)");
  cmd->add_option("--server-p99-ms", plan.server_p99_ms,
                  "Server scenario: search the highest rate whose p99 latency stays under this bound");
  cmd->add_flag("--isolate", plan.isolate, "Run each case in a child process (a crash or hang costs one case)");
  cmd->add_option("--case-timeout", plan.case_timeout_s,
                  "Seconds per isolated case (default: the policy's case budget + max time + 120; 190 in default)");
  cmd->add_flag_callback("--no-calibration", [&plan] { plan.calibration = false; }, "Skip the calibration GEMMs");
}

RunPlan parse_plan_args(const std::vector<std::string>& args) {
  RunPlan plan;
  CLI::App app{"run"};
  add_selection_options(&app, plan, false);
  add_measurement_options(&app, plan);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them back to front
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    throw SpecError(std::string("run options: ") + e.what());
  }
  return plan;
}

RunPlan case_plan(const RunPlan& base, const std::string& backend, const Problem& problem) {
  RunPlan p = base;
  p.selection.backends = {backend};
  p.selection.problems = {problem.to_string()};
  p.selection.suite.clear();
  p.selection.filter.clear();
  p.selection.dtypes.clear();
  p.selection.masks.clear();
  p.selection.shard_index = 0;
  p.selection.shard_count = 1;
  p.shard.clear();
  p.out.clear();
  return p;
}

CaseResult run_planned_case(const RunPlan& plan) {
  const std::vector<Problem> problems = select_problems(plan.selection);
  if (plan.selection.backends.size() != 1 || plan.selection.backends.front() == "all" || problems.size() != 1) {
    throw SpecError("run_planned_case: the plan must select one backend and one problem");
  }
  const Problem& problem = problems.front();
  const StoppingPolicy policy = plan.stopping();
  if (plan.isolate) {
    IsolationOptions iso{plan.isolated_case_timeout(), true, plan.child_args()};
    return run_case_isolated(plan.selection.backends.front(), problem, iso);
  }
  SelectedBackends selected = select_backends(plan.selection);
  if (selected.backends.empty()) {
    CaseResult r;
    r.backend = plan.selection.backends.front();
    r.problem = problem;
    r.reason = selected.missing.empty() ? "not built" : selected.missing.front();
    return r;
  }
  Backend& backend = *selected.backends.front();
  if (plan.scenario == "offline") return run_offline_case(backend, problem, policy, kRunReferenceFlops);
  return run_case(backend, make_problem_data(problem, kRunReferenceFlops), &policy);
}

}  // namespace sdpa
