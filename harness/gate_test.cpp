// The regression gate on synthetic results files, built in memory in the results format and read
// back through the real reader (parse_results), so the gate sees what it sees in CI.
#include "harness/gate.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <cstdlib>
#include <sstream>

#include "core/problem.h"
#include "harness/gate_cli.h"

namespace sdpa {
namespace {

using nlohmann::json;

const char* kProblems[] = {"b=1,hq=4,sq=256,d=64,dtype=f32,mask=none", "b=1,hq=4,sq=256,d=64,dtype=f16,mask=causal",
                           "b=1,hq=8,hkv=2,sq=1,skv=2048,d=128,dtype=bf16,mask=none"};

// Deterministic noise in [-1, 1] (a 64-bit LCG), so every run of the test sees the same samples.
struct Noise {
  uint64_t state;
  double next() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / static_cast<double>(1ULL << 52) - 1.0;
  }
};

std::vector<double> samples(double median_ms, double spread, int n, uint64_t seed) {
  Noise noise{seed};
  std::vector<double> s;
  for (int i = 0; i < n; ++i) s.push_back(median_ms * (1 + spread * noise.next()));
  return s;
}

// One case as the results writer stores it (format version 2): aggregate entries, the samples on
// the median entry; a skipped or failed-to-run case as one entry with error_occurred.
json case_entries(const std::string& backend, const std::string& problem, const std::string& status,
                  const std::vector<double>& real_ms) {
  const std::string run = backend + "/" + problem;
  json base{{"name", run}, {"run_name", run}, {"backend", backend}, {"problem", problem}, {"status", status}};
  if (status == "skip" || status == "error") {
    base["error_occurred"] = true;
    base["error_message"] = status + ": synthetic reason";
    return json::array({base});
  }
  json out = json::array();
  std::vector<double> sorted = real_ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted.empty() ? 0 : sorted[sorted.size() / 2];
  for (const char* agg : {"mean", "median", "min", "max"}) {
    json e = base;
    e["run_type"] = "aggregate";
    e["aggregate_name"] = agg;
    e["time_unit"] = "ms";
    e["real_time"] = median;
    e["cpu_time"] = median;
    if (std::string(agg) == "median") {
      e["repetitions"] = real_ms.size();
      e["samples_real_time"] = real_ms;
      e["samples_cpu_time"] = real_ms;
    }
    out.push_back(e);
  }
  return out;
}

json results_doc(double normaliser_tflops, const json& entries_list) {
  json ctx{{"executable", "sdpa-bench"}, {"cpu_model", "AMD EPYC"}, {"threads_used", "2"}};
  if (normaliser_tflops > 0) ctx["calibration_cpu_normaliser_tflops"] = normaliser_tflops;
  json benchmarks = json::array();
  for (const json& entries : entries_list) {
    for (const json& e : entries) benchmarks.push_back(e);
  }
  return {{"format", "sdpa-bench-results"}, {"format_version", 2}, {"context", ctx}, {"benchmarks", benchmarks}};
}

// A run of every backend on every problem: medians 1, 2, 3 ... ms scaled by `slowdown`, with
// uniform noise of +-spread, 16 samples a case.
struct Suite {
  std::vector<std::string> backends{"naive", "blocked_cpu", "onednn"};
  double normaliser = 0.4;
  double spread = 0.02;
  int samples = 16;
  std::function<double(const std::string&)> slowdown = [](const std::string&) { return 1.0; };
  std::function<std::string(const std::string&)> status = [](const std::string&) { return "pass"; };

