// sdpa-bench: list | check | run | dump | report. See README.md.
#include <CLI/CLI.hpp>

#include <iostream>

#include "harness/commands.h"
#include "harness/study.h"
#include "harness/gate_cli.h"
#include "harness/merge_cli.h"
#include "harness/suite.h"
#include "harness/worker.h"

int main(int argc, char** argv) {
  CLI::App app{"sdpa-bench: scaled dot-product attention benchmark and correctness suite"};
  app.require_subcommand(1);
  sdpa::Selection sel;
  sdpa::RunOptions run_opts;
  sdpa::CheckOptions check_opts;
  std::string dump_dir;
  std::vector<std::string> report_files;
  std::string report_csv_dir;
  std::string shard;

  const std::string suites = sdpa::join(sdpa::known_suites(), ", ");
  auto add_selection = [&](CLI::App* cmd, bool problems_required) {
    cmd->add_option("--backend,-b", sel.backends,
                    "Backend (repeatable; default: one per implementation and device; 'all': every built one)");
    auto* problem = cmd->add_option("--problem,-p", sel.problems, "Problem spec line (repeatable)");
    auto* suite = cmd->add_option("--suite,-s", sel.suite, "Suite (" + suites + ") or a file of spec lines");
    problem->excludes(suite);
    if (problems_required) cmd->callback([problem, suite] {
        if (problem->count() == 0 && suite->count() == 0) throw CLI::RequiredError("--problem or --suite");
      });
    cmd->add_option("--filter", sel.filter, "Keep the problems whose spec line matches this regex");
    cmd->add_option("--dtype", sel.dtypes, "Keep only these dtypes (f32, f16, bf16; repeatable)");
    cmd->add_option("--mask", sel.masks, "Keep only these masks (none, causal, causal_br, kvlen; repeatable)");
    cmd->add_option("--threads,-t", sel.threads, "CPU threads (default: all cores)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--vulkan-device", sel.vulkan_device, "Vulkan device: index or name substring");
    cmd->add_option("--shard", shard, "Run only part i of n of the cases (0-based), balanced by FLOPs");
  };

  auto* list = app.add_subcommand("list", "Backends, devices, versions and why a backend is unavailable");
  list->add_option("--threads,-t", sel.threads, "CPU threads (default: all cores)")->check(CLI::NonNegativeNumber);
  list->add_option("--vulkan-device", sel.vulkan_device, "Vulkan device: index or name substring");
  auto* check = app.add_subcommand("check", "Correctness against the fp64 reference; exit 1 if any case fails");
  add_selection(check, true);
  check->add_option("--json", check_opts.json_out, "Also write the case results as JSON to this file");
  check->add_flag("--verbose,-v", check_opts.verbose, "Print the worst elements of every case");
  check->add_flag("--allow-unavailable", check_opts.allow_unavailable,
                  "Exit 0 even when no selected backend can run here");
  check->add_flag("--isolate", check_opts.isolate, "Run each case in a child process (a crash or hang costs one case)");
  check->add_option("--case-timeout", check_opts.case_timeout_s, "Seconds per isolated case (default 600)")
      ->check(CLI::PositiveNumber);
  auto* run = app.add_subcommand("run", "Benchmark: measure, check, write a results file, print the tables");
  add_selection(run, true);
  run->add_option("--out,-o", run_opts.out, "Results file (default results/<machine>/<suite>-<date>.json)");
  run->add_option("--policy", run_opts.policy,
                  "Stopping policy: default, quick, gate (16+ samples over 0.2 s: the regression gate's), p99")
      ->check(CLI::IsMember({"default", "quick", "gate", "p99"}));
  run->add_option("--max-time", run_opts.max_time_s,
                  "Seconds of sampling after which a case stops once it has the policy's minimum samples "
                  "(default: the policy's; 10 s in default; scripts/bench with no arguments: 1)")
      ->check(CLI::PositiveNumber);
  run->add_option("--min-samples", run_opts.min_samples, "Override the policy's minimum samples")
      ->check(CLI::PositiveNumber);
  run->add_flag("--cold", run_opts.cold, "Flush the caches (host, and GPU L2) before every sample");
  run->add_flag("--fresh", run_opts.fresh, "Start over instead of resuming a killed run's journal");
  run->add_flag("--force", run_opts.force, "Replace a finished results file at --out");
  run->add_flag("--no-calibration", run_opts.no_calibration, "Skip the calibration GEMMs");
  run->add_option("--scenario", run_opts.scenario,
                  "MLPerf scenario: single-stream (one query at a time), server (Poisson arrivals), offline "
                  "(queries batched along b for the best throughput)")
      ->check(CLI::IsMember({"single-stream", "server", "offline"}));
  run->add_option("--qps", run_opts.server_qps, "Server scenario: the arrival rate (queries/s)")
      ->check(CLI::PositiveNumber);
  run->add_option("--server-p99-ms", run_opts.server_p99_ms,
                  "Server scenario: search the highest rate whose p99 latency stays under this bound")
      ->check(CLI::PositiveNumber);
  run->add_flag("--isolate", run_opts.isolate, "Run each case in a child process (a crash or hang costs one case)");
  run->add_option("--case-timeout", run_opts.case_timeout_s,
                  "Seconds per isolated case (default: the policy's budget + max time + 120)")
      ->check(CLI::PositiveNumber);
  auto* dump = app.add_subcommand("dump", "Write q.npy k.npy v.npy out.npy ref.npy for one backend and problem");
  add_selection(dump, true);
  dump->add_option("dir", dump_dir, "Output folder")->required();
  std::string study_kind;
  auto* study = app.add_subcommand("study", "FP16/BF16 studies: error (backends x dtype x n x mask x dist) or "
                                            "saturation (reference-only logit statistics)");
  add_selection(study, false);
  study->add_option("kind", study_kind, "error or saturation")->required()->check(CLI::IsMember({"error", "saturation"}));
  auto* report = app.add_subcommand("report", "Tables from results files; several files: a hardware comparison");
  report->add_option("files", report_files, "Results files")->required()->check(CLI::ExistingFile);
  report->add_option("--csv", report_csv_dir,
                     "Also write the latency, throughput (and offline) pivots as CSV files to this folder: "
                     "<file>-<scenario>-<table>.csv, RFC 4180, units in the header");
  sdpa::add_merge_command(app);
  sdpa::add_gate_command(app);  // merge runs from its own callback and exits with its code
  sdpa::add_worker_commands(app);  // worker and ab: likewise

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;  // every usage error is exit 2, whatever CLI11's own code
  }

  try {
    if (!shard.empty()) std::tie(sel.shard_index, sel.shard_count) = sdpa::parse_shard(shard);
    if (*list) return sdpa::cmd_list(sel);
    if (*check) return sdpa::cmd_check(sel, check_opts);
    if (*run) return sdpa::cmd_run(sel, run_opts);
    if (*dump) return sdpa::cmd_dump(sel, dump_dir);
    if (*report) return sdpa::cmd_report(report_files, report_csv_dir);
    if (*study) return study_kind == "error" ? sdpa::cmd_study_error(sel) : sdpa::cmd_study_saturation(sel);
  } catch (const std::invalid_argument& e) {  // SpecError and the parsers' own: bad input
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {  // a runtime failure (a backend, the file system): not the input
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
