#include "harness/report_gbench.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "harness/machine_class.h"

namespace sdpa {

namespace {

using nlohmann::json;

// The threads a case ran on: the backend's own count where the run recorded one (oneDNN's pool,
// blocked_cpu's OpenMP team), else the run's.
int64_t threads_of(const ResultsFile& f, const CaseRecord& c) {
  for (const std::string& key : {c.backend + "_threads", std::string("threads_used")}) {
    const std::string text = f.context_text(key);
    if (text.empty()) continue;
    try {
      return std::stoll(text);
    } catch (const std::exception&) {
    }
  }
  const int64_t n = static_cast<int64_t>(f.context_number("num_cpus", 1));
  return n > 0 ? n : 1;
}

}  // namespace

json gbench_export(const ResultsFile& f, const std::set<std::string>* only) {
  json context = {{"date", f.context_text("date")}, {"host_name", f.context_text("host_name")},
                  {"executable", "sdpa-bench report --gbench " + f.path},
                  {"num_cpus", static_cast<int64_t>(f.context_number("num_cpus", 0))},
                  {"library_build_type", f.context_text("build_type").empty() ? "release" : f.context_text("build_type")},
                  {"sdpa_bench_results", f.path}};
  try {
    context["machine_class"] = hardware_class(f.context);
  } catch (const std::exception&) {
  }
  json benchmarks = json::array();
  int64_t family = 0;
  for (const CaseRecord& c : f.cases) {
    if (!c.measured() || c.samples_ms.empty() || (only && !only->count(c.name()))) continue;
    const int64_t n = static_cast<int64_t>(c.samples_ms.size());
    const int64_t threads = threads_of(f, c);
    auto entry = [&](double real_ms, double cpu_ms) {
      return json{{"name", c.name()},          {"family_index", family},  {"per_family_instance_index", 0},
                  {"run_name", c.name()},      {"run_type", "iteration"}, {"repetitions", n},
                  {"threads", threads},        {"iterations", 1},         {"real_time", real_ms * 1e6},
                  {"cpu_time", cpu_ms * 1e6},  {"time_unit", "ns"}};
    };
    for (int64_t i = 0; i < n; ++i) {
      const double cpu = i < static_cast<int64_t>(c.samples_cpu_ms.size()) ? c.samples_cpu_ms[i] : c.samples_ms[i];
      json e = entry(c.samples_ms[i], cpu);
      e["repetition_index"] = i;
      benchmarks.push_back(e);
    }
    auto aggregate = [&](const std::string& name, double real_ms, double cpu_ms) {
      json e = entry(real_ms, cpu_ms);
      e["name"] = c.name() + "_" + name;
      e["run_type"] = "aggregate";
      e["aggregate_name"] = name;
      e["aggregate_unit"] = "time";
      benchmarks.push_back(e);
    };
    const double mean = std::accumulate(c.samples_ms.begin(), c.samples_ms.end(), 0.0) / static_cast<double>(n);
    const double cpu_mean = c.samples_cpu_ms.empty() ? mean
                            : std::accumulate(c.samples_cpu_ms.begin(), c.samples_cpu_ms.end(), 0.0) /
                                  static_cast<double>(c.samples_cpu_ms.size());
    aggregate("mean", mean, cpu_mean);
    std::vector<double> cpu = c.samples_cpu_ms.empty() ? c.samples_ms : c.samples_cpu_ms;
    std::sort(cpu.begin(), cpu.end());
    const std::size_t mid = cpu.size() / 2;
    aggregate("median", c.p50_ms(), cpu.size() % 2 ? cpu[mid] : (cpu[mid - 1] + cpu[mid]) / 2);
    ++family;
  }
  return {{"context", context}, {"benchmarks", benchmarks}};
}

}  // namespace sdpa
