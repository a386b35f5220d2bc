// `report --csv`: the RFC 4180 writer, the pivot tables as CSV on synthetic results files, and
// the option as a user meets it.
#include "harness/report_csv.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/problem.h"
#include "harness/csv.h"
#include "harness/stats.h"

namespace sdpa {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A strict RFC 4180 reader (CRLF records, quoted fields with doubled quotes): what the writer
// wrote must come back field for field.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      EXPECT_TRUE(field.empty()) << "a quote inside an unquoted field";
      quoted = true;
    } else if (c == ',') {
      record.push_back(field);
      field.clear();
    } else if (c == '\r') {
      EXPECT_EQ(text[i + 1], '\n') << "a bare CR";
      record.push_back(field);
      field.clear();
      records.push_back(record);
      record.clear();
      ++i;
    } else {
      EXPECT_NE(c, '\n') << "a bare LF ends a record";
      field += c;
    }
  }
  EXPECT_TRUE(record.empty() && field.empty() && !quoted) << "the last record lacks its CRLF";
  return records;
}

TEST(Csv, QuotesOnlyWhatMustBeQuoted) {
  EXPECT_EQ(csv_field("blocked_cpu p90 (ms)"), "blocked_cpu p90 (ms)");
  EXPECT_EQ(csv_field("b=1,hq=16"), "\"b=1,hq=16\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field(""), "");
  const std::vector<std::string> nasty{"a,b", "\"", "x\r\ny", "", "plain"};
  const auto back = parse_csv(csv_record(nasty));
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0], nasty);
}

TEST(Csv, NumbersAreExactAndUnitless) {
  EXPECT_EQ(csv_number(0.1), "0.1");
  EXPECT_EQ(csv_number(1234567), "1234567");
  EXPECT_EQ(csv_number(0.0123456789012345), "0.0123456789012345");
  EXPECT_EQ(std::stod(csv_number(1.0 / 3)), 1.0 / 3);  // round-trips, not rounded to 3 digits
  EXPECT_EQ(csv_number(std::nan("")), "");
  EXPECT_EQ(csv_number(INFINITY), "");
}

const std::string kSmall = "b=1,hq=16,sq=128,d=64,dtype=f32";
const std::string kLarge = "b=1,hq=16,sq=4096,d=64,dtype=f32";

std::vector<double> ramp(int n, double base) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(base + 0.001 * i);
  return v;
}

json measured(const std::string& backend, const std::string& problem, const std::vector<double>& samples,
              double tflops, double frac) {
  const std::string run = backend + "/" + problem;
  json base{{"run_name", run}, {"backend", backend}, {"problem", problem}, {"time_unit", "ms"}};
  json out = json::array();
  for (const char* agg : {"mean", "median"}) {
    json e = base;
    e.update({{"name", run + "_" + agg}, {"run_type", "aggregate"}, {"aggregate_name", agg}, {"status", "pass"},
              {"real_time", percentile(samples, 50)}, {"cpu_time", percentile(samples, 50)},
              {"repetitions", samples.size()}, {"tflops", tflops}});
    if (frac >= 0) e["frac_of_gemm_peak"] = frac;
    if (std::string(agg) == "median") e.update({{"samples_real_time", samples}, {"samples_cpu_time", samples}});
    out.push_back(e);
  }
  return out;
}

json skipped(const std::string& backend, const std::string& problem) {
  const std::string run = backend + "/" + problem;
  return json::array({{{"name", run}, {"run_name", run}, {"backend", backend}, {"problem", problem},
                       {"run_type", "iteration"}, {"status", "skip"}, {"error_occurred", true},
                       {"error_message", "skip: above 1 GFLOP"}, {"time_unit", "ms"}}});
}

json results_doc(const std::string& scenario = "single-stream") {
  json doc{{"format", kResultsFormat},
           {"format_version", kResultsFormatVersion},
           {"context", {{"executable", "sdpa-bench"}, {"scenario", scenario}, {"cpu_model", "Test CPU"}}},
           {"benchmarks", json::array()}};
  // naive: 64 samples at n=128 (a p90 claim, no p99), skipped at n=4096; blocked_cpu: 700
  // samples (both claims) at n=128, 8 (no claim) at n=4096.
  for (const json& c : {measured("naive", kSmall, ramp(64, 2.0), 0.05, 0.02),
                        measured("blocked_cpu", kSmall, ramp(700, 0.5), 0.2, -1), skipped("naive", kLarge),
                        measured("blocked_cpu", kLarge, ramp(8, 40.0), 0.9, 0.45)}) {
    for (const json& e : c) doc["benchmarks"].push_back(e);
  }
  return doc;
}

