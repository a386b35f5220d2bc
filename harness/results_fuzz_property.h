// The property both results-file fuzzers check (harness/results_fuzz_test.cpp, run by ctest, and
// the optional libFuzzer target harness/results_libfuzzer.cpp), and the structure-aware mutator
// they share.
//
// The property, for any bytes given as a results file: the reader either refuses them with a
// SpecError whose message starts with the file's path (what `gate`, `report` and `merge` turn
// into exit 2 naming the file; never a bare library error), or accepts them; an accepted file
// then goes through everything that reads results files without another kind of exception:
// the gate (against itself and against a sound file, with a re-run), its printed table in text
// and Markdown (every Markdown row keeps its columns, no "p = 0", no PASS that judged no speed),
// merge (whose output reads back), the report and its CSV tables (every file name inside the
// folder), the machine class and the calibration drift. Anything else is `broken`, with why.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <exception>
#include <filesystem>
#include <sstream>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/problem.h"
#include "harness/gate.h"
#include "harness/gate_cli.h"
#include "harness/machine_class.h"
#include "harness/merge.h"
#include "harness/report.h"
#include "harness/report_csv.h"
#include "harness/results_file.h"

namespace sdpa::fuzz {

using nlohmann::json;

// splitmix64: every seed gives a full-period stream, so an input is a pure function of its seed.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool chance(int percent) { return below(100) < static_cast<uint64_t>(percent); }
  double uniform() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }
  template <class T, std::size_t N>
  const T& pick(const T (&items)[N]) { return items[below(N)]; }
};

inline constexpr const char* kFuzzPath = "fuzz/results.json";

// Text a hostile or broken writer puts where names and reasons go.
inline std::string odd_text(Rng& rng) {
  static const char* const kTexts[] = {
      "skip: a|b", "a\\|b", "line one\nline two", "x/../../../../tmp/pwned", "..", ".", "/", "", " ",
      "a,b\"c", "\r\n", "|||", "<br>", "\xc3\xa9t\xc3\xa9", "pass", "fail", "skip", "median", "ms", "nan",
      "sdpa-bench", "sdpa-bench-results", "0/2", "1/2", "2/2", "-1/2", "cpu", "cuda:0", "vulkan:llvmpipe"};
  if (rng.chance(3)) return std::string(1 + rng.below(3000), "|\n\\a."[rng.below(5)]);
  return rng.pick(kTexts);
}

inline json odd_value(Rng& rng) {
  switch (rng.below(16)) {
    case 0: return nullptr;
    case 1: return rng.chance(50);
    case 2: return 5;
    case 3: return -1;
    case 4: return 4294967298ull;
    case 5: return 18446744073709551615ull;
    case 6: return std::numeric_limits<int64_t>::min();
    case 7: return 1.7976931348623157e308;
    case 8: return -1.7976931348623157e308;
    case 9: return 4.9e-324;
    case 10: return 0.0;
    case 11: return json::array({1, "x", nullptr});
    case 12: return json::object({{"a", 1}});
    case 13: return json::array();
    case 14: return "yes";
    default: return odd_text(rng);
  }
}

inline const char* const kFuzzProblems[] = {"b=1,hq=4,sq=256,d=64,dtype=f32,mask=none",
                                            "b=1,hq=4,sq=256,d=64,dtype=f16,mask=causal",
                                            "b=1,hq=8,hkv=2,sq=1,skv=2048,d=128,dtype=bf16,mask=none", "not a spec"};

