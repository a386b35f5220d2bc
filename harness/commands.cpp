#include "harness/commands.h"

#include <unistd.h>

#include <ctime>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "backends/registry.h"
#include "harness/calibration.h"
#include "harness/machine_class.h"
#include "harness/machine_info.h"
#include "harness/report.h"
#include "harness/report_csv.h"
#include "harness/reporters.h"
#include "harness/results.h"
#include "harness/results_file.h"
#include "harness/runner.h"

namespace sdpa {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The fp64 oracle is as slow as the naive kernel; above these budgets it checks a sample of
// rows (every row of a sampled (b, h) stride), which still catches any systematic error.
constexpr double kCheckReferenceFlops = 2e10;
constexpr double kRunReferenceFlops = 5e8;

std::string machine_name() {
  if (const char* env = std::getenv("SDPA_MACHINE")) return env;
  return host_hardware_class(omp_threads());  // the class the results file's context records
}

DType parse_dtype(const std::string& name) {
  if (name == "f16") return DType::f16;
  if (name == "bf16") return DType::bf16;
  return DType::f32;
}

std::string utc_now(const char* format) {
  char buf[64];
  std::time_t now = std::time(nullptr);
  std::strftime(buf, sizeof buf, format, std::gmtime(&now));
  return buf;
}

// results/<machine>/<suite>-<date>.json: a killed run of the same suite on the same day resumes
// its journal; a finished file is never overwritten (a later run of the day gets the time too).
std::string default_out(const Selection& sel) {
  std::string stem = sel.suite.empty() ? "problems" : fs::path(sel.suite).stem().string();
  const std::string dir = "results/" + machine_name() + "/";
  const std::string shard = sel.shard_count > 1 ? ".shard-" + std::to_string(sel.shard_index) + "-of-" +
                                                       std::to_string(sel.shard_count)
                                                 : "";
  std::string out = dir + stem + "-" + utc_now("%Y-%m-%d") + shard + ".json";
  if (fs::exists(out)) out = dir + stem + "-" + utc_now("%Y-%m-%dT%H%M%S") + shard + ".json";
  return out;
}

json base_context(const std::string& command) {
  json context = host_context(omp_threads());
  context["executable"] = "sdpa-bench";
  context["command"] = command;
  context["num_cpus"] = omp_threads();
  context["library_build_type"] = context["build_type"];
  context["flops_rule"] =
      "flops = 2*(d+dv) per unmasked (query, key) pair, summed over batch and heads (= 4*b*hq*sq*skv*d for "
      "d=dv and no mask); masked pairs are not counted";
  context["accuracy_rule"] = "|o-r| <= tol_abs(dtype)*sum_k p_k|v_k| + tol_rel(dtype)*|r| against an fp64 reference";
  return context;
}

void add_backend_context(json& context, const SelectedBackends& selected) {
  for (const auto& b : selected.backends) {
    const Support avail = b->available();
    context["backend_" + b->name()] = avail ? b->describe() : "unavailable: " + avail.reason;
    context[b->name() + "_device"] = b->device_class();
    if (avail) {
      for (const auto& [k, v] : b->context()) context[b->name() + "_" + k] = v;
    }
  }
  if (!selected.left_out.empty()) context["left_out"] = join(selected.left_out, "; ");
}

void print_left_out(const SelectedBackends& selected) {
  if (selected.left_out.empty()) return;
  std::cerr << "default backend set; left out: " << join(selected.left_out, "; ")
            << ". Include everything with --backend all.\n";
}

// What an isolated child needs besides its backend and problem.
std::vector<std::string> child_selection_args(const Selection& sel) {
  std::vector<std::string> args;
  if (sel.threads > 0) args.insert(args.end(), {"--threads", std::to_string(sel.threads)});
  if (!sel.vulkan_device.empty()) args.insert(args.end(), {"--vulkan-device", sel.vulkan_device});
  return args;
}

// Exit 1 when nothing could run: every selected backend unavailable or not built.
bool nothing_ran(const SelectedBackends& selected) {
  for (const auto& b : selected.backends) {
    if (b->available()) return false;
  }
  return true;
}

void explain_nothing_ran(const SelectedBackends& selected) {
  std::cerr << "nothing ran: no selected backend is available here";
  for (const auto& b : selected.backends) std::cerr << "\n  " << b->name() << ": " << b->available().reason;
  for (const std::string& m : selected.missing) std::cerr << "\n  " << m;
  std::cerr << "\n(--allow-unavailable to exit 0 all the same)\n";
}

}  // namespace

