#include "harness/commands.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <iostream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "backends/registry.h"
#include "harness/cases.h"
#include "harness/machine_info.h"
#include "core/memory.h"
#include "harness/npy.h"
#include "harness/report.h"
#include "harness/results.h"
#include "harness/suite.h"

namespace sdpa {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The fp64 oracle is as slow as the naive kernel; above these budgets it checks a sample of
// rows (every row of a sampled (b, h) stride), which still catches any systematic error.
constexpr double kCheckReferenceFlops = 2e10;
constexpr double kRunReferenceFlops = 2e9;

struct Selected {
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<std::string> missing;  // asked for but not built: "name: reason"
};

Selected select_backends(const Selection& sel) {
  const Registry& reg = registry();
  BackendOptions opts;
  opts.threads = sel.threads;
  opts.vulkan_device = sel.vulkan_device;
  Selected out;
  std::vector<std::string> names = sel.backends;
  if (names.empty()) names = reg.names();
  std::set<std::string> seen;
  for (const std::string& name : names) {
    if (!seen.insert(name).second) continue;
    if (const BackendEntry* e = reg.find(name)) {
      out.backends.push_back(e->make(opts));
      continue;
    }
    auto missing = std::find_if(reg.missing().begin(), reg.missing().end(),
                                [&](const MissingBackend& m) { return name.rfind(m.name, 0) == 0; });
    if (missing != reg.missing().end()) {
      out.missing.push_back(name + ": not built: " + missing->reason);
      continue;
    }
    std::string known;
    known = join(reg.names(), ", ");
    throw SpecError("--backend " + name + ": unknown backend (built: " + known + ")");
  }
  return out;
}

std::vector<Problem> select_problems(const Selection& sel) {
  std::vector<Problem> problems;
  if (!sel.suite.empty()) {
    for (const SuiteCase& c : load_suite(sel.suite)) problems.push_back(c.problem);
  }
  for (const std::string& line : sel.problems) problems.push_back(parse_problem(line));
  return problems;
}

void apply_threads(const Selection& sel) {
  if (sel.threads > 0) omp_set_num_threads(sel.threads);
}

// Refuses problems whose inputs, output and fp64 reference would not fit in memory.
void check_fits(const Problem& p) {
  const double bytes = static_cast<double>(p.q_elems() + p.k_elems() + p.v_elems()) * (4 + 2) +
                       static_cast<double>(p.o_elems()) * (8 + 8 + 8 + 4);
  const double avail = static_cast<double>(available_memory_bytes());
  if (bytes > 0.8 * avail) {
    throw SpecError("problem " + p.to_string() + ": inputs, outputs and reference need about " +
                    format_bytes(bytes) + ", more than 80% of the " + format_bytes(avail) + " available");
  }
}

std::string status_line(const CaseResult& r) {
  std::ostringstream line;
  line << std::left << std::setw(6) << to_string(r.status) << std::setw(22) << r.backend << " " << r.problem.to_string()
       << "  ";
  if (r.status == CaseStatus::skip || r.status == CaseStatus::error) {
    line << to_string(r.status) << ": " << r.reason;
    return line.str();
  }
  line << r.accuracy.summary();
  if (r.reference_rows_checked < r.reference_rows_total) {
    line << " (rows sampled: " << r.reference_rows_checked << "/" << r.reference_rows_total << ")";
  }
  return line.str();
}

json case_json(const CaseResult& r) {
  json j;
  j["backend"] = r.backend;
  j["problem"] = r.problem.to_string();
  j["status"] = std::string(to_string(r.status));
  j["reason"] = r.reason;
  j["repro"] = r.repro();
  if (r.status == CaseStatus::pass || r.status == CaseStatus::fail) {
    j["max_abs_err"] = r.accuracy.max_abs_err;
    j["max_rel_err"] = r.accuracy.max_rel_err;
    j["nmse"] = r.accuracy.nmse;
    j["worst_of_bound"] = r.accuracy.worst_ratio;
    j["failed_elems"] = r.accuracy.failed_elems;
    j["checked_elems"] = r.accuracy.checked_elems;
    j["tol_abs"] = r.accuracy.tol.abs;
    j["tol_rel"] = r.accuracy.tol.rel;
  }
  return j;
}

std::string machine_name() {
  if (const char* env = std::getenv("SDPA_MACHINE")) return env;
  std::map<std::string, std::string> ctx = host_context(1);
  std::string name;
  for (char c : ctx["cpu_model"] + "-" + ctx["cpu_cores_online"] + "c") {
    name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '-';
  }
  return name;
}

}  // namespace

int cmd_list(const Selection& sel) {
  apply_threads(sel);
  const Registry& reg = registry();
  BackendOptions opts;
  opts.threads = sel.threads;
  opts.vulkan_device = sel.vulkan_device;
  std::cout << "backends built into this binary:\n";
  for (const BackendEntry& e : reg.entries()) {
    auto b = e.make(opts);
    Support avail = b->available();
    std::cout << "  " << e.name << (avail ? "" : "  [unavailable: " + avail.reason + "]") << "\n"
              << "      " << (avail ? b->describe() : std::string("-")) << "\n"
              << "      device: " << b->device_class() << "\n";
  }
  if (!reg.missing().empty()) {
    std::cout << "not built:\n";
    for (const MissingBackend& m : reg.missing()) std::cout << "  " << m.name << ": " << m.reason << "\n";
  }
  std::cout << "threads: " << omp_threads() << "\n";
  return 0;
}