  ResultsFile build(uint64_t seed) const {
    json entries = json::array();
    double median = 1;
    for (const std::string& b : backends) {
      for (const char* p : kProblems) {
        const std::string name = b + "/" + p;
        entries.push_back(case_entries(b, p, status(name), samples_of(median * slowdown(name), seed++)));
        median += 1;
      }
    }
    return parse_results(results_doc(normaliser, entries), "synthetic.json");
  }
  std::vector<double> samples_of(double median, uint64_t seed) const { return sdpa::samples(median, spread, samples, seed); }
};

const std::string kOneCase = std::string("blocked_cpu/") + kProblems[1];

const CaseVerdict& verdict_of(const GateResult& r, const std::string& name) {
  for (const CaseVerdict& c : r.cases) {
    if (c.name() == name) return c;
  }
  throw std::runtime_error("no verdict for " + name);
}

std::string printed(const GateResult& r, bool markdown = false) {
  std::ostringstream out;
  print_gate(out, r, markdown);
  return out.str();
}

TEST(Gate, IdenticalFilesPass) {
  const ResultsFile f = Suite{}.build(1);
  const GateResult r = run_gate(f, f, {});
  EXPECT_TRUE(r.passed());
  EXPECT_EQ(r.common, 9);
  EXPECT_EQ(r.count(Verdict::same), 9);
  EXPECT_EQ(r.verdict_line(), "gate: PASS \u2014 9 cases compared, 0 regressions");
}

TEST(Gate, EveryCaseOneAndAHalfTimesSlowerFails) {
  Suite s;
  const ResultsFile base = s.build(1);
  s.slowdown = [](const std::string&) { return 1.5; };
  const GateResult r = run_gate(base, s.build(100), {});
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(r.count(Verdict::slower), 9);
  EXPECT_NE(r.verdict_line().find("gate: FAIL \u2014 9 regressions"), std::string::npos) << r.verdict_line();
}

TEST(Gate, OneSlowerCaseFailsAndIsNamed) {
  Suite s;
  const ResultsFile base = s.build(1);
  s.slowdown = [](const std::string& name) { return name == kOneCase ? 1.5 : 1.0; };
  const GateResult r = run_gate(base, s.build(100), {});
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(r.count(Verdict::slower), 1);
  const CaseVerdict& v = verdict_of(r, kOneCase);
  EXPECT_EQ(v.verdict, Verdict::slower);
  EXPECT_NEAR(v.ratio, 1.5, 0.05);
  EXPECT_LT(v.p_value, 1e-4);
  EXPECT_NE(printed(r).find("SLOWER " + kOneCase + ": +5"), std::string::npos) << printed(r);
}

TEST(Gate, FivePercentNoiseOnEitherSidePasses) {
  Suite s;
  s.spread = 0.05;
  const GateResult r = run_gate(s.build(1), s.build(1000), {});
  EXPECT_TRUE(r.passed()) << printed(r);
  EXPECT_EQ(r.count(Verdict::same), 9);
}

TEST(Gate, ASignificantShiftBelowTheThresholdIsNotARegression) {
  Suite s;
  s.spread = 0.005;
  s.samples = 200;
  const ResultsFile base = s.build(1);
  s.slowdown = [](const std::string&) { return 1.05; };
  const GateResult r = run_gate(base, s.build(500), {});
  EXPECT_TRUE(r.passed());
  EXPECT_LT(verdict_of(r, kOneCase).p_value, 1e-6);  // certainly slower, but only by 5%
  EXPECT_EQ(r.count(Verdict::same), 9);
}

TEST(Gate, AMachineSlowerWithItsGemmSlowerTooIsNoRegression) {
  Suite s;
  const ResultsFile base = s.build(1);
  s.slowdown = [](const std::string&) { return 1.3; };
  s.normaliser = 0.4 / 1.3;
  const ResultsFile slow_machine = s.build(100);
  const GateResult r = run_gate(base, slow_machine, {});
  EXPECT_TRUE(r.passed()) << printed(r);
  EXPECT_NEAR(verdict_of(r, kOneCase).ratio, 1.0, 0.03);
  EXPECT_NEAR(verdict_of(r, kOneCase).new_p50_ms / verdict_of(r, kOneCase).base_p50_ms, 1.3, 0.05);  // raw

  // Without the normaliser in one file the same times are compared raw, and said so.
  s.normaliser = 0;
  const GateResult raw = run_gate(base, s.build(100), {});
  EXPECT_FALSE(raw.passed());
  EXPECT_TRUE(raw.raw_times);
  EXPECT_NE(raw.verdict_line().find("raw times"), std::string::npos) << raw.verdict_line();
  EXPECT_NE(printed(raw).find("CURRENT has no calibration_cpu_normaliser_tflops"), std::string::npos);
}

TEST(Gate, NoSpeedVerdictFromAMachineThatChangedSpeedDuringItsRun) {
  Suite s;
  const ResultsFile base = s.build(1);
  s.slowdown = [](const std::string& name) { return name == kOneCase ? 1.5 : 1.0; };
  ResultsFile current = s.build(100);
  current.context["calibration_drift"] = 0.04;  // within the threshold: judged as usual
  EXPECT_EQ(verdict_of(run_gate(base, current, {}), kOneCase).verdict, Verdict::slower);
  current.context["calibration_drift"] = 0.35;
  const GateResult r = run_gate(base, current, {});
  EXPECT_EQ(verdict_of(r, kOneCase).verdict, Verdict::unresolved);
  EXPECT_TRUE(r.passed());
  EXPECT_TRUE(r.unresolved());  // no speed judged: not a PASS
  EXPECT_EQ(r.verdict_line().rfind("gate: UNRESOLVED", 0), 0u) << r.verdict_line();
  EXPECT_NE(r.verdict_line().find("speed not judged: CURRENT's machine changed speed by 35%"), std::string::npos)
      << r.verdict_line();
  current.cases.pop_back();  // correctness and coverage are still judged
  EXPECT_FALSE(run_gate(base, current, {}).passed());
}

TEST(Gate, AVanishedCaseFails) {
  Suite s;
  const ResultsFile base = s.build(1);
  ResultsFile current = s.build(1);
  current.cases.erase(current.cases.begin() + 4);
  const GateResult r = run_gate(base, current, {});
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(verdict_of(r, kOneCase).verdict, Verdict::missing);
  EXPECT_NE(r.verdict_line().find("1 missing case"), std::string::npos) << r.verdict_line();
  EXPECT_NE(printed(r).find("MISSING " + kOneCase + ": not in CURRENT"), std::string::npos);
}

TEST(Gate, ANewlyFailingSkippedOrErroringCaseFails) {
  for (const std::string status : {"fail", "skip", "error"}) {
    Suite s;
    const ResultsFile base = s.build(1);
    s.status = [&](const std::string& name) { return name == kOneCase ? status : "pass"; };
    const GateResult r = run_gate(base, s.build(1), {});
    EXPECT_FALSE(r.passed()) << status;
    EXPECT_EQ(verdict_of(r, kOneCase).verdict, Verdict::failed) << status;
    EXPECT_EQ(verdict_of(r, kOneCase).why.rfind("was pass, now " + status, 0), 0u) << verdict_of(r, kOneCase).why;
    EXPECT_EQ(r.failures(), 1);
  }
}

TEST(Gate, ACaseFailingInBothFilesStillFailsButOneSkippedInBothDoesNot) {
  Suite s;
  s.status = [](const std::string& name) { return name == kOneCase ? "fail" : "pass"; };
  const GateResult failing = run_gate(s.build(1), s.build(1), {});
  EXPECT_FALSE(failing.passed());
  EXPECT_EQ(verdict_of(failing, kOneCase).verdict, Verdict::failed);

  s.status = [](const std::string& name) { return name == kOneCase ? "skip" : "pass"; };
  const GateResult skipped = run_gate(s.build(1), s.build(1), {});
  EXPECT_TRUE(skipped.passed());
  EXPECT_EQ(verdict_of(skipped, kOneCase).verdict, Verdict::skipped);
}

TEST(Gate, EmptyOrOneCaseCurrentFails) {
  const ResultsFile base = Suite{}.build(1);
  const ResultsFile empty = parse_results(results_doc(0.4, json::array()), "empty.json");
  const GateResult r = run_gate(base, empty, {});
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(r.common, 0);
  EXPECT_EQ(r.count(Verdict::missing), 9);
  EXPECT_EQ(r.verdict_line().rfind("gate: FAIL \u2014 no case in common, 9 missing cases", 0), 0u) << r.verdict_line();

  ResultsFile one = base;
  one.cases.resize(1);
  const GateResult r1 = run_gate(base, one, {});
  EXPECT_FALSE(r1.passed());
  EXPECT_EQ(r1.count(Verdict::missing), 8);
  // An empty baseline is no basis for a pass either.
  EXPECT_FALSE(run_gate(empty, base, {}).passed());
}

TEST(Gate, NullMedianAndMissingSamples) {
  Suite s;
  const ResultsFile base = s.build(1);
  // A passing case whose median is null and whose samples are gone: its timings vanished.
  json doc = results_doc(0.4, json::array({case_entries("blocked_cpu", kProblems[1], "pass", {})}));
  for (json& e : doc["benchmarks"]) e["real_time"] = nullptr;
  const ResultsFile untimed = parse_results(doc, "untimed.json");
  const GateResult r = run_gate(base, untimed, {});
  EXPECT_EQ(verdict_of(r, kOneCase).verdict, Verdict::missing);
  EXPECT_TRUE(verdict_of(r, kOneCase).fails_gate);
  EXPECT_FALSE(r.passed());

  // Medians without samples: the effect is visible but untestable, so UNRESOLVED, not SLOWER or
  // SAME, and a gate of nothing else is UNRESOLVED, not PASS.
  ResultsFile b = base, c = base;
  for (CaseRecord& rec : b.cases) rec.samples_ms.clear();
  for (CaseRecord& rec : c.cases) {
    rec.samples_ms.clear();
    rec.time_ms["median"] *= 1.5;
  }
  const GateResult medians_only = run_gate(b, c, {});
  EXPECT_EQ(medians_only.count(Verdict::unresolved), 9);
  EXPECT_EQ(verdict_of(medians_only, kOneCase).why, "no per-sample times to test");
  EXPECT_TRUE(medians_only.passed());
  EXPECT_TRUE(medians_only.unresolved());
  EXPECT_NE(medians_only.verdict_line().find("speed not judged: no case passed in both files with enough per-sample "
                                             "times (9 without per-sample times)"),
            std::string::npos)
      << medians_only.verdict_line();

  // A missing status is refused by the reader (exit 2), never read as a pass.
  json no_status = results_doc(0.4, json::array({case_entries("naive", kProblems[0], "pass", {1.0, 1.1})}));
  no_status["benchmarks"][0].erase("status");
  EXPECT_THROW(parse_results(no_status, "no_status.json"), SpecError);
}

TEST(Gate, TooFewSamplesForTheRankTestAreUnresolvedNeitherSlowerNorSame) {
  Suite s;
  s.samples = 3;
  const ResultsFile base = s.build(1);
  for (double slowdown : {2.0, 1.0}) {  // a slowdown, and none: neither can be told from noise
    s.slowdown = [&](const std::string&) { return slowdown; };
    const GateResult r = run_gate(base, s.build(100), {});
    EXPECT_EQ(r.count(Verdict::unresolved), 9) << slowdown;
    EXPECT_NE(verdict_of(r, kOneCase).why.find("3 vs 3 samples: too few"), std::string::npos);
    EXPECT_TRUE(r.passed());
    EXPECT_TRUE(r.unresolved());
    EXPECT_EQ(r.verdict_line().rfind("gate: UNRESOLVED", 0), 0u) << r.verdict_line();
    EXPECT_NE(r.verdict_line().find("(9 with too few samples for the rank test)"), std::string::npos)
        << r.verdict_line();
  }
  // One case judged among unresolved ones: a PASS that counts the others.
  s.samples = 16;
  ResultsFile mixed = s.build(1);
  for (CaseRecord& c : mixed.cases) {
    if (c.name() != kOneCase) c.samples_ms.resize(1);
  }
  const GateResult r = run_gate(mixed, mixed, {});
  EXPECT_FALSE(r.unresolved());
  EXPECT_EQ(r.judged(), 1);
  EXPECT_NE(r.verdict_line().find("8 unresolved"), std::string::npos) << r.verdict_line();
}

TEST(Gate, FasterAndNewCasesDoNotFail) {
  Suite s;
  const ResultsFile base = s.build(1);
  s.slowdown = [](const std::string& name) { return name == kOneCase ? 0.6 : 1.0; };
  s.backends.push_back("onednn_prims");
  const GateResult r = run_gate(base, s.build(100), {});
  EXPECT_TRUE(r.passed()) << printed(r);
  EXPECT_EQ(verdict_of(r, kOneCase).verdict, Verdict::faster);
  EXPECT_EQ(r.count(Verdict::added), 3);
  EXPECT_EQ(r.common, 9);
}

TEST(Gate, ACorrectnessFailureInANewCaseFails) {
  Suite s;
  const ResultsFile base = s.build(1);
  s.backends.push_back("onednn_prims");
  s.status = [](const std::string& name) { return name.rfind("onednn_prims/", 0) == 0 ? "fail" : "pass"; };
  const GateResult r = run_gate(base, s.build(1), {});
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(r.count(Verdict::failed), 3);
}

TEST(Gate, NoPerfJudgesStatusesOnly) {
  Suite s;
  const ResultsFile base = s.build(1);
  s.slowdown = [](const std::string&) { return 3.0; };
  GateOptions no_perf;
  no_perf.judge_performance = false;
  const GateResult r = run_gate(base, s.build(100), no_perf);
  EXPECT_TRUE(r.passed());
  EXPECT_NE(r.verdict_line().find("performance not judged"), std::string::npos);
  ResultsFile fewer = s.build(100);
  fewer.cases.pop_back();
  EXPECT_FALSE(run_gate(base, fewer, no_perf).passed());
}

TEST(Gate, VerdictLineIsNoTestSummary) {
  Suite s;
  const ResultsFile base = s.build(1);
  s.slowdown = [](const std::string& name) { return name == kOneCase ? 1.5 : 1.0; };
  s.status = [](const std::string& name) { return name.rfind("naive/", 0) == 0 ? "fail" : "pass"; };
  const std::regex test_summary(R"(\d+ (passed|failed|tests?)\b)");
  for (const GateResult& r : {run_gate(base, base, {}), run_gate(base, s.build(7), {})}) {
    EXPECT_FALSE(std::regex_search(r.verdict_line(), test_summary)) << r.verdict_line();
  }
  EXPECT_EQ(run_gate(base, s.build(7), {}).verdict_line(),
            "gate: FAIL \u2014 1 regression, 3 cases no longer correct or no longer run");
}

TEST(Gate, MarkdownTable) {
  const ResultsFile f = Suite{}.build(1);
  const std::string md = printed(run_gate(f, f, {}), true);
  EXPECT_NE(md.find("| backend | problem | base p50 ms | new p50 ms | new/base (normalised) | p (rank test) | verdict |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| naive | b=1,hq=4,sq=256,d=64,dtype=f32,mask=none | "), std::string::npos) << md;
}

TEST(Gate, OptionsAreChecked) {
  for (double t : {std::nan(""), 0.0, -0.1, 10.0, HUGE_VAL}) {
    GateOptions o;
    o.threshold = t;
    EXPECT_THROW(validate(o), SpecError) << t;
  }
  for (double a : {std::nan(""), 0.0, 0.5, 1.0}) {
    GateOptions o;
    o.alpha = a;
    EXPECT_THROW(validate(o), SpecError) << a;
  }
  GateOptions fine;
  fine.threshold = 9.5;
  fine.alpha = 0.49;
  EXPECT_NO_THROW(validate(fine));
}

TEST(Gate, EachDeviceIsNormalisedByItsOwnGemm) {
  json ctx{{"cudnn_device_class", "cuda:0"}, {"calibration_cuda:0_normaliser_tflops", 500.0},
           {"calibration_cpu_normaliser_tflops", 0.4}};
  EXPECT_EQ(case_device(ctx, "cudnn"), "cuda:0");
  EXPECT_EQ(case_device(ctx, "blocked_cpu"), "cpu");
  EXPECT_EQ(case_device({{"vulkan_device", "llvmpipe"}}, "vulkan"), "llvmpipe");
  EXPECT_EQ(case_device({{"vulkan_device", "llvmpipe"}, {"calibration_vulkan:llvmpipe_normaliser_tflops", 0.1}},
                        "vulkan"),
            "vulkan:llvmpipe");
  EXPECT_EQ(case_device({{"naive_device", "cpu"}}, "naive"), "cpu");
  EXPECT_DOUBLE_EQ(normaliser_tflops(ctx, "cuda:0"), 500.0);
  EXPECT_DOUBLE_EQ(normaliser_tflops(ctx, "vulkan:x"), 0.0);
  EXPECT_DOUBLE_EQ(normaliser_tflops({{"calibration_cpu_normaliser_tflops", nullptr}}, "cpu"), 0.0);
}

TEST(Gate, ARegressionStandsOnlyIfTheReRunConfirmsIt) {
  Suite s;
  const ResultsFile base = s.build(1);
  s.slowdown = [](const std::string& name) { return name == kOneCase ? 1.5 : 1.0; };
  const ResultsFile current = s.build(100);
  const ResultsFile confirmed_retry = s.build(200);  // still slower when measured again
  s.slowdown = [](const std::string&) { return 1.0; };
  const ResultsFile cleared_retry = s.build(300);    // the slowdown was the machine's

  GateResult confirmed = run_gate(base, current, {});
  confirm_regressions(confirmed, base, confirmed_retry);
  EXPECT_FALSE(confirmed.passed());
  EXPECT_EQ(verdict_of(confirmed, kOneCase).verdict, Verdict::slower);
  EXPECT_NE(verdict_of(confirmed, kOneCase).why.find("confirmed by the re-run"), std::string::npos);
  EXPECT_EQ(confirmed.confirmed, 1);

  GateResult cleared = run_gate(base, current, {});
  confirm_regressions(cleared, base, cleared_retry);
  EXPECT_TRUE(cleared.passed()) << printed(cleared);
  EXPECT_EQ(verdict_of(cleared, kOneCase).verdict, Verdict::noisy);
  EXPECT_EQ(cleared.unconfirmed, 1);
  EXPECT_NE(cleared.verdict_line().find("1 slowdowns not confirmed by a re-run"), std::string::npos)
      << cleared.verdict_line();

  // A re-run that lacks the case leaves the regression standing; correctness is never re-judged.
  ResultsFile partial = cleared_retry;
  partial.cases.erase(std::remove_if(partial.cases.begin(), partial.cases.end(),
                                     [](const CaseRecord& c) { return c.name() == kOneCase; }),
                      partial.cases.end());
  GateResult kept = run_gate(base, current, {});
  confirm_regressions(kept, base, partial);
  EXPECT_FALSE(kept.passed());
  EXPECT_EQ(verdict_of(kept, kOneCase).why, "not re-run");
}

// A re-run that cannot judge the case's speed (it failed, was skipped, has one sample, ran on a
// drifting machine) cannot clear the slowdown: it stands, with why.
TEST(Gate, AReRunThatCannotConfirmLeavesTheSlowdownStanding) {
  Suite s;
  const ResultsFile base = s.build(1);
  s.slowdown = [](const std::string& name) { return name == kOneCase ? 3.0 : 1.0; };
  const ResultsFile current = s.build(100);
  s.slowdown = [](const std::string&) { return 1.0; };
  std::vector<std::pair<std::string, ResultsFile>> broken_retries;
  for (const std::string status : {"fail", "skip", "error"}) {
    Suite r = s;
    r.status = [&](const std::string&) { return status; };
    broken_retries.emplace_back("all " + status, r.build(300));
  }
  Suite one = s;
  one.samples = 1;
  broken_retries.emplace_back("1 sample each", one.build(300));
  ResultsFile drifting = s.build(300);
  drifting.context["calibration_drift"] = 0.5;
  broken_retries.emplace_back("a drifting machine", drifting);
  ResultsFile no_samples = s.build(300);
  for (CaseRecord& c : no_samples.cases) c.samples_ms.clear();
  broken_retries.emplace_back("no samples", no_samples);
  for (const auto& [what, retry] : broken_retries) {
    GateResult r = run_gate(base, current, {});
    ASSERT_EQ(verdict_of(r, kOneCase).verdict, Verdict::slower);
    confirm_regressions(r, base, retry);
    EXPECT_FALSE(r.passed()) << what << ": " << printed(r);
    EXPECT_EQ(verdict_of(r, kOneCase).verdict, Verdict::slower) << what;
    EXPECT_NE(verdict_of(r, kOneCase).why.find("the re-run cannot confirm or clear it"), std::string::npos)
        << what << ": " << verdict_of(r, kOneCase).why;
    EXPECT_EQ(r.unconfirmed, 0) << what;
    EXPECT_EQ(r.verdict_line().find("not confirmed"), std::string::npos) << r.verdict_line();
  }
}

// A run of skips gated against itself (or accepted as a baseline) judged no speed: UNRESOLVED
// with why, never "PASS — 9 cases compared".
TEST(Gate, AnAllSkipRunGatedAgainstItselfIsUnresolvedNotPass) {
  Suite s;
  s.status = [](const std::string&) { return "skip"; };
  const ResultsFile skips = s.build(1);
  const GateResult r = run_gate(skips, skips, {});
  EXPECT_TRUE(r.passed());  // nothing failed...
  EXPECT_TRUE(r.unresolved());  // ...but nothing was judged
  EXPECT_EQ(r.judged(), 0);
  EXPECT_EQ(r.verdict_line(), "gate: UNRESOLVED \u2014 9 cases compared, 0 regressions; speed not judged: no case "
                              "passed in both files with enough per-sample times (9 skipped)");
  GateOptions no_perf;
  no_perf.judge_performance = false;  // speed not asked for: statuses pass
  EXPECT_FALSE(run_gate(skips, skips, no_perf).unresolved());
  EXPECT_EQ(run_gate(skips, skips, no_perf).verdict_line().rfind("gate: PASS", 0), 0u);
  const ResultsFile sound = Suite{}.build(1);
  EXPECT_EQ(run_gate(sound, sound, {}).verdict_line().rfind("gate: PASS", 0), 0u);
}

TEST(Gate, DriftCountsEveryCalibrationNotOnlyTheNormaliser) {
  // A run without oneDNN: no normaliser GEMM, so the writer recorded calibration_drift 0.0; its
  // own GEMM went 0.110 -> 0.200 TFLOP/s and the bandwidth 28 -> 61 GB/s.
  json ctx{{"calibration_drift", 0.0},
           {"calibrations", json::array({{{"device_class", "cpu"}, {"dtype", "f32"}, {"gemm", "blocked sgemm"},
                                          {"tflops", 0.110}, {"from_library", false}}})},
           {"calibration_ends", json::array({{{"device_class", "cpu"}, {"dtype", "f32"}, {"gemm", "blocked sgemm"},
                                              {"tflops", 0.200}, {"from_library", false}}})},
           {"bandwidth_cpu_gbs", 28.0},
           {"calibration_end_bandwidth_cpu_gbs", 28.5}};
  CalibrationDrift d = calibration_drift_of(ctx);
  EXPECT_NEAR(d.fraction, 0.818, 0.001);
  EXPECT_NE(d.what.find("cpu f32 GEMM blocked sgemm: 0.11 -> 0.2 TFLOP/s (+82%)"), std::string::npos) << d.what;
  ctx["calibration_ends"][0]["tflops"] = 0.111;
  ctx["calibration_end_bandwidth_cpu_gbs"] = 61.0;
  d = calibration_drift_of(ctx);
  EXPECT_NEAR(d.fraction, 33.0 / 28.0, 1e-9);
  EXPECT_NE(d.what.find("cpu memory bandwidth: 28 -> 61 GB/s"), std::string::npos) << d.what;
  ctx["calibration_end_bandwidth_cpu_gbs"] = 28.0;
  EXPECT_LT(calibration_drift_of(ctx).fraction, 0.01);  // a quiet run

  // The gate judges no speed of such a run.
  Suite s;
  const ResultsFile base = s.build(1);
  ResultsFile current = s.build(100);
  current.context.update(ctx);
  current.context["calibration_end_bandwidth_cpu_gbs"] = 61.0;
  const GateResult r = run_gate(base, current, {});
  EXPECT_TRUE(r.unresolved());
  EXPECT_NE(r.verdict_line().find("CURRENT's machine changed speed by 118% during its run (cpu memory bandwidth"),
            std::string::npos)
      << r.verdict_line();
}

TEST(Gate, PValuesAndPercentagesPrintReadably) {
  EXPECT_EQ(p_value_text(0.0), "< 1e-300");
  EXPECT_EQ(p_value_text(1e-320), "< 1e-300");
  EXPECT_EQ(p_value_text(0.0031), "0.0031");
  EXPECT_EQ(p_value_text(-1), "");
  EXPECT_EQ(percent_text(0.82), "82%");
  EXPECT_EQ(percent_text(1.7976931348623157e308), "inf%");
  EXPECT_EQ(percent_text(1e300), "1e+302%");
  // Fully separated samples: the rank test's p underflows to 0; printed as "< 1e-300".
  Suite s;
  s.samples = 2000;
  s.spread = 0.01;
  const ResultsFile base = s.build(1);
  s.slowdown = [](const std::string& name) { return name == kOneCase ? 2.0 : 1.0; };
  const GateResult r = run_gate(base, s.build(100), {});
  ASSERT_EQ(verdict_of(r, kOneCase).verdict, Verdict::slower);
  EXPECT_EQ(verdict_of(r, kOneCase).p_value, 0.0);  // what the test computes
  for (bool markdown : {false, true}) {
    const std::string out = printed(r, markdown);
    EXPECT_EQ(out.find("p = 0\n"), std::string::npos) << out;
    EXPECT_NE(out.find("(normalised median), p < 1e-300"), std::string::npos) << out;
  }
}

// Cells from a results file (a skip reason "skip: a|b", a message over two lines) stay in their
// cell. The old escaping loop found its own escaped '|' again and never ended, so the printing
// runs in a child process with an alarm: a hang fails the test instead of hanging ctest.
TEST(Gate, MarkdownEscapesPipesAndLineBreaksFromFileContents) {
  json entries = json::array();
  for (const char* reason : {"skip: a|b", "skip: line one\nline two", "skip: a\\|b"}) {
    json e = case_entries("naive", kProblems[entries.size()], "skip", {});
    e[0]["error_message"] = reason;
    entries.push_back(e);
  }
  const ResultsFile f = parse_results(results_doc(0.4, entries), "pipes.json");
  const GateResult r = run_gate(f, f, {});
  EXPECT_EXIT(
      {
        alarm(10);
        const std::string md = printed(r, true);
        std::_Exit(md.size() < 100000 ? 0 : 3);
      },
      ::testing::ExitedWithCode(0), "");
  if (::testing::Test::HasFailure()) return;  // it hung in the child: do not hang here
  const std::string md = printed(r, true);
  EXPECT_NE(md.find("SKIPPED (skip: a\\|b) |"), std::string::npos) << md;
  EXPECT_NE(md.find("SKIPPED (skip: line one<br>line two) |"), std::string::npos) << md;
  EXPECT_NE(md.find("SKIPPED (skip: a\\\\\\|b) |"), std::string::npos) << md;
  // Every row has the header's 8 cell borders once escapes are read as GitHub reads them.
  std::istringstream lines(md);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '|') continue;
    int bars = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\\') ++i;
      else bars += line[i] == '|';
    }
    EXPECT_EQ(bars, 8) << line;
  }
  // The text table keeps one line per case too.
  const std::string text = printed(r, false);
  EXPECT_NE(text.find("line one\\nline two"), std::string::npos) << text;
}

