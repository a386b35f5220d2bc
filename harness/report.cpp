#include "harness/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "core/memory.h"
#include "harness/stats.h"

namespace sdpa {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Three significant digits for times, wide enough for 0.0123 ms and 12345 ms alike.
std::string ms(double v) { return std::isfinite(v) && v > 0 ? fmt(v < 1 ? "%.3g" : "%.4g", v) : "—"; }

void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  auto line = [&](const std::vector<std::string>& cells) {
    out << "|";
    for (const auto& c : cells) out << " " << c << " |";
    out << "\n";
  };
  line(header);
  out << "|";
  for (std::size_t i = 0; i < header.size(); ++i) out << (i == 0 ? "---|" : "---:|");
  out << "\n";
  for (const auto& r : rows) line(r);
}

std::optional<Problem> parse_or_none(const std::string& spec) {
  try {
    return parse_problem(spec);
  } catch (const SpecError&) {
    return std::nullopt;
  }
}

// What a case that has no timing shows in a pivot cell.
std::string unmeasured(const CaseRecord& c) {
  if (c.status == "skip") return "skip";
  return c.status;
}

std::string percentile_cell(const std::vector<double>& samples, double q) {
  const double v = early_stopping_percentile(samples, q);
  if (std::isfinite(v)) return ms(v);
  return "n/a (needs " + std::to_string(min_samples_for_percentile(q)) + ")";
}

// The problem with its length keys taken out: the series a scaling fit runs along.
std::string series_key(const Problem& p) {
  Problem q = p;
  q.sq = q.skv = 1;
  q.kvlen.clear();
  return short_label(q).replace(short_label(q).find("n=1"), 3, "n");
}

}  // namespace

std::string short_label(const Problem& p) {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : " ") + part; };
  if (p.b != 1) add("b=" + std::to_string(p.b));
  add("h=" + std::to_string(p.hq) + (p.hkv != p.hq ? "/" + std::to_string(p.hkv) : ""));
  if (p.sq == p.skv) {
    add("n=" + std::to_string(p.sq));
  } else {
    add("sq=" + std::to_string(p.sq) + " skv=" + std::to_string(p.skv));
  }
  add("d=" + std::to_string(p.d) + (p.dv != p.d ? "/" + std::to_string(p.dv) : ""));
  add(std::string(to_string(p.dtype)));
  if (p.mask == MaskKind::kvlen) {
    add("kvlen");
  } else if (p.mask != MaskKind::none) {
    add(std::string(to_string(p.mask)));
  }
  if (p.scale_value) add("scale=" + fmt("%g", *p.scale_value));
  if (p.seed != 1) add("seed=" + std::to_string(p.seed));
  return s;
}

Pivot pivot_of(const ResultsFile& file) {
  Pivot p;
  for (const CaseRecord& c : file.cases) {
    if (std::find(p.problems.begin(), p.problems.end(), c.problem) == p.problems.end()) p.problems.push_back(c.problem);
    if (std::find(p.backends.begin(), p.backends.end(), c.backend) == p.backends.end()) p.backends.push_back(c.backend);
    p.cell[{c.problem, c.backend}] = &c;
  }
  return p;
}

const CaseRecord* Pivot::find(const std::string& problem, const std::string& backend) const {
  auto it = cell.find({problem, backend});
  return it == cell.end() ? nullptr : it->second;
}

std::string row_label(const std::string& spec) {
  auto p = parse_or_none(spec);
  return p ? short_label(*p) : spec;
}

double speedup_over_naive(const Pivot& pivot, const std::string& problem, const CaseRecord& c) {
  const CaseRecord* naive = pivot.find(problem, "naive");
  if (!naive || naive == &c || !naive->measured() || !c.measured() || c.p50_ms() <= 0) return std::numeric_limits<double>::quiet_NaN();
  return naive->p50_ms() / c.p50_ms();
}

