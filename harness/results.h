// Results files: Google Benchmark JSON (so its tools/compare.py reads them) with the hardware
// fingerprint in `context` and one benchmark per (backend, problem): every timed query is an
// `iteration` entry, followed by aggregates (mean, median, stddev, min, max, p90, p99).
//
// Writing is crash-safe: each finished case is appended to a journal (<out>.partial.jsonl) and
// the final file is written to a temporary name and renamed, so a reader never sees a partial
// file and a killed run resumes from the journal.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/cases.h"

namespace sdpa {

// "blocked_cpu/b=1,hq=8,...": the benchmark's run_name.
std::string case_name(const std::string& backend, const Problem& problem);

// The entries of one case. `gemm_peak_tflops` (0 if unknown) gives the fraction-of-peak counter.
nlohmann::json case_entries(const CaseResult& result, double gemm_peak_tflops);

class ResultsWriter {
 public:
  // With resume, cases already in the journal of `path` are kept and reported as done.
  ResultsWriter(std::string path, bool resume);
  bool done(const std::string& name) const { return done_.count(name) != 0; }
  std::size_t resumed() const { return done_.size(); }
  void append(const nlohmann::json& entries);  // one case; flushed to the journal at once
  // Writes the final file atomically and removes the journal.
  void finish(const nlohmann::json& context);

 private:
  std::string path_, journal_;
  std::vector<nlohmann::json> entries_;
  std::set<std::string> done_;
};

// Writes text to `path` through a temporary file and rename (atomic on POSIX).
void write_file_atomically(const std::string& path, const std::string& text);

// Reads a results file; throws std::runtime_error with the path on a malformed file.
nlohmann::json read_results(const std::string& path);

}  // namespace sdpa