// The command itself (what the subcommand's callback runs) on files in a temporary folder.
class GateCommandTest : public ::testing::Test {
 protected:
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / ("gate_command_" + std::to_string(::getpid()));
  void SetUp() override {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  std::string write(const std::string& name, const json& doc) {
    const std::string path = (dir / name).string();
    std::ofstream(path) << doc.dump();
    return path;
  }
  json doc(double slowdown, const std::string& status = "pass") {
    json entries = json::array();
    for (const char* p : kProblems) entries.push_back(case_entries("naive", p, status, samples(2 * slowdown, 0.02, 12, 3)));
    return results_doc(0.4, entries);
  }
  int gate(std::vector<std::string> files, const std::function<void(GateCommand&)>& with = {}) {
    GateCommand c;
    c.files = std::move(files);
    if (with) with(c);
    return cmd_gate(c);
  }
  int update(const std::string& file, bool force) {
    return gate({file}, [&](GateCommand& c) {
      c.update = true;
      c.force = force;
      c.baselines = (dir / "baselines").string();
    });
  }
};

TEST_F(GateCommandTest, ExitCodes) {
  const std::string base = write("base.json", doc(1)), same = write("same.json", doc(1)),
                    slow = write("slow.json", doc(1.5)), broken = write("broken.json", doc(1, "fail"));
  EXPECT_EQ(gate({base, same}), 0);
  EXPECT_EQ(gate({base, slow}), 1);
  EXPECT_EQ(gate({base, slow}, [](GateCommand& c) { c.options.threshold = 0.6; }), 0);
  EXPECT_EQ(gate({base, broken}, [](GateCommand& c) { c.markdown = true; }), 1);
  EXPECT_EQ(gate({base, same}, [](GateCommand& c) { c.options.threshold = std::nan(""); }), 2);
  EXPECT_EQ(gate({base, same}, [](GateCommand& c) { c.options.alpha = 0.7; }), 2);
  EXPECT_EQ(gate({base, write("foreign.json", json{{"benchmarks", json::array()}})}), 2);
  EXPECT_EQ(gate({base, (dir / "absent.json").string()}), 2);
  EXPECT_EQ(gate({base}), 2);
  EXPECT_EQ(gate({base}, [](GateCommand& c) { c.print_class = true; }), 0);
  // --confirm: the slow run measured again, slow again (1) or not (0); a bad retry file is 2.
  EXPECT_EQ(gate({base, slow}, [&](GateCommand& c) { c.confirm = slow; }), 1);
  EXPECT_EQ(gate({base, slow}, [&](GateCommand& c) { c.confirm = same; }), 0);
  EXPECT_EQ(gate({base, slow}, [&](GateCommand& c) { c.confirm = (dir / "absent.json").string(); }), 2);
}

TEST_F(GateCommandTest, PrintRegressionsListsTheSlowerCasesForAReRun) {
  const std::string base = write("base.json", doc(1)), slow = write("slow.json", doc(1.5));
  testing::internal::CaptureStdout();
  const int code = gate({base, slow}, [](GateCommand& c) { c.print_regressions = true; });
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, 1);
  const ResultsFile file = load_results(slow);
  for (const CaseRecord& c : file.cases) {
    EXPECT_NE(out.find(c.backend + " " + c.problem + "\n"), std::string::npos) << out;
  }
  EXPECT_EQ(out.find("gate:"), std::string::npos) << out;  // the lines alone, for a script to read
}

