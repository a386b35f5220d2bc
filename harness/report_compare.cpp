#include "harness/report_compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "core/problem.h"
#include "harness/machine_class.h"
#include "harness/stats.h"
#include "harness/format.h"

namespace sdpa {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string ms(double v) { return std::isfinite(v) && v > 0 ? fmt(v < 1 ? "%.3g" : "%.4g", v) : "—"; }

std::string class_or_path(const ResultsFile& f) {
  try {
    return hardware_class(f.context);
  } catch (const SpecError&) {
    return "(no cpu_model) " + f.path;
  }
}

std::string device_of(const ResultsFile& f, const std::string& backend) {
  const std::string d = f.context_text(backend + "_device");
  return d.empty() || d.find(':') != std::string::npos ? (d.empty() ? "cpu" : d.substr(0, d.find(':'))) : d;
}

// The row's normaliser on one machine: the GEMM peak of the row's own dtype, or the memory
// bandwidth for a decode step; 0 and the reason where the file has none.
double peak_of(const ResultsFile& f, const std::string& letter, const std::string& device, const std::string& dtype,
               bool decode, std::string& why) {
  if (decode) {
    const double gbs = f.context_number("bandwidth_" + device + "_gbs", 0);
    if (gbs <= 0) why = "no memory-bandwidth calibration (bandwidth_" + device + "_gbs) in " + letter;
    return gbs;
  }
  double tflops = f.context_number("calibration_" + device + "_" + dtype + "_tflops", 0);
  // Files from before the per-dtype calibrations recorded one f32 GEMM as calibration_<device>_tflops.
  if (tflops <= 0 && dtype == "f32") tflops = f.context_number("calibration_" + device + "_tflops", 0);
  if (tflops <= 0) why = "no " + dtype + " GEMM calibration on " + device + " in " + letter;
  return tflops;
}

std::string why_not_ran(const ResultsFile& f, const std::string& problem) {
  std::string out;
  for (const CaseRecord& c : f.cases) {
    if (c.problem != problem) continue;
    out += (out.empty() ? "" : "; ") + c.backend + ": " + c.status + (c.message.empty() ? "" : " (" + c.message + ")");
  }
  return out.empty() ? "not in the file" : out;
}

double geomean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += std::log(x);
  return v.empty() ? kNaN : std::exp(s / static_cast<double>(v.size()));
}

std::string short_value(const ResultsFile& f, const std::string& key, std::size_t limit) {
  if (!f.context.is_object() || !f.context.contains(key)) return "";
  const nlohmann::json& v = f.context[key];
  std::string text = v.is_number_float() ? fmt("%.4g", v.get<double>()) : v.is_string() ? v.get<std::string>() : v.dump();
  if (text.size() > limit) text = text.substr(0, limit - 1) + "…";
  return text;
}

// The context keys a buyer reads first, in this order; every other differing key is collapsed.
const std::vector<std::string>& keys_that_matter() {
  static const std::vector<std::string> k{
      "machine_class", "cpu_model", "cpu_uarch", "cpu_uarch_guess", "cpu_family", "cpu_model_number", "cpu_stepping",
      "cpu_isa_tier", "isa_flags", "cpu_cores_online", "threads_used", "cpu_virtualised", "cpu_mhz", "cpu_max_mhz",
      "caches_per_core", "bandwidth_cpu_gbs", "calibration_cpu_f32_tflops", "calibration_cpu_bf16_tflops",
      "calibration_cpu_f16_tflops", "calibration_cpu_tflops", "onednn_version", "compiler", "git_commit"};
  return k;
}

Cell text_cell(const std::string& t, const std::string& kind = "", const std::string& title = "") {
  return Cell{t, kind, title};
}

}  // namespace

std::string faster_wording(const std::string& b, const std::string& a, double speedup) {
  if (!std::isfinite(speedup) || speedup <= 0) return "";
  if (fmt("%.2f", speedup) == "1.00") return b + " and " + a + " are the same (1.00x)";
  if (speedup > 1) return b + " is " + fmt("%.2f", speedup) + "x faster than " + a;
  return b + " is " + fmt("%.2f", 1 / speedup) + "x slower than " + a;
}

