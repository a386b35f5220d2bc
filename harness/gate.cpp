#include "harness/gate.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "core/problem.h"
#include "harness/stats.h"
#include "harness/format.h"

namespace sdpa {

using nlohmann::json;

namespace {

std::string plural(int n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Per-sample times that are times: finite and positive (a null sample is NaN).
std::vector<double> sample_times(const CaseRecord& c) {
  std::vector<double> out;
  for (double v : c.samples_ms) {
    if (std::isfinite(v) && v > 0) out.push_back(v);
  }
  return out;
}

// A case's usable times: its samples, else its recorded median alone (a file written without
// samples, or one whose median is null, which the reader gives as NaN).
std::vector<double> usable_times(const CaseRecord& c) {
  std::vector<double> out = sample_times(c);
  if (out.empty()) {
    auto it = c.time_ms.find("median");
    if (it != c.time_ms.end() && std::isfinite(it->second) && it->second > 0) out.push_back(it->second);
  }
  return out;
}

std::string status_with_reason(const CaseRecord& c) {
  return c.message.empty() ? c.status : c.status + ": " + c.message;
}

// The verdict of a case present in both files whose statuses allow a comparison of times.
void judge_times(const CaseRecord& b, const CaseRecord& c, double base_scale, double new_scale,
                 const GateOptions& opt, const std::string& machine_noise, CaseVerdict& v) {
  std::vector<double> bt = usable_times(b), ct = usable_times(c);
  if (bt.empty()) {
    v.verdict = Verdict::added;
    v.why = "BASE has no timings for it";
    return;
  }
  if (ct.empty()) {
    v.verdict = Verdict::missing;
    v.fails_gate = true;
    v.why = "no timings in CURRENT (null median, no samples)";
    return;
  }
  v.base_p50_ms = percentile(bt, 50);
  v.new_p50_ms = percentile(ct, 50);
  for (double& x : bt) x *= base_scale;
  for (double& x : ct) x *= new_scale;
  v.ratio = percentile(ct, 50) / percentile(bt, 50);
  if (!std::isfinite(v.ratio)) v.ratio = 0;  // a time past the range of double once normalised
  // Symmetric in log space: 10% faster is the mirror of 10% slower (1/1.1, not 0.9).
  const bool slower = v.ratio >= 1 + opt.threshold, faster = v.ratio > 0 && v.ratio <= 1 / (1 + opt.threshold);
  const bool testable = !sample_times(b).empty() && !sample_times(c).empty() && v.ratio > 0;
  if (!testable) {
    v.verdict = Verdict::unresolved;
    v.why = v.ratio > 0 ? "no per-sample times to test" : "times out of range";
    return;
  }
  v.base_samples = static_cast<int64_t>(bt.size());  // the samples tested, without any null
  v.new_samples = static_cast<int64_t>(ct.size());
  v.p_value = mann_whitney_u(ct, bt).p_value;
  // Too few samples for the rank test ever to reach alpha: neither a slowdown nor its absence
  // can be told from noise (a case that stopped at 3 samples), so the speed is not judged.
  if (mann_whitney_min_p(v.base_samples, v.new_samples) >= opt.alpha) {
    v.verdict = Verdict::unresolved;
    v.why = std::to_string(v.base_samples) + " vs " + std::to_string(v.new_samples) +
            " samples: too few for the rank test to reach p < " + fmt("%g", opt.alpha);
    return;
  }
  if (!machine_noise.empty()) {
    v.verdict = Verdict::unresolved;
    v.why = machine_noise;
    return;
  }
  v.speed_judged = true;
  if (!slower && !faster) {
    v.verdict = Verdict::same;
    return;
  }
  if (v.p_value >= opt.alpha) {
    v.verdict = Verdict::noisy;
    return;
  }
  v.verdict = slower ? Verdict::slower : Verdict::faster;
  v.fails_gate = slower;
}

// The verdict of a case present in both files.
CaseVerdict judge(const CaseRecord& b, const CaseRecord& c, double base_scale, double new_scale,
                  const GateOptions& opt, const std::string& machine_noise) {
  CaseVerdict v;
  v.backend = c.backend;
  v.problem = c.problem;
  v.base_samples = static_cast<int64_t>(b.samples_ms.size());
  v.new_samples = static_cast<int64_t>(c.samples_ms.size());
  const bool was_pass = b.status == "pass";
  if (c.status == "fail" || c.status == "error") {
    v.verdict = Verdict::failed;
    v.fails_gate = true;
    v.why = (was_pass ? "was pass, now " : "") + status_with_reason(c);
    return v;
  }
  if (c.status != "pass") {  // skip, or invalid (the reference itself was not finite)
    v.verdict = was_pass ? Verdict::failed : Verdict::skipped;
    v.fails_gate = was_pass;
    v.why = (was_pass ? "was pass, now " : "") + status_with_reason(c);
    return v;
  }
  if (!opt.judge_performance) {
    v.verdict = Verdict::same;
    v.why = "performance not judged";
    return v;
  }
  judge_times(b, c, base_scale, new_scale, opt, machine_noise, v);
  return v;
}

}  // namespace

void validate(const GateOptions& o) {
  if (!std::isfinite(o.threshold) || o.threshold <= 0 || o.threshold >= 10) {
    throw SpecError("--threshold " + fmt("%g", o.threshold) +
                    ": must be a finite fraction with 0 < threshold < 10 (0.10 = 10% slower)");
  }
  if (!std::isfinite(o.alpha) || o.alpha <= 0 || o.alpha >= 0.5) {
    throw SpecError("--alpha " + fmt("%g", o.alpha) + ": must be a significance level with 0 < alpha < 0.5");
  }
}

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::faster: return "FASTER";
    case Verdict::slower: return "SLOWER";
    case Verdict::same: return "SAME";
    case Verdict::noisy: return "NOISY";
    case Verdict::missing: return "MISSING";
    case Verdict::added: return "NEW";
    case Verdict::failed: return "FAILED";
    case Verdict::skipped: return "SKIPPED";
    case Verdict::unresolved: return "UNRESOLVED";
  }
  return "?";
}

