// Tables derived from results files only: nothing is typed into a table by hand.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sdpa {

// One (backend, problem) of a results file, from its aggregates.
struct CaseRow {
  std::string backend, problem, status, message;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, mean_ms = 0, min_ms = 0;
  double flops = 0, tflops = 0, frac_of_peak = -1;
  int64_t samples = 0;
  double scratch_bytes = 0, max_abs_err = 0, nmse = 0, worst_of_bound = 0;
  double max_prob_mean = 0, logit_std = 0;
  bool device_clock = false;
};
std::vector<CaseRow> case_rows(const nlohmann::json& results);

// Markdown tables: latency (MLPerf-style percentiles), speed-ups, accuracy, O(n^2) scaling.
void print_latency_table(std::ostream& out, const std::vector<CaseRow>& rows);
void print_scaling_table(std::ostream& out, const std::vector<CaseRow>& rows);

// Compares medians case by case; returns the number of regressions beyond `max_slowdown`
// (0.10 = 10% slower). Cases that passed in `base` and fail in `current` count as regressions.
int print_comparison(std::ostream& out, const std::vector<CaseRow>& base, const std::vector<CaseRow>& current,
                     double max_slowdown);

}  // namespace sdpa
