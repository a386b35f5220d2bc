// sdpa-bench: list | check | run | dump | report | compare. See README.md.
#include <CLI/CLI.hpp>

#include <iostream>

#include "harness/commands.h"
#include "core/problem.h"

int main(int argc, char** argv) {
  CLI::App app{"sdpa-bench: scaled dot-product attention benchmark and correctness suite"};
  app.require_subcommand(1);
  sdpa::Selection sel;
  sdpa::RunOptions run_opts;
  std::string json_out, dump_dir, base, current;
  std::vector<std::string> report_files;
  bool verbose = false;
  double max_slowdown = 0.10;

  auto add_selection = [&](CLI::App* cmd, bool problems_required) {
    cmd->add_option("--backend,-b", sel.backends, "Backend to use (repeatable; default: all built)");
    auto* problem = cmd->add_option("--problem,-p", sel.problems, "Problem spec line (repeatable)");
    auto* suite = cmd->add_option("--suite,-s", sel.suite, "Suite name (smoke, ci, full, scaling, mlperf) or file");
    problem->excludes(suite);
    if (problems_required) cmd->callback([&, problem, suite] {
        if (problem->count() == 0 && suite->count() == 0) throw CLI::RequiredError("--problem or --suite");
      });
    cmd->add_option("--threads,-t", sel.threads, "CPU threads (default: all cores)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--vulkan-device", sel.vulkan_device, "Vulkan device: index or name substring");
  };

  auto* list = app.add_subcommand("list", "Backends, devices, versions and why a backend is unavailable");
  add_selection(list, false);
  auto* check = app.add_subcommand("check", "Correctness against the fp64 reference; exit 1 if any case fails");
  add_selection(check, true);
  check->add_option("--json", json_out, "Also write the case results as JSON to this file");
  check->add_flag("--verbose,-v", verbose, "Print the worst elements of every case");
  auto* run = app.add_subcommand("run", "Benchmark: measure, check, write a results file, print the tables");
  add_selection(run, true);
  run->add_option("--out,-o", run_opts.out, "Results file (default results/<machine>/<date>.json)");
  run->add_option("--policy", run_opts.policy, "Stopping policy: default, quick, p99")
      ->check(CLI::IsMember({"default", "quick", "p99"}));
  run->add_option("--min-samples", run_opts.min_samples, "Override the policy's minimum samples")
      ->check(CLI::PositiveNumber);
  run->add_flag("--cold", run_opts.cold, "Flush host caches before every sample");
  run->add_flag("--fresh", run_opts.fresh, "Start over instead of resuming a killed run's journal");
  run->add_flag("--no-calibration", run_opts.no_calibration, "Skip the calibration GEMMs");
  auto* dump = app.add_subcommand("dump", "Write q.npy k.npy v.npy out.npy ref.npy for one backend and problem");
  add_selection(dump, true);
  dump->add_option("dir", dump_dir, "Output folder")->required();
  auto* report = app.add_subcommand("report", "Latency and scaling tables from results files");
  report->add_option("files", report_files, "Results files")->required()->check(CLI::ExistingFile);
  auto* compare = app.add_subcommand("compare", "Compare two results files; exit 1 on a regression");
  compare->add_option("base", base, "Baseline results file")->required()->check(CLI::ExistingFile);
  compare->add_option("current", current, "New results file")->required()->check(CLI::ExistingFile);
  compare->add_option("--max-slowdown", max_slowdown, "Allowed slowdown of the median (0.10 = 10%)")
      ->check(CLI::NonNegativeNumber);

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
    if (*list) return sdpa::cmd_list(sel);
    if (*check) return sdpa::cmd_check(sel, json_out, verbose);
    if (*run) return sdpa::cmd_run(sel, run_opts);
    if (*dump) return sdpa::cmd_dump(sel, dump_dir);
    if (*report) return sdpa::cmd_report(report_files);
    if (*compare) return sdpa::cmd_compare(base, current, max_slowdown);
  } catch (const sdpa::SpecError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  return 2;
}
