// `sdpa-bench report --gbench OUT`: a results file as Google Benchmark's own JSON, for its
// tools/compare.py (`compare.py benchmarks A.json B.json`): one iteration entry per sample in
// nanoseconds (compare.py prints times with no decimals), repetitions and repetition_index as
// Google Benchmark writes them, the threads the case ran on, and mean and median aggregates.
// compare.py then prints the real times, a Mann-Whitney U test per case and OVERALL_GEOMEAN.
#pragma once

#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/results_file.h"

namespace sdpa {

// The cases measured with samples; `only`, when given, keeps those names alone (backend/problem),
// so that several files exported together hold the same cases and OVERALL_GEOMEAN, which
// compare.py takes over each whole file, compares like with like.
nlohmann::json gbench_export(const ResultsFile& file, const std::set<std::string>* only = nullptr);

}  // namespace sdpa