TEST_F(GateCommandTest, RequirePerfFailsAGateThatJudgedNoSpeed) {
  const std::string skips = write("skips.json", doc(1, "skip")), base = write("base.json", doc(1));
  EXPECT_EQ(gate({skips, skips}), 0);  // UNRESOLVED, which the verdict line says
  EXPECT_EQ(gate({skips, skips}, [](GateCommand& c) { c.require_perf = true; }), 1);
  EXPECT_EQ(gate({base, base}, [](GateCommand& c) { c.require_perf = true; }), 0);
  EXPECT_EQ(gate({skips, skips}, [](GateCommand& c) {
              c.require_perf = true;
              c.no_perf = true;
            }),
            0);
  testing::internal::CaptureStdout();
  gate({skips, skips});
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("gate: UNRESOLVED"), std::string::npos) << out;
  EXPECT_EQ(out.find("gate: PASS"), std::string::npos) << out;
}

TEST_F(GateCommandTest, DamagedFilesAreBadInputNamingFileAndField) {
  const std::string base = write("base.json", doc(1));
  const std::vector<std::pair<std::string, std::function<void(json&)>>> damage{
      {"time_unit", [](json& d) { d["benchmarks"][1]["time_unit"] = 5; }},
      {"error_occurred", [](json& d) { d["benchmarks"][0]["error_occurred"] = "yes"; }},
      {"format_version 4294967298", [](json& d) { d["format_version"] = 4294967298ull; }},
      {"samples_real_time", [](json& d) { d["benchmarks"][1]["samples_real_time"] = "1,2,3"; }},
      {"device_clock", [](json& d) { d["benchmarks"][1]["device_clock"] = 1; }},
      {"stopped_because", [](json& d) { d["benchmarks"][1]["stopped_because"] = 3; }},
      {"'context' is not an object", [](json& d) { d["context"] = "x"; }},
      {"is given twice", [](json& d) { d["benchmarks"].push_back(d["benchmarks"][0]); }},
  };
  for (const auto& [field, edit] : damage) {
    json d = doc(1);
    edit(d);
    const std::string path = write("damaged.json", d);
    testing::internal::CaptureStderr();
    const int code = gate({base, path});
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(code, 2) << field << ": " << err;
    EXPECT_NE(err.find(path + ": "), std::string::npos) << err;
    EXPECT_NE(err.find(field), std::string::npos) << err;
    EXPECT_EQ(update(path, true), 2) << field;
  }
}