int GateResult::count(Verdict v) const {
  return static_cast<int>(std::count_if(cases.begin(), cases.end(), [&](const CaseVerdict& c) { return c.verdict == v; }));
}

int GateResult::failures() const {
  return static_cast<int>(std::count_if(cases.begin(), cases.end(), [](const CaseVerdict& c) { return c.fails_gate; }));
}

int GateResult::judged() const {
  return static_cast<int>(std::count_if(cases.begin(), cases.end(), [](const CaseVerdict& c) { return c.speed_judged; }));
}

std::string GateResult::speed_not_judged() const {
  if (!options.judge_performance || judged() > 0) return "";
  if (!machine_noise.empty()) return machine_noise;
  // What the cases lacked, most common first: "34 skipped", "2 with too few samples".
  std::map<std::string, int> lacks;
  for (const CaseVerdict& c : cases) {
    if (c.verdict == Verdict::unresolved) {
      ++lacks[c.why.find("too few") != std::string::npos ? "with too few samples for the rank test"
              : c.why == "no per-sample times to test" ? "without per-sample times"
                                                        : "with times out of range"];
    } else if (c.verdict == Verdict::skipped) {
      ++lacks["skipped"];
    } else if (c.verdict == Verdict::added) {
      ++lacks[c.why == "not in BASE" ? "in CURRENT only" : "without timings in BASE"];
    } else if (c.verdict == Verdict::missing) {
      ++lacks["not in CURRENT"];
    } else if (c.verdict == Verdict::failed) {
      ++lacks["failing"];
    }
  }
  std::string why = "no case passed in both files with enough per-sample times";
  std::string sep = " (";
  for (const auto& [what, n] : lacks) {
    why += sep + std::to_string(n) + " " + what;
    sep = ", ";
  }
  return lacks.empty() ? why : why + ")";
}

