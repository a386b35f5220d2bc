// sdpa-bench: list | check | run | dump | study | report | merge | gate | worker | ab. See README.md.
// One dispatch below and one exit-code mapping (exit_code.h) for all of them.
#include <CLI/CLI.hpp>

#include <iostream>

#include "harness/commands.h"
#include "harness/exit_code.h"
#include "harness/gate_cli.h"
#include "harness/merge_cli.h"
#include "harness/report_cli.h"
#include "harness/run_plan.h"
#include "harness/study.h"
#include "harness/worker.h"

int main(int argc, char** argv) {
  CLI::App app{"sdpa-bench: scaled dot-product attention benchmark and correctness suite"};
  app.require_subcommand(1);
  app.footer(sdpa::kExitCodesHelp);
  sdpa::RunPlan plan;
  sdpa::CheckOptions check_opts;
  std::string dump_dir;
  std::vector<std::string> report_files;
  std::string report_csv_dir;
  bool list_policies = false, list_json = false;

  auto* list = app.add_subcommand("list", "Backends, devices, versions and why a backend is unavailable");
  list->add_option("--threads,-t", plan.selection.threads, "CPU threads (default 0: all cores)");
  list->add_option("--vulkan-device", plan.selection.vulkan_device, "Vulkan device: index or name substring");
  list->add_flag("--policies", list_policies, "List the stopping policies and their numbers instead");
  list->add_flag("--json", list_json, "With --policies: as JSON (for scripts/peers)");

  auto* check = app.add_subcommand("check", "Correctness against the fp64 reference; exit 1 if any case fails");
  sdpa::add_selection_options(check, plan, true);
  check->add_option("--out,-o,--json", check_opts.json_out,
                    "Also write the case results as JSON to this file (--json: the old name)");
  check->add_flag("--verbose,-v", check_opts.verbose, "Print the worst elements of every case");
  check->add_flag("--allow-unavailable", check_opts.allow_unavailable,
                  "Exit 0 even when no selected backend can run here");
  check->add_flag("--isolate", plan.isolate, "Run each case in a child process (a crash or hang costs one case)");
  check->add_option("--case-timeout", plan.case_timeout_s, "Seconds per isolated case (default 600)");

  auto* run = app.add_subcommand("run", "Benchmark: measure, check, write a results file, print the tables");
  sdpa::add_selection_options(run, plan, true);
  sdpa::add_measurement_options(run, plan);
  run->add_option("--out,-o", plan.out, "Results file (default results/<machine>/<suite>-<date>.json)")
      ->check([](const std::string& s) { return s.empty() ? std::string("--out: an empty path") : std::string(); });
  run->add_flag("--fresh", plan.fresh, "Start over instead of resuming a killed run's journal");
  run->add_flag("--force", plan.force, "Replace a finished results file at --out");

  auto* dump = app.add_subcommand("dump", "Write q.npy k.npy v.npy out.npy ref.npy for one backend and problem");
  sdpa::add_selection_options(dump, plan, true);
  // One value per --backend/--problem, so that the folder after them is not taken for a second.
  for (const char* name : {"--backend", "--problem"}) dump->get_option(name)->allow_extra_args(false);
  auto* dump_pos = dump->add_option("dir", dump_dir, "Output folder (or --out-dir)");
  auto* dump_opt = dump->add_option("--out-dir", dump_dir, "Output folder");
  dump_pos->excludes(dump_opt);

  std::string study_kind, study_dist;
  auto* study = app.add_subcommand("study", "FP16/BF16 studies: error (backends x dtype x n x mask x dist) or "
                                            "saturation (reference-only logit statistics)");
  sdpa::add_selection_options(study, plan, false);
  study->add_option("kind", study_kind, "error or saturation")->required()->check(CLI::IsMember({"error", "saturation"}));
  study->add_option("--dist", study_dist,
                    "Input distribution of every problem (the dist= key: normal, normal:S, uniform, outliers:F:M, "
                    "shift:M; default: the study's own list)");

  auto* report = app.add_subcommand("report", "Tables from results files; several files: a hardware comparison");
  report->add_option("files", report_files, "Results files")->required()->check(CLI::ExistingFile);
  report->add_option("--out-dir,--csv", report_csv_dir,
                     "Also write the latency, throughput (and offline) pivots as CSV files to this folder: "
                     "<file>-<scenario>-<table>.csv, RFC 4180, units in the header (--csv: the old name)");
  sdpa::ReportOutputs report_outputs;  // --json, --gbench, --html (harness/report_cli.h)
  sdpa::add_report_outputs(report, report_outputs);
  const auto merge_command = sdpa::add_merge_command(app);
  const auto gate_command = sdpa::add_gate_command(app);
  const auto worker_commands = sdpa::add_worker_commands(app);  // worker and ab (the paired speed gate)
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) sub->footer(sdpa::kExitCodesHelp);

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
  if (*dump && dump_dir.empty()) {
    std::cerr << "error: dump: give the output folder (DIR or --out-dir DIR)\n";
    return 2;
  }

  return sdpa::exit_code_of([&]() -> int {
    if (*list) {
      plan.resolve();
      return list_policies ? sdpa::cmd_list_policies(list_json) : sdpa::cmd_list(plan);
    }
    if (*check) return sdpa::cmd_check(plan, check_opts);
    if (*run) return sdpa::cmd_run(plan);
    if (*dump) return sdpa::cmd_dump(plan, dump_dir);
    if (*report) return sdpa::run_report(report_files, report_csv_dir, report_outputs);
    if (*study) {
      return study_kind == "error" ? sdpa::cmd_study_error(plan, study_dist)
                                   : sdpa::cmd_study_saturation(plan, study_dist);
    }
    if (*app.get_subcommand("merge")) return merge_command();
    if (*app.get_subcommand("gate")) return gate_command();
    if (*app.get_subcommand("worker")) return worker_commands.worker();
    if (*app.get_subcommand("ab")) return worker_commands.ab();
    return 2;
  });
}
