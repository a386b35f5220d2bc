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
#include "harness/format.h"

namespace sdpa {

namespace {

// Three significant digits for times, wide enough for 0.0123 ms and 12345 ms alike.
std::string ms(double v) { return std::isfinite(v) && v > 0 ? fmt(v < 1 ? "%.3g" : "%.4g", v) : "—"; }

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

std::string markdown_escape(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (ch == '|' || ch == '\\') {  // a backslash too, so that text ending in one cannot undo the next escape
      out += '\\';
      out += ch;
    } else if (ch == '\r' || ch == '\n') {
      if (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "<br>";
    } else {
      out += ch;
    }
  }
  return out;
}

void print_markdown(std::ostream& out, const Table& t) {
  auto line = [&](const std::vector<std::string>& cells) {
    out << "|";
    for (const auto& c : cells) out << " " << markdown_escape(c) << " |";
    out << "\n";
  };
  line(t.header);
  out << "|";
  for (std::size_t i = 0; i < t.header.size(); ++i) out << (i == 0 ? "---|" : "---:|");
  out << "\n";
  for (const auto& r : t.rows) {
    std::vector<std::string> texts;
    for (const Cell& c : r) texts.push_back(c.text);
    line(texts);
  }
}

std::vector<std::tuple<std::string, std::string, bool>> context_lines(const ResultsFile& file) {
  std::vector<std::tuple<std::string, std::string, bool>> out;
  for (const char* key : {"machine_class", "cpu_model", "cpu_uarch", "threads_used", "date", "git_commit", "suite",
                          "stopping_policy"}) {
    const std::string v = file.context_text(key);
    if (!v.empty()) out.emplace_back(key, v, false);
  }
  if (file.context.is_object()) {
    for (const auto& [k, v] : file.context.items()) {
      const bool peak = k.rfind("calibration_", 0) == 0 && k.size() > 7 && k.substr(k.size() - 7) == "_tflops" &&
                        k.rfind("calibration_end_", 0) != 0;
      const bool bandwidth = k.rfind("bandwidth_", 0) == 0 && k.size() > 4 && k.substr(k.size() - 4) == "_gbs";
      if ((peak || bandwidth) && v.is_number()) out.emplace_back(k, fmt("%.4g", v.get<double>()), false);
    }
  }
  for (const char* key : {"noise_warning", "left_out"}) {
    const std::string v = file.context_text(key);
    if (!v.empty()) out.emplace_back(key, v, true);
  }
  return out;
}

void print_report(std::ostream& out, const ResultsFile& file) {
  out << "## " << markdown_escape(file.path) << "\n\n";
  for (const auto& [key, value, warning] : context_lines(file)) {
    out << "- " << (warning ? "**" + key + "**" : key) << ": " << markdown_escape(value) << "\n";
  }
  for (const Table& t : file_tables(file)) {
    out << "\n### " << t.title << "\n\n";
    if (!t.note.empty()) out << markdown_escape(t.note) << "\n\n";
    if (t.rows.empty()) {
      continue;
    }
    print_markdown(out, t);
  }
  out << "\n";
}

namespace {

using CellFn = std::function<Cell(const Pivot&, const std::string& problem, const CaseRecord&)>;

// One pivot: a row per problem, a column per backend; `cell` renders a case that exists (an
// absent case is an empty cell).
Table pivot_table(const ResultsFile& file, const std::string& id, const std::string& title, const std::string& note,
                  const std::string& corner, const CellFn& cell) {
  const Pivot pv = pivot_of(file);
  Table t{id, title, note, {corner}, {}};
  t.header.insert(t.header.end(), pv.backends.begin(), pv.backends.end());
  for (const std::string& prob : pv.problems) {
    std::vector<Cell> row{Cell{row_label(prob), "", prob}};
    for (const std::string& b : pv.backends) {
      const CaseRecord* c = pv.find(prob, b);
      row.push_back(c ? cell(pv, prob, *c) : Cell{"", "", "no " + b + " case for this problem in the file"});
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

Cell unmeasured_cell(const CaseRecord& c) { return {unmeasured(c), c.status == "skip" ? "skip" : "bad", c.message}; }

std::string kind_of(const CaseRecord& c) { return c.status == "pass" ? "" : "bad"; }

}  // namespace

Table latency_pivot(const ResultsFile& file) {
  const std::string scenario = file.context_text("scenario").empty() ? "single-stream" : file.context_text("scenario");
  std::string note = "Percentiles as bounded by MLPerf's early-stopping rule at 99% confidence; a p90 needs " +
                     std::to_string(min_samples_for_percentile(0.90)) + " samples, a p99 " +
                     std::to_string(min_samples_for_percentile(0.99)) + " (left out below that).";
  if (scenario == "server" && !file.context_text("scenario_rule").empty()) note += " " + file.context_text("scenario_rule");
  return pivot_table(file, "latency", "Latency, " + scenario + " (ms): p90 / p99", note, "problem",
                     [](const Pivot&, const std::string&, const CaseRecord& c) {
                       if (!c.measured() || c.samples_ms.empty()) return unmeasured_cell(c);
                       const double p99 = early_stopping_percentile(c.samples_ms, 0.99);
                       return Cell{percentile_cell(c.samples_ms, 0.90) + (std::isfinite(p99) ? " / " + ms(p99) : ""),
                                   kind_of(c), std::to_string(c.samples_ms.size()) + " samples"};
                     });
}

Table offline_pivot(const ResultsFile& file) {
  return pivot_table(file, "offline", "Offline throughput (queries/s at the best batch; queries per batch)", "",
                     "problem (the best batch)", [](const Pivot&, const std::string&, const CaseRecord& c) {
                       if (!c.measured()) return unmeasured_cell(c);
                       return Cell{fmt("%.4g", c.counter("queries_per_s")) + " (" +
                                       fmt("%.0f", c.counter("queries_per_batch", 1)) + ")",
                                   kind_of(c), ""};
                     });
}

Table throughput_pivot(const ResultsFile& file) {
  return pivot_table(
      file, "throughput", "Throughput (TFLOP/s, % of the same-dtype GEMM peak, speed-up over naive)",
      "FLOPs count 2·(d+dv) per unmasked (query, key) pair; the peak is the calibration GEMM measured in the same run.",
      "problem", [](const Pivot& pv, const std::string& prob, const CaseRecord& c) {
        if (!c.measured()) return unmeasured_cell(c);
        const double tf = c.counter("tflops");
        std::string cell = tf >= 0.1 ? fmt("%.3g", tf) : fmt("%.3f", tf);
        const double frac = c.counter("frac_of_gemm_peak", -1);
        if (frac >= 0) cell += " (" + fmt("%.0f%%", 100 * frac) + ")";
        const double speedup = speedup_over_naive(pv, prob, c);
        if (std::isfinite(speedup)) cell += " " + fmt("%.1fx", speedup);
        return Cell{cell, kind_of(c), ""};
      });
}

Table accuracy_pivot(const ResultsFile& file) {
  return pivot_table(file, "accuracy", "Accuracy (worst fraction of the error bound; relative RMS error)",
                     "A case fails above 1.00; relative RMS = √NMSE against the fp64 reference.", "problem",
                     [](const Pivot&, const std::string&, const CaseRecord& c) {
                       if (!c.counters.count("worst_of_bound")) return unmeasured_cell(c);
                       return Cell{(c.status == "pass" ? "" : c.status + " ") + fmt("%.2f", c.counter("worst_of_bound")) +
                                       "; " + fmt("%.1e", std::sqrt(std::max(0.0, c.counter("nmse")))),
                                   kind_of(c), ""};
                     });
}

Table scaling_table(const ResultsFile& file) {
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
  Table t{"scaling", "O(n^2) scaling: log-log slope of median time and scratch bytes against n", "",
          {"backend", "shape (n = sq = skv varies)", "n", "points", "time slope", "r2", "scratch slope", "r2"}, {}};
  for (const auto& [key, s] : series) {
    if (s.n.size() < 3) continue;
    const PowerFit tf = fit_power_law(s.n, s.time);
    const PowerFit m = fit_power_law(s.n, s.scratch);
    const auto [lo, hi] = std::minmax_element(s.n.begin(), s.n.end());
    std::vector<Cell> row;
    for (const std::string& text :
         {s.backend, s.shape, fmt("%.0f", *lo) + "-" + fmt("%.0f", *hi), std::to_string(tf.points), fmt("%.2f", tf.slope),
          fmt("%.3f", tf.r2), m.points >= 2 ? fmt("%.2f", m.slope) : std::string("n/a"),
          m.points >= 2 ? fmt("%.3f", m.r2) : std::string("")}) {
      row.push_back(Cell{text, "", ""});
    }
    t.rows.push_back(std::move(row));
  }
  if (t.rows.empty()) t.note = "(no series with 3 or more lengths: nothing to fit)";
  return t;
}

std::vector<Table> file_tables(const ResultsFile& file) {
  std::vector<Table> out{latency_pivot(file)};
  if (file.context_text("scenario") == "offline") out.push_back(offline_pivot(file));
  out.push_back(throughput_pivot(file));
  out.push_back(accuracy_pivot(file));
  out.push_back(scaling_table(file));
  return out;
}

}  // namespace sdpa