Comparison compare_machines(const std::vector<ResultsFile>& files) {
  Comparison cmp;
  for (std::size_t i = 0; i < files.size(); ++i) {
    cmp.letters.push_back(i < 26 ? std::string(1, static_cast<char>('A' + i)) : "M" + std::to_string(i + 1));
    cmp.machines.push_back(class_or_path(files[i]));
    cmp.paths.push_back(files[i].path);
    const double drift = files[i].context_number("calibration_drift", 0);
    const std::string warning = files[i].context_text("noise_warning");
    cmp.noise.push_back(warning.empty() ? "" : drift > 0 ? "calibration drifted " + fmt("%.0f%%", 100 * drift) : warning);
  }
  const std::size_t k = files.size();

  // Problems in first-seen order over all files.
  std::vector<std::string> problems;
  std::set<std::string> seen;
  for (const ResultsFile& f : files) {
    for (const CaseRecord& c : f.cases) {
      if (seen.insert(c.problem).second) problems.push_back(c.problem);
    }
  }
  for (const std::string& prob : problems) {
    ProblemComparison pc;
    pc.problem = prob;
    pc.label = row_label(prob);
    std::optional<Problem> parsed;
    try {
      parsed = parse_problem(prob);
    } catch (const SpecError&) {
    }
    pc.dtype = parsed ? std::string(to_string(parsed->dtype)) : "?";
    pc.decode = parsed && parsed->sq == 1;
    for (std::size_t i = 0; i < k; ++i) {
      MachineBest mb;
      const CaseRecord* best = nullptr;
      for (const CaseRecord& c : files[i].cases) {
        if (c.problem != prob || !c.measured() || c.p50_ms() <= 0 || c.status != "pass") continue;
        if (!best || c.p50_ms() < best->p50_ms()) best = &c;
      }
      if (best) {
        mb.ran = true;
        mb.backend = best->backend;
        mb.p50_ms = best->p50_ms();
        mb.p90_ms = best->samples_ms.empty() ? kNaN : early_stopping_percentile(best->samples_ms, 0.90);
        mb.peak = peak_of(files[i], cmp.letters[i], device_of(files[i], best->backend), pc.dtype, pc.decode,
                          mb.peak_missing);
      } else {
        mb.why_not = why_not_ran(files[i], prob);
      }
      pc.best.push_back(mb);
    }
    const std::string scenario = files[0].context_text("scenario");
    pc.scenario = scenario.empty() ? "single-stream" : scenario;
    for (std::size_t i = 0; i < k; ++i) {
      const MachineBest &a = pc.best[0], &b = pc.best[i];
      double speed = kNaN, norm = kNaN;
      std::string by, why;
      if (a.ran && b.ran) {
        const bool p90 = std::isfinite(a.p90_ms) && std::isfinite(b.p90_ms);
        by = p90 ? "p90" : "p50";
        speed = p90 ? a.p90_ms / b.p90_ms : a.p50_ms / b.p50_ms;
        if (a.peak > 0 && b.peak > 0) {
          norm = speed / (b.peak / a.peak);
        } else {
          why = !b.peak_missing.empty() ? b.peak_missing : a.peak_missing;
        }
        const std::string scen_i = files[i].context_text("scenario").empty() ? "single-stream" : files[i].context_text("scenario");
        if (scen_i != pc.scenario) pc.scenario += " vs " + scen_i;
      } else {
        const MachineBest& missing = !a.ran ? a : b;
        why = cmp.letters[!a.ran ? 0 : i] +
              (missing.why_not == "not in the file" ? " did not run it (not in the file)" : " could not run it");
      }
      pc.speedup.push_back(speed);
      pc.by.push_back(by);
      pc.normalised.push_back(norm);
      pc.normalised_why.push_back(why);
    }
    cmp.problems.push_back(std::move(pc));
  }

  // The legend: letters to machines.
  Table legend{"machines", "Machines", "", {"", "machine class", "file", "noise"}, {}};
  for (std::size_t i = 0; i < k; ++i) {
    legend.rows.push_back({text_cell(cmp.letters[i]), text_cell(cmp.machines[i]), text_cell(cmp.paths[i]),
                           text_cell(cmp.noise[i], cmp.noise[i].empty() ? "" : "bad", files[i].context_text("noise_warning"))});
  }
  cmp.tables.push_back(legend);

  // Geometric means per dtype and per scenario, each other machine against A.
  Table summary{"summary", "Which machine is faster (geometric mean over the problems both ran, best backend each)",
                "Ratio > 1: faster than A. Normalised: the same ratio divided by the ratio of the machines' own "
                "peaks for each row's dtype (GEMM TFLOP/s; memory bandwidth for decode), so 1.00 means the "
                "difference is the hardware's peak and nothing more.",
                {"group", "problems"},
                {}};
  for (std::size_t i = 1; i < k; ++i) summary.header.insert(summary.header.end(), {cmp.letters[i] + " vs A", "normalised"});
  std::vector<std::pair<std::string, std::function<bool(const ProblemComparison&)>>> groups{
      {"all", [](const ProblemComparison&) { return true; }}};
  std::vector<std::string> dtypes, scenarios;
  for (const ProblemComparison& pc : cmp.problems) {
    if (std::find(dtypes.begin(), dtypes.end(), pc.dtype) == dtypes.end()) dtypes.push_back(pc.dtype);
    if (std::find(scenarios.begin(), scenarios.end(), pc.scenario) == scenarios.end()) scenarios.push_back(pc.scenario);
  }
  for (const std::string& d : dtypes) groups.emplace_back("dtype " + d, [d](const ProblemComparison& pc) { return pc.dtype == d; });
  for (const std::string& s : scenarios) {
    groups.emplace_back("scenario " + s, [s](const ProblemComparison& pc) { return pc.scenario == s; });
  }
  for (const auto& [name, in_group] : groups) {
    std::vector<Cell> row{text_cell(name), text_cell("")};
    std::size_t most = 0;
    for (std::size_t i = 1; i < k; ++i) {
      std::vector<double> raw, norm;
      for (const ProblemComparison& pc : cmp.problems) {
        if (!in_group(pc) || !std::isfinite(pc.speedup[i])) continue;
        raw.push_back(pc.speedup[i]);
        if (std::isfinite(pc.normalised[i])) norm.push_back(pc.normalised[i]);
      }
      most = std::max(most, raw.size());
      row.push_back(raw.empty() ? text_cell("", "skip", "no problem both ran")
                                : text_cell(faster_wording(cmp.letters[i], "A", geomean(raw)), "",
                                            std::to_string(raw.size()) + " problems"));
      row.push_back(norm.empty() ? text_cell("n/a", "skip", "no row with both peaks")
                                 : text_cell(fmt("%.2f", geomean(norm)) + (norm.size() < raw.size()
                                                 ? " (" + std::to_string(norm.size()) + " of " + std::to_string(raw.size()) + ")" : ""),
                                             ""));
    }
    row[1].text = std::to_string(most);
    if (most > 0 || name == "all") summary.rows.push_back(std::move(row));
  }
  cmp.tables.push_back(summary);

  // Per problem.
  Table per{"per_problem", "Per problem: each machine's best backend and its p90 (ms)",
            "p90 as bounded by MLPerf's early-stopping rule (p50 where a case has under 44 samples; the ratio "
            "then compares p50s). A blank cell names why that machine has no time.",
            {"problem"},
            {}};
  for (std::size_t i = 0; i < k; ++i) per.header.push_back(cmp.letters[i] + ": best (p90 ms)");
  for (std::size_t i = 1; i < k; ++i) per.header.insert(per.header.end(), {cmp.letters[i] + " vs A", "normalised"});
  per.header.push_back("noise");
  for (const ProblemComparison& pc : cmp.problems) {
    std::vector<Cell> row{text_cell(pc.label, "", pc.problem)};
    for (const MachineBest& mb : pc.best) {
      if (!mb.ran) {
        row.push_back(text_cell(mb.why_not == "not in the file" ? "not in the file" : "could not run", "skip", mb.why_not));
        continue;
      }
      row.push_back(text_cell(mb.backend + " " + (std::isfinite(mb.p90_ms) ? ms(mb.p90_ms) : "p50 " + ms(mb.p50_ms)), "",
                              "p50 " + ms(mb.p50_ms) + " ms"));
    }
    std::string noise;
    for (std::size_t i = 0; i < k; ++i) {
      if (pc.best[i].ran && !cmp.noise[i].empty()) noise += (noise.empty() ? "" : "; ") + cmp.letters[i] + ": " + cmp.noise[i];
    }
    for (std::size_t i = 1; i < k; ++i) {
      if (!std::isfinite(pc.speedup[i])) {
        row.push_back(text_cell("", "skip", pc.normalised_why[i]));
        row.push_back(text_cell("", "skip", pc.normalised_why[i]));
        continue;
      }
      row.push_back(text_cell(faster_wording(cmp.letters[i], "A", pc.speedup[i]) + (pc.by[i] == "p50" ? " (p50)" : ""),
                              noise.empty() ? "" : "noisy", noise));
      row.push_back(std::isfinite(pc.normalised[i]) ? text_cell(fmt("%.2f", pc.normalised[i]), "",
                                                                pc.decode ? "by memory bandwidth" : "by the " + pc.dtype + " GEMM peak")
                                                    : text_cell("n/a: " + pc.normalised_why[i], "skip"));
    }
    row.push_back(text_cell(noise, noise.empty() ? "" : "bad"));
    per.rows.push_back(std::move(row));
  }
  cmp.tables.push_back(per);

  // What one machine ran and another could not: dtype and backend support compared, not dropped.
  Table cannot{"could_not_run", "Cases some machine could not run (backend and dtype support)", "", {"backend", "problem"}, {}};
  for (std::size_t i = 0; i < k; ++i) cannot.header.push_back(cmp.letters[i]);
  std::vector<std::string> names;
  std::set<std::string> named;
  for (const ResultsFile& f : files) {
    for (const CaseRecord& c : f.cases) {
      if (named.insert(c.name()).second) names.push_back(c.name());
    }
  }
  for (const std::string& name : names) {
    std::vector<Cell> cells;
    bool some_not = false;
    std::string backend, problem;
    for (const ResultsFile& f : files) {
      const CaseRecord* c = f.find(name);
      if (c) backend = c->backend, problem = c->problem;
      const bool ran = c && c->measured() && c->status == "pass";
      some_not = some_not || !ran;
      if (ran) {
        cells.push_back(text_cell("ran, p50 " + ms(c->p50_ms()) + " ms"));
      } else if (!c) {
        cells.push_back(text_cell("not in the file", "skip"));
      } else {
        cells.push_back(text_cell(c->status + (c->message.empty() ? "" : ": " + c->message), c->status == "skip" ? "skip" : "bad"));
      }
    }
    if (!some_not) continue;
    std::vector<Cell> row{text_cell(backend), text_cell(row_label(problem), "", problem)};
    row.insert(row.end(), cells.begin(), cells.end());
    cannot.rows.push_back(std::move(row));
  }
  if (cannot.rows.empty()) cannot.note = "Every machine ran every case.";
  cmp.tables.push_back(cannot);

  // Context: the keys that matter, then the rest collapsed.
  Table context{"context", "What differs between the machines", "", {"key"}, {}};
  for (std::size_t i = 0; i < k; ++i) context.header.push_back(cmp.letters[i]);
  for (const std::string& key : keys_that_matter()) {
    std::vector<Cell> row{text_cell(key)};
    bool any = false;
    for (const ResultsFile& f : files) {
      const std::string v = key == "machine_class" ? class_or_path(f) : short_value(f, key, 60);
      any = any || !v.empty();
      row.push_back(text_cell(v.empty() ? "not recorded" : v, v.empty() ? "skip" : "", short_value(f, key, 400)));
    }
    if (any) context.rows.push_back(std::move(row));
  }
  cmp.tables.push_back(context);
  std::set<std::string> keys;
  for (const ResultsFile& f : files) {
    if (!f.context.is_object()) continue;
    for (const auto& [key, v] : f.context.items()) keys.insert(key);
  }
  const std::set<std::string> matter(keys_that_matter().begin(), keys_that_matter().end());
  for (const std::string& key : keys) {
    if (matter.count(key) || key == "date" || key == "host_name" || key == "memory_available") continue;
    std::vector<std::string> values;
    for (const ResultsFile& f : files) values.push_back(short_value(f, key, 80));
    if (std::all_of(values.begin(), values.end(), [&](const std::string& v) { return v == values[0]; })) continue;
    std::string line = key + ":";
    for (std::size_t i = 0; i < k; ++i) line += " " + cmp.letters[i] + " = " + (values[i].empty() ? "(none)" : values[i]) + (i + 1 < k ? ";" : "");
    cmp.other_context.push_back(line);
  }
  return cmp;
}