// The same (backend, problem) twice in one file: the gate would judge one copy and the report
// show the other, so the reader refuses the file, naming the case.
TEST(Gate, DuplicateCasesAreRefusedNamingTheCase) {
  const std::string name = std::string("naive/") + kProblems[0];
  json passing = case_entries("naive", kProblems[0], "pass", samples(1, 0.02, 12, 1));
  json failing = case_entries("naive", kProblems[0], "fail", samples(1, 0.02, 12, 2));
  json skip = case_entries("naive", kProblems[0], "skip", {});
  json other = case_entries("naive", kProblems[1], "pass", samples(1, 0.02, 12, 3));
  for (const json& entries : {json::array({failing, passing}), json::array({passing, other, passing}),
                              json::array({skip, skip}), json::array({skip, passing}), json::array({passing, skip})}) {
    try {
      parse_results(results_doc(0.4, entries), "dup.json");
      ADD_FAILURE() << "accepted " << entries.dump().substr(0, 200);
    } catch (const SpecError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("dup.json: ", 0), 0u) << e.what();
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
  // Its entries together, each aggregate once: the normal file is read.
  EXPECT_EQ(parse_results(results_doc(0.4, json::array({passing, other})), "ok.json").cases.size(), 2u);
}

TEST_F(GateCommandTest, UpdateRefusesARunNoSpeedCanBeJudgedAgainst) {
  json one_sample = doc(1);
  for (json& e : one_sample["benchmarks"]) {
    if (e.contains("samples_real_time")) e["samples_real_time"] = {2.0};
  }
  for (const json& d : {doc(1, "skip"), one_sample}) {
    const std::string path = write("unjudgeable.json", d);
    testing::internal::CaptureStderr();
    EXPECT_EQ(update(path, true), 2);  // --force does not make it a baseline
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("no case's speed could be judged against this run"), std::string::npos) << err;
    EXPECT_FALSE(std::filesystem::exists(dir / "baselines" / "amd-epyc-2t.json"));
  }
}