TEST(ReportCsv, LatencyPivotHasUnitsInTheHeaderAndExactPercentiles) {
  const ResultsFile file = parse_results(results_doc(), "mlperf.json");
  const auto tables = pivot_csv_tables(file);
  ASSERT_EQ(tables.size(), 2u);  // no offline table for single-stream
  const CsvTable& lat = tables[0];
  EXPECT_EQ(lat.name, "latency");
  const std::vector<std::string> header{"problem",          "spec",
                                        "naive status",     "naive p90 (ms)",
                                        "naive p99 (ms)",   "naive samples",
                                        "blocked_cpu status", "blocked_cpu p90 (ms)",
                                        "blocked_cpu p99 (ms)", "blocked_cpu samples"};
  EXPECT_EQ(lat.header, header);
  const auto records = parse_csv(lat.text());
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0], header);
  const auto& small = records[1];
  EXPECT_EQ(small[0], "h=16 n=128 d=64 f32");
  EXPECT_EQ(small[1], kSmall);  // quoted in the text (it has commas), whole when read back
  EXPECT_EQ(small[2], "pass");
  EXPECT_EQ(std::stod(small[3]), early_stopping_percentile(ramp(64, 2.0), 0.90));
  EXPECT_EQ(small[4], "");  // 64 samples cannot support a p99 claim
  EXPECT_EQ(small[5], "64");
  EXPECT_EQ(std::stod(small[7]), early_stopping_percentile(ramp(700, 0.5), 0.90));
  EXPECT_EQ(std::stod(small[8]), early_stopping_percentile(ramp(700, 0.5), 0.99));
  const auto& large = records[2];
  EXPECT_EQ(large[2], "skip");
  EXPECT_EQ(large[3], "");
  EXPECT_EQ(large[5], "");
  EXPECT_EQ(large[6], "pass");
  EXPECT_EQ(large[7], "");  // 8 samples: no claim, and no "n/a (needs 64)" words in a number column
  EXPECT_EQ(large[9], "8");
}

TEST(ReportCsv, ThroughputPivotKeepsFractionsAndSpeedupsAsNumbers) {
  const ResultsFile file = parse_results(results_doc(), "mlperf.json");
  const auto tables = pivot_csv_tables(file);
  const CsvTable& tp = tables[1];
  EXPECT_EQ(tp.name, "throughput");
  EXPECT_EQ(tp.header[2], "naive throughput (TFLOP/s)");
  EXPECT_EQ(tp.header[3], "naive of GEMM peak (fraction)");
  EXPECT_EQ(tp.header[4], "naive speed-up over naive (ratio)");
  const auto& small = tp.rows[0];
  EXPECT_EQ(small[2], "0.05");
  EXPECT_EQ(small[3], "0.02");
  EXPECT_EQ(small[4], "");  // naive over itself: no figure
  EXPECT_EQ(small[5], "0.2");
  EXPECT_EQ(small[6], "");  // no peak of its dtype measured
  EXPECT_EQ(std::stod(small[7]), percentile(ramp(64, 2.0), 50) / percentile(ramp(700, 0.5), 50));
  const auto& large = tp.rows[1];
  EXPECT_EQ(large[2], "");  // skipped
  EXPECT_EQ(large[6], "0.45");
  EXPECT_EQ(large[7], "");  // naive did not run it
}

TEST(ReportCsv, OfflineRunsAddTheQueriesTable) {
  json doc = results_doc("offline");
  for (json& e : doc["benchmarks"]) {
    if (e.value("aggregate_name", "") == "median") e.update({{"queries_per_s", 812.5}, {"queries_per_batch", 16}});
  }
  const auto tables = pivot_csv_tables(parse_results(doc, "off.json"));
  ASSERT_EQ(tables.size(), 3u);
  EXPECT_EQ(tables[2].name, "offline");
  EXPECT_EQ(tables[2].header[2], "naive throughput (queries/s)");
  EXPECT_EQ(tables[2].header[3], "naive batch (queries)");
  EXPECT_EQ(tables[2].rows[0][2], "812.5");
  EXPECT_EQ(tables[2].rows[0][3], "16");
}

