#include "harness/isolation.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "harness/child_process.h"
#include "harness/results.h"

namespace sdpa {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

double number_or(const json& e, const char* key, double fallback = 0) {
  auto it = e.find(key);
  return it != e.end() && it->is_number() ? it->get<double>() : fallback;
}

std::vector<double> numbers(const json& e, const char* key) {
  std::vector<double> out;
  if (auto it = e.find(key); it != e.end() && it->is_array()) {
    for (const json& v : *it) out.push_back(v.is_number() ? v.get<double>() : 0.0);
  }
  return out;
}

CaseStatus status_of(const std::string& s) {
  if (s == "pass") return CaseStatus::pass;
  if (s == "fail") return CaseStatus::fail;
  if (s == "skip") return CaseStatus::skip;
  if (s == "invalid") return CaseStatus::invalid;
  return CaseStatus::error;
}

// The child's results or check file: the median entry of the case (or its only entry).
json case_entry(const json& doc) {
  const json& list = doc.contains("cases") ? doc["cases"] : doc.value("benchmarks", json::array());
  json found;
  for (const json& e : list) {
    if (e.value("aggregate_name", "") == "median") return e;
    if (found.is_null()) found = e;
  }
  return found;
}

}  // namespace

CaseResult case_result_from_entry(const json& e, const Problem& problem) {
  CaseResult r;
  r.backend = e.value("backend", "");
  r.problem = problem;
  r.status = status_of(e.value("status", "error"));
  r.reason = e.value("reason", "");
  if (r.reason.empty() && e.contains("error_message")) {
    const std::string m = e.value("error_message", "");
    const std::string prefix = e.value("status", "") + ": ";
    r.reason = m.rfind(prefix, 0) == 0 ? m.substr(prefix.size()) : m;
  }
  r.accuracy.max_abs_err = number_or(e, "max_abs_err");
  r.accuracy.max_rel_err = number_or(e, "max_rel_err");
  r.accuracy.nmse = number_or(e, "nmse");
  r.accuracy.worst_ratio = number_or(e, "worst_of_bound");
  r.accuracy.failed_elems = static_cast<int64_t>(number_or(e, "failed_elems"));
  r.accuracy.checked_elems = static_cast<int64_t>(number_or(e, "checked_elems"));
  r.accuracy.tol.abs = number_or(e, "tol_abs");
  r.accuracy.tol.rel = number_or(e, "tol_rel");
  r.reference_rows_checked = static_cast<int64_t>(number_or(e, "rows_checked"));
  r.reference_rows_total = static_cast<int64_t>(number_or(e, "rows_total"));
  r.scratch_bytes = static_cast<uint64_t>(number_or(e, "scratch_bytes"));
  r.saturation.logit_mean = number_or(e, "logit_mean");
  r.saturation.logit_std = number_or(e, "logit_std");
  r.saturation.max_prob_mean = number_or(e, "max_prob_mean");
  r.saturation.rows_max_prob_over_95 = number_or(e, "rows_max_prob_over_95");
  r.saturation_unscaled.logit_std = number_or(e, "logit_std_unscaled");
  r.saturation_unscaled.max_prob_mean = number_or(e, "max_prob_mean_unscaled");
  r.saturation_unscaled.rows_max_prob_over_95 = number_or(e, "rows_max_prob_over_95_unscaled");
  for (const auto& [k, v] : e.items()) {
    if (k.rfind("note_", 0) == 0) r.notes[k.substr(5)] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  if (e.contains("samples_real_time")) {
    Measurement m;
    m.wall_ms = numbers(e, "samples_cpu_time");
    if (e.value("device_clock", false)) m.device_ms = numbers(e, "samples_real_time");
    m.stopped_because = e.value("stopped_because", "");
    // What the child measured (the plan it was given): server or single-stream, and the rates.
    m.scenario = e.value("scenario", "single-stream");
    m.offered_qps = number_or(e, "offered_qps");
    m.achieved_qps = number_or(e, "achieved_qps");
    m.queries_per_batch = static_cast<int64_t>(number_or(e, "queries_per_batch", 1));
    r.measurement = std::move(m);
  }
  return r;
}

CaseResult run_case_isolated(const std::string& backend, const Problem& problem, const IsolationOptions& options) {
  const fs::path dir = fs::temp_directory_path() / ("sdpa-isolate-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string file = (dir / "case.json").string();
  fs::remove(file);
  std::vector<std::string> argv{self_executable(), options.measure ? "run" : "check", "--backend", backend,
                                "--problem", problem.to_string()};
  if (options.measure) {
    argv.insert(argv.end(), {"--out", file, "--force", "--fresh", "--no-calibration"});
  } else {
    argv.insert(argv.end(), {"--json", file, "--allow-unavailable"});
  }
  argv.insert(argv.end(), options.child_args.begin(), options.child_args.end());
  const ChildOutcome outcome = run_child(argv, options.case_timeout_s);

  CaseResult r;
  r.backend = backend;
  r.problem = problem;
  std::ifstream in(file);
  const json doc = in ? json::parse(in, nullptr, false) : json();
  fs::remove_all(dir);
  const bool reported = !outcome.timed_out && outcome.signal == 0 && !doc.is_discarded() && !doc.is_null();
  if (reported) {
    const json entry = case_entry(doc);
    if (!entry.is_null()) return case_result_from_entry(entry, problem);
  }
  r.status = CaseStatus::error;
  r.reason = outcome.describe(options.case_timeout_s);
  if (!outcome.timed_out && outcome.signal == 0) {
    // It exited without writing its case: keep the last line it printed, which says why.
    std::string last = outcome.output;
    while (!last.empty() && last.back() == '\n') last.pop_back();
    if (auto nl = last.rfind('\n'); nl != std::string::npos) last = last.substr(nl + 1);
    r.reason += ": " + last;
  }
  return r;
}

}  // namespace sdpa