void print_report(std::ostream& out, const ResultsFile& file) {
  out << "## " << file.path << "\n\n";
  for (const char* key : {"cpu_model", "threads_used", "date", "git_commit", "suite", "stopping_policy"}) {
    const std::string v = file.context_text(key);
    if (!v.empty()) out << "- " << key << ": " << v << "\n";
  }
  if (file.context.is_object()) {
    for (const auto& [k, v] : file.context.items()) {
      const bool peak = k.rfind("calibration_", 0) == 0 && k.size() > 7 && k.substr(k.size() - 7) == "_tflops";
      if (peak) out << "- " << k << ": " << fmt("%.4g", v.is_number() ? v.get<double>() : 0.0) << "\n";
    }
  }
  for (const char* key : {"noise_warning", "left_out"}) {
    const std::string v = file.context_text(key);
    if (!v.empty()) out << "- **" << key << "**: " << v << "\n";
  }
  const std::string scenario = file.context_text("scenario").empty() ? "single-stream" : file.context_text("scenario");
  out << "\n### Latency, " << scenario << " (ms; p90 / p99 as bounded by MLPerf's early-stopping rule)\n\n";
  if (scenario == "server") out << file.context_text("scenario_rule") << "\n\n";
  print_latency_pivot(out, file);
  if (scenario == "offline") {
    out << "\n### Offline throughput (queries/s at the best batch; queries per batch)\n\n";
    print_offline_pivot(out, file);
  }
  out << "\n### Throughput (TFLOP/s, fraction of the same-dtype GEMM peak, speed-up over naive)\n\n";
  print_throughput_pivot(out, file);
  out << "\n### Accuracy (worst fraction of the error bound; relative RMS error)\n\n";
  print_accuracy_pivot(out, file);
  out << "\n### O(n^2) scaling: log-log slope of median time and scratch bytes against n\n\n";
  print_scaling_table(out, file);
  out << "\n";
}

namespace {

// One pivot: a row per problem, a column per backend; `cell` renders a case that exists (an
// absent case is an empty cell).
void print_pivot(std::ostream& out, const ResultsFile& file, const std::string& corner,
                 const std::function<std::string(const Pivot&, const std::string& problem, const CaseRecord&)>& cell) {
  const Pivot pv = pivot_of(file);
  std::vector<std::vector<std::string>> rows;
  for (const std::string& prob : pv.problems) {
    std::vector<std::string> row{row_label(prob)};
    for (const std::string& b : pv.backends) {
      auto it = pv.cell.find({prob, b});
      row.push_back(it == pv.cell.end() ? "" : cell(pv, prob, *it->second));
    }
    rows.push_back(std::move(row));
  }
  std::vector<std::string> header{corner};
  header.insert(header.end(), pv.backends.begin(), pv.backends.end());
  print_table(out, header, rows);
}

}  // namespace

void print_latency_pivot(std::ostream& out, const ResultsFile& file) {
  print_pivot(out, file, "problem", [](const Pivot&, const std::string&, const CaseRecord& c) {
    if (!c.measured() || c.samples_ms.empty()) return unmeasured(c);
    const double p99 = early_stopping_percentile(c.samples_ms, 0.99);
    return percentile_cell(c.samples_ms, 0.90) + (std::isfinite(p99) ? " / " + ms(p99) : "");
  });
}

void print_offline_pivot(std::ostream& out, const ResultsFile& file) {
  print_pivot(out, file, "problem (the best batch)", [](const Pivot&, const std::string&, const CaseRecord& c) {
    if (!c.measured()) return unmeasured(c);
    return fmt("%.4g", c.counter("queries_per_s")) + " (" + fmt("%.0f", c.counter("queries_per_batch", 1)) + ")";
  });
}

void print_throughput_pivot(std::ostream& out, const ResultsFile& file) {
  print_pivot(out, file, "problem", [](const Pivot& pv, const std::string& prob, const CaseRecord& c) {
    if (!c.measured()) return unmeasured(c);
    const double tf = c.counter("tflops");
    std::string cell = tf >= 0.1 ? fmt("%.3g", tf) : fmt("%.3f", tf);
    const double frac = c.counter("frac_of_gemm_peak", -1);
    if (frac >= 0) cell += " (" + fmt("%.0f%%", 100 * frac) + ")";
    const double speedup = speedup_over_naive(pv, prob, c);
    if (std::isfinite(speedup)) cell += " " + fmt("%.1fx", speedup);
    return cell;
  });
}

void print_accuracy_pivot(std::ostream& out, const ResultsFile& file) {
  print_pivot(out, file, "problem", [](const Pivot&, const std::string&, const CaseRecord& c) {
    if (!c.counters.count("worst_of_bound")) return unmeasured(c);
    return (c.status == "pass" ? "" : c.status + " ") + fmt("%.2f", c.counter("worst_of_bound")) + "; " +
           fmt("%.1e", std::sqrt(std::max(0.0, c.counter("nmse"))));
  });
}