int cmd_list(const Selection& sel) {
  apply_threads(sel);
  Selection all = sel;
  all.backends = {"all"};
  const SelectedBackends selected = select_backends(all);
  std::cout << "backends built into this binary:\n";
  for (const auto& b : selected.backends) {
    const Support avail = b->available();
    const BackendEntry* e = registry().find(b->name());
    std::cout << "  " << b->name() << (e && !e->variant_of.empty() ? "  (variant of " + e->variant_of + ")" : "")
              << (avail ? "" : "  [unavailable: " + avail.reason + "]") << "\n"
              << "      " << (avail ? b->describe() : std::string("-")) << "\n"
              << "      device: " << b->device_class() << "\n";
  }
  if (!registry().missing().empty()) {
    std::cout << "not built:\n";
    for (const MissingBackend& m : registry().missing()) std::cout << "  " << m.name << ": " << m.reason << "\n";
  }
  std::cout << "threads: " << omp_threads() << "\n";
  return 0;
}

int cmd_check(const Selection& sel, const CheckOptions& opts) {
  apply_threads(sel);
  SelectedBackends selected = select_backends(sel);
  const std::vector<Problem> problems = select_problems(sel);
  admit_problems(problems);
  apply_shard(selected, problems, sel.shard_index, sel.shard_count);
  print_left_out(selected);
  for (const std::string& m : selected.missing) std::cout << "skip    " << m << "\n";

  CheckConsoleReporter console(std::cout, opts.verbose);
  std::optional<CheckJsonReporter> json_out;
  std::vector<Reporter*> reporters{&console};
  if (!opts.json_out.empty()) reporters.push_back(&json_out.emplace(opts.json_out));
  RunnerOptions options;
  options.reference_budget_flops = kCheckReferenceFlops;
  if (opts.isolate) {
    options.isolate = IsolationOptions{opts.case_timeout_s > 0 ? opts.case_timeout_s : 600.0, false,
                                       child_selection_args(sel)};
  }
  run_cases(problems, selected, options, reporters);

  if (json_out) {
    json context = base_context("check");
    add_backend_context(context, selected);
    json_out->write(context);
  }
  std::cout << console.counts().summary() << "\n";
  if (console.counts().any_failure()) return 1;
  if (nothing_ran(selected) && !opts.allow_unavailable) {
    explain_nothing_ran(selected);
    return 1;
  }
  return 0;
}

