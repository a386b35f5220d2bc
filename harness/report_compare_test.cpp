// The comparison of machines, `report --json`, `report --gbench` and the Markdown escaping, on
// synthetic results files whose answers are known.
#include "harness/report_compare.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/report_gbench.h"
#include "harness/report_json.h"
#include "harness/stats.h"

namespace sdpa {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string spec(int sq, const std::string& dtype = "f32", int skv = 1024) {
  return "b=1,hq=8,hkv=8,sq=" + std::to_string(sq) + ",skv=" + std::to_string(skv) + ",d=64,dv=64,dtype=" + dtype +
         ",mask=none,scale=default,seed=1";
}

json base_entry(const std::string& backend, const std::string& problem, const std::string& status) {
  const std::string run = backend + "/" + problem;
  return {{"name", run}, {"run_name", run}, {"backend", backend}, {"problem", problem}, {"status", status},
          {"threads", 1}, {"iterations", 1}, {"time_unit", "ms"}};
}

// Version-2 entries of a measured case: the aggregates, the samples on the median entry.
void add_case(json& doc, const std::string& backend, const std::string& problem, std::vector<double> samples) {
  std::vector<double> s = samples;
  std::sort(s.begin(), s.end());
  for (const char* name : {"mean", "median", "stddev", "min", "max"}) {
    json e = base_entry(backend, problem, "pass");
    const double t = std::string(name) == "median" ? s[s.size() / 2] : std::string(name) == "stddev" ? 0 : s[0];
    e.update({{"run_type", "aggregate"}, {"aggregate_name", name}, {"real_time", t}, {"cpu_time", t},
              {"repetitions", samples.size()}, {"tflops", 1.0}, {"worst_of_bound", 0.1}, {"nmse", 1e-12}});
    if (std::string(name) == "median") {
      e["samples_real_time"] = samples;
      e["samples_cpu_time"] = samples;
    }
    doc["benchmarks"].push_back(e);
  }
}

void add_skip(json& doc, const std::string& backend, const std::string& problem, const std::string& reason) {
  json e = base_entry(backend, problem, "skip");
  e.update({{"run_type", "iteration"}, {"real_time", 0}, {"cpu_time", 0}, {"error_occurred", true},
            {"error_message", "skip: " + reason}});
  doc["benchmarks"].push_back(e);
}

json machine(const std::string& uarch, json extra = json::object()) {
  json ctx = {{"executable", "sdpa-bench"}, {"cpu_model", "Test CPU"}, {"cpu_vendor", "AuthenticAMD"},
              {"cpu_uarch", uarch}, {"cpu_isa_tier", "avx512bf16"}, {"cpu_cores_online", "2"},
              {"threads_used", "2"}, {"calibration_cpu_f32_tflops", 0.5}, {"bandwidth_cpu_gbs", 20.0}};
  ctx.update(extra);
  return {{"format", "sdpa-bench-results"}, {"format_version", 2}, {"context", ctx}, {"benchmarks", json::array()}};
}

std::vector<double> ramp(double base, int n = 64) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(base * (1 + i / 1000.0));
  return v;
}

// A: zen4; B: zen5, twice as fast on f32 with twice the f32 peak (normalised 1.00), 4x faster
// on bf16 where A has no bf16 peak, the same on a decode step with 1.25x the bandwidth; oneDNN
// f16 ran on A only.
std::pair<ResultsFile, ResultsFile> two_machines() {
  json a = machine("zen4", {{"calibration_cpu_f16_tflops", 0.2}});
  json b = machine("zen5", {{"calibration_cpu_f32_tflops", 1.0}, {"calibration_cpu_bf16_tflops", 2.0},
                            {"calibration_cpu_f16_tflops", 0.2}, {"bandwidth_cpu_gbs", 25.0},
                            {"noise_warning", "the calibration GEMMs differed by 27%"}, {"calibration_drift", 0.27}});
  add_case(a, "naive", spec(1024), ramp(8.0));
  add_case(a, "blocked_cpu", spec(1024), ramp(4.0));
  add_case(b, "naive", spec(1024), ramp(6.0));
  add_case(b, "blocked_cpu", spec(1024), ramp(2.0));
  add_case(a, "blocked_cpu", spec(1024, "bf16"), ramp(8.0));
  add_case(b, "blocked_cpu", spec(1024, "bf16"), ramp(2.0));
  add_case(a, "blocked_cpu", spec(1, "f32", 4096), ramp(0.5));
  add_case(b, "blocked_cpu", spec(1, "f32", 4096), ramp(0.5));
  add_case(a, "onednn", spec(1024, "f16"), ramp(3.0));
  add_skip(b, "onednn", spec(1024, "f16"), "no f16 matmul | here\non this CPU");
  return {parse_results(a, "a/mlperf.json"), parse_results(b, "b/mlperf.json")};
}

