// The CI regression gate: two results files in, one verdict per case and one for the run out.
// Pure functions on parsed files (harness/results_file.h); reading, printing and exit codes are
// the command's (harness/gate_cli.h).
//
// A case fails the gate when it fails correctness in CURRENT, passed in BASE and now fails, skips,
// errors or is missing, or is a performance regression: slower by at least the threshold on the
// median AND significantly so (two-sided Mann-Whitney U on the per-sample times, p < alpha).
// Times are first multiplied by each file's own library-GEMM throughput on the case's device
// (calibration_<device>_normaliser_tflops), so a machine that is uniformly slower, GEMM included,
// does not read as a regression. A file whose machine changed speed during the run by more than
// the threshold (any calibration it measured at the start and again at the end: every GEMM, the
// memory bandwidth) gets no speed verdicts: they would be the machine's, not the code's.
//
// A case's speed is judged only when both files hold enough per-sample times for the rank test
// to reach alpha; otherwise it is UNRESOLVED (never SAME). A gate that judged no case's speed
// says so in its verdict line ("UNRESOLVED ... speed not judged: <why>") instead of PASS.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/results_file.h"

namespace sdpa {

struct GateOptions {
  double threshold = 0.10;  // smallest change of the normalised median that counts (0.10 = 10%)
  double alpha = 0.01;      // significance level of the rank test
  bool judge_performance = true;  // false: statuses and case coverage only (--no-perf)
};

// Throws SpecError unless 0 < threshold < 10 and 0 < alpha < 0.5, both finite.
void validate(const GateOptions& options);

enum class Verdict {
  faster,   // beyond the threshold and significant
  slower,   // beyond the threshold and significant: a regression
  same,     // within the threshold
  noisy,    // beyond the threshold but not significant (or too few samples to tell)
  missing,  // in BASE, not in CURRENT (or no timings left in CURRENT)
  added,    // in CURRENT only (or BASE has no timings to compare with): shown as NEW
  failed,   // fails correctness in CURRENT, or passed in BASE and no longer passes
  skipped,  // skipped in CURRENT and not passing in BASE: nothing to compare
  unresolved,  // passes in both, but its speed cannot be judged: no per-sample times, too few of
               // them for the rank test to reach alpha, or a machine that changed speed
};
const char* to_string(Verdict v);

struct CaseVerdict {
  std::string backend, problem;
  Verdict verdict = Verdict::same;
  bool fails_gate = false;
  std::string why;  // what decided it when the columns do not say: "was pass, now skip: ..."
  double base_p50_ms = 0, new_p50_ms = 0;  // raw medians (0: none)
  double ratio = 0;    // new / base of the normalised medians (0: not compared)
  double p_value = -1; // rank test (-1: not run)
  int64_t base_samples = 0, new_samples = 0;
  bool speed_judged = false;  // SAME, FASTER, SLOWER or NOISY by the rank test on enough samples
  std::string name() const { return backend + "/" + problem; }
};

struct GateResult {
  std::vector<CaseVerdict> cases;  // BASE's order, then the cases new in CURRENT
  int common = 0;                  // cases present in both files
  GateOptions options;
  // How the times were made comparable, one line per device: "cpu: normalised by the library
  // GEMM (BASE 0.43, CURRENT 0.41 TFLOP/s)" or "cpu: raw times (BASE has no calibration_cpu_...)".
  std::vector<std::string> normalisation;
  bool raw_times = false;  // some device was compared on raw times
  int unconfirmed = 0;     // SLOWER cases that a re-run did not confirm (confirm_regressions)
  int confirmed = 0;       // SLOWER cases that a re-run confirmed
  int undecided = 0;       // SLOWER cases whose re-run could not judge speed: they stand
  // Set when a file's own noise check (calibration_drift: its GEMMs measured again at the end of
  // the run) moved by more than the threshold: the machine changed speed during that run by more
  // than the effect the gate looks for, so no speed verdict of it is trusted. Says which and how much.
  std::string machine_noise;

  int count(Verdict v) const;
  int failures() const;
  int judged() const;  // cases whose speed was judged
  bool passed() const { return common > 0 && failures() == 0; }
  // Passed, but speed was asked for and no case's speed was judged: not a PASS.
  bool unresolved() const { return passed() && options.judge_performance && judged() == 0; }
  // Why no speed was judged ("" when some was): the machine's drift, or what the cases lacked.
  std::string speed_not_judged() const;
  // "gate: PASS — 34 cases compared, 0 regressions" / "gate: FAIL — 2 regressions, 1 missing
  // case" / "gate: UNRESOLVED — 34 cases compared, ...; speed not judged: ..."; worded so that
  // no log scraper takes it for a test summary ("N passed, N failed").
  std::string verdict_line() const;
};

GateResult run_gate(const ResultsFile& base, const ResultsFile& current, const GateOptions& options);

// A second opinion on the regressions, what a perf bot's retrigger gives: each SLOWER case is
// judged again, BASE against RETRY (the same cases measured again after the run), and stays a
// regression only if it is SLOWER there too; otherwise it becomes NOISY with both ratios in its
// reason. A phase of a shared machine rarely slows the same case twice; a real regression does.
// Cases RETRY lacks keep their verdict.
void confirm_regressions(GateResult& result, const ResultsFile& base, const ResultsFile& retry);

// How much a run's machine changed speed between its calibration at the start and the one at the
// end, over every calibration that ran both times: each GEMM of the `calibrations` list (every
// backend, dtype and kind, not only the normaliser), each calibration_<...> figure, and the
// memory bandwidth (bandwidth_<device>_gbs); at least the calibration_drift the writer recorded.
struct CalibrationDrift {
  double fraction = 0;  // the largest |end - start| / start (0.82 = 82%)
  std::string what;     // the one that moved most: "cpu bf16 GEMM <name>: 0.11 -> 0.2 TFLOP/s (+82%)"
};
CalibrationDrift calibration_drift_of(const nlohmann::json& context);

// A fraction as a percentage for messages ("82%"), never hundreds of digits for a huge value.
std::string percent_text(double fraction);
// A p-value for print: "0.0031", "< 1e-300" where it underflowed (never "0"), "" when not run.
std::string p_value_text(double p);

// The device a backend's cases ran on, as the calibration keys name it: the context's
// "<backend>_device_class", else "<backend>_device" (a bare name there resolved to the class of
// the calibration key that ends with it, "vulkan:<name>"), else "cpu" (host backends).
std::string case_device(const nlohmann::json& context, const std::string& backend);

// The normaliser of a device: calibration_<device>_normaliser_tflops (0 when absent or not positive).
double normaliser_tflops(const nlohmann::json& context, const std::string& device);


}  // namespace sdpa
