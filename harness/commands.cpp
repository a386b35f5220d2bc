#include "harness/commands.h"

#include <unistd.h>

#include <ctime>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "backends/registry.h"
#include "harness/calibration.h"
#include "harness/gate.h"
#include "harness/machine_class.h"
#include "harness/machine_info.h"
#include "harness/output_lock.h"
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

std::string machine_name() {
  if (const char* env = std::getenv("SDPA_MACHINE")) return checked_machine_override(env);
  return host_hardware_class(omp_threads());  // the class the results file's context records
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

int cmd_list(RunPlan plan) {
  plan.resolve();
  const Selection& sel = plan.selection;
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

int cmd_list_policies(bool as_json) {
  json list = json::array();
  for (const NamedPolicy& named : stopping_policies()) {
    const StoppingPolicy& p = named.policy;
    list.push_back({{"name", p.name},
                    {"summary", named.summary},
                    {"warmup", p.warmup},
                    {"min_samples", p.min_samples},
                    {"max_samples", p.max_samples},
                    {"min_time_s", p.min_time_s},
                    {"max_time_s", p.max_time_s},
                    {"case_budget_s", p.case_budget_s},
                    {"target_rel_stderr", p.target_rel_stderr}});
  }
  if (as_json) {
    std::cout << list.dump(1) << "\n";
    return 0;
  }
  std::cout << "stopping policies (--policy NAME; default: default):\n";
  for (const json& p : list) {
    std::cout << "  " << p["name"].get<std::string>() << ": " << p["summary"].get<std::string>() << "\n      ";
    for (const char* key : {"warmup", "min_samples", "max_samples", "min_time_s", "max_time_s", "case_budget_s",
                            "target_rel_stderr"}) {
      std::cout << key << " " << p[key].dump() << (std::string(key) == "target_rel_stderr" ? "\n" : ", ");
    }
  }
  return 0;
}

int cmd_check(RunPlan plan, const CheckOptions& opts) {
  plan.resolve();
  const Selection& sel = plan.selection;
  apply_threads(sel);
  const std::vector<Problem> problems = select_problems(sel);
  SelectedBackends selected = select_cases(sel, problems);
  print_left_out(selected);
  for (const std::string& m : selected.missing) std::cout << "skip    " << m << "\n";

  CheckConsoleReporter console(std::cout, opts.verbose);
  std::optional<CheckJsonReporter> json_out;
  std::vector<Reporter*> reporters{&console};
  if (!opts.json_out.empty()) reporters.push_back(&json_out.emplace(opts.json_out));
  RunnerOptions options;
  options.reference_budget_flops = kCheckReferenceFlops;
  if (plan.isolate) {
    std::vector<std::string> args;  // the selection's threads and device; check measures nothing
    if (sel.threads > 0) args.insert(args.end(), {"--threads", std::to_string(sel.threads)});
    if (!sel.vulkan_device.empty()) args.insert(args.end(), {"--vulkan-device", sel.vulkan_device});
    options.isolate = IsolationOptions{plan.case_timeout_s > 0 ? plan.case_timeout_s : 600.0, false, args};
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

namespace {

// A resumed run must measure what its journal's first part measured: the same scenario, rate,
// policy and overrides, threads, isolation, cache state and binary. Else the file would mix them.
void refuse_other_run_options(const json& journalled, const json& now, const std::string& out) {
  if (!journalled.is_object()) {
    throw SpecError(out + ".partial.jsonl: its run recorded no run options (an older binary); start over with "
                          "--fresh");
  }
  std::string differences;
  for (const auto& [key, value] : now.items()) {
    const json before = journalled.contains(key) ? journalled[key] : json();
    if (before != value) differences += (differences.empty() ? "" : ", ") + key + " " + before.dump() + " -> " + value.dump();
  }
  if (!differences.empty()) {
    throw SpecError("cannot resume " + out + ": the killed run was measured with other options (" + differences +
                    "); run with those options again, or start over with --fresh");
  }
}

// The first part's calibration of a resumed run: every row of the file is held to the same
// denominators.
Peaks resumed_peaks(const json& first) {
  Peaks peaks;
  for (const json& c : first.value("calibrations", json::array())) {
    Calibration cal{c.value("device_class", ""), c.value("gemm", ""), c.value("tflops", 0.0)};
    cal.dtype = parse_problem("dtype=" + c.value("dtype", "f32")).dtype;  // core's parser: SpecError if unknown
    cal.from_library = c.value("from_library", false);
    peaks.all.push_back(cal);
  }
  for (const auto& [key, value] : first.items()) {
    const std::string pre = "bandwidth_", post = "_gbs";
    if (key.rfind(pre, 0) == 0 && key.size() > pre.size() + post.size() && value.is_number()) {
      peaks.bandwidth_gbs[key.substr(pre.size(), key.size() - pre.size() - post.size())] = value.get<double>();
    }
  }
  return peaks;
}

json run_context(const RunPlan& plan, const StoppingPolicy& policy, const SelectedBackends& selected,
                 std::size_t cases) {
  json context = base_context("run");
  // The overrides are part of what the percentiles can claim: they are recorded with the name.
  std::string overrides;
  if (plan.min_samples > 0) overrides += ", min " + std::to_string(policy.min_samples) + " samples";
  if (plan.max_time_s > 0) {
    char max_time[64];
    std::snprintf(max_time, sizeof max_time, ", max %g s per case once the minimum samples are in", policy.max_time_s);
    overrides += max_time;
  }
  context["stopping_policy"] = policy.name + overrides + (policy.cold ? " (cold caches)" : " (hot caches)");
  context["run_options"] = plan.fingerprint();
  context["scenario"] = plan.scenario;
  if (plan.scenario == "server") {
    context["scenario_rule"] =
        plan.server_qps > 0 ? "Poisson arrivals at " + rate_text(plan.server_qps) + " queries/s; latency = "
                                  "completion - arrival, queueing included"
                            : "the highest Poisson arrival rate whose p99 latency stays under " +
                                  rate_text(plan.server_p99_ms) + " ms (bisection), then measured at it";
  }
  context["timing"] =
      "real_time: device clock where the backend has one (kernel time), else wall; cpu_time: wall clock of the "
      "host call to completion (end-to-end latency)";
  const Selection& sel = plan.selection;
  if (!sel.suite.empty()) context["suite"] = sel.suite;
  if (sel.shard_count > 1) {
    context["shard"] = std::to_string(sel.shard_index) + "/" + std::to_string(sel.shard_count);
    context["shard_cases"] = cases;
  }
  if (plan.isolate) {
    context["isolation"] =
        "each case in a child process, limit " + std::to_string(int(plan.isolated_case_timeout())) + " s";
  }
  add_backend_context(context, selected);
  return context;
}

// The run measures its own noise: the same GEMMs again at the end. A machine that changed speed
// during the run (another job, thermal limits) shows here rather than in the tables.
void recalibrate(json& context, SelectedBackends& selected) {
  std::cerr << "calibrating again (the run's noise check) ...\n";
  const Peaks end = calibrate(selected, std::cerr);
  end.add_to_context(context, "calibration_end");
  // Every calibration that ran counts (each GEMM of every device and dtype, the memory
  // bandwidth), read back as the gate reads it, not only the normaliser GEMM: a run without
  // oneDNN has no normaliser and would otherwise record 0 whatever the machine did.
  const CalibrationDrift drift = calibration_drift_of(context);
  context["calibration_drift"] = drift.fraction;
  if (drift.fraction > 0.05) {
    context["noise_warning"] = "the calibrations differed by " + percent_text(drift.fraction) +
                               " between the start and the end of the run (" + drift.what +
                               "): the machine's speed changed";
    std::cerr << "warning: " << context["noise_warning"].get<std::string>() << "\n";
  }
}

}  // namespace

int cmd_run(RunPlan plan) {
  plan.resolve();  // every option and the environment, before anything is computed or written
  const Selection& sel = plan.selection;
  apply_threads(sel);
  const std::vector<Problem> problems = select_problems(sel);
  SelectedBackends selected = select_cases(sel, problems);
  const StoppingPolicy policy = plan.stopping();

  const std::string out = plan.out.empty() ? default_out(sel) : plan.out;
  if (fs::is_directory(out)) throw SpecError(out + " is a directory: --out names a results file");
  const OutputLock lock(out);  // held until the file is written: a second run to `out` is refused
  const bool journal = fs::exists(out + ".partial.jsonl");
  if (fs::exists(out) && !plan.force && !(journal && !plan.fresh)) {
    throw SpecError(out + " exists (a finished results file): give another --out, or --force to replace it");
  }
  std::set<std::string> wanted;
  for (const Problem& p : problems) {
    for (const auto& b : selected.backends) {
      if (selected.wants(*b, p)) wanted.insert(case_name(b->name(), p));
    }
  }
  ResultsWriter writer(out, !plan.fresh, wanted);
  json context = run_context(plan, policy, selected, wanted.size());
  if (const json* first = writer.resumed_context()) {
    refuse_other_run_options(first->value("run_options", json()), context["run_options"], out);
  }
  if (writer.resumed() > 0) {
    std::cerr << "resuming " << out << ": " << writer.resumed() << " case(s) already done (--fresh to start over)\n";
  }
  if (!writer.ignored().empty()) {
    std::cerr << "warning: " << writer.ignored().size() << " journalled case(s) are not in this selection and are "
              << "left out, e.g. " << writer.ignored().front() << "\n";
  }
  print_left_out(selected);

  Peaks peaks;
  if (const json* first = writer.resumed_context()) {
    context["date"] = first->value("date", context["date"]);
    context["resumed"] = true;
    context["resumed_at"] = utc_now("%Y-%m-%dT%H:%M:%SZ");
    peaks = resumed_peaks(*first);
  } else if (plan.calibration) {
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
  RunnerOptions options = runner_options(plan);
  options.already_done = [&](const Backend& b, const Problem& p) { return writer.done(case_name(b.name(), p)); };
  run_cases(problems, selected, options, {&progress, &results});

  if (plan.calibration && !peaks.all.empty()) recalibrate(context, selected);
  writer.finish(context);
  std::cerr << "wrote " << out << "\n";
  const ResultsFile file = load_results(out);
  print_report(std::cout, file);
  return progress.counts().any_failure() ? 1 : 0;
}

int cmd_dump(RunPlan plan, const std::string& dir) {
  plan.resolve();
  const Selection& sel = plan.selection;
  apply_threads(sel);
  if (sel.backends.size() != 1 || sel.backends.front() == "all") throw SpecError("dump: give exactly one --backend");
  const std::vector<Problem> problems = select_problems(sel);
  if (problems.size() != 1) throw SpecError("dump: give exactly one --problem");
  SelectedBackends selected = select_backends(sel);
  if (selected.backends.empty()) throw SpecError("dump: " + selected.missing.front());
  admit_problems(problems);
  apply_shard(selected, problems, sel.shard_index, sel.shard_count);
  if (!selected.wants(*selected.backends.front(), problems.front())) {
    std::cout << "shard " << plan.shard << " holds no case of this selection: nothing written\n";
    return 0;
  }
  DumpReporter dump(dir);
  RunnerOptions options;
  options.keep_output = true;
  run_cases(problems, selected, options, {&dump});
  if (!dump.wrote()) throw SpecError("dump: backend " + sel.backends.front() + " did not run: " + dump.failure());
  std::cout << "wrote " << dir << "/{q,k,v,out,ref}.npy and problem.txt (scale " << problems.front().scale() << ")\n";
  return 0;
}

}  // namespace sdpa