const Table& table(const Comparison& c, const std::string& id) {
  for (const Table& t : c.tables) {
    if (t.id == id) return t;
  }
  throw std::runtime_error("no table " + id);
}

TEST(report_compare, wording_says_which_is_faster) {
  EXPECT_EQ(faster_wording("B", "A", 1.8), "B is 1.80x faster than A");
  EXPECT_EQ(faster_wording("B", "A", 0.5), "B is 2.00x slower than A");
  EXPECT_EQ(faster_wording("B", "A", 1.001), "B and A are the same (1.00x)");
  EXPECT_EQ(faster_wording("B", "A", std::nan("")), "");
}

TEST(report_compare, best_backend_ratios_and_normalisation_per_dtype) {
  const auto [a, b] = two_machines();
  const Comparison c = compare_machines({a, b});
  EXPECT_EQ(c.machines, (std::vector<std::string>{"amd-zen4-avx512bf16-2c2t", "amd-zen5-avx512bf16-2c2t"}));
  ASSERT_EQ(c.problems.size(), 4u);
  const ProblemComparison& f32 = c.problems[0];
  EXPECT_EQ(f32.best[0].backend, "blocked_cpu");
  EXPECT_EQ(f32.best[1].backend, "blocked_cpu");
  EXPECT_DOUBLE_EQ(f32.best[0].p90_ms, early_stopping_percentile(ramp(4.0), 0.9));
  EXPECT_EQ(f32.by[1], "p90");
  EXPECT_NEAR(f32.speedup[1], 2.0, 1e-12);
  EXPECT_NEAR(f32.normalised[1], 1.0, 1e-12);  // twice the f32 peak explains it all
  const ProblemComparison& bf16 = c.problems[1];
  EXPECT_NEAR(bf16.speedup[1], 4.0, 1e-12);
  EXPECT_TRUE(std::isnan(bf16.normalised[1]));  // never held to the f32 peak
  EXPECT_EQ(bf16.normalised_why[1], "no bf16 GEMM calibration on cpu in A");
  const ProblemComparison& decode = c.problems[2];
  EXPECT_TRUE(decode.decode);
  EXPECT_NEAR(decode.normalised[1], 1.0 / 1.25, 1e-12);  // by bandwidth, not by the GEMM
  const ProblemComparison& f16 = c.problems[3];
  EXPECT_TRUE(f16.best[0].ran);
  EXPECT_FALSE(f16.best[1].ran);
  EXPECT_EQ(f16.best[1].why_not, "onednn: skip (no f16 matmul | here\non this CPU)");
  EXPECT_EQ(f16.normalised_why[1], "B could not run it");

  const Table& per = table(c, "per_problem");
  EXPECT_EQ(per.rows[0][3].text, "B is 2.00x faster than A");
  EXPECT_EQ(per.rows[0][3].kind, "noisy");  // B's noise warning reaches the row
  EXPECT_EQ(per.rows[0].back().text, "B: calibration drifted 27%");
  EXPECT_EQ(per.rows[3][2].text, "could not run");
  EXPECT_EQ(per.rows[3][2].title, f16.best[1].why_not);

  const Table& summary = table(c, "summary");
  EXPECT_EQ(summary.rows[0][0].text, "all");
  EXPECT_EQ(summary.rows[0][1].text, "3");
  EXPECT_EQ(summary.rows[0][2].text, faster_wording("B", "A", std::cbrt(2.0 * 4.0 * 1.0)));
  EXPECT_EQ(summary.rows[0][3].text, "0.89 (2 of 3)");  // sqrt(1.0 * 0.8): f32 and decode; bf16 has no peak in A
  bool dtype_row = false;
  for (const auto& row : summary.rows) {
    if (row[0].text == "dtype bf16") {
      dtype_row = true;
      EXPECT_EQ(row[2].text, "B is 4.00x faster than A");
    }
  }
  EXPECT_TRUE(dtype_row);

  const Table& cannot = table(c, "could_not_run");
  ASSERT_EQ(cannot.rows.size(), 1u);
  EXPECT_EQ(cannot.rows[0][0].text, "onednn");
  EXPECT_EQ(cannot.rows[0][3].text, "skip: no f16 matmul | here\non this CPU");
  EXPECT_EQ(cannot.rows[0][3].kind, "skip");

  const Table& context = table(c, "context");
  EXPECT_EQ(context.rows[0][0].text, "machine_class");
  EXPECT_EQ(context.rows[1][0].text, "cpu_model");
  bool uarch = false;
  for (const auto& row : context.rows) uarch = uarch || (row[0].text == "cpu_uarch" && row[2].text == "zen5");
  EXPECT_TRUE(uarch);
}

