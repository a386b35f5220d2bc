#include "harness/results_file.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>

#include "core/problem.h"

namespace sdpa {

using nlohmann::json;

namespace {

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw SpecError(path + ": " + why);
}

// "a string", "a number" ...: what a field holds instead of what it should.
std::string kind_of(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::binary: return "binary";
    case json::value_t::discarded: return "discarded";
    default: return "a number";
  }
}

// A value quoted in a message, cut short: a damaged file may hold megabytes in one field.
std::string excerpt(const std::string& text) {
  constexpr std::size_t kMax = 200;
  return text.size() <= kMax ? text : text.substr(0, kMax) + "...";
}
std::string excerpt(const json& v) {
  return excerpt(v.dump(-1, ' ', false, json::error_handler_t::replace));
}

// Milliseconds per unit of Google Benchmark's time_unit.
double ms_per(const std::string& unit, const std::string& path) {
  if (unit == "ns") return 1e-6;
  if (unit == "us") return 1e-3;
  if (unit == "ms") return 1.0;
  if (unit == "s") return 1e3;
  refuse(path, "time_unit '" + excerpt(unit) + "' is not ns, us, ms or s");
}

double number(const json& e, const char* key, const std::string& where) {
  auto it = e.find(key);
  if (it == e.end() || it->is_null()) return std::nan("");
  if (!it->is_number()) throw SpecError(where + ": '" + key + "' is not a number (" + kind_of(*it) + ")");
  return it->get<double>();
}

// A text field: "" when absent or null.
std::string text(const json& e, const char* key, const std::string& where) {
  auto it = e.find(key);
  if (it == e.end() || it->is_null()) return "";
  if (!it->is_string()) throw SpecError(where + ": '" + key + "' is not a string (" + kind_of(*it) + ")");
  return it->get<std::string>();
}

bool boolean(const json& e, const char* key, const std::string& where) {
  auto it = e.find(key);
  if (it == e.end() || it->is_null()) return false;
  if (!it->is_boolean()) throw SpecError(where + ": '" + key + "' is not true or false (" + kind_of(*it) + ")");
  return it->get<bool>();
}

std::vector<double> number_array(const json& e, const char* key, double scale, const std::string& where) {
  std::vector<double> out;
  auto it = e.find(key);
  if (it == e.end() || it->is_null()) return out;
  if (!it->is_array()) throw SpecError(where + ": '" + key + "' is not an array (" + kind_of(*it) + ")");
  out.reserve(it->size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    if (!v.is_number()) {
      throw SpecError(where + ": '" + key + "'[" + std::to_string(i) + "] is not a number (" + kind_of(v) + ")");
    }
    out.push_back(v.get<double>() * scale);
  }
  return out;
}

int detect_version(const json& doc, const std::string& path) {
  if (!doc.is_object()) refuse(path, "not a results file (the top level is not a JSON object)");
  if (doc.contains("format")) {
    const json& format = doc["format"];
    if (!format.is_string() || format.get<std::string>() != kResultsFormat) {
      refuse(path, "not a results file of sdpa-bench (format " + excerpt(format) + ")");
    }
    if (!doc.contains("format_version") || !doc["format_version"].is_number_integer()) {
      refuse(path, "format_version missing or not an integer");
    }
    // Compared as the integer written, never narrowed first: 4294967298 is not 2.
    const json& v = doc["format_version"];
    if (v.is_number_unsigned() ? v.get<uint64_t>() > static_cast<uint64_t>(kResultsFormatVersion)
                               : v.get<int64_t>() > kResultsFormatVersion) {
      refuse(path, "format_version " + v.dump() + " is newer than this sdpa-bench reads (" +
                       std::to_string(kResultsFormatVersion) + "): update sdpa-bench");
    }
    if (v.get<int64_t>() < 1) refuse(path, "format_version " + v.dump() + " is not a version (1 or 2)");
    return static_cast<int>(v.get<int64_t>());
  }
  // Version 1 files predate the format field; they are recognised by their context.
  auto ctx = doc.find("context");
  if (ctx != doc.end() && ctx->is_object()) {
    auto exe = ctx->find("executable");
    if (exe != ctx->end() && exe->is_string() && exe->get<std::string>() == "sdpa-bench") return 1;
  }
  refuse(path, "not a results file of sdpa-bench (no \"format\": \"" + std::string(kResultsFormat) +
                   "\" and no sdpa-bench context; a Google Benchmark file of another program?)");
}

// What is known of one case while its entries are read.
struct Seen {
  std::size_t first_entry = 0, last_entry = 0;
  std::string run_name;
  bool error_entry = false;
  std::set<std::string> aggregates;
};

[[noreturn]] void twice(const std::string& path, const std::string& name, std::size_t first, std::size_t again) {
  refuse(path, "case " + excerpt(name) + " is given twice (benchmarks[" + std::to_string(first) + "] and benchmarks[" +
                   std::to_string(again) + "]); a results file holds each case once (a file pasted into "
                   "another? merge shard files with `sdpa-bench merge`)");
}