std::string GateResult::verdict_line() const {
  const int regressions = count(Verdict::slower);
  std::vector<std::string> parts;
  if (common == 0) parts.push_back("no case in common");
  if (passed()) {
    parts.push_back(plural(common, "case", "cases") + " compared");
    if (options.judge_performance) parts.push_back(plural(regressions, "regression", "regressions"));
  } else {
    if (common > 0 || regressions > 0) parts.push_back(plural(regressions, "regression", "regressions"));
    int missing = 0, broken = 0;
    for (const CaseVerdict& c : cases) {
      missing += c.fails_gate && c.verdict == Verdict::missing;
      broken += c.fails_gate && c.verdict == Verdict::failed;
    }
    if (missing) parts.push_back(plural(missing, "missing case", "missing cases"));
    if (broken) parts.push_back(plural(broken, "case", "cases") + " no longer correct or no longer run");
  }
  if (int n = count(Verdict::faster)) parts.push_back(std::to_string(n) + " faster");
  if (int n = count(Verdict::noisy)) parts.push_back(std::to_string(n) + " noisy");
  if (int n = count(Verdict::unresolved); n > 0 && judged() > 0) parts.push_back(std::to_string(n) + " unresolved");
  if (unconfirmed > 0) parts.push_back(std::to_string(unconfirmed) + " slowdowns not confirmed by a re-run");
  if (undecided > 0) parts.push_back(std::to_string(undecided) + " slowdowns the re-run could not judge");
  const char* word = !passed() ? "FAIL" : unresolved() ? "UNRESOLVED" : "PASS";
  std::string line = std::string("gate: ") + word + " \u2014 ";
  for (std::size_t i = 0; i < parts.size(); ++i) line += (i ? ", " : "") + parts[i];
  if (!options.judge_performance) {
    line += "; performance not judged";
  } else if (judged() == 0) {  // the machine's drift, or what the cases lacked
    line += "; speed not judged: " + speed_not_judged();
  } else if (raw_times) {
    line += "; raw times compared (a file lacks the calibration normaliser)";
  }
  return line;
}

std::string percent_text(double fraction) {
  const double pct = 100 * fraction;
  return fmt(std::isfinite(pct) && std::abs(pct) < 1e6 ? "%.0f%%" : "%.3g%%", pct);
}

std::string p_value_text(double p) {
  if (!(p >= 0)) return "";
  // The normal approximation underflows to 0 for large, fully separated samples: "p = 0" would
  // claim a certainty no test gives.
  if (p < 1e-300) return "< 1e-300";
  return fmt("%.2g", p);
}

