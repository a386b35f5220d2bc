#include "harness/gate_cli.h"

#include "harness/exit_code.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <system_error>

#include "core/problem.h"
#include "harness/machine_class.h"
#include "harness/report.h"
#include "harness/results_file.h"
#include "harness/stats.h"
#include "harness/format.h"

namespace sdpa {

namespace fs = std::filesystem;

namespace {

// A cell of the text table: one line whatever the file held.
std::string text_cell(const std::string& text) {
  std::string out;
  for (char ch : text) out += ch == '\n' ? std::string("\\n") : ch == '\r' ? std::string("\\r") : std::string(1, ch);
  return out;
}

std::vector<std::string> row_of(const CaseVerdict& c) {
  std::string verdict = to_string(c.verdict);
  if (!c.why.empty()) verdict += " (" + c.why + ")";
  return {c.backend,
          c.problem,
          c.base_p50_ms > 0 ? fmt("%.4g", c.base_p50_ms) : "",
          c.new_p50_ms > 0 ? fmt("%.4g", c.new_p50_ms) : "",
          c.ratio > 0 ? fmt("%.3f", c.ratio) : "",
          p_value_text(c.p_value),
          verdict};
}

void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows, bool markdown) {
  const std::vector<std::string> header{"backend", "problem", "base p50 ms", "new p50 ms",
                                        "new/base (normalised)", "p (rank test)", "verdict"};
  if (markdown) {
    auto line = [&](const std::vector<std::string>& cells) {
      out << "|";
      for (const std::string& cell : cells) out << " " << markdown_escape(cell) << " |";
      out << "\n";
    };
    line(header);
    out << "|" << std::string("---|---|--:|--:|--:|--:|---|") << "\n";
    for (const auto& r : rows) line(r);
    return;
  }
  std::vector<std::vector<std::string>> text_rows;
  for (const auto& r : rows) {
    text_rows.emplace_back();
    for (const std::string& cell : r) text_rows.back().push_back(text_cell(cell));
  }
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) {
    width[i] = header[i].size();
    for (const auto& r : text_rows) width[i] = std::max(width[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const std::size_t pad = i + 1 < cells.size() ? width[i] - cells[i].size() : 0;
      text += cells[i] + std::string(pad, ' ') + (i + 1 < cells.size() ? "  " : "");
    }
    out << text << "\n";
  };
  line(header);
  for (const auto& r : text_rows) line(r);
}

int exit_code(const GateResult& r, bool require_perf) {
  if (!r.passed()) return 1;
  return r.unresolved() && require_perf ? 1 : 0;
}

int gate_command(const GateCommand& a) {
  if (a.update) {
    if (a.files.size() != 1) throw SpecError("gate --update: give exactly one results file (CURRENT)");
    const std::string path = update_baseline(a.files[0], a.baselines, a.force);
    std::cout << "wrote baseline " << path << " (a copy of " << a.files[0] << "); commit it to make it the gate's\n";
    return 0;
  }
  if (a.print_class) {
    if (a.files.size() != 1) throw SpecError("gate --print-class: give exactly one results file");
    std::cout << hardware_class(load_results(a.files[0]).context) << "\n";
    return 0;
  }
  if (a.files.size() != 2) throw SpecError("gate: give two results files, BASELINE and CURRENT");
  GateOptions options = a.options;
  options.judge_performance = !a.no_perf;
  validate(options);  // before reading: a bad option is the same error whatever the files hold
  const ResultsFile base = load_results(a.files[0]);
  const ResultsFile current = load_results(a.files[1]);
  GateResult result = run_gate(base, current, options);
  if (!a.confirm.empty()) confirm_regressions(result, base, load_results(a.confirm));
  if (a.print_regressions) {
    for (const CaseVerdict& c : result.cases) {
      if (c.verdict == Verdict::slower) std::cout << c.backend << " " << c.problem << "\n";
    }
    return exit_code(result, a.require_perf);
  }
  const std::string title = "Regression gate: " + a.files[1] + " against " + a.files[0];
  std::cout << (a.markdown ? "### " + markdown_escape(title) : text_cell(title)) << "\n\n";
  print_gate(std::cout, result, a.markdown);
  return exit_code(result, a.require_perf);
}

}  // namespace

void print_gate(std::ostream& out, const GateResult& r, bool markdown) {
  std::vector<std::vector<std::string>> rows;
  for (const CaseVerdict& c : r.cases) rows.push_back(row_of(c));
  print_table(out, rows, markdown);
  out << "\n";
  const std::string bullet = markdown ? "- " : "";
  if (r.options.judge_performance) {
    out << bullet << "threshold " << fmt("%g", 100 * r.options.threshold) << "% on the median, alpha "
        << fmt("%g", r.options.alpha) << " (two-sided Mann-Whitney U on the per-sample times)\n";
  }
  for (const std::string& note : r.normalisation) out << bullet << (markdown ? markdown_escape(note) : text_cell(note)) << "\n";
  for (const CaseVerdict& c : r.cases) {
    if (!c.fails_gate) continue;
    std::string line = std::string(to_string(c.verdict)) + " " + c.name() + ": ";
    if (c.verdict == Verdict::slower) {
      const std::string p = p_value_text(c.p_value);
      line += "+" + percent_text(c.ratio - 1) + " (normalised median), p " + (p[0] == '<' ? p : "= " + p);
      if (!c.why.empty()) line += "; " + c.why;
    } else {
      line += c.why;
    }
    out << bullet << (markdown ? markdown_escape(line) : text_cell(line));
    out << "\n";
  }
  const std::string verdict = r.verdict_line();
  out << "\n" << (markdown ? markdown_escape(verdict) : text_cell(verdict)) << "\n";
}

