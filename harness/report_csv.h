// The pivot tables of `sdpa-bench report` as CSV (`report --csv DIR`), for spreadsheets and
// notebooks: the same rows (problems) and columns (backends) as the printed tables, but one
// column per quantity with its unit in the header and the numbers as measured (not rounded, no
// units in cells). A cell the printed table fills with words ("skip", "n/a (needs 64)") is
// empty here; the latency table's status and samples columns say why.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "harness/results_file.h"

namespace sdpa {

struct CsvTable {
  std::string name;  // "latency", "throughput", "offline"
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string text() const;  // RFC 4180, header first
};

// latency (p90 / p99 by MLPerf's early-stopping rule, per backend, with status and samples),
// throughput (TFLOP/s, fraction of the same-dtype GEMM peak, speed-up over naive) and, for an
// offline run, offline (queries/s at the best batch and the batch).
std::vector<CsvTable> pivot_csv_tables(const ResultsFile& file);

// Each file's tables as (path in `dir`, CSV text), named <stem>-<scenario>-<table>.csv, where
// <stem> is the results file's name without .json (prefixed by its folder's name when two files
// share a stem). The parts taken from a file's name or contents are reduced to letters, digits
// and "._+-=,", so every path lies directly in `dir` whatever the file holds. Throws SpecError
// when two names collide.
std::vector<std::pair<std::string, std::string>> pivot_csv_files(const std::vector<ResultsFile>& files,
                                                                 const std::string& dir);
// Writes pivot_csv_files() to `dir` (created if missing), after every name is settled. Returns
// the paths written.
std::vector<std::string> write_pivot_csvs(const std::vector<ResultsFile>& files, const std::string& dir);

}  // namespace sdpa