void print_comparison(std::ostream& out, const Comparison& c) {
  out << "## Comparison of " << c.machines.size() << " machines\n\n";
  for (const Table& t : c.tables) {
    out << "### " << t.title << "\n\n";
    if (!t.note.empty()) out << markdown_escape(t.note) << "\n\n";
    if (!t.rows.empty()) {
      print_markdown(out, t);
      out << "\n";
    }
    if (t.id == "per_problem") {
      // The blank cells' reasons, which the table's hover text carries on the page.
      for (const ProblemComparison& pc : c.problems) {
        for (std::size_t i = 0; i < pc.best.size(); ++i) {
          if (!pc.best[i].ran) out << "- " << markdown_escape(pc.label) << ": " << c.letters[i] << " could not run it: " << markdown_escape(pc.best[i].why_not) << "\n";
        }
      }
      out << "\n";
    }
  }
  if (!c.other_context.empty()) {
    out << "<details><summary>" << c.other_context.size() << " other context keys differ</summary>\n\n";
    for (const std::string& line : c.other_context) out << "- " << markdown_escape(line) << "\n";
    out << "\n</details>\n";
  }
}

void print_hardware_comparison(std::ostream& out, const std::vector<ResultsFile>& files) {
  print_comparison(out, compare_machines(files));
}

}  // namespace sdpa