int cmd_run(const Selection& sel, const RunOptions& opts) {
  apply_threads(sel);
  SelectedBackends selected = select_backends(sel);
  const std::vector<Problem> problems = select_problems(sel);
  admit_problems(problems);
  apply_shard(selected, problems, sel.shard_index, sel.shard_count);
  StoppingPolicy policy = stopping_policy(opts.policy);
  if (opts.min_samples > 0) policy.min_samples = opts.min_samples;
  if (opts.max_time_s > 0) policy.max_time_s = opts.max_time_s;
  policy.cold = opts.cold;
  if (opts.scenario == "server") {
    if ((opts.server_qps > 0) == (opts.server_p99_ms > 0)) {
      throw SpecError("--scenario server: give either --qps RATE or --server-p99-ms BOUND");
    }
    policy.server_qps = opts.server_qps;
    policy.server_p99_bound_ms = opts.server_p99_ms;
  } else if (opts.server_qps > 0 || opts.server_p99_ms > 0) {
    throw SpecError("--qps and --server-p99-ms belong to --scenario server");
  }

  const std::string out = opts.out.empty() ? default_out(sel) : opts.out;
  const bool journal = fs::exists(out + ".partial.jsonl");
  if (fs::exists(out) && !opts.force && !(journal && !opts.fresh)) {
    throw SpecError(out + " exists (a finished results file): give another --out, or --force to replace it");
  }
  std::set<std::string> wanted;
  for (const Problem& p : problems) {
    for (const auto& b : selected.backends) {
      if (selected.wants(*b, p)) wanted.insert(case_name(b->name(), p));
    }
  }
  ResultsWriter writer(out, !opts.fresh, wanted);
  if (writer.resumed() > 0) {
    std::cerr << "resuming " << out << ": " << writer.resumed() << " case(s) already done (--fresh to start over)\n";
  }
  if (!writer.ignored().empty()) {
    std::cerr << "warning: " << writer.ignored().size() << " journalled case(s) are not in this selection and are "
              << "left out, e.g. " << writer.ignored().front() << "\n";
  }
  print_left_out(selected);

  json context = base_context("run");
  // The overrides are part of what the percentiles can claim: they are recorded with the name.
  std::string overrides;
  if (opts.min_samples > 0) overrides += ", min " + std::to_string(policy.min_samples) + " samples";
  if (opts.max_time_s > 0) {
    char max_time[64];
    std::snprintf(max_time, sizeof max_time, ", max %g s per case once the minimum samples are in", policy.max_time_s);
    overrides += max_time;
  }
  context["stopping_policy"] = policy.name + overrides + (policy.cold ? " (cold caches)" : " (hot caches)");
  context["scenario"] = opts.scenario;
  if (opts.scenario == "server") {
    context["scenario_rule"] =
        opts.server_qps > 0 ? "Poisson arrivals at " + std::to_string(opts.server_qps) + " queries/s; latency = "
                                  "completion - arrival, queueing included"
                            : "the highest Poisson arrival rate whose p99 latency stays under " +
                                  std::to_string(opts.server_p99_ms) + " ms (bisection), then measured at it";
  }
  context["timing"] =
      "real_time: device clock where the backend has one (kernel time), else wall; cpu_time: wall clock of the "
      "host call to completion (end-to-end latency)";
  if (!sel.suite.empty()) context["suite"] = sel.suite;
  if (sel.shard_count > 1) {
    context["shard"] = std::to_string(sel.shard_index) + "/" + std::to_string(sel.shard_count);
    context["shard_cases"] = wanted.size();
  }
  add_backend_context(context, selected);

  // A resumed run keeps the first part's calibration and start date: every row of the file is
  // then held to the same denominators.
  Peaks peaks;
  if (const json* first = writer.resumed_context()) {
    context["date"] = first->value("date", context["date"]);
    context["resumed"] = true;
    context["resumed_at"] = utc_now("%Y-%m-%dT%H:%M:%SZ");
    for (const json& c : first->value("calibrations", json::array())) {
      Calibration cal{c.value("device_class", ""), c.value("gemm", ""), c.value("tflops", 0.0)};
      cal.dtype = parse_dtype(c.value("dtype", "f32"));
      cal.from_library = c.value("from_library", false);
      peaks.all.push_back(cal);
    }
    for (const auto& [key, value] : first->items()) {
      const std::string pre = "bandwidth_", post = "_gbs";
      if (key.rfind(pre, 0) == 0 && key.size() > pre.size() + post.size() && value.is_number()) {
        peaks.bandwidth_gbs[key.substr(pre.size(), key.size() - pre.size() - post.size())] = value.get<double>();
      }
    }
  } else if (!opts.no_calibration) {
    peaks = calibrate(selected, std::cerr);
  }
  peaks.add_to_context(context);
  writer.start(context);

  double total_flops = 0;
  for (const Problem& p : problems) {
    for (const auto& b : selected.backends) total_flops += selected.wants(*b, p) ? p.flops() : 0;
  }
  ProgressReporter progress(std::cerr, total_flops, isatty(STDERR_FILENO) != 0);
  ResultsReporter results(writer, peaks, selected);
  RunnerOptions options;
  options.policy = &policy;
  options.reference_budget_flops = kRunReferenceFlops;
  options.already_done = [&](const Backend& b, const Problem& p) { return writer.done(case_name(b.name(), p)); };
  options.offline = opts.scenario == "offline";
  if (options.offline && opts.isolate) throw SpecError("--scenario offline and --isolate: not together (yet)");
  if (opts.isolate) {
    // The child's own limits (budget, max time) plus room for inputs, reference and set-up.
    const double timeout = opts.case_timeout_s > 0 ? opts.case_timeout_s
                                                   : policy.case_budget_s + policy.max_time_s + 120.0;
    std::vector<std::string> args = child_selection_args(sel);
    args.insert(args.end(), {"--policy", policy.name});
    if (opts.min_samples > 0) args.insert(args.end(), {"--min-samples", std::to_string(opts.min_samples)});
    if (opts.max_time_s > 0) args.insert(args.end(), {"--max-time", std::to_string(opts.max_time_s)});
    if (opts.cold) args.push_back("--cold");
    options.isolate = IsolationOptions{timeout, true, args};
    context["isolation"] = "each case in a child process, limit " + std::to_string(int(timeout)) + " s";
  }
  run_cases(problems, selected, options, {&progress, &results});

  // The run measures its own noise: the same GEMMs again at the end. A machine that changed
  // speed during the run (another job, thermal limits) shows here rather than in the tables.
  if (!opts.no_calibration && !peaks.all.empty()) {
    std::cerr << "calibrating again (the run's noise check) ...\n";
    const Peaks end = calibrate(selected, std::cerr);
    end.add_to_context(context, "calibration_end");
    const double drift = calibration_drift(peaks, end);
    context["calibration_drift"] = drift;
    if (drift > 0.05) {
      context["noise_warning"] = "the calibration GEMMs differed by " + std::to_string(int(100 * drift)) +
                                 "% between the start and the end of the run: the machine's speed changed";
      std::cerr << "warning: " << context["noise_warning"].get<std::string>() << "\n";
    }
  }
  writer.finish(context);
  std::cerr << "wrote " << out << "\n";
  const ResultsFile file = load_results(out);
  print_report(std::cout, file);
  return progress.counts().any_failure() ? 1 : 0;
}