// A sound results file of a few cases, of either version, with calibrations and samples.
inline json sound_doc(Rng& rng) {
  static const char* const kBackends[] = {"naive", "blocked_cpu", "onednn", "cudnn"};
  static const char* const kStatuses[] = {"pass", "pass", "pass", "fail", "skip", "error", "invalid"};
  static const char* const kUnits[] = {"ms", "us", "ns", "s"};
  static const char* const kScenarios[] = {"single-stream", "server", "offline", "x/../../../../tmp/pwned", "a|b"};
  const bool v1 = rng.chance(10);
  const double normaliser = 0.1 + rng.uniform();
  json ctx{{"executable", "sdpa-bench"}, {"cpu_model", "AMD EPYC 9R14"}, {"threads_used", "2"},
           {"scenario", rng.pick(kScenarios)}, {"git_commit", "abc"}, {"suite", "smoke"},
           {"calibration_cpu_normaliser_tflops", normaliser}, {"bandwidth_cpu_gbs", 20 + 10 * rng.uniform()},
           {"date", "2026-12-07T21:00:00"}};
  if (rng.chance(60)) {
    const double start = 0.1 + rng.uniform(), end = start * (0.8 + 0.4 * rng.uniform());
    ctx["calibrations"] = json::array({{{"device_class", "cpu"}, {"dtype", "f32"}, {"gemm", "sgemm"},
                                        {"tflops", start}, {"from_library", false}}});
    ctx["calibration_ends"] = json::array({{{"device_class", "cpu"}, {"dtype", "f32"}, {"gemm", "sgemm"},
                                            {"tflops", end}, {"from_library", false}}});
    ctx["calibration_end_bandwidth_cpu_gbs"] = 20 + 10 * rng.uniform();
    ctx["calibration_drift"] = 0.0;
  }
  if (rng.chance(20)) {
    ctx["shard"] = rng.chance(50) ? "0/2" : "1/2";
    ctx["shard_cases"] = static_cast<int>(rng.below(4));
  }
  json benchmarks = json::array();
  const int cases = static_cast<int>(rng.below(5));
  for (int i = 0; i < cases; ++i) {
    const std::string backend = rng.chance(90) ? rng.pick(kBackends) : odd_text(rng);
    const std::string problem = rng.chance(90) ? kFuzzProblems[i % 4] : odd_text(rng);
    const std::string run = backend + "/" + problem, status = rng.pick(kStatuses);
    json base{{"name", run}, {"run_name", run}, {"backend", backend}, {"problem", problem}, {"status", status}};
    if (status == "skip" || status == "error" || rng.chance(5)) {
      base["error_occurred"] = true;
      base["error_message"] = status + ": " + (rng.chance(50) ? "a|b" : odd_text(rng));
      benchmarks.push_back(base);
      continue;
    }
    const std::string unit = rng.pick(kUnits);
    const double median = 0.01 + 10 * rng.uniform();
    std::vector<double> samples(rng.chance(10) ? rng.below(3) : 2 + rng.below(40));
    for (double& s : samples) s = median * (0.9 + 0.2 * rng.uniform());
    if (v1) {
      for (double s : samples) {
        json e = base;
        e["run_type"] = "iteration";
        e["time_unit"] = unit;
        e["real_time"] = s;
        e["cpu_time"] = s;
        benchmarks.push_back(e);
      }
      continue;
    }
    for (const char* agg : {"mean", "median", "stddev", "p90", "p99"}) {
      json e = base;
      e["run_type"] = "aggregate";
      e["aggregate_name"] = agg;
      e["time_unit"] = unit;
      e["real_time"] = median;
      e["cpu_time"] = median;
      if (std::string_view(agg) == "median") {
        e["repetitions"] = samples.size();
        e["tflops"] = rng.uniform();
        e["frac_of_gemm_peak"] = rng.uniform();
        e["queries_per_s"] = 100 * rng.uniform();
        e["stopped_because"] = "max_time 10 s";
        e["device_clock"] = false;
        e["note_isa"] = "avx512";
        e["samples_real_time"] = samples;
        e["samples_cpu_time"] = samples;
      }
      benchmarks.push_back(e);
    }
  }
  json doc{{"context", ctx}, {"benchmarks", benchmarks}};
  if (!v1) {
    doc["format"] = kResultsFormat;
    doc["format_version"] = kResultsFormatVersion;
  }
  return doc;
}

// A node of the document picked at random (the root included), and its parent and key.
inline json* random_node(json& root, Rng& rng) {
  json* node = &root;
  while ((node->is_object() || node->is_array()) && !node->empty() && rng.chance(75)) {
    const std::size_t i = rng.below(node->size());
    if (node->is_array()) {
      node = &(*node)[i];
    } else {
      auto it = node->begin();
      std::advance(it, static_cast<std::ptrdiff_t>(i));
      node = &it.value();
    }
  }
  return node;
}

