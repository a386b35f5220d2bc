// One case = one backend × one problem: capability query, prepare, run, check against the
// oracle and, for benchmarks, measure. Shared by `check`, `run` and the conformance test.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "backends/backend.h"
#include "harness/accuracy.h"
#include "harness/measure.h"
#include "reference/reference.h"

namespace sdpa {

// invalid: the case cannot judge the backend (the fp64 reference itself is not finite).
enum class CaseStatus { pass, fail, skip, error, invalid };
std::string_view to_string(CaseStatus status);

struct CaseResult {
  std::string backend;
  Problem problem;
  CaseStatus status = CaseStatus::skip;
  std::string reason;  // skip or error reason
  AccuracyReport accuracy;
  int64_t reference_rows_checked = 0;
  int64_t reference_rows_total = 0;
  Saturation saturation, saturation_unscaled;
  std::optional<Measurement> measurement;
  uint64_t scratch_bytes = 0;
  std::map<std::string, std::string> notes;
  std::vector<double> output;  // the backend's output, kept only when asked (dump)

  // benchdnn-style repro: "sdpa-bench check --backend X --problem <spec>"
  std::string repro() const;
};

// The oracle and the inputs of one problem, computed once and shared by every backend.
struct ProblemData {
  Problem problem;
  Inputs inputs;
  ReferenceResult reference;
};

// Reference rows are sampled so that the fp64 oracle costs at most `budget_flops`
// (check uses a larger budget than run; tests check every row).
int64_t reference_row_stride(const Problem& problem, double budget_flops);
ProblemData make_problem_data(const Problem& problem, double reference_budget_flops);

// Runs one case. With a policy it is also measured (after the correctness run).
// A backend that throws Unsupported skips the case, as does supports() = no; any other
// exception is an `error` of the backend (a runtime failure, not bad input).
CaseResult run_case(Backend& backend, const ProblemData& data, const StoppingPolicy* policy = nullptr,
                    bool keep_output = false);

}  // namespace sdpa