int cmd_check(const Selection& sel, const std::string& json_out, bool verbose) {
  apply_threads(sel);
  Selected selected = select_backends(sel);
  const std::vector<Problem> problems = select_problems(sel);
  for (const Problem& p : problems) check_fits(p);
  int passed = 0, failed = 0, skipped = 0;
  json cases = json::array();
  for (const std::string& m : selected.missing) {
    std::cout << "skip  " << m << "\n";
    ++skipped;
  }
  for (const Problem& p : problems) {
    const ProblemData data = make_problem_data(p, kCheckReferenceFlops);
    for (auto& backend : selected.backends) {
      const CaseResult r = run_case(*backend, data);
      std::cout << status_line(r) << "\n";
      if (r.status == CaseStatus::fail || r.status == CaseStatus::error) {
        std::cout << "      repro: " << r.repro() << "\n";
      }
      if (verbose && r.status == CaseStatus::pass) {
        for (const BadElement& e : r.accuracy.worst) {
          std::printf("      worst [b=%lld,h=%lld,s=%lld,c=%lld] got %.9g want %.9g bound %.2e\n",
                      static_cast<long long>(e.b), static_cast<long long>(e.h), static_cast<long long>(e.s),
                      static_cast<long long>(e.c), e.got, e.want, e.bound);
        }
      }
      std::cout.flush();
      switch (r.status) {
        case CaseStatus::pass: ++passed; break;
        case CaseStatus::skip: ++skipped; break;
        default: ++failed; break;
      }
      cases.push_back(case_json(r));
    }
  }
  if (!json_out.empty()) {
    json doc{{"context", host_context(omp_threads())}, {"cases", cases}};
    write_file_atomically(json_out, doc.dump(1));
  }
  std::cout << passed << " passed, " << failed << " failed, " << skipped << " skipped\n";
  return failed > 0 ? 1 : 0;
}

int cmd_run(const Selection& sel, const RunOptions& opts) {
  apply_threads(sel);
  Selected selected = select_backends(sel);
  const std::vector<Problem> problems = select_problems(sel);
  for (const Problem& p : problems) check_fits(p);
  StoppingPolicy policy = stopping_policy(opts.policy);
  if (opts.min_samples > 0) policy.min_samples = opts.min_samples;
  policy.cold = opts.cold;

  std::string out = opts.out;
  if (out.empty()) {
    char date[32];
    std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
    out = "results/" + machine_name() + "/" + date + ".json";
  }
  ResultsWriter writer(out, !opts.fresh);
  if (writer.resumed() > 0) {
    std::cerr << "resuming " << out << ": " << writer.resumed() << " case(s) already done (--fresh to start over)\n";
  }

  json context = host_context(omp_threads());
  context["executable"] = "sdpa-bench";
  context["num_cpus"] = omp_threads();
  context["library_build_type"] = context["build_type"];
  context["flops_rule"] =
      "flops = 2*(d+dv) per unmasked (query, key) pair, summed over batch and heads (= 4*b*hq*sq*skv*d for "
      "d=dv and no mask); masked pairs are not counted";
  context["accuracy_rule"] = "|o-r| <= tol_abs(dtype)*sum_k p_k|v_k| + tol_rel(dtype)*|r| against an fp64 reference";
  context["stopping_policy"] = policy.name + (policy.cold ? " (cold caches)" : " (hot caches)");
  context["timing"] = "real_time: device clock where the backend has one, else wall; cpu_time: wall clock";

  // Calibration GEMMs: the best GEMM of each device class, measured now, in this process.
  std::map<std::string, Calibration> peak;
  if (!opts.no_calibration) {
    for (auto& b : selected.backends) {
      if (!b->available()) continue;
      std::cerr << "calibrating " << b->name() << " ...\n";
      for (const Calibration& c : b->calibrate()) {
        if (c.dtype != DType::f32 && c.device_class == "cpu") continue;
        auto it = peak.find(c.device_class);
        if (it == peak.end() || c.tflops > it->second.tflops) peak[c.device_class] = c;
      }
    }
  }
  for (const auto& [cls, c] : peak) {
    context["calibration_" + cls + "_tflops"] = c.tflops;
    context["calibration_" + cls + "_gemm"] = c.what;
    std::cerr << "calibration " << cls << ": " << c.what << " = " << c.tflops << " TFLOP/s\n";
  }
  for (auto& b : selected.backends) {
    const Support avail = b->available();
    context["backend_" + b->name()] = avail ? b->describe() : "unavailable: " + avail.reason;
    if (avail) {
      for (const auto& [k, v] : b->context()) context[b->name() + "_" + k] = v;
    }
  }

  const std::size_t total = problems.size() * selected.backends.size();
  std::size_t index = 0;
  int failed = 0;
  for (const Problem& p : problems) {
    std::vector<Backend*> todo;
    for (auto& b : selected.backends) {
      if (!writer.done(case_name(b->name(), p))) todo.push_back(b.get());
      else ++index;
    }
    if (todo.empty()) continue;
    const ProblemData data = make_problem_data(p, kRunReferenceFlops);
    for (Backend* b : todo) {
      ++index;
      std::cerr << "[" << index << "/" << total << "] " << b->name() << " " << p.to_string() << " ... ";
      const CaseResult r = run_case(*b, data, &policy);
      auto it = peak.find(b->device_class());
      writer.append(case_entries(r, it == peak.end() ? 0.0 : it->second.tflops));
      if (r.status == CaseStatus::fail || r.status == CaseStatus::error) ++failed;
      if (r.measurement) {
        const Summary s = summarize(r.measurement->primary());
        std::fprintf(stderr, "%s p50 %.4g ms, %.3g TFLOP/s, %zu samples\n", std::string(to_string(r.status)).c_str(),
                     s.p50, p.flops() / (s.p50 * 1e-3) / 1e12, r.measurement->primary().size());
      } else {
        std::cerr << to_string(r.status) << ": " << r.reason << "\n";
      }
      if (r.status == CaseStatus::fail) std::cerr << "    " << r.accuracy.summary() << "\n    repro: " << r.repro() << "\n";
    }
  }
  writer.finish(context);
  std::cerr << "wrote " << out << "\n";
  const std::vector<CaseRow> rows = case_rows(read_results(out));
  std::cout << "\n### Latency: " << out << "\n\n";
  print_latency_table(std::cout, rows);
  std::cout << "\n### O(n^2) scaling\n\n";
  print_scaling_table(std::cout, rows);
  return failed > 0 ? 1 : 0;
}

