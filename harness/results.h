// Writing results files: Google Benchmark JSON (so its tools/compare.py reads them) with the
// format name and version (results_file.h reads them back), the hardware fingerprint in
// `context`, and per (backend, problem) the aggregates (mean, median, stddev, min, max, p90,
// p99) with every sample kept as arrays on the median entry.
//
// Writing is crash-safe: each finished case is appended to a journal (<out>.partial.jsonl) and
// the final file is written to a temporary name and renamed, so a reader never sees a partial
// file and a killed run resumes from the journal.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/cases.h"

namespace sdpa {

// "blocked_cpu/b=1,hq=8,...": the benchmark's run_name.
std::string case_name(const std::string& backend, const Problem& problem);
// The name a journalled case is resumed by: its case_name(), except for an offline case, which
// ran a batch of queries and is resumed by its query's case_name().
std::string journal_name(const nlohmann::json& entry);

// What a case's throughput is held to on its device: the GEMM peak of its dtype and the memory
// bandwidth (0: not measured).
struct Roofs {
  double gemm_tflops = 0;
  double bandwidth_gbs = 0;
  // The roofline: min(peak, arithmetic intensity × bandwidth), in TFLOP/s (0 when unknown).
  double roofline_tflops(double flops_per_byte) const;
};

// The entries of one case: its aggregates with every sample on the median entry, or one error
// entry for a case that was not measured. The roofs give frac_of_gemm_peak and frac_of_roofline.
nlohmann::json case_entries(const CaseResult& result, const Roofs& roofs);
// The fields every case carries, measured or not (status, repro, accuracy, saturation, scratch,
// notes): the one case layout of `run`'s results and `check --json`.
void add_case_fields(nlohmann::json& entry, const CaseResult& result);

class ResultsWriter {
 public:
  // With resume, the cases of `selected` already in the journal of `path` are kept and reported
  // as done; journalled cases outside the selection are left out (see ignored()). A damaged
  // journal line (other than a cut-off last line) throws SpecError suggesting --fresh.
  ResultsWriter(std::string path, bool resume, const std::set<std::string>& selected);
  bool done(const std::string& name) const { return done_.count(name) != 0; }
  std::size_t resumed() const { return done_.size(); }
  const std::vector<std::string>& ignored() const { return ignored_; }
  // The run's context, journalled first so a resumed run keeps the first part's calibration and
  // date; a no-op when resuming (resumed_context() then has the first part's).
  void start(const nlohmann::json& context);
  const nlohmann::json* resumed_context() const { return resumed_context_ ? &*resumed_context_ : nullptr; }
  void append(const nlohmann::json& entries);  // one case; flushed to the journal at once
  // Writes the final file atomically and removes the journal.
  void finish(const nlohmann::json& context);

 private:
  void remove_stale_temporaries() const;
  void append_line(const nlohmann::json& line);

  std::string path_, journal_;
  std::vector<nlohmann::json> entries_;
  std::set<std::string> done_;
  std::vector<std::string> ignored_;
  std::optional<nlohmann::json> resumed_context_;
};

// Writes text to `path` through a temporary file and rename (atomic on POSIX).
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace sdpa