fs::path temp_dir(const std::string& name) {
  fs::path dir = fs::path(::testing::TempDir()) / ("sdpa_csv_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(ReportCsv, FileNamesCarryStemAndScenarioAndTwoStemsAreToldApart) {
  const fs::path dir = temp_dir("names");
  fs::create_directories(dir / "amd");
  fs::create_directories(dir / "intel");
  const std::vector<ResultsFile> files{parse_results(results_doc(), (dir / "amd" / "mlperf.json").string()),
                                       parse_results(results_doc("server"), (dir / "intel" / "mlperf.json").string())};
  const auto written = write_pivot_csvs(files, (dir / "csv").string());
  ASSERT_EQ(written.size(), 4u);
  for (const char* name : {"amd-mlperf-single-stream-latency.csv", "amd-mlperf-single-stream-throughput.csv",
                           "intel-mlperf-server-latency.csv", "intel-mlperf-server-throughput.csv"}) {
    EXPECT_TRUE(fs::exists(dir / "csv" / name)) << name;
  }
  // The same file twice would write the same names: refused before anything is written.
  const fs::path again = dir / "again";
  EXPECT_THROW(write_pivot_csvs({files[0], files[0]}, again.string()), SpecError);
  EXPECT_FALSE(fs::exists(again));
}

// File names are built from what a results file holds (its scenario): a hostile one names a file
// inside the folder, never a path out of it.
TEST(ReportCsv, NamesFromFileContentsStayInsideTheFolder) {
  const fs::path dir = temp_dir("escape");
  const fs::path out = dir / "a" / "b" / "csv";
  for (const std::string& scenario : std::vector<std::string>{"x/../../../../pwned", "../../pwned", "..", "/etc/pwned", "a\\b\nc", ".hidden",
                                     std::string(400, 'x')}) {
    fs::remove_all(dir / "a");
    const std::vector<ResultsFile> files{parse_results(results_doc(scenario), (dir / "run.json").string())};
    const auto written = write_pivot_csvs(files, out.string());
    ASSERT_EQ(written.size(), 2u);
    for (const std::string& path : written) {
      EXPECT_EQ(fs::path(path).parent_path(), out) << path;
      EXPECT_TRUE(fs::exists(path)) << path;
      EXPECT_LE(fs::path(path).filename().string().size(), 255u) << path;
      EXPECT_NE(fs::path(path).filename().string()[0], '.') << path;
    }
    // Nothing beside the folder: only csv/ under a/b, only b under a.
    EXPECT_EQ(std::distance(fs::directory_iterator(dir / "a" / "b"), {}), 1) << scenario;
    EXPECT_EQ(std::distance(fs::directory_iterator(dir / "a"), {}), 1) << scenario;
    EXPECT_EQ(std::distance(fs::directory_iterator(out), {}), 2) << scenario;
  }
  EXPECT_FALSE(fs::exists(dir / "pwned"));
  EXPECT_FALSE(fs::exists(dir / "a" / "pwned"));
  // Two scenarios that reduce to one name collide: refused before anything is written.
  const fs::path again = dir / "again";
  EXPECT_THROW(write_pivot_csvs({parse_results(results_doc("a/b"), (dir / "x" / "run.json").string()),
                                 parse_results(results_doc("a_b"), (dir / "x" / "run.json").string())},
                                again.string()),
               SpecError);
  EXPECT_FALSE(fs::exists(again));
}

TEST(ReportCsv, TheReportCommandWritesThemWithItsTables) {
  const fs::path dir = temp_dir("cli");
  const std::string in = (dir / "mlperf.json").string();
  std::ofstream(in) << results_doc().dump();
  const std::string cmd = std::string(SDPA_BENCH_EXE) + " report --csv " + (dir / "out").string() + " " + in + " 2>&1";
  std::string out;
  FILE* pipe = popen(cmd.c_str(), "r");
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  const int status = pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << out;
  EXPECT_NE(out.find("### Latency"), std::string::npos) << out;  // the printed tables as before
  EXPECT_NE(out.find("wrote " + (dir / "out" / "mlperf-single-stream-latency.csv").string()), std::string::npos) << out;
  std::ifstream csv(dir / "out" / "mlperf-single-stream-throughput.csv", std::ios::binary);
  std::stringstream text;
  text << csv.rdbuf();
  const auto records = parse_csv(text.str());
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1][1], kSmall);
}

// The command on a file whose context.scenario climbs out of the folder: its CSV files land in
// the folder, and nothing is created above it.
TEST(ReportCsv, TheReportCommandWritesNothingOutsideTheCsvFolder) {
  const fs::path dir = temp_dir("cli_escape");
  fs::create_directories(dir / "deep" / "er");
  const std::string in = (dir / "deep" / "er" / "run.json").string();
  std::ofstream(in) << results_doc("x/../../../../pwned").dump();
  const std::string cmd = std::string(SDPA_BENCH_EXE) + " report --csv " + (dir / "deep" / "er" / "out").string() +
                          " " + in + " >/dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "deep" / "er" / "out"), {}), 2);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), {}), 1);  // deep/ alone
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "deep"), {}), 1);
}

}  // namespace
}  // namespace sdpa