int cmd_dump(const Selection& sel, const std::string& dir) {
  apply_threads(sel);
  if (sel.backends.size() != 1) throw SpecError("dump: give exactly one --backend");
  const std::vector<Problem> problems = select_problems(sel);
  if (problems.size() != 1) throw SpecError("dump: give exactly one --problem");
  Selected selected = select_backends(sel);
  if (selected.backends.empty()) throw SpecError("dump: " + selected.missing.front());
  const Problem& p = problems.front();
  check_fits(p);
  Backend& b = *selected.backends.front();
  const ProblemData data = make_problem_data(p, 0);
  if (Support s = b.available(); !s) throw SpecError("dump: backend " + b.name() + " unavailable: " + s.reason);
  if (Support s = b.supports(p); !s) throw SpecError("dump: backend " + b.name() + " skips this problem: " + s.reason);
  b.prepare(p, data.inputs);
  b.run();
  b.sync();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw SpecError("dump: cannot create " + dir + ": " + ec.message());
  write_npy(dir + "/q.npy", data.inputs.q.values, {p.b, p.hq, p.sq, p.d});
  write_npy(dir + "/k.npy", data.inputs.k.values, {p.b, p.hkv, p.skv, p.d});
  write_npy(dir + "/v.npy", data.inputs.v.values, {p.b, p.hkv, p.skv, p.dv});
  write_npy(dir + "/out.npy", b.output(), {p.b, p.hq, p.sq, p.dv});
  write_npy(dir + "/ref.npy", data.reference.out, {p.b, p.hq, p.sq, p.dv});
  std::ofstream(dir + "/problem.txt") << p.to_string() << "\n";
  std::cout << "wrote " << dir << "/{q,k,v,out,ref}.npy and problem.txt (scale " << p.scale() << ")\n";
  return 0;
}

int cmd_report(const std::vector<std::string>& files) {
  for (const std::string& f : files) {
    const json results = read_results(f);
    const std::vector<CaseRow> rows = case_rows(results);
    std::cout << "## " << f << "\n\n";
    if (results.contains("context")) {
      const json& c = results["context"];
      for (const char* key : {"cpu_model", "threads_used", "date", "git_commit"}) {
        if (c.contains(key)) std::cout << "- " << key << ": " << c[key].dump() << "\n";
      }
      for (const auto& [k, v] : c.items()) {
        if (k.rfind("calibration_", 0) == 0) std::cout << "- " << k << ": " << v.dump() << "\n";
      }
      std::cout << "\n";
    }
    std::cout << "### Latency (ms; p90/p99 only where the sample count supports the claim)\n\n";
    print_latency_table(std::cout, rows);
    std::cout << "\n### O(n^2) scaling: log-log slope of median time and scratch bytes against n\n\n";
    print_scaling_table(std::cout, rows);
    std::cout << "\n";
  }
  return 0;
}

int cmd_compare(const std::string& base, const std::string& current, double max_slowdown) {
  const auto base_rows = case_rows(read_results(base));
  const auto cur_rows = case_rows(read_results(current));
  return print_comparison(std::cout, base_rows, cur_rows, max_slowdown) > 0 ? 1 : 0;
}

}  // namespace sdpa