// One structural change: a value of another type, a key removed, an entry given twice or moved,
// an edge version, a field a results file has renamed; what a hand edit or a broken writer does.
inline void mutate(json& doc, Rng& rng) {
  switch (rng.below(9)) {
    case 0:
    case 1:
      *random_node(doc, rng) = odd_value(rng);
      return;
    case 2: {
      json* node = random_node(doc, rng);
      if (node->is_object() && !node->empty()) {
        auto it = node->begin();
        std::advance(it, static_cast<std::ptrdiff_t>(rng.below(node->size())));
        node->erase(it.key());
      }
      return;
    }
    case 3:
    case 4: {  // a case (or one of its entries) given twice, here or further on
      if (!doc.is_object() || !doc.contains("benchmarks") || !doc["benchmarks"].is_array()) return;
      json& b = doc["benchmarks"];
      if (b.empty()) return;
      json copy = b[rng.below(b.size())];
      if (rng.chance(50) && copy.is_object()) {  // the copy says otherwise: a fail, then a pass
        copy["status"] = copy.contains("status") && copy["status"] == "pass" ? "fail" : "pass";
      }
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(rng.below(b.size() + 1)), copy);
      return;
    }
    case 5: {
      if (!doc.is_object()) return;
      static const json kVersions[] = {0, 1, 2, 3, -1, 4294967298ull, 18446744073709551615ull, 2.0, "2", nullptr};
      doc["format_version"] = rng.pick(kVersions);
      return;
    }
    case 6: {  // a field an entry must have, of the wrong type or with an odd value
      if (!doc.is_object() || !doc.contains("benchmarks") || !doc["benchmarks"].is_array() || doc["benchmarks"].empty()) {
        return;
      }
      json& e = doc["benchmarks"][rng.below(doc["benchmarks"].size())];
      static const char* const kFields[] = {"time_unit", "error_occurred", "status", "run_type", "aggregate_name",
                                            "real_time", "samples_real_time", "repetitions", "device_clock",
                                            "stopped_because", "run_name", "backend", "problem", "error_message"};
      if (e.is_object()) e[rng.pick(kFields)] = odd_value(rng);
      return;
    }
    case 7: {  // a context field the readers use
      if (!doc.is_object()) return;
      static const char* const kKeys[] = {"scenario", "cpu_model", "threads_used", "calibration_drift", "shard",
                                          "shard_cases", "date", "calibrations", "calibration_ends",
                                          "calibration_end_bandwidth_cpu_gbs", "bandwidth_cpu_gbs",
                                          "calibration_cpu_normaliser_tflops", "executable", "naive_device"};
      if (!doc.contains("context") || !doc["context"].is_object()) doc["context"] = json::object();
      doc["context"][rng.pick(kKeys)] = odd_value(rng);
      return;
    }
    default: {  // samples: huge, tiny, negative, many
      json* node = random_node(doc, rng);
      if (node->is_array()) {
        const std::size_t n = rng.below(rng.chance(5) ? 5000 : 20);
        for (std::size_t i = 0; i < n; ++i) node->push_back(rng.chance(90) ? json(rng.uniform()) : odd_value(rng));
      }
      return;
    }
  }
}

// The bytes of a mutated document, sometimes cut short or with a byte changed (a disk that
// filled up, a copy cut off).
inline std::string fuzz_text(Rng& rng) {
  json doc = sound_doc(rng);
  const int changes = static_cast<int>(rng.below(4));
  for (int i = 0; i < changes; ++i) mutate(doc, rng);
  std::string text = doc.dump(rng.chance(50) ? -1 : 1, ' ', false, json::error_handler_t::replace);
  if (rng.chance(5) && !text.empty()) text.resize(rng.below(text.size()));
  if (rng.chance(3) && !text.empty()) text[rng.below(text.size())] = static_cast<char>(rng.below(256));
  return text;
}

enum class ResultsFuzzOutcome { accepted, refused, broken };

// A fixed sound file to gate against: BASE and CURRENT each in turn.
inline const ResultsFile& sound_reference() {
  static const ResultsFile file = [] {
    Rng rng{7};
    json doc;
    do {
      doc = sound_doc(rng);
    } while (!doc.contains("format") || doc["benchmarks"].size() < 8);
    return parse_results(doc, "reference.json");
  }();
  return file;
}

// Every Markdown row of the gate's table has the header's 8 unescaped '|'.
inline bool markdown_rows_hold(const std::string& md, std::string* why) {
  std::istringstream lines(md);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '|') continue;
    int bars = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\\') {
        ++i;
        continue;
      }
      bars += line[i] == '|';
    }
    if (bars != 8) {
      *why = "a Markdown row with " + std::to_string(bars) + " cell borders: " + line.substr(0, 200);
      return false;
    }
  }
  return true;
}

