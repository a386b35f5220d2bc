#include "harness/results_file.h"

#include <cmath>
#include <fstream>
#include <set>

#include "core/problem.h"

namespace sdpa {

using nlohmann::json;

namespace {

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw SpecError(path + ": " + why);
}

// Milliseconds per unit of Google Benchmark's time_unit.
double ms_per(const std::string& unit, const std::string& path) {
  if (unit == "ns") return 1e-6;
  if (unit == "us") return 1e-3;
  if (unit == "ms") return 1.0;
  if (unit == "s") return 1e3;
  refuse(path, "time_unit '" + unit + "' is not ns, us, ms or s");
}

double number(const json& e, const char* key, const std::string& where) {
  auto it = e.find(key);
  if (it == e.end() || it->is_null()) return std::nan("");
  if (!it->is_number()) throw SpecError(where + ": '" + key + "' is not a number");
  return it->get<double>();
}

std::string text(const json& e, const char* key, const std::string& where) {
  auto it = e.find(key);
  if (it == e.end()) return "";
  if (!it->is_string()) throw SpecError(where + ": '" + key + "' is not a string");
  return it->get<std::string>();
}

std::vector<double> number_array(const json& e, const char* key, double scale, const std::string& where) {
  std::vector<double> out;
  auto it = e.find(key);
  if (it == e.end()) return out;
  if (!it->is_array()) throw SpecError(where + ": '" + key + "' is not an array");
  out.reserve(it->size());
  for (const json& v : *it) {
    if (!v.is_number()) throw SpecError(where + ": '" + key + "' holds a non-number");
    out.push_back(v.get<double>() * scale);
  }
  return out;
}

int detect_version(const json& doc, const std::string& path) {
  if (!doc.is_object()) refuse(path, "not a results file (the top level is not a JSON object)");
  if (doc.contains("format")) {
    if (doc["format"] != kResultsFormat) {
      refuse(path, "not a results file of sdpa-bench (format " + doc["format"].dump() + ")");
    }
    if (!doc.contains("format_version") || !doc["format_version"].is_number_integer()) {
      refuse(path, "format_version missing or not an integer");
    }
    const int v = doc["format_version"].get<int>();
    if (v < 1 || v > kResultsFormatVersion) {
      refuse(path, "format_version " + std::to_string(v) + " is newer than this sdpa-bench reads (" +
                       std::to_string(kResultsFormatVersion) + "): update sdpa-bench");
    }
    return v;
  }
  // Version 1 files predate the format field; they are recognised by their context.
  const json* ctx = doc.contains("context") ? &doc["context"] : nullptr;
  if (ctx && ctx->is_object() && ctx->value("executable", "") == "sdpa-bench") return 1;
  refuse(path, "not a results file of sdpa-bench (no \"format\": \"" + std::string(kResultsFormat) +
                   "\" and no sdpa-bench context; a Google Benchmark file of another program?)");
}

}  // namespace

const CaseRecord* ResultsFile::find(const std::string& case_name) const {
  for (const CaseRecord& c : cases) {
    if (c.name() == case_name) return &c;
  }
  return nullptr;
}

std::string ResultsFile::context_text(const std::string& key) const {
  if (!context.is_object() || !context.contains(key)) return "";
  const json& v = context[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

double ResultsFile::context_number(const std::string& key, double fallback) const {
  if (!context.is_object() || !context.contains(key) || !context[key].is_number()) return fallback;
  return context[key].get<double>();
}

ResultsFile parse_results(const json& doc, const std::string& path) {
  ResultsFile file;
  file.path = path;
  file.format_version = detect_version(doc, path);
  file.context = doc.value("context", json::object());
  if (!doc.contains("benchmarks") || !doc["benchmarks"].is_array()) refuse(path, "no 'benchmarks' array");

  std::map<std::string, std::size_t> index;
  const json& entries = doc["benchmarks"];
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const json& e = entries[i];
    const std::string where = path + ": benchmarks[" + std::to_string(i) + "]";
    if (!e.is_object()) throw SpecError(where + ": not an object");
    const std::string run = text(e, "run_name", where);
    const std::string backend = text(e, "backend", where), problem = text(e, "problem", where);
    if (run.empty() || backend.empty() || problem.empty()) {
      throw SpecError(where + ": needs run_name, backend and problem");
    }
    auto [it, fresh] = index.emplace(run, file.cases.size());
    if (fresh) {
      CaseRecord c;
      c.backend = backend;
      c.problem = problem;
      file.cases.push_back(std::move(c));
    }
    CaseRecord& c = file.cases[it->second];
    // A missing status is never read as a pass.
    const std::string status = text(e, "status", where);
    if (status.empty()) throw SpecError(where + ": no 'status' (pass, fail, skip, error or invalid)");
    static const std::set<std::string> statuses{"pass", "fail", "skip", "error", "invalid"};
    if (!statuses.count(status)) throw SpecError(where + ": status '" + status + "' is unknown");
    c.status = status;
    if (e.value("error_occurred", false)) {
      std::string message = text(e, "error_message", where);
      // "skip: reason" -> "reason": the status already says skip.
      if (message.rfind(status + ": ", 0) == 0) message = message.substr(status.size() + 2);
      c.message = message;
      continue;
    }
    const double scale = ms_per(e.value("time_unit", "ms"), where);
    const std::string run_type = text(e, "run_type", where);
    if (run_type == "iteration") {  // version 1: one entry per sample
      c.samples_ms.push_back(number(e, "real_time", where) * scale);
      c.samples_cpu_ms.push_back(number(e, "cpu_time", where) * scale);
      continue;
    }
    if (run_type != "aggregate") throw SpecError(where + ": run_type '" + run_type + "' is unknown");
    const std::string agg = text(e, "aggregate_name", where);
    c.time_ms[agg] = number(e, "real_time", where) * scale;
    if (agg != "median") continue;
    for (const auto& [key, value] : e.items()) {
      if (value.is_number()) c.counters[key] = value.get<double>();
      if (key.rfind("note_", 0) == 0) c.notes[key.substr(5)] = value.is_string() ? value.get<std::string>() : value.dump();
    }
    c.counters.erase("real_time");
    c.counters.erase("cpu_time");
    c.device_clock = e.value("device_clock", false);
    c.stopped_because = e.value("stopped_because", "");
    if (file.format_version >= 2) {
      c.samples_ms = number_array(e, "samples_real_time", scale, where);
      c.samples_cpu_ms = number_array(e, "samples_cpu_time", scale, where);
    }
  }
  return file;
}

ResultsFile load_results(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw SpecError(path + ": cannot read the results file");
  json doc = json::parse(in, nullptr, false);
  if (doc.is_discarded()) throw SpecError(path + ": not JSON (truncated or not a results file)");
  return parse_results(doc, path);
}

}  // namespace sdpa
