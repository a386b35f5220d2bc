// Several results files compared as machines: per problem each machine's best backend and its
// p90, "B is 1.8x faster than A", geometric means per dtype and per scenario, ratios normalised
// by each machine's own peak for the row's dtype (memory bandwidth for a decode step), what each
// machine could not run and why, noise carried to the rows, and the context differences that
// matter. Computed here once; `report` prints it, `report --json` emits it, the HTML page draws it.
#pragma once

#include <string>
#include <vector>

#include "harness/report.h"
#include "harness/results_file.h"

namespace sdpa {

// One machine's best on one problem.
struct MachineBest {
  bool ran = false;
  std::string backend;
  double p50_ms = 0, p90_ms = 0;  // p90: MLPerf early-stopping bound; NaN below 44 samples
  std::string why_not;            // when !ran: each backend's status and reason
  double peak = 0;                // the normaliser of the row: TFLOP/s of the dtype's GEMM, or GB/s
  std::string peak_missing;       // why there is none
};

struct ProblemComparison {
  std::string problem, label, dtype, scenario;
  bool decode = false;  // one query row: memory-bound, normalised by bandwidth
  std::vector<MachineBest> best;    // per machine
  std::vector<double> speedup;      // per machine: A's time / this machine's (NaN where either did not run)
  std::vector<std::string> by;      // per machine: "p90" or "p50", the statistic the ratio compares
  std::vector<double> normalised;   // speedup / (peak ratio); NaN with normalised_why
  std::vector<std::string> normalised_why;
};

struct Comparison {
  std::vector<std::string> letters, machines, paths;  // A, B, ...; machine classes; files
  std::vector<std::string> noise;                     // per machine: its noise warning, or ""
  std::vector<ProblemComparison> problems;
  std::vector<Table> tables;            // legend, summary, per problem, could not run, context
  std::vector<std::string> other_context;  // the differing keys that matter less, one line each
};

Comparison compare_machines(const std::vector<ResultsFile>& files);
void print_comparison(std::ostream& out, const Comparison& c);

// "B is 1.80x faster than A", "B is 1.25x slower than A", "B and A are the same (1.00x)".
std::string faster_wording(const std::string& b, const std::string& a, double speedup);

}  // namespace sdpa
