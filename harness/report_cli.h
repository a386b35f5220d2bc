// `sdpa-bench report`'s outputs beyond the Markdown tables: --json (the tables as data), --gbench
// (Google Benchmark JSON for tools/compare.py), --html (the page, by scripts/report).
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace sdpa {

struct ReportOutputs {
  std::string json_out;    // --json FILE ("-": stdout, instead of the Markdown)
  std::string gbench_out;  // --gbench OUT: a file for one results file, a folder for several
  std::string html_dir;    // --html DIR
};

// Adds --json, --gbench and --html to the `report` subcommand.
void add_report_outputs(CLI::App* report, ReportOutputs& outputs);

// The whole `report` command: the Markdown tables (and, for several files, the comparison) on
// stdout, plus the CSV pivots (csv_dir) and `outputs`. Throws SpecError for bad input (exit 2).
int run_report(const std::vector<std::string>& files, const std::string& csv_dir, const ReportOutputs& outputs);

}  // namespace sdpa
