#include "harness/study.h"

#include <cmath>
#include <cstdio>
#include <iostream>

#include "harness/report.h"
#include "harness/runner.h"
#include "harness/format.h"

namespace sdpa {

namespace {

// The default matrices: small enough for minutes on two cores (b=1, h=4, d=64), wide enough to
// show where 16-bit formats break: lengths, masks, and the input shapes of real activations.
// outliers:8:100 puts logits past the f16 range (|l| ~ 8·100²·E[x²]·scale > 65504).
const char* const kDists[] = {"normal", "outliers:4:20", "outliers:8:100", "shift:4"};

// --dist: every problem gets that input distribution (the default matrix then has that one).
std::vector<Problem> with_dist(std::vector<Problem> problems, const std::string& dist) {
  if (dist.empty()) return problems;
  const InputDist d = parse_problem("dist=" + dist).dist;  // core's grammar: SpecError naming the key
  for (Problem& p : problems) p.dist = d;
  return problems;
}

Selection with_default_matrix(Selection sel, bool saturation, const std::string& dist) {
  if (!sel.problems.empty() || !sel.suite.empty()) return sel;
  if (saturation) {
    const std::vector<std::string> dists = dist.empty() ? std::vector<std::string>{"normal", "normal:2", "uniform",
                                                                                   "outliers:4:20", "outliers:8:100",
                                                                                   "shift:4"}
                                                        : std::vector<std::string>{dist};
    for (int d : {64, 128, 256}) {
      for (const std::string& dist : dists) {
        sel.problems.push_back("b=1,hq=4,sq=1024,d=" + std::to_string(d) + ",dist=" + dist);
      }
    }
    return sel;
  }
  for (const char* dtype : {"f32", "f16", "bf16"}) {
    for (int n : {256, 2048}) {
      for (const char* mask : {"none", "causal"}) {
        for (const std::string& dist : dist.empty() ? std::vector<std::string>(std::begin(kDists), std::end(kDists))
                                                    : std::vector<std::string>{dist}) {
          sel.problems.push_back("b=1,hq=4,sq=" + std::to_string(n) + ",d=64,dtype=" + dtype + ",mask=" + mask +
                                 ",dist=" + dist);
        }
      }
    }
  }
  return sel;
}

class ErrorTable : public Reporter {
 public:
  void case_finished(const CaseResult& r, const ProblemData& data) override {
    const Problem& p = r.problem;
    std::string f16_note;
    if (p.dtype == DType::f16) {
      double out_max = 0;
      for (double o : data.reference.out) out_max = std::max(out_max, std::abs(o));
      if (r.saturation.logits_over_f16_max > 0) f16_note += "logits past 65504; ";
      if (out_max > 65504) f16_note += "outputs past 65504; ";
    }
    std::cout << "| " << r.backend << " | " << to_string(p.dtype) << " | " << p.sq << " | " << to_string(p.mask) << " | "
              << p.dist.to_string() << " | ";
    if (r.status == CaseStatus::skip || r.status == CaseStatus::error) {
      std::cout << " |  |  | " << to_string(r.status) << ": " << r.reason << " | " << f16_note << " |\n";
      return;
    }
    std::cout << fmt("%.2e", std::sqrt(std::max(0.0, r.accuracy.nmse))) << " | " << fmt("%.2e", r.accuracy.max_abs_err)
              << " | " << fmt("%.3f", r.accuracy.worst_ratio) << " | " << to_string(r.status) << " | " << f16_note
              << " |\n";
    std::cout.flush();
  }
};

}  // namespace

int cmd_study_error(RunPlan plan, const std::string& dist) {
  plan.resolve();
  const Selection sel = with_default_matrix(plan.selection, false, dist);
  apply_threads(sel);
  const std::vector<Problem> problems = with_dist(select_problems(sel), dist);
  SelectedBackends selected = select_cases(sel, problems);
  std::cout << "### Error study: each backend against the fp64 reference on the same inputs\n\n"
            << "| backend | dtype | n | mask | dist | rel RMS | max abs err | worst of bound | status | f16 range |\n"
            << "|---|---|---:|---|---|---:|---:|---:|---|---|\n";
  ErrorTable table;
  RunnerOptions options;
  options.reference_budget_flops = kCheckReferenceFlops;
  options.keep_output = false;
  run_cases(problems, selected, options, {&table});
  return 0;
}

int cmd_study_saturation(RunPlan plan, const std::string& dist) {
  plan.resolve();
  const Selection sel = with_default_matrix(plan.selection, true, dist);
  apply_threads(sel);
  if (!sel.backends.empty()) select_backends(sel);  // the study runs none, but an unknown name is an error
  const std::vector<Problem> problems =
      shard_problems(with_dist(select_problems(sel), dist), sel.shard_index, sel.shard_count);
  admit_problems(problems);
  std::cout << "### Saturation study (fp64 reference; the same logits with the problem's scale and with scale=1)\n\n"
            << "| d | dist | scale | logit std | max abs logit | mean max-prob | rows max-prob > 0.95 | "
               "entropy (nats; uniform = log n) | logits past f16 |\n"
            << "|---:|---|---|---:|---:|---:|---:|---:|---:|\n";
  for (const Problem& p : problems) {
    const ProblemData data = make_problem_data(p, kCheckReferenceFlops);
    const double uniform = std::log(static_cast<double>(p.skv));
    for (bool scaled : {true, false}) {
      const Saturation& s = scaled ? data.reference.saturation : data.reference.saturation_unscaled;
      std::cout << "| " << p.d << " | " << p.dist.to_string() << " | "
                << (scaled ? (p.scale_value ? fmt("%g", p.scale()) : "1/sqrt(d)") : "1 (unscaled)") << " | "
                << fmt("%.3g", s.logit_std) << " | " << fmt("%.3g", s.logit_abs_max) << " | "
                << fmt("%.3f", s.max_prob_mean) << " | " << fmt("%.1f%%", 100 * s.rows_max_prob_over_95) << " | "
                << fmt("%.2f", s.entropy_mean) << " (" << fmt("%.2f", uniform) << ") | " << s.logits_over_f16_max
                << " |\n";
    }
  }
  return 0;
}

}  // namespace sdpa