inline ResultsFuzzOutcome check_gate(const ResultsFile& base, const ResultsFile& current, std::string* why) {
  for (bool no_perf : {false, true}) {
    GateOptions options;
    options.judge_performance = !no_perf;
    GateResult r = run_gate(base, current, options);
    confirm_regressions(r, base, current);
    const std::string line = r.verdict_line();
    if (r.unresolved() == (line.find("gate: UNRESOLVED") == std::string::npos)) {
      *why = "verdict line disagrees with unresolved(): " + line;
      return ResultsFuzzOutcome::broken;
    }
    if (line.rfind("gate: PASS", 0) == 0 && !no_perf && r.judged() == 0) {
      *why = "a PASS that judged no speed: " + line;
      return ResultsFuzzOutcome::broken;
    }
    for (bool markdown : {false, true}) {
      std::ostringstream out;
      print_gate(out, r, markdown);
      const std::string text = out.str();
      if (text.find("p = 0\n") != std::string::npos || text.find("p = 0;") != std::string::npos) {
        *why = "printed p = 0";
        return ResultsFuzzOutcome::broken;
      }
      if (markdown && !markdown_rows_hold(text, why)) return ResultsFuzzOutcome::broken;
    }
  }
  return ResultsFuzzOutcome::accepted;
}

inline ResultsFuzzOutcome check_accepted(const ResultsFile& file, const std::string& text, std::string* why) {
  const ResultsFile& sound = sound_reference();
  for (const auto& [b, c] : {std::pair{&file, &file}, std::pair{&sound, &file}, std::pair{&file, &sound}}) {
    if (check_gate(*b, *c, why) == ResultsFuzzOutcome::broken) return ResultsFuzzOutcome::broken;
  }
  const CalibrationDrift drift = calibration_drift_of(file.context);
  if (drift.fraction < 0 || drift.what.size() > 1000) {
    *why = "calibration drift " + std::to_string(drift.fraction) + ": " + drift.what.substr(0, 200);
    return ResultsFuzzOutcome::broken;
  }
  try {
    const std::string cls = hardware_class(file.context);
    if (cls.empty() || cls.size() > 200 || cls.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
      *why = "machine class '" + cls.substr(0, 200) + "' is no file name";
      return ResultsFuzzOutcome::broken;
    }
  } catch (const SpecError&) {  // no cpu_model: a refusal with a message
  }
  // The report and its CSV tables: every file lands in the folder.
  std::ostringstream report;
  print_report(report, file);
  const std::string dir = "/fuzz-csv";
  for (const auto& [path, csv] : pivot_csv_files({file}, dir)) {
    if (std::filesystem::path(path).parent_path() != dir) {
      *why = "a CSV file outside its folder: " + path;
      return ResultsFuzzOutcome::broken;
    }
  }
  // Merge (of this file alone) writes a file that reads back.
  try {
    const MergeResult merged = merge_results({{kFuzzPath, json::parse(text)}}, {});
    parse_results(merged.doc, "merged.json");
  } catch (const SpecError& e) {
    const std::string_view m = e.what();
    if (m.find("[json.exception") != std::string_view::npos) {
      *why = std::string("merge: a library error as the message: ") + e.what();
      return ResultsFuzzOutcome::broken;
    }
  }
  return ResultsFuzzOutcome::accepted;
}

// The property: a SpecError naming the file, or an accepted file every reader takes.
inline ResultsFuzzOutcome check_results_text(const std::string& text, std::string* why) {
  try {
    ResultsFile file;
    try {
      file = parse_results_text(text, kFuzzPath);
    } catch (const SpecError& e) {
      const std::string_view m = e.what();
      if (m.rfind(std::string(kFuzzPath) + ": ", 0) != 0) {
        *why = std::string("refused without naming the file: ") + e.what();
        return ResultsFuzzOutcome::broken;
      }
      if (m.find("[json.exception") != std::string_view::npos) {  // the reader's net caught a missing check
        *why = std::string("a library error as the message: ") + e.what();
        return ResultsFuzzOutcome::broken;
      }
      if (m.size() > 2000) {
        *why = "a message of " + std::to_string(m.size()) + " characters";
        return ResultsFuzzOutcome::broken;
      }
      return ResultsFuzzOutcome::refused;
    }
    return check_accepted(file, text, why);
  } catch (const std::exception& e) {
    *why = std::string("threw ") + typeid(e).name() + ": " + e.what();
  } catch (...) {
    *why = "threw a non-std exception";
  }
  return ResultsFuzzOutcome::broken;
}

}  // namespace sdpa::fuzz