void print_scaling_table(std::ostream& out, const ResultsFile& file) {
  struct Series {
    std::string backend, shape;
    std::vector<double> n, time, scratch;
  };
  std::map<std::string, Series> series;
  for (const CaseRecord& c : file.cases) {
    if (!c.measured() || c.p50_ms() <= 0) continue;
    auto p = parse_or_none(c.problem);
    if (!p || p->sq != p->skv || p->mask == MaskKind::kvlen) continue;
    Series& s = series[c.backend + " " + series_key(*p)];
    s.backend = c.backend;
    s.shape = series_key(*p);
    s.n.push_back(static_cast<double>(p->sq));
    s.time.push_back(c.p50_ms());
    s.scratch.push_back(c.counter("scratch_bytes"));
  }
  std::vector<std::vector<std::string>> table;
  for (const auto& [key, s] : series) {
    if (s.n.size() < 3) continue;
    const PowerFit t = fit_power_law(s.n, s.time);
    const PowerFit m = fit_power_law(s.n, s.scratch);
    const auto [lo, hi] = std::minmax_element(s.n.begin(), s.n.end());
    table.push_back({s.backend, s.shape, fmt("%.0f", *lo) + "-" + fmt("%.0f", *hi), std::to_string(t.points),
                     fmt("%.2f", t.slope), fmt("%.3f", t.r2), m.points >= 2 ? fmt("%.2f", m.slope) : "n/a",
                     m.points >= 2 ? fmt("%.3f", m.r2) : ""});
  }
  if (table.empty()) {
    out << "(no series with 3 or more lengths: nothing to fit)\n";
    return;
  }
  print_table(out, {"backend", "shape (n = sq = skv varies)", "n", "points", "time slope", "r2", "scratch slope", "r2"},
              table);
}

void print_hardware_comparison(std::ostream& out, const std::vector<ResultsFile>& files) {
  out << "## Comparison of " << files.size() << " results files (ratios to " << files.front().path << ")\n\n";
  // What differs between the machines and builds.
  std::set<std::string> keys;
  for (const ResultsFile& f : files) {
    if (!f.context.is_object()) continue;
    for (const auto& [k, v] : f.context.items()) {
      if (k == "date" || k == "host_name" || k == "memory_available" || k == "calibrations" || k == "resumed_at") continue;
      keys.insert(k);
    }
  }
  std::vector<std::vector<std::string>> diff;
  for (const std::string& k : keys) {
    std::vector<std::string> row{k};
    bool differs = false;
    for (const ResultsFile& f : files) {
      row.push_back(f.context_text(k));
      differs = differs || row.back() != row[1];
    }
    if (differs) diff.push_back(std::move(row));
  }
  std::vector<std::string> header{"context"};
  for (std::size_t i = 0; i < files.size(); ++i) header.push_back("file " + std::to_string(i + 1));
  if (diff.empty()) {
    out << "(the contexts agree on every key)\n\n";
  } else {
    print_table(out, header, diff);
    out << "\n";
  }
  // Per case: p50 per file, raw ratio, and the ratio with each file's time scaled by its own
  // library GEMM peak (the same kernel on a faster machine then reads 1.00).
  auto normaliser = [](const ResultsFile& f, const CaseRecord& c) {
    const std::string dev = f.context_text(c.backend + "_device").empty() ? "cpu" : f.context_text(c.backend + "_device");
    return f.context_number("calibration_" + dev + "_normaliser_tflops", 0);
  };
  std::vector<std::vector<std::string>> rows;
  for (const CaseRecord& c0 : files.front().cases) {
    if (!c0.measured()) continue;
    std::vector<std::string> row{c0.backend, row_label(c0.problem), ms(c0.p50_ms())};
    bool any = false;
    for (std::size_t i = 1; i < files.size(); ++i) {
      const CaseRecord* c = files[i].find(c0.name());
      if (!c || !c->measured()) {
        row.insert(row.end(), {"—", "", ""});
        continue;
      }
      any = true;
      const double raw = c->p50_ms() / c0.p50_ms();
      const double n0 = normaliser(files.front(), c0), n1 = normaliser(files[i], *c);
      row.push_back(ms(c->p50_ms()));
      row.push_back(fmt("%.3f", raw));
      row.push_back(n0 > 0 && n1 > 0 ? fmt("%.3f", raw * n1 / n0) : "n/a");
    }
    if (any) rows.push_back(std::move(row));
  }
  std::vector<std::string> h{"backend", "problem", "p50 ms (1)"};
  for (std::size_t i = 1; i < files.size(); ++i) {
    const std::string n = std::to_string(i + 1);
    h.insert(h.end(), {"p50 ms (" + n + ")", "time ratio", "normalised"});
  }
  if (rows.empty()) {
    out << "(no measured case in common)\n";
    return;
  }
  print_table(out, h, rows);
}

}  // namespace sdpa
