#include "harness/cases.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include "harness/inputs.h"

namespace sdpa {

std::string_view to_string(CaseStatus status) {
  switch (status) {
    case CaseStatus::pass: return "pass";
    case CaseStatus::fail: return "fail";
    case CaseStatus::skip: return "skip";
    case CaseStatus::error: return "error";
    case CaseStatus::invalid: return "invalid";
  }
  return "?";
}

std::string CaseResult::repro() const {
  return "sdpa-bench check --backend " + backend + " --problem " + problem.to_string();
}

int64_t reference_row_stride(const Problem& p, double budget_flops) {
  const double per_row = static_cast<double>(p.skv) * static_cast<double>(p.d + p.dv) * 2.0;
  const double rows = static_cast<double>(p.b * p.hq * p.sq);
  if (budget_flops <= 0 || per_row * rows <= budget_flops) return 1;
  // An odd stride so the sample does not alias with head or sequence boundaries (powers of 2).
  auto stride = static_cast<int64_t>(std::ceil(per_row * rows / budget_flops));
  return stride | 1;
}

ProblemData make_problem_data(const Problem& problem, double reference_budget_flops) {
  ProblemData data{problem, generate_inputs(problem), {}};
  data.reference = reference_sdpa(problem, data.inputs, reference_row_stride(problem, reference_budget_flops));
  return data;
}

CaseResult run_case(Backend& backend, const ProblemData& data, const StoppingPolicy* policy, bool keep_output) {
  CaseResult r;
  r.backend = backend.name();
  r.problem = data.problem;
  r.reference_rows_checked = data.reference.rows_checked;
  r.reference_rows_total = data.problem.b * data.problem.hq * data.problem.sq;
  r.saturation = data.reference.saturation;
  r.saturation_unscaled = data.reference.saturation_unscaled;

  if (Support s = backend.available(); !s) {
    r.status = CaseStatus::skip;
    r.reason = s.reason;
    return r;
  }
  if (Support s = backend.supports(data.problem); !s) {
    r.status = CaseStatus::skip;
    r.reason = s.reason;
    return r;
  }
  try {
    backend.prepare(data.problem, data.inputs);
    backend.run();
    backend.sync();
    std::vector<double> out = backend.output();
    r.accuracy = check_accuracy(data.problem, out, data.reference);
    // A reference that is not finite cannot judge the backend: neither pass nor fail.
    r.status = r.accuracy.reference_invalid ? CaseStatus::invalid
               : r.accuracy.pass()          ? CaseStatus::pass
                                            : CaseStatus::fail;
    if (keep_output) r.output = std::move(out);
    if (policy) r.measurement = measure(backend, *policy);
    r.scratch_bytes = backend.scratch_bytes();
    r.notes = backend.case_notes();
    backend.release();
  } catch (const Unsupported& e) {
    backend.release();
    r.status = CaseStatus::skip;
    r.reason = e.what();
  } catch (const std::exception& e) {
    backend.release();
    r.status = CaseStatus::error;
    r.reason = e.what();
  }
  return r;
}

}  // namespace sdpa