namespace {

// One calibration figure measured twice: "what: 0.11 -> 0.2 unit (+82%)".
void compare(double start, double end, const std::string& what, const std::string& unit, CalibrationDrift& d) {
  if (!std::isfinite(start) || !std::isfinite(end) || start <= 0 || end <= 0) return;
  const double fraction = std::abs(end - start) / start;
  if (!(fraction > d.fraction)) return;
  d.fraction = fraction;
  d.what = what + ": " + fmt("%.3g", start) + " -> " + fmt("%.3g", end) + " " + unit + " (" +
           (end >= start ? "+" : "-") + percent_text(fraction) + ")";
}

double number_at(const json& object, const std::string& key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<double>() : std::nan("");
}

std::string text_at(const json& object, const std::string& key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

CalibrationDrift calibration_drift_of(const json& context) {
  CalibrationDrift d;
  if (!context.is_object()) return d;
  // Every GEMM of the list, matched by device, dtype and kernel.
  auto starts = context.find("calibrations"), ends = context.find("calibration_ends");
  if (starts != context.end() && ends != context.end() && starts->is_array() && ends->is_array()) {
    for (const json& a : *starts) {
      if (!a.is_object()) continue;
      for (const json& b : *ends) {
        if (!b.is_object()) continue;
        const std::string dev = text_at(a, "device_class"), dtype = text_at(a, "dtype"), gemm = text_at(a, "gemm");
        if (dev != text_at(b, "device_class") || dtype != text_at(b, "dtype") || gemm != text_at(b, "gemm")) continue;
        compare(number_at(a, "tflops"), number_at(b, "tflops"), dev + " " + dtype + " GEMM " + gemm, "TFLOP/s", d);
      }
    }
  }
  // Every figure written twice: calibration_<x> and calibration_end_<x>; bandwidth_<dev>_gbs and
  // calibration_end_bandwidth_<dev>_gbs.
  const std::string end_prefix = "calibration_end_";
  for (const auto& [key, value] : context.items()) {
    if (key.rfind(end_prefix, 0) != 0 || !value.is_number()) continue;
    const std::string rest = key.substr(end_prefix.size());
    const bool bandwidth = rest.rfind("bandwidth_", 0) == 0;
    const std::string start_key = bandwidth ? rest : "calibration_" + rest;
    const std::string what = bandwidth ? rest.substr(10, rest.size() > 14 ? rest.size() - 14 : 0) + " memory bandwidth"
                                       : start_key;
    compare(number_at(context, start_key), value.get<double>(), what, bandwidth ? "GB/s" : "TFLOP/s", d);
  }
  const double recorded = number_at(context, "calibration_drift");
  if (std::isfinite(recorded) && recorded > d.fraction) {
    d.fraction = recorded;
    d.what = "calibration_drift " + percent_text(recorded) + " as recorded";
  }
  return d;
}

std::string case_device(const json& context, const std::string& backend) {
  for (const std::string& key : {backend + "_device_class", backend + "_device"}) {
    if (!context.is_object() || !context.contains(key) || !context[key].is_string()) continue;
    const std::string device = context[key].get<std::string>();
    if (device.empty()) continue;
    // A backend's own context may reuse the key for a bare device name ("vulkan_device":
    // "llvmpipe ...") where the calibration keys say "vulkan:llvmpipe ...": take that class.
    const std::string tail = ":" + device + "_normaliser_tflops";
    if (!context.contains("calibration_" + device + "_normaliser_tflops")) {
      for (const auto& [k, v] : context.items()) {
        if (k.rfind("calibration_", 0) == 0 && k.size() > tail.size() + 12 &&
            k.compare(k.size() - tail.size(), tail.size(), tail) == 0) {
          return k.substr(12, k.size() - 12 - tail.size()) + ":" + device;
        }
      }
    }
    return device;
  }
  return "cpu";
}

double normaliser_tflops(const json& context, const std::string& device) {
  const std::string key = "calibration_" + device + "_normaliser_tflops";
  if (!context.is_object() || !context.contains(key) || !context[key].is_number()) return 0;
  const double v = context[key].get<double>();
  return std::isfinite(v) && v > 0 ? v : 0;
}

GateResult run_gate(const ResultsFile& base, const ResultsFile& current, const GateOptions& options) {
  validate(options);
  GateResult r;
  r.options = options;
  for (const auto& [label, file] : {std::pair{"BASE", &base}, std::pair{"CURRENT", &current}}) {
    const CalibrationDrift drift = calibration_drift_of(file->context);
    if (r.machine_noise.empty() && drift.fraction > options.threshold) {
      r.machine_noise = std::string(label) + "'s machine changed speed by " + percent_text(drift.fraction) +
                        " during its run (" + drift.what + ")";
    }
  }
  std::map<std::string, std::pair<double, double>> scale_of_device;  // device -> (BASE, CURRENT)
  auto scales = [&](const std::string& backend) {
    const std::string device = case_device(current.context, backend);
    auto it = scale_of_device.find(device);
    if (it != scale_of_device.end()) return it->second;
    const double nb = normaliser_tflops(base.context, case_device(base.context, backend));
    const double nc = normaliser_tflops(current.context, device);
    std::pair<double, double> s{1.0, 1.0};
    if (nb > 0 && nc > 0) {
      s = {nb, nc};
      r.normalisation.push_back(device + ": times multiplied by the library GEMM throughput (BASE " +
                                fmt("%.4g", nb) + ", CURRENT " + fmt("%.4g", nc) + " TFLOP/s)");
    } else {
      r.raw_times = true;
      r.normalisation.push_back(device + ": raw times (" + std::string(nb > 0 ? "CURRENT" : "BASE") +
                                " has no calibration_" + device + "_normaliser_tflops)");
    }
    return scale_of_device[device] = s;
  };

  std::map<std::string, const CaseRecord*> in_current;
  for (const CaseRecord& c : current.cases) in_current.emplace(c.name(), &c);
  std::set<std::string> in_base;
  for (const CaseRecord& b : base.cases) {
    in_base.insert(b.name());
    auto found = in_current.find(b.name());
    const CaseRecord* c = found == in_current.end() ? nullptr : found->second;
    if (!c) {
      CaseVerdict v;
      v.backend = b.backend;
      v.problem = b.problem;
      v.verdict = Verdict::missing;
      v.fails_gate = b.status == "pass";
      v.why = b.status == "pass" ? "not in CURRENT" : "not in CURRENT (was " + b.status + ")";
      v.base_samples = static_cast<int64_t>(b.samples_ms.size());
      r.cases.push_back(std::move(v));
      continue;
    }
    ++r.common;
    const auto [nb, nc] = options.judge_performance ? scales(b.backend) : std::pair<double, double>{1, 1};
    r.cases.push_back(judge(b, *c, nb, nc, options, r.machine_noise));
  }
  for (const CaseRecord& c : current.cases) {
    if (in_base.count(c.name())) continue;
    CaseVerdict v;
    v.backend = c.backend;
    v.problem = c.problem;
    v.new_samples = static_cast<int64_t>(c.samples_ms.size());
    const bool broken = c.status == "fail" || c.status == "error";
    v.verdict = broken ? Verdict::failed : Verdict::added;
    v.fails_gate = broken;
    v.why = broken ? status_with_reason(c) : "not in BASE";
    r.cases.push_back(std::move(v));
  }
  return r;
}

void confirm_regressions(GateResult& r, const ResultsFile& base, const ResultsFile& retry) {
  const GateResult second = run_gate(base, retry, r.options);
  for (CaseVerdict& c : r.cases) {
    if (c.verdict != Verdict::slower) continue;
    auto again = std::find_if(second.cases.begin(), second.cases.end(),
                              [&](const CaseVerdict& s) { return s.name() == c.name(); });
    if (again == second.cases.end() || again->verdict == Verdict::missing) {
      c.why = "not re-run";
      continue;
    }
    const std::string both = fmt("x%.3g", c.ratio) + ", re-run " + fmt("x%.3g", again->ratio);
    if (again->verdict == Verdict::slower) {
      c.why = "confirmed by the re-run: " + both;
      ++r.confirmed;
      continue;
    }
    // Only a re-run that judged the case's speed can clear it: one that failed, skipped, has
    // too few samples or ran on a drifting machine says nothing about the slowdown.
    if (!again->speed_judged) {
      c.why = "the re-run cannot confirm or clear it (" + std::string(to_string(again->verdict)) +
              (again->why.empty() ? "" : ": " + again->why) + ")";
      ++r.undecided;
      continue;
    }
    c.verdict = Verdict::noisy;
    c.fails_gate = false;
    c.why = "not confirmed by the re-run (" + std::string(to_string(again->verdict)) + "): " + both;
    ++r.unconfirmed;
  }
}

}  // namespace sdpa
