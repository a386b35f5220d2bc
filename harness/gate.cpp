#include "harness/gate.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "core/problem.h"
#include "harness/stats.h"

namespace sdpa {

using nlohmann::json;

namespace {

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string plural(int n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// A case's usable times: its samples, else its recorded median alone (a file written without
// samples, or one whose median is null, which the reader gives as NaN). Non-finite and
// non-positive values are dropped: they are not times.
std::vector<double> usable_times(const CaseRecord& c) {
  std::vector<double> out;
  for (double v : c.samples_ms) {
    if (std::isfinite(v) && v > 0) out.push_back(v);
  }
  if (out.empty()) {
    auto it = c.time_ms.find("median");
    if (it != c.time_ms.end() && std::isfinite(it->second) && it->second > 0) out.push_back(it->second);
  }
  return out;
}

bool has_samples(const CaseRecord& c) { return !c.samples_ms.empty(); }

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
  // Symmetric in log space: 10% faster is the mirror of 10% slower (1/1.1, not 0.9).
  const bool slower = v.ratio >= 1 + opt.threshold, faster = v.ratio <= 1 / (1 + opt.threshold);
  const bool testable = has_samples(b) && has_samples(c);
  if (testable) {
    v.base_samples = static_cast<int64_t>(bt.size());  // the samples tested, without any null
    v.new_samples = static_cast<int64_t>(ct.size());
    v.p_value = mann_whitney_u(ct, bt).p_value;
  }
  if (!slower && !faster) {
    v.verdict = Verdict::same;
    return;
  }
  if (!testable) {
    v.verdict = Verdict::noisy;
    v.why = "no per-sample times to test";
    return;
  }
  // Too few samples for the rank test ever to reach alpha: the effect alone is not enough to
  // fail a build (a slow case that stopped at 3 samples is as likely noise as a regression), so
  // it is reported as NOISY with the reason instead of passing silently as SAME.
  if (mann_whitney_min_p(v.base_samples, v.new_samples) >= opt.alpha) {
    v.verdict = Verdict::noisy;
    v.why = std::to_string(v.base_samples) + " vs " + std::to_string(v.new_samples) +
            " samples: too few for the rank test to reach p < " + fmt("%g", opt.alpha);
    return;
  }
  if (v.p_value >= opt.alpha) {
    v.verdict = Verdict::noisy;
    return;
  }
  if (!machine_noise.empty()) {
    v.verdict = Verdict::noisy;
    v.why = "significant, but " + machine_noise;
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

// Removes every parenthesised mark ("(R)", "(TM)") and the words that name no model.
std::string cpu_words(std::string model) {
  for (std::size_t open; (open = model.find('(')) != std::string::npos;) {
    const std::size_t close = model.find(')', open);
    model.erase(open, close == std::string::npos ? std::string::npos : close - open + 1);
  }
  if (const std::size_t at = model.find('@'); at != std::string::npos) model.erase(at);  // the clock
  std::string out, word;
  auto flush = [&] {
    static const std::set<std::string> noise{"cpu", "processor"};
    if (!word.empty() && !noise.count(word)) out += (out.empty() ? "" : "-") + word;
    word.clear();
  };
  for (char ch : model) {
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    } else {
      flush();
    }
  }
  flush();
  return out;
}

// GPU names a backend ran on: CUDA devices, and Vulkan devices that are not CPU emulators.
std::vector<std::string> gpu_names(const json& context) {
  std::set<std::string> names;
  for (const auto& [key, value] : context.items()) {
    if (!value.is_string()) continue;
    const std::string text = value.get<std::string>();
    if (text.empty() || text.rfind("unavailable", 0) == 0) continue;
    auto ends_with = [&](const std::string& tail) {
      return key.size() > tail.size() && key.compare(key.size() - tail.size(), tail.size(), tail) == 0;
    };
    if (ends_with("_cuda_device")) names.insert(cpu_words(text));
    if (ends_with("_device")) {
      const std::string type_key = key + "_type";
      if (context.contains(type_key) && context[type_key].is_string() &&
          context[type_key].get<std::string>().find("GPU") != std::string::npos) {
        names.insert(cpu_words(text));
      }
    }
  }
  return {names.begin(), names.end()};
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
  }
  return "?";
}

int GateResult::count(Verdict v) const {
  return static_cast<int>(std::count_if(cases.begin(), cases.end(), [&](const CaseVerdict& c) { return c.verdict == v; }));
}

int GateResult::failures() const {
  return static_cast<int>(std::count_if(cases.begin(), cases.end(), [](const CaseVerdict& c) { return c.fails_gate; }));
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
  if (unconfirmed > 0) parts.push_back(std::to_string(unconfirmed) + " slowdowns not confirmed by a re-run");
  std::string line = std::string("gate: ") + (passed() ? "PASS" : "FAIL") + " \u2014 ";
  for (std::size_t i = 0; i < parts.size(); ++i) line += (i ? ", " : "") + parts[i];
  if (!options.judge_performance) {
    line += "; performance not judged";
  } else if (!machine_noise.empty()) {
    line += "; speed not judged: " + machine_noise;
  } else if (raw_times) {
    line += "; raw times compared (a file lacks the calibration normaliser)";
  }
  return line;
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
    const double drift = file->context_number("calibration_drift", 0);
    if (r.machine_noise.empty() && std::isfinite(drift) && drift > options.threshold) {
      r.machine_noise = std::string(label) + "'s machine changed speed by " + fmt("%.0f%%", 100 * drift) +
                        " during its run (calibration_drift)";
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

  std::set<std::string> in_base;
  for (const CaseRecord& b : base.cases) {
    in_base.insert(b.name());
    const CaseRecord* c = current.find(b.name());
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
    const std::string both = fmt("x%.3f", c.ratio) + ", re-run " + fmt("x%.3f", again->ratio);
    if (again->verdict == Verdict::slower) {
      c.why = "confirmed by the re-run: " + both;
      ++r.confirmed;
      continue;
    }
    c.verdict = Verdict::noisy;
    c.fails_gate = false;
    c.why = "not confirmed by the re-run (" + std::string(to_string(again->verdict)) + "): " + both;
    ++r.unconfirmed;
  }
}

std::string machine_class(const json& context) {
  if (!context.is_object() || !context.contains("cpu_model") || !context["cpu_model"].is_string()) {
    throw SpecError("machine class: the results file's context has no cpu_model");
  }
  std::string cls = cpu_words(context["cpu_model"].get<std::string>());
  if (cls.empty()) cls = "cpu";
  // Threads, not cores online: a run pinned to 2 of 64 cores is its own class of timings.
  for (const char* key : {"threads_used", "num_cpus"}) {
    if (!context.contains(key)) continue;
    const json& t = context[key];
    const std::string threads = t.is_string() ? cpu_words(t.get<std::string>())
                                : t.is_number() ? std::to_string(t.get<int64_t>()) : "";
    if (!threads.empty()) {
      cls += "-" + threads + "t";
      break;
    }
  }
  for (const std::string& gpu : gpu_names(context)) cls += "-" + gpu;
  return cls;
}

}  // namespace sdpa
