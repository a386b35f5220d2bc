#include "harness/report_cli.h"

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "core/problem.h"
#include "harness/child_process.h"
#include "harness/report.h"
#include "harness/source_dir.h"
#include "harness/report_csv.h"
#include "harness/report_gbench.h"
#include "harness/report_json.h"

namespace sdpa {

namespace fs = std::filesystem;

namespace {

// Written beside the target and renamed over it: a failed write leaves no partial file.
void write_json(const std::string& path, const nlohmann::json& doc, const char* what) {
  if (path == "-") {
    std::cout << doc.dump(1) << "\n";
    return;
  }
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp);
    out << doc.dump(1) << "\n";
    if (!out) {
      std::error_code ignored;
      fs::remove(tmp, ignored);
      throw std::runtime_error(std::string(what) + ": cannot write " + path);
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw std::runtime_error(std::string(what) + ": cannot write " + path);
  }
  std::cerr << "wrote " << path << "\n";
}

void write_gbench(const std::vector<ResultsFile>& files, const std::string& out) {
  if (files.size() == 1) {
    if (fs::is_directory(out)) throw SpecError("report --gbench " + out + ": a folder; give the file to write");
    write_json(out, gbench_export(files[0]), "report --gbench");
    return;
  }
  // Several files: a folder of one export each, holding only the cases every file measured.
  std::set<std::string> common;
  for (const CaseRecord& c : files[0].cases) {
    if (c.measured() && !c.samples_ms.empty()) common.insert(c.name());
  }
  for (std::size_t i = 1; i < files.size(); ++i) {
    std::set<std::string> both;
    for (const std::string& name : common) {
      const CaseRecord* c = files[i].find(name);
      if (c && c->measured() && !c->samples_ms.empty()) both.insert(name);
    }
    common = std::move(both);
  }
  std::error_code ec;
  fs::create_directories(out, ec);
  if (!fs::is_directory(out)) throw SpecError("report --gbench " + out + ": cannot make the folder");
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string name = std::string(1, static_cast<char>('A' + std::min<std::size_t>(i, 25))) + "-" +
                             fs::path(files[i].path).stem().string() + ".json";
    write_json((fs::path(out) / name).string(), gbench_export(files[i], &common), "report --gbench");
  }
  std::cerr << "report --gbench: " << common.size() << " cases measured in every file\n";
}

// scripts/report renders the page from the tables written here; its plots read the files.
int write_html(const std::vector<std::string>& paths, const std::vector<ResultsFile>& files, const std::string& dir) {
  const std::string script = std::string(source_dir()) + "/scripts/report";
  if (!fs::exists(script)) {
    throw std::runtime_error("report --html: the HTML renderer " + script +
                             " is missing (it is part of the source tree, not of a bundle)");
  }
  const char* env = std::getenv("SDPA_REPORT_PYTHON");
  const std::string python = env && *env ? env : fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) throw SpecError("report --html " + dir + ": cannot make the folder");
  const std::string tables = (fs::path(dir) / "report.json").string();
  write_json(tables, report_json(files), "report --html");
  std::vector<std::string> argv{python, script, "--html", dir, "--tables", tables};
  argv.insert(argv.end(), paths.begin(), paths.end());
  ChildOutcome r;
  try {
    r = run_child(argv, 600);
  } catch (const std::exception& e) {
    throw std::runtime_error("report --html: cannot start " + python + " (install Python 3 with matplotlib: "
                             "scripts/setup-deps, or apt-get install python3-matplotlib): " + e.what());
  }
  std::cerr << r.output;
  if (r.exit_code == 127) {
    std::cerr << "report --html: " << python << " was not found: install Python 3 with matplotlib "
              << "(scripts/setup-deps, or apt-get install python3-matplotlib), or set SDPA_REPORT_PYTHON\n";
    return 1;
  }
  return r.exit_code == 0 ? 0 : (r.exit_code > 0 ? r.exit_code : 1);
}

}  // namespace

void add_report_outputs(CLI::App* report, ReportOutputs& o) {
  report->add_option("--json", o.json_out,
                     "Write every table (and, for several files, the comparison) as JSON to this file; "
                     "'-': to stdout instead of the Markdown");
  report->add_option("--gbench", o.gbench_out,
                     "Write Google Benchmark JSON for its tools/compare.py: one results file: the file to write; "
                     "several: a folder of one file each, holding the cases every file measured");
  report->add_option("--html", o.html_dir,
                     "Write DIR/index.html and its plots (runs scripts/report with Python 3 and matplotlib)");
}

int run_report(const std::vector<std::string>& paths, const std::string& csv_dir, const ReportOutputs& o) {
  std::vector<ResultsFile> files;
  for (const std::string& p : paths) files.push_back(load_results(p));
  if (!csv_dir.empty()) {
    for (const std::string& path : write_pivot_csvs(files, csv_dir)) std::cerr << "wrote " << path << "\n";
  }
  if (!o.json_out.empty()) write_json(o.json_out, report_json(files), "report --json");
  if (!o.gbench_out.empty()) write_gbench(files, o.gbench_out);
  if (o.json_out != "-") {
    for (const ResultsFile& f : files) print_report(std::cout, f);
    if (files.size() > 1) print_hardware_comparison(std::cout, files);
  }
  if (!o.html_dir.empty()) return write_html(paths, files, o.html_dir);
  return 0;
}

}  // namespace sdpa