ResultsFile parse_checked(const json& doc, const std::string& path) {
  ResultsFile file;
  file.path = path;
  file.format_version = detect_version(doc, path);
  auto context = doc.find("context");
  if (context == doc.end() || context->is_null()) {
    file.context = json::object();
  } else if (!context->is_object()) {
    refuse(path, "'context' is not an object (" + kind_of(*context) + ")");
  } else {
    file.context = *context;
  }
  if (!doc.contains("benchmarks") || !doc["benchmarks"].is_array()) refuse(path, "no 'benchmarks' array");

  std::map<std::string, std::size_t> index;  // case name -> position in file.cases
  std::map<std::string, Seen> seen;          // case name -> its entries so far
  std::map<std::string, std::string> case_of_run;
  const json& entries = doc["benchmarks"];
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const json& e = entries[i];
    const std::string where = path + ": benchmarks[" + std::to_string(i) + "]";
    if (!e.is_object()) throw SpecError(where + ": not an object (" + kind_of(e) + ")");
    const std::string run = text(e, "run_name", where);
    const std::string backend = text(e, "backend", where), problem = text(e, "problem", where);
    if (run.empty() || backend.empty() || problem.empty()) {
      throw SpecError(where + ": needs run_name, backend and problem");
    }
    const std::string name = backend + "/" + problem;
    // One run_name per case and one case per run_name: merge groups entries by run_name, the
    // gate and the report by backend/problem; they must see the same cases.
    if (auto [r, fresh] = case_of_run.emplace(run, name); !fresh && r->second != name) {
      throw SpecError(where + ": run_name '" + excerpt(run) + "' is case " + excerpt(r->second) +
                      " in an earlier entry and " + excerpt(name) + " here");
    }
    auto [it, fresh] = index.emplace(name, file.cases.size());
    Seen& s = seen[name];
    if (fresh) {
      CaseRecord c;
      c.backend = backend;
      c.problem = problem;
      file.cases.push_back(std::move(c));
      s.first_entry = i;
      s.run_name = run;
    } else if (s.run_name != run || s.last_entry + 1 != i || s.error_entry) {
      twice(path, name, s.first_entry, i);  // its entries are not together, or a skip comes again
    }
    s.last_entry = i;
    CaseRecord& c = file.cases[it->second];
    // A missing status is never read as a pass.
    const std::string status = text(e, "status", where);
    if (status.empty()) throw SpecError(where + ": no 'status' (pass, fail, skip, error or invalid)");
    static const std::set<std::string> statuses{"pass", "fail", "skip", "error", "invalid"};
    if (!statuses.count(status)) throw SpecError(where + ": status '" + excerpt(status) + "' is unknown");
    if (!fresh && status != c.status) {
      throw SpecError(where + ": case " + excerpt(name) + " is '" + c.status + "' in benchmarks[" +
                      std::to_string(s.first_entry) + "] and '" + status +
                      "' here; a case has one status (the case given twice?)");
    }
    c.status = status;
    if (boolean(e, "error_occurred", where)) {
      if (!fresh) twice(path, name, s.first_entry, i);
      s.error_entry = true;
      std::string message = text(e, "error_message", where);
      // "skip: reason" -> "reason": the status already says skip.
      if (message.rfind(status + ": ", 0) == 0) message = message.substr(status.size() + 2);
      c.message = message;
      continue;
    }
    const double scale = ms_per(text(e, "time_unit", where).empty() ? "ms" : text(e, "time_unit", where), where);
    const std::string run_type = text(e, "run_type", where);
    if (run_type == "iteration") {  // version 1: one entry per sample
      c.samples_ms.push_back(number(e, "real_time", where) * scale);
      c.samples_cpu_ms.push_back(number(e, "cpu_time", where) * scale);
      continue;
    }
    if (run_type != "aggregate") throw SpecError(where + ": run_type '" + excerpt(run_type) + "' is unknown");
    const std::string agg = text(e, "aggregate_name", where);
    if (agg.empty()) throw SpecError(where + ": an aggregate without 'aggregate_name'");
    if (!s.aggregates.insert(agg).second) twice(path, name, s.first_entry, i);
    c.time_ms[agg] = number(e, "real_time", where) * scale;
    if (agg != "median") continue;
    for (const auto& [key, value] : e.items()) {
      if (value.is_number()) c.counters[key] = value.get<double>();
      if (key.rfind("note_", 0) == 0) c.notes[key.substr(5)] = value.is_string() ? value.get<std::string>() : value.dump();
    }
    c.counters.erase("real_time");
    c.counters.erase("cpu_time");
    c.device_clock = boolean(e, "device_clock", where);
    c.stopped_because = text(e, "stopped_because", where);
    if (file.format_version >= 2) {
      c.samples_ms = number_array(e, "samples_real_time", scale, where);
      c.samples_cpu_ms = number_array(e, "samples_cpu_time", scale, where);
    }
  }
  return file;
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
  try {
    return parse_checked(doc, path);
  } catch (const json::exception& e) {
    // Every field is checked before it is read; this is the net under a check that is missing,
    // so that a damaged file is still bad input naming the file, never a bare library error.
    throw SpecError(path + ": " + e.what());
  }
}

json parse_results_json(const std::string& text, const std::string& path) {
  // A results file nests a few levels; a value nested thousands deep would overflow the stack of
  // every recursive walk over it (printing the context), so it is refused here.
  constexpr int kMaxDepth = 64;
  bool too_deep = false;
  json doc = json::parse(
      text,
      [&](int depth, json::parse_event_t, json&) {
        if (depth > kMaxDepth) too_deep = true;
        return depth <= kMaxDepth;
      },
      false);
  if (doc.is_discarded()) throw SpecError(path + ": not JSON (truncated or not a results file)");
  if (too_deep) throw SpecError(path + ": JSON nested deeper than " + std::to_string(kMaxDepth) + " levels");
  return doc;
}

ResultsFile parse_results_text(const std::string& text, const std::string& path) {
  return parse_results(parse_results_json(text, path), path);
}

ResultsFile load_results(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw SpecError(path + ": a folder, not a results file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SpecError(path + ": cannot read the results file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw SpecError(path + ": cannot read the results file");
  return parse_results_text(text.str(), path);
}

}  // namespace sdpa
