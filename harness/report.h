// Tables derived from results files only: nothing is typed into a table by hand.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "core/problem.h"
#include "harness/results_file.h"

namespace sdpa {

// The row label of a pivot table: the spec without its defaults, e.g. "h=16 n=1024 d=64 f16 causal".
std::string short_label(const Problem& problem);
// short_label() of a spec line, or the line itself when it does not parse.
std::string row_label(const std::string& spec);

// A file's cases as a pivot: rows (problems) and columns (backends) in first-seen order.
struct Pivot {
  std::vector<std::string> problems, backends;
  std::map<std::pair<std::string, std::string>, const CaseRecord*> cell;
  const CaseRecord* find(const std::string& problem, const std::string& backend) const;  // nullptr: absent
};
Pivot pivot_of(const ResultsFile& file);
// naive's median over the case's (NaN when naive did not run the problem, or c is naive).
double speedup_over_naive(const Pivot& pivot, const std::string& problem, const CaseRecord& c);

// The file's header (machine, threads, commit, calibrations, noise), then the pivots and the
// scaling fits.
void print_report(std::ostream& out, const ResultsFile& file);

// MLPerf-style latency pivot: one row per problem, one column per backend, the cell the p90
// (and p99) latency as bounded by MLPerf's early-stopping rule, or "n/a (needs N)".
void print_latency_pivot(std::ostream& out, const ResultsFile& file);
// The offline scenario: queries/s at each backend's best batch, and the batch size.
void print_offline_pivot(std::ostream& out, const ResultsFile& file);
// The same layout for throughput: TFLOP/s, the fraction of the same-dtype GEMM peak, and the
// speed-up over naive where naive ran.
void print_throughput_pivot(std::ostream& out, const ResultsFile& file);
// Accuracy per case that ran: worst fraction of the bound, relative RMS, max abs error.
void print_accuracy_pivot(std::ostream& out, const ResultsFile& file);
// O(n^2) scaling: log-log slope of the median time and of scratch bytes against n.
void print_scaling_table(std::ostream& out, const ResultsFile& file);
// Several files (machines, library versions): what differs in their contexts, then per
// (backend, problem) each file's p50, its ratio to the first file, and that ratio normalised by
// each file's calibration GEMM (kernel efficiency apart from raw machine speed).
void print_hardware_comparison(std::ostream& out, const std::vector<ResultsFile>& files);

}  // namespace sdpa