TEST_F(GateCommandTest, UpdateRefusesADriftInAnyCalibrationAndPrintsNoHugeNumbers) {
  json drifting = doc(1);
  drifting["context"]["calibration_drift"] = 0.0;  // as written without oneDNN
  drifting["context"]["bandwidth_cpu_gbs"] = 28.0;
  drifting["context"]["calibration_end_bandwidth_cpu_gbs"] = 61.0;
  const std::string path = write("drifting.json", drifting);
  testing::internal::CaptureStderr();
  EXPECT_EQ(update(path, false), 2);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("changed speed by 118% during this run (cpu memory bandwidth: 28 -> 61 GB/s"), std::string::npos)
      << err;
  EXPECT_EQ(update(path, true), 0);  // the existing rule: --force records it

  json huge = doc(1);
  huge["context"]["calibration_drift"] = 1.7976931348623157e308;
  std::filesystem::remove_all(dir / "baselines");
  testing::internal::CaptureStderr();
  EXPECT_EQ(update(write("huge.json", huge), false), 2);
  err = testing::internal::GetCapturedStderr();
  EXPECT_LT(err.size(), 400u) << err;
  EXPECT_FALSE(std::regex_search(err, std::regex("[0-9]{20}"))) << err;
}

TEST_F(GateCommandTest, UpdateWritesTheClassBaselineOnceUnlessForced) {
  const std::string current = write("current.json", doc(1)), other = write("other.json", doc(1.2));
  EXPECT_EQ(update(current, false), 0);
  const auto target = dir / "baselines" / "amd-unknowngen-base-2t.json";  // hardware_class: no family/model, no flags
  ASSERT_TRUE(std::filesystem::exists(target));
  auto bytes = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(bytes(target.string()), bytes(current));
  EXPECT_EQ(update(other, false), 2);
  EXPECT_EQ(bytes(target.string()), bytes(current));
  EXPECT_EQ(update(other, true), 0);
  EXPECT_EQ(bytes(target.string()), bytes(other));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "baselines"), {}), 1);  // no temporary left
  EXPECT_EQ(update(write("broken.json", doc(1, "fail")), true), 2);

  json noisy = doc(1);
  noisy["context"]["calibration_drift"] = 0.3;
  const std::string noisy_path = write("noisy.json", noisy);
  std::filesystem::remove(target);
  EXPECT_EQ(update(noisy_path, false), 2);
  EXPECT_FALSE(std::filesystem::exists(target));
  EXPECT_EQ(update(noisy_path, true), 0);
}

}  // namespace
}  // namespace sdpa
