#include "harness/report_csv.h"

#include <cctype>
#include <cmath>
#include <string_view>
#include <filesystem>
#include <map>

#include "core/problem.h"
#include "harness/csv.h"
#include "harness/report.h"
#include "harness/results.h"
#include "harness/stats.h"

namespace sdpa {

namespace {

namespace fs = std::filesystem;

// A column group per backend: `quantities` are "name (unit)" and `cells` gives their values.
template <class Cells>
CsvTable pivot_table(const ResultsFile& file, const std::string& name, const std::vector<std::string>& quantities,
                     Cells&& cells) {
  const Pivot pv = pivot_of(file);
  CsvTable t;
  t.name = name;
  t.header = {"problem", "spec"};
  for (const std::string& b : pv.backends) {
    for (const std::string& q : quantities) t.header.push_back(b + " " + q);
  }
  for (const std::string& prob : pv.problems) {
    std::vector<std::string> row{row_label(prob), prob};
    for (const std::string& b : pv.backends) {
      std::vector<std::string> group(quantities.size());
      if (const CaseRecord* c = pv.find(prob, b)) group = cells(pv, prob, *c);
      row.insert(row.end(), group.begin(), group.end());
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::string percentile(const CaseRecord& c, double q) {
  return c.samples_ms.empty() ? "" : csv_number(early_stopping_percentile(c.samples_ms, q));
}

// One part of a file name built from what a results file holds (its scenario) or from the name
// of its folder: letters, digits and "._+-=," kept, anything else (a '/', "..", a control byte)
// '_', a leading '.' too, cut to a length every file system takes. So a context.scenario of
// "x/../../pwned" names a file inside the folder, never a path out of it.
std::string file_name_part(const std::string& text) {
  constexpr std::size_t kMaxPart = 80;
  std::string out;
  for (char ch : text.substr(0, kMaxPart)) {
    const bool keep = std::isalnum(static_cast<unsigned char>(ch)) || std::string_view("._+-=,").find(ch) != std::string_view::npos;
    out += keep && static_cast<unsigned char>(ch) < 0x80 ? ch : '_';
  }
  if (out.empty() || out[0] == '.') out.insert(out.begin(), '_');
  return out;
}

}  // namespace

std::string CsvTable::text() const {
  std::string out = csv_record(header);
  for (const auto& r : rows) out += csv_record(r);
  return out;
}

std::vector<CsvTable> pivot_csv_tables(const ResultsFile& file) {
  std::vector<CsvTable> tables;
  tables.push_back(pivot_table(file, "latency", {"status", "p90 (ms)", "p99 (ms)", "samples"},
                               [](const Pivot&, const std::string&, const CaseRecord& c) {
                                 const bool timed = c.measured() && !c.samples_ms.empty();
                                 return std::vector<std::string>{
                                     c.status, timed ? percentile(c, 0.90) : "", timed ? percentile(c, 0.99) : "",
                                     timed ? std::to_string(c.samples_ms.size()) : ""};
                               }));
  tables.push_back(pivot_table(
      file, "throughput", {"throughput (TFLOP/s)", "of GEMM peak (fraction)", "speed-up over naive (ratio)"},
      [](const Pivot& pv, const std::string& prob, const CaseRecord& c) {
        if (!c.measured()) return std::vector<std::string>(3);
        const double frac = c.counter("frac_of_gemm_peak", std::nan(""));
        return std::vector<std::string>{csv_number(c.counter("tflops", std::nan(""))), csv_number(frac),
                                        csv_number(speedup_over_naive(pv, prob, c))};
      }));
  if (file.context_text("scenario") == "offline") {
    tables.push_back(pivot_table(file, "offline", {"throughput (queries/s)", "batch (queries)"},
                                 [](const Pivot&, const std::string&, const CaseRecord& c) {
                                   if (!c.measured()) return std::vector<std::string>(2);
                                   return std::vector<std::string>{
                                       csv_number(c.counter("queries_per_s", std::nan(""))),
                                       csv_number(c.counter("queries_per_batch", 1))};
                                 }));
  }
  return tables;
}

std::vector<std::pair<std::string, std::string>> pivot_csv_files(const std::vector<ResultsFile>& files,
                                                                 const std::string& dir) {
  std::map<std::string, int> stem_count;
  for (const ResultsFile& f : files) ++stem_count[file_name_part(fs::path(f.path).stem().string())];
  // Every name is settled before anything is written: a collision leaves no half-written set.
  std::map<std::string, std::string> texts;
  std::vector<std::pair<std::string, std::string>> out;
  for (const ResultsFile& f : files) {
    std::string stem = file_name_part(fs::path(f.path).stem().string());
    if (stem_count[stem] > 1) {
      stem = file_name_part(fs::absolute(f.path).parent_path().filename().string()) + "-" + stem;
    }
    const std::string scenario = f.context_text("scenario").empty() ? "single-stream" : f.context_text("scenario");
    for (const CsvTable& t : pivot_csv_tables(f)) {
      const std::string name = stem + "-" + file_name_part(scenario) + "-" + t.name + ".csv";
      const std::string path = (fs::path(dir) / name).string();
      if (!texts.emplace(path, t.text()).second) {
        throw SpecError("report --csv: two results files would both write " + path + " (rename one of them)");
      }
      out.emplace_back(path, texts[path]);
    }
  }
  return out;
}

std::vector<std::string> write_pivot_csvs(const std::vector<ResultsFile>& files, const std::string& dir) {
  const auto planned = pivot_csv_files(files, dir);
  fs::create_directories(dir);
  std::vector<std::string> written;
  for (const auto& [path, text] : planned) {
    write_file_atomically(path, text);
    written.push_back(path);
  }
  return written;
}

}  // namespace sdpa
