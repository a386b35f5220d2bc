// Tables derived from results files only: nothing is typed into a table by hand.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <tuple>
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

// A table as data: what `report` prints as Markdown, `report --json` emits and the HTML page
// renders, computed here only.
struct Cell {
  std::string text;
  std::string kind;   // "" | "skip" | "bad" (fail, error, invalid): how the page colours it
  std::string title;  // hover text: the skip reason, the sample count, the full spec
};
struct Table {
  std::string id;  // latency, offline, throughput, accuracy, scaling, ...
  std::string title, note;
  std::vector<std::string> header;
  std::vector<std::vector<Cell>> rows;
};
// A Markdown table; `|`, `\` and line breaks from file contents are escaped so a cell stays a cell.
void print_markdown(std::ostream& out, const Table& table);
std::string markdown_escape(const std::string& text);

// The file's header lines: (key, value, is_warning): the machine, the run, the peaks.
std::vector<std::tuple<std::string, std::string, bool>> context_lines(const ResultsFile& file);

// MLPerf-style latency pivot: one row per problem, one column per backend, the cell the p90
// (and p99) latency as bounded by MLPerf's early-stopping rule, or "n/a (needs N)".
Table latency_pivot(const ResultsFile& file);
// The offline scenario: queries/s at each backend's best batch, and the batch size.
Table offline_pivot(const ResultsFile& file);
// The same layout for throughput: TFLOP/s, the fraction of the same-dtype GEMM peak, and the
// speed-up over naive where naive ran.
Table throughput_pivot(const ResultsFile& file);
// Accuracy per case that ran: worst fraction of the bound, relative RMS.
Table accuracy_pivot(const ResultsFile& file);
// O(n^2) scaling: log-log slope of the median time and of scratch bytes against n.
Table scaling_table(const ResultsFile& file);
// The tables of one file in report order (offline only for an offline-scenario file).
std::vector<Table> file_tables(const ResultsFile& file);

// The file's header (machine, threads, commit, calibrations, noise), then its tables.
void print_report(std::ostream& out, const ResultsFile& file);

// Several files (machines, library versions): which machine is faster on each problem and by
// how much, what each could not run, and what differs in their contexts (report_compare.cpp).
void print_hardware_comparison(std::ostream& out, const std::vector<ResultsFile>& files);

}  // namespace sdpa