std::string update_baseline(const std::string& current, const std::string& dir, bool force) {
  const ResultsFile file = load_results(current);
  if (file.cases.empty()) throw SpecError(current + ": no cases; a baseline must hold the gate's cases");
  for (const CaseRecord& c : file.cases) {
    if (c.status == "fail" || c.status == "error") {
      throw SpecError(current + ": case " + c.name() + " is '" + c.status +
                      "'; a baseline must be a correct run (fix it, then record)");
    }
  }
  // A baseline the gate can judge no speed against would make every later gate UNRESOLVED (or,
  // before, a PASS that judged nothing): a run of skips, or of cases with too few samples.
  const GateOptions defaults;
  int gateable = 0, skipped = 0, few = 0;
  for (const CaseRecord& c : file.cases) {
    const auto n = std::count_if(c.samples_ms.begin(), c.samples_ms.end(),
                                 [](double v) { return std::isfinite(v) && v > 0; });
    if (c.status != "pass") {
      ++skipped;
    } else if (mann_whitney_min_p(n, n) >= defaults.alpha) {
      ++few;
    } else {
      ++gateable;
    }
  }
  if (gateable == 0) {
    throw SpecError(current + ": no case's speed could be judged against this run (" + std::to_string(skipped) +
                    " not passing, " + std::to_string(few) + " passing with too few per-sample times for the rank "
                    "test); a baseline needs passing cases with samples");
  }
  const fs::path target = fs::path(dir) / (hardware_class(file.context) + ".json");
  if (fs::exists(target) && !force) {
    throw SpecError(target.string() + " exists; replacing a baseline is deliberate: add --force");
  }
  // Against a baseline whose machine changed speed by more than the gate's threshold, the gate
  // judges no speed at all (harness/gate.h): such a run is no baseline.
  const CalibrationDrift drift = calibration_drift_of(file.context);
  if (drift.fraction > defaults.threshold && !force) {
    throw SpecError(current + ": the machine changed speed by " + percent_text(drift.fraction) + " during this run (" +
                    drift.what + "); record a baseline on a quiet machine (or --force)");
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create " + dir + ": " + ec.message());
  // Same folder, so the rename is atomic (same file system).
  const fs::path tmp = fs::path(dir) / ("." + target.filename().string() + ".tmp");
  fs::copy_file(current, tmp, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp);
    throw std::runtime_error("cannot write " + target.string() + ": " + ec.message());
  }
  return target.string();
}

int cmd_gate(const GateCommand& command) {
  return exit_code_of([&] { return gate_command(command); });
}

std::function<int()> add_gate_command(CLI::App& app) {
  auto args = std::make_shared<GateCommand>();
  auto* cmd = app.add_subcommand(
      "gate", "CI regression gate: exit 1 on a failing, vanished or newly skipped case or a significant slowdown");
  cmd->add_option("files", args->files, "BASELINE CURRENT (one file with --update or --print-class)")
      ->required()
      ->expected(1, 2);
  cmd->add_option("--threshold", args->options.threshold,
                  "Smallest slowdown of the normalised median that counts (0.10 = 10%; 0 < t < 10)");
  cmd->add_option("--alpha", args->options.alpha, "Significance level of the rank test (0 < alpha < 0.5)");
  cmd->add_flag("--markdown", args->markdown, "Print the table as Markdown (for a CI job summary)");
  cmd->add_flag("--no-perf", args->no_perf,
                "Judge statuses and case coverage only (a baseline from another machine class)");
  cmd->add_option("--confirm", args->confirm,
                  "Results of the SLOWER cases measured again: a slowdown the re-run does not repeat is NOISY");
  cmd->add_flag("--require-perf", args->require_perf,
                "Exit 1 when no case's speed could be judged (UNRESOLVED: skips, too few samples, a drifting "
                "machine), as when speed is what CI asks for");
  cmd->add_flag("--print-regressions", args->print_regressions,
                "Print the SLOWER cases only, one 'BACKEND PROBLEM' line each (to re-run them)");
  auto* update = cmd->add_flag("--update", args->update,
                               "Record CURRENT as results/baselines/<machine class>.json");
  cmd->add_flag("--force", args->force, "With --update: replace an existing baseline, or record a noisy run")
      ->needs(update);
  cmd->add_option("--baselines", args->baselines, "Baselines folder for --update (default results/baselines)");
  cmd->add_flag("--print-class", args->print_class, "Print the machine class of a results file")->excludes(update);
  return [args] { return gate_command(*args); };  // main.cpp maps its exceptions to the exit code
}

}  // namespace sdpa