// Every line of a Markdown table has as many unescaped '|' as the header's.
void expect_well_formed_tables(const std::string& md) {
  std::istringstream in(md);
  std::size_t expected = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] != '|') {
      expected = 0;
      continue;
    }
    std::size_t bars = 0;
    for (std::size_t i = 0; i < line.size(); ++i) bars += line[i] == '|' && (i == 0 || line[i - 1] != '\\');
    if (expected == 0) expected = bars;
    EXPECT_EQ(bars, expected) << line;
  }
}

TEST(report_compare, markdown_escapes_bars_and_line_breaks_from_files) {
  EXPECT_EQ(markdown_escape("a|b\nc\r\nd"), "a\\|b<br>c<br>d");
  const auto [a, b] = two_machines();
  std::ostringstream out;
  print_report(out, b);
  print_hardware_comparison(out, {a, b});
  expect_well_formed_tables(out.str());
  EXPECT_NE(out.str().find("skip: no f16 matmul \\| here<br>on this CPU"), std::string::npos) << out.str();
}

TEST(report_compare, gbench_export_has_one_entry_per_sample_in_nanoseconds) {
  const auto [a, b] = two_machines();
  const json doc = gbench_export(a);
  int iterations = 0, aggregates = 0;
  for (const json& e : doc["benchmarks"]) {
    EXPECT_EQ(e["time_unit"], "ns");
    EXPECT_EQ(e["threads"], 2);  // threads_used, not 1
    if (e["run_type"] == "iteration") {
      ++iterations;
      EXPECT_EQ(e["repetitions"], 64);
    } else {
      ++aggregates;
    }
  }
  EXPECT_EQ(iterations, 5 * 64);  // every measured case's samples; the skip has none
  EXPECT_EQ(aggregates, 5 * 2);
  EXPECT_DOUBLE_EQ(doc["benchmarks"][0]["real_time"].get<double>(), 8.0 * 1e6);
  const std::set<std::string> only{"blocked_cpu/" + spec(1024)};
  EXPECT_EQ(gbench_export(b, &only)["benchmarks"].size(), 64u + 2u);
}

struct CliRun {
  int code;
  std::string out;
};

CliRun run(const std::string& args) {
  CliRun r{-1, ""};
  FILE* p = popen((std::string(SDPA_BENCH_EXE) + " " + args + " 2>&1").c_str(), "r");
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(report_compare, json_carries_the_same_tables_the_markdown_prints) {
  const fs::path dir = fs::temp_directory_path() / ("report_compare_test_" + std::to_string(getpid()));
  fs::create_directories(dir);
  auto [a, b] = two_machines();
  json da = machine("zen4", {{"calibration_cpu_f16_tflops", 0.2}});
  add_case(da, "naive", spec(1024), ramp(8.0));
  add_skip(da, "onednn", spec(1024), "a|b");
  std::ofstream(dir / "a.json") << da.dump();
  json db = machine("zen5");
  add_case(db, "naive", spec(1024), ramp(4.0));
  add_case(db, "naive", spec(512), ramp(1.0));  // only B ran it
  std::ofstream(dir / "b.json") << db.dump();
  const std::string files = (dir / "a.json").string() + " " + (dir / "b.json").string();
  const CliRun j = run("report --json - " + files);
  ASSERT_EQ(j.code, 0) << j.out;
  const json doc = json::parse(j.out);
  EXPECT_EQ(doc["format"], "sdpa-bench-report");
  ASSERT_EQ(doc["files"].size(), 2u);
  EXPECT_EQ(doc["files"][0]["machine"], "amd-zen4-avx512bf16-2c2t");
  std::vector<std::string> ids;
  for (const json& t : doc["files"][0]["tables"]) ids.push_back(t["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"latency", "throughput", "accuracy", "scaling"}));
  EXPECT_EQ(doc["files"][0]["tables"][0]["rows"][0][2]["title"], "a|b");
  EXPECT_EQ(doc["comparison"]["problems"][1]["speedup"][1], nullptr);  // NaN is null
  // A file that never had the problem is told apart from a machine that could not run it.
  EXPECT_EQ(doc["comparison"]["tables"][2]["rows"][1][1]["text"], "not in the file");
  EXPECT_EQ(doc["comparison"]["problems"][1]["normalised_why"][1], "A did not run it (not in the file)");
  const std::string row = doc["comparison"]["tables"][2]["rows"][0][3]["text"];
  EXPECT_EQ(row, "B is 2.00x faster than A");
  const CliRun md = run("report " + files);
  ASSERT_EQ(md.code, 0) << md.out;
  EXPECT_NE(md.out.find("| " + row + " |"), std::string::npos) << md.out;
  expect_well_formed_tables(md.out);
  const CliRun gb = run("report --gbench " + (dir / "gb").string() + " " + files);
  ASSERT_EQ(gb.code, 0) << gb.out;
  EXPECT_TRUE(fs::exists(dir / "gb" / "A-a.json"));
  EXPECT_TRUE(fs::exists(dir / "gb" / "B-b.json"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sdpa
