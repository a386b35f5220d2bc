// `sdpa-bench ab`'s output: the per-case table (Markdown or text), the summary, the JSON file,
// and the subcommand's options.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include "core/problem.h"
#include "harness/ab_gate.h"
#include "harness/format.h"

namespace sdpa {

namespace {

std::string timing_cell(const AbCase& c) {
  if (!c.timed) {
    if (c.base.status.empty() && c.current.status.empty()) return "";
    if (c.base.status == "pass" && c.current.status == "pass") return "not timed";
    return "base " + c.base.status + ", current " + c.current.status;
  }
  return std::string(to_string(c.verdict)) + " x" + fmt("%.3f", c.interval.ratio) + " [" + fmt("%.3f", c.interval.lo) +
         ", " + fmt("%.3f", c.interval.hi) + "]" + (c.confirmation.empty() ? "" : " (" + c.confirmation + ")");
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace

void print_ab(std::ostream& out, const AbResult& r, bool md) {
  const std::string sep = md ? " | " : "  ";
  if (md) {
    out << "### Paired speed gate (base vs current, interleaved)\n\n"
        << "| backend | problem | base ms | current ms | ratio [95% CI] | ±resolvable | blocks | Ir base | Ir current | Ir ratio |\n"
        << "|---|---|---:|---:|---|---:|---:|---:|---:|---:|\n";
  }
  std::map<std::string, int> verdicts;
  std::vector<double> resolvable;
  int counted = 0, grew = 0, identical = 0;
  std::set<std::string> paths;
  for (const AbCase& c : r.cases) {
    if (c.timed) {
      ++verdicts[std::string(to_string(c.verdict))];
      resolvable.push_back(c.interval.half_width());
    }
    if (c.counted) {
      ++counted;
      grew += c.count_grew(r.count_threshold);
      identical += c.base_ir == c.current_ir;
      // The path description only: the per-case notes after it (blocking, bytes) would make
      // every case a line of its own.
      paths.insert(c.backend + ": " + c.count_note.substr(0, c.count_note.find("; ")));
    }
    const std::string ir_ratio =
        c.counted ? fmt("%.4f", static_cast<double>(c.current_ir) / static_cast<double>(c.base_ir)) : "";
    out << (md ? "| " : "") << c.backend << sep << c.problem << sep << (c.timed ? fmt("%.4g", c.base_ms) : "") << sep
        << (c.timed ? fmt("%.4g", c.current_ms) : "") << sep << timing_cell(c) << sep
        << (c.timed ? fmt("%.1f%%", 100 * c.interval.half_width()) : "") << sep
        << (c.timed ? std::to_string(c.log_ratios.size()) : "") << sep << (c.counted ? std::to_string(c.base_ir) : "")
        << sep << (c.counted ? std::to_string(c.current_ir) : "") << sep << ir_ratio << (md ? " |" : "") << "\n";
  }
  out << "\n";
  const std::string bullet = md ? "- " : "";
  if (r.timing_not_run.empty()) {
    out << bullet << "Timing: ";
    for (const auto& [v, n] : verdicts) out << n << " " << v << ", ";
    out << (r.clock == "cpu" ? "process CPU time per call" : "wall time per call")
        << (r.fresh_workers ? ", each block in a fresh pair of worker processes" : ", one pair of worker processes")
        << ", threshold "
        << fmt("%.0f%%", 100 * r.threshold) << " (SLOWER: the whole " << fmt("%.0f%%", 100 * r.level)
        << " interval of the Hodges–Lehmann ratio above 1 + threshold); median resolvable effect (CI half-width) "
        << fmt("%.1f%%", 100 * median(resolvable)) << "; " << fmt("%.0f", r.timing_seconds) << " s.\n";
  } else {
    out << bullet << "Timing: **speed not judged**: " << r.timing_not_run << "\n";
  }
  if (r.instructions_not_run.empty()) {
    out << bullet << "Instructions (callgrind, one thread, only the backend's timed call): " << counted << " cases counted, "
        << identical << " identical, " << grew << " grew by more than " << fmt("%.0f%%", 100 * r.count_threshold) << "; "
        << fmt("%.0f", r.count_seconds) << " s. Valgrind reports an AVX2 CPU: these are the AVX2 paths; AVX-512 and "
        << "AMX paths are judged by the timing tier only.\n";
    if (!paths.empty()) {
      out << bullet << "Code paths valgrind saw (current):" << (md ? "\n" : " ");
      for (const std::string& p : paths) out << (md ? "  - " : "") << p << (md ? "\n" : "; ");
      if (!md) out << "\n";
    }
  } else {
    out << bullet << "Instructions: not counted: " << r.instructions_not_run << "\n";
  }
  const std::vector<std::string> failures = r.failures();
  for (const std::string& f : failures) out << bullet << "FAIL " << f << "\n";
  out << "\n" << (md ? "**" : "") << "ab: "
      << (failures.empty() ? (r.timing_not_run.empty() ? "PASS" : "PASS (speed not judged)")
                           : "FAIL (" + std::to_string(failures.size()) + " finding(s))")
      << (md ? "**" : "") << "\n";
}

void write_ab_json(const std::string& path, const AbResult& r) {
  using nlohmann::json;
  json cases = json::array();
  for (const AbCase& c : r.cases) {
    json j = {{"backend", c.backend},
              {"problem", c.problem},
              {"base", {{"status", c.base.status}, {"detail", c.base.detail}, {"est_ms", c.base.est_ms}}},
              {"current", {{"status", c.current.status}, {"detail", c.current.detail}, {"est_ms", c.current.est_ms}}}};
    if (c.timed) {
      j["timing"] = {{"verdict", to_string(c.verdict)},
                     {"ratio", c.interval.ratio},
                     {"lo", c.interval.lo},
                     {"hi", std::isfinite(c.interval.hi) ? json(c.interval.hi) : json(nullptr)},
                     {"half_width", std::isfinite(c.interval.half_width()) ? json(c.interval.half_width()) : json(nullptr)},
                     {"rounds", c.log_ratios.size()},
                     {"base_ms", c.base_ms},
                     {"current_ms", c.current_ms},
                     {"seconds", c.seconds},
                     {"confirmation", c.confirmation},
                     {"log_ratios", c.log_ratios}};
    }
    if (c.counted) {
      j["instructions"] = {{"base", c.base_ir}, {"current", c.current_ir}, {"path", c.count_note}};
    } else if (!c.count_note.empty()) {
      j["instructions_note"] = c.count_note;
    }
    cases.push_back(std::move(j));
  }
  const json doc = {{"threshold", r.threshold},
                    {"clock", r.clock},
                    {"fresh_workers", r.fresh_workers},
                    {"count_threshold", r.count_threshold},
                    {"level", r.level},
                    {"timing_not_run", r.timing_not_run},
                    {"instructions_not_run", r.instructions_not_run},
                    {"timing_seconds", r.timing_seconds},
                    {"count_seconds", r.count_seconds},
                    {"failures", r.failures()},
                    {"exit_code", r.exit_code()},
                    {"cases", cases}};
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << doc.dump(1) << "\n";
    if (!f) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

std::function<int()> add_ab_command(CLI::App& app) {
  auto o = std::make_shared<AbOptions>();
  auto* cmd = app.add_subcommand("ab", "Paired speed gate: BASE and CURRENT binaries timed case by case in alternating "
                                       "rounds (and counted under callgrind); exit 1 on a confirmed regression");
  cmd->add_option("--base", o->base_bin, "The base binary (sdpa-bench of the commit compared against)")->required();
  cmd->add_option("--current", o->current_bin, "The current binary")->required();
  cmd->add_option("--base-env", o->base_env, "K=V set for the base worker only (repeatable)");
  cmd->add_option("--current-env", o->current_env, "K=V set for the current worker only (repeatable)");
  cmd->add_option("--backend,-b", o->selection.backends, "Backend (repeatable; required)");
  auto* problem = cmd->add_option("--problem,-p", o->selection.problems, "Problem spec line (repeatable)");
  auto* suite = cmd->add_option("--suite,-s", o->selection.suite, "Suite name or file of spec lines");
  problem->excludes(suite);
  cmd->add_option("--filter", o->selection.filter, "Keep the problems whose spec line matches this regex");
  cmd->add_option("--threads,-t", o->selection.threads, "CPU threads of each worker (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threshold", o->threshold, "Timing: SLOWER when the whole interval lies above 1 + this (default 0.05)");
  cmd->add_option("--clock", o->clock, "What a call's time is: cpu (process CPU time, for a shared runner; default) or wall")
      ->check(CLI::IsMember({"cpu", "wall"}));
  cmd->add_option("--round-ms", o->round_ms, "Each side's round of back-to-back calls (default 40)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--min-rounds", o->min_rounds, "Blocks (fresh preparations of the case) before the first verdict (default 10)");
  cmd->add_option("--pairs-per-block", o->pairs_per_block, "ABBA round pairs per block (default 2)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-case-s", o->max_case_s, "Seconds of rounds after which a case stops unresolved (default 6)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--budget-s", o->budget_s, "The timing tier's whole budget: shortens the cases' caps (default none)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("!--same-workers", o->fresh_workers,
                "Time every block of a case in the same two worker processes (default: a fresh pair per block)");
  cmd->add_option("--confirm-batches", o->confirm_batches,
                  "Fresh batches that must confirm a SLOWER case after the other cases: each one's estimate "
                  "above 1, all blocks pooled SLOWER (default 2)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("!--no-timing", o->timing, "Skip the timing tier");
  cmd->add_flag("--instructions", o->instructions, "Also count instructions under callgrind (the valgrind package)");
  cmd->add_option("--count-threshold", o->count_threshold, "Instruction growth that fails a case (default 0.02)");
  cmd->add_option("--count-backend", o->count_backends, "Count only these backends (repeatable; default: all)");
  cmd->add_option("--valgrind", o->valgrind, "The valgrind executable (default: valgrind on PATH)");
  cmd->add_option("--work-dir", o->work_dir, "Worker logs and callgrind dumps (default build/gate-ab/work)");
  cmd->add_option("--out,-o", o->out, "Also write the verdicts as JSON to this file");
  cmd->add_flag("--markdown", o->markdown, "Print Markdown (for a CI job summary)");
  // main.cpp runs it after parsing and maps its exceptions to the exit code (exit_code.h).
  return [o] {
    const AbResult r = run_ab(*o, std::cerr);
    if (!o->out.empty()) write_ab_json(o->out, r);
    print_ab(std::cout, r, o->markdown);
    std::cout.flush();
    return r.exit_code();
  };
}

}  // namespace sdpa
