#include "harness/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "core/memory.h"
#include "core/problem.h"
#include "harness/stats.h"

namespace sdpa {

using nlohmann::json;

namespace {

double get(const json& e, const char* key, double fallback = 0) {
  auto it = e.find(key);
  return (it != e.end() && it->is_number()) ? it->get<double>() : fallback;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

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

// The problem with its length keys taken out: the series a scaling fit runs along.
std::string series_key(const Problem& p) {
  Problem q = p;
  q.sq = q.skv = 0;
  std::string key = q.to_string();
  key.replace(key.find("sq=0,skv=0"), 10, "sq=skv=n");
  return key.substr(0, key.rfind(",seed="));
}

}  // namespace

std::vector<CaseRow> case_rows(const json& results) {
  std::map<std::string, CaseRow> by_name;
  std::vector<std::string> order;
  for (const json& e : results["benchmarks"]) {
    const std::string run = e.value("run_name", e.value("name", ""));
    if (!by_name.count(run)) {
      order.push_back(run);
      CaseRow r;
      r.backend = e.value("backend", run.substr(0, run.find('/')));
      r.problem = e.value("problem", run.substr(run.find('/') + 1));
      r.status = e.value("status", "pass");
      by_name[run] = r;
    }
    CaseRow& r = by_name[run];
    if (e.value("error_occurred", false)) {
      r.message = e.value("error_message", "");
      continue;
    }
    if (e.value("run_type", "") != "aggregate") continue;
    const std::string agg = e.value("aggregate_name", "");
    const double t = get(e, "real_time");
    if (agg == "median") {
      r.p50_ms = t;
      r.tflops = get(e, "tflops");
      r.frac_of_peak = get(e, "frac_of_gemm_peak", -1);
      r.flops = get(e, "flops");
      r.samples = static_cast<int64_t>(get(e, "repetitions"));
      r.scratch_bytes = get(e, "scratch_bytes");
      r.max_abs_err = get(e, "max_abs_err");
      r.nmse = get(e, "nmse");
      r.worst_of_bound = get(e, "worst_of_bound");
      r.max_prob_mean = get(e, "max_prob_mean");
      r.logit_std = get(e, "logit_std");
      r.device_clock = e.value("device_clock", false);
    } else if (agg == "p90") {
      r.p90_ms = t;
    } else if (agg == "p99") {
      r.p99_ms = t;
    } else if (agg == "mean") {
      r.mean_ms = t;
    } else if (agg == "min") {
      r.min_ms = t;
    }
  }
  std::vector<CaseRow> rows;
  for (const auto& name : order) rows.push_back(by_name[name]);
  return rows;
}

void print_latency_table(std::ostream& out, const std::vector<CaseRow>& rows) {
  std::map<std::string, double> naive_p50;
  for (const CaseRow& r : rows) {
    if (r.backend == "naive" && r.p50_ms > 0) naive_p50[r.problem] = r.p50_ms;
  }
  std::vector<std::vector<std::string>> table;
  for (const CaseRow& r : rows) {
    if (r.p50_ms <= 0) {
      table.push_back({r.backend, r.problem, r.message.empty() ? r.status : r.message, "", "", "", "", "", "", "", "", ""});
      continue;
    }
    auto naive = naive_p50.find(r.problem);
    // p90 needs 44 samples and p99 459 under MLPerf's early-stopping rule; fewer: no claim.
    const bool p90_ok = r.samples >= min_samples_for_percentile(0.90);
    const bool p99_ok = r.samples >= min_samples_for_percentile(0.99);
    table.push_back({r.backend, r.problem, r.status, std::to_string(r.samples), fmt("%.4g", r.p50_ms),
                     p90_ok ? fmt("%.4g", r.p90_ms) : "n/a", p99_ok ? fmt("%.4g", r.p99_ms) : "n/a",
                     r.tflops >= 0.1 ? fmt("%.3g", r.tflops) : fmt("%.3f", r.tflops),
                     r.frac_of_peak >= 0 ? fmt("%.0f%%", 100 * r.frac_of_peak) : "",
                     naive != naive_p50.end() && r.backend != "naive" ? fmt("%.1fx", naive->second / r.p50_ms) : "",
                     format_bytes(r.scratch_bytes), fmt("%.1e", r.max_abs_err)});
  }
  print_table(out, {"backend", "problem", "status", "n", "p50 ms", "p90 ms", "p99 ms", "TFLOP/s", "of GEMM", "vs naive",
                    "scratch", "max abs err"},
              table);
}

void print_scaling_table(std::ostream& out, const std::vector<CaseRow>& rows) {
  struct Series {
    std::string backend, shape;
    std::vector<double> n, time, scratch;
  };
  std::map<std::string, Series> series;
  for (const CaseRow& r : rows) {
    if (r.p50_ms <= 0) continue;
    Problem p;
    try {
      p = parse_problem(r.problem);
    } catch (const SpecError&) {
      continue;
    }
    if (p.sq != p.skv) continue;
    Series& s = series[r.backend + " " + series_key(p)];
    s.backend = r.backend;
    s.shape = series_key(p);
    s.n.push_back(static_cast<double>(p.sq));
    s.time.push_back(r.p50_ms);
    s.scratch.push_back(r.scratch_bytes);
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
  print_table(out, {"backend", "shape (sq=skv varies)", "n", "points", "time slope", "r2", "scratch slope", "r2"},
              table);
}

int print_comparison(std::ostream& out, const std::vector<CaseRow>& base, const std::vector<CaseRow>& current,
                     double max_slowdown) {
  std::map<std::string, const CaseRow*> base_by_case;
  for (const CaseRow& r : base) base_by_case[r.backend + "/" + r.problem] = &r;
  std::vector<std::vector<std::string>> table;
  int regressions = 0;
  for (const CaseRow& r : current) {
    auto it = base_by_case.find(r.backend + "/" + r.problem);
    if (it == base_by_case.end()) continue;
    const CaseRow& b = *it->second;
    std::string verdict = "ok";
    double ratio = 0;
    if (b.status == "pass" && r.status != "pass") {
      verdict = "REGRESSION (" + r.status + ")";
      ++regressions;
    } else if (b.p50_ms > 0 && r.p50_ms > 0) {
      ratio = r.p50_ms / b.p50_ms;
      if (ratio > 1 + max_slowdown) {
        verdict = "REGRESSION";
        ++regressions;
      } else if (ratio < 1 - max_slowdown) {
        verdict = "faster";
      }
    } else {
      continue;
    }
    table.push_back({r.backend, r.problem, fmt("%.4g", b.p50_ms), fmt("%.4g", r.p50_ms),
                     ratio > 0 ? fmt("%.3f", ratio) : "", verdict});
  }
  print_table(out, {"backend", "problem", "base p50 ms", "new p50 ms", "new/base", "verdict"}, table);
  out << regressions << " regression(s) beyond " << fmt("%.0f%%", 100 * max_slowdown) << "\n";
  return regressions;
}

}  // namespace sdpa
