// Reading results files back: one reader for every version of the contract, so reports, the gate
// and merge see the same cases whatever wrote them (this binary, an older one, the PyTorch peer).
//
// The contract: Google Benchmark JSON with `"format": "sdpa-bench-results"` and
// `"format_version"`. Version 2 (current) stores per case the aggregates (mean, median, stddev,
// min, max, p90, p99) and, on the median entry, every sample as two arrays
// (`samples_real_time`, `samples_cpu_time`). Version 1 (no format field, context.executable
// "sdpa-bench") stored one `iteration` entry per sample. Anything else is a foreign file and
// is refused, as is a version newer than this reader.
//
// Every field is checked for its type before it is read (a `time_unit` of 5, an
// `error_occurred` of "yes"), and a case may appear once: its entries together, each aggregate
// once, one status. A damaged or ambiguous file is refused as a whole with SpecError naming the
// file and the field, never read in part: the gate must not judge one copy of a case while the
// report shows the other.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sdpa {

inline constexpr const char* kResultsFormat = "sdpa-bench-results";
inline constexpr int kResultsFormatVersion = 2;

// One (backend, problem) of a results file.
struct CaseRecord {
  std::string backend, problem;
  std::string status;   // pass, fail, skip, error, invalid
  std::string message;  // the skip / error reason
  std::vector<double> samples_ms;      // real_time of each query (device clock where there is one)
  std::vector<double> samples_cpu_ms;  // wall clock of each query
  std::map<std::string, double> time_ms;      // aggregate name -> real_time (ms)
  std::map<std::string, double> counters;     // numeric fields of the median entry
  std::map<std::string, std::string> notes;   // note_* fields, without the prefix
  std::string stopped_because;
  bool device_clock = false;

  std::string name() const { return backend + "/" + problem; }
  bool measured() const { return time_ms.count("median") != 0; }
  double p50_ms() const { return at(time_ms, "median"); }
  double counter(const std::string& key, double fallback = 0) const {
    auto it = counters.find(key);
    return it == counters.end() ? fallback : it->second;
  }
  // The recorded repetitions (0 when absent, not finite or negative; capped at 2^53).
  int64_t sample_count() const {
    const double n = counter("repetitions", 0);
    return n >= 1 ? static_cast<int64_t>(n < 9007199254740992.0 ? n : 9007199254740992.0) : 0;
  }

 private:
  static double at(const std::map<std::string, double>& m, const std::string& key) {
    auto it = m.find(key);
    return it == m.end() ? 0.0 : it->second;
  }
};

struct ResultsFile {
  std::string path;
  int format_version = 0;
  nlohmann::json context;
  std::vector<CaseRecord> cases;  // in file order

  const CaseRecord* find(const std::string& case_name) const;
  // A context value as text ("" when absent).
  std::string context_text(const std::string& key) const;
  double context_number(const std::string& key, double fallback = 0) const;
};

// Reads and validates a results file (plain JSON). Throws SpecError (bad input: exit 2) whose
// message starts with "<path>: " and says what is wrong: unreadable, not JSON, foreign, too new,
// a field of the wrong type, a case given twice, or a malformed entry. Throws nothing else for
// any content of the file.
ResultsFile load_results(const std::string& path);
// The same from the file's text (the fuzzers) and from a parsed document (tests, merge).
ResultsFile parse_results_text(const std::string& text, const std::string& path);
// The JSON of a results file's text, not yet checked as one: SpecError when it is not JSON or
// nests deeper than any results file does (merge reads its inputs with it).
nlohmann::json parse_results_json(const std::string& text, const std::string& path);
ResultsFile parse_results(const nlohmann::json& doc, const std::string& path);

}  // namespace sdpa