int cmd_dump(const Selection& sel, const std::string& dir) {
  apply_threads(sel);
  if (sel.backends.size() != 1 || sel.backends.front() == "all") throw SpecError("dump: give exactly one --backend");
  const std::vector<Problem> problems = select_problems(sel);
  if (problems.size() != 1) throw SpecError("dump: give exactly one --problem");
  SelectedBackends selected = select_backends(sel);
  if (selected.backends.empty()) throw SpecError("dump: " + selected.missing.front());
  admit_problems(problems);
  DumpReporter dump(dir);
  RunnerOptions options;
  options.keep_output = true;
  run_cases(problems, selected, options, {&dump});
  if (!dump.wrote()) throw SpecError("dump: backend " + sel.backends.front() + " did not run: " + dump.failure());
  std::cout << "wrote " << dir << "/{q,k,v,out,ref}.npy and problem.txt (scale " << problems.front().scale() << ")\n";
  return 0;
}

int cmd_report(const std::vector<std::string>& files, const std::string& csv_dir) {
  std::vector<ResultsFile> loaded;
  for (const std::string& f : files) loaded.push_back(load_results(f));
  if (!csv_dir.empty()) {
    for (const std::string& path : write_pivot_csvs(loaded, csv_dir)) std::cerr << "wrote " << path << "\n";
  }
  for (const ResultsFile& f : loaded) print_report(std::cout, f);
  if (loaded.size() > 1) print_hardware_comparison(std::cout, loaded);
  return 0;
}

}  // namespace sdpa
