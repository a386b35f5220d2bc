// What the commands do with finished cases, one reporter each: the check console lines, the
// check JSON file, run's progress line on stderr, run's results file, dump's NumPy files.
#pragma once

#include <chrono>
#include <map>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/calibration.h"
#include "harness/results.h"
#include "harness/runner.h"

namespace sdpa {

// Counts by status; the closing line "N passed, N failed, N skipped" (plus errors and invalid
// cases when there are any).
struct CaseCounts {
  std::map<CaseStatus, int> by_status;
  void add(CaseStatus s) { ++by_status[s]; }
  int operator[](CaseStatus s) const {
    auto it = by_status.find(s);
    return it == by_status.end() ? 0 : it->second;
  }
  int total() const;
  // A case the reference could not judge (invalid) fails the command too: nothing was shown.
  bool any_failure() const {
    return (*this)[CaseStatus::fail] + (*this)[CaseStatus::error] + (*this)[CaseStatus::invalid] > 0;
  }
  std::string summary() const;
};

// `check`: one line per case (status, backend, problem, error figures or the reason), the
// repro line of every failing case, the worst elements with --verbose.
class CheckConsoleReporter : public Reporter {
 public:
  CheckConsoleReporter(std::ostream& out, bool verbose) : out_(out), verbose_(verbose) {}
  void case_finished(const CaseResult& result, const ProblemData& data) override;
  const CaseCounts& counts() const { return counts_; }

 private:
  std::ostream& out_;
  bool verbose_;
  CaseCounts counts_;
};

// `check --json F`: every case in the layout of a results file's entries (add_case_fields).
class CheckJsonReporter : public Reporter {
 public:
  explicit CheckJsonReporter(std::string path) : path_(std::move(path)) {}
  void case_finished(const CaseResult& result, const ProblemData& data) override;
  void write(const nlohmann::json& context) const;

 private:
  std::string path_;
  nlohmann::json cases_ = nlohmann::json::array();
};

// `run`: "[3/40] blocked_cpu <problem> ... pass p50 1.2 ms, 0.41 TFLOP/s, 64 samples" on stderr,
// with an estimate of the time left (by FLOPs done) when stderr is a terminal.
class ProgressReporter : public Reporter {
 public:
  ProgressReporter(std::ostream& err, double total_flops, bool terminal)
      : err_(err), total_flops_(total_flops), terminal_(terminal), start_(std::chrono::steady_clock::now()) {}
  void case_started(const Backend& backend, const Problem& problem, std::size_t index, std::size_t total) override;
  void case_finished(const CaseResult& result, const ProblemData& data) override;
  const CaseCounts& counts() const { return counts_; }

 private:
  std::ostream& err_;
  double total_flops_, done_flops_ = 0;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
  CaseCounts counts_;
};

// `run`: journals each case into the results file's writer with its fraction of peak.
class ResultsReporter : public Reporter {
 public:
  ResultsReporter(ResultsWriter& writer, const Peaks& peaks, const SelectedBackends& selected)
      : writer_(writer), peaks_(peaks), selected_(selected) {}
  void case_finished(const CaseResult& result, const ProblemData& data) override;

 private:
  ResultsWriter& writer_;
  const Peaks& peaks_;
  const SelectedBackends& selected_;
};

// `dump DIR`: q, k, v, out, ref as .npy and the spec line, for any outside tool to verify.
class DumpReporter : public Reporter {
 public:
  explicit DumpReporter(std::string dir) : dir_(std::move(dir)) {}
  void case_finished(const CaseResult& result, const ProblemData& data) override;
  bool wrote() const { return wrote_; }
  const std::string& failure() const { return failure_; }

 private:
  std::string dir_;
  bool wrote_ = false;
  std::string failure_;
};

}  // namespace sdpa
