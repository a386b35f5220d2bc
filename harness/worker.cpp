#include "harness/worker.h"

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define SDPA_HAVE_CALLGRIND 1
#else
#define SDPA_HAVE_CALLGRIND 0
#endif

#include "harness/ab_gate.h"
#include "harness/cases.h"
#include "harness/inputs.h"
#include "harness/paired_stats.h"
#include "harness/selection.h"

namespace sdpa {

namespace {

// The fp64 oracle's row budget, as `run` uses it.
constexpr double kWorkerReferenceFlops = 5e8;

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  return text;
}

// The one place that turns a (backend, spec) request into a prepared, checked, warm backend:
// the coupling with the harness's case APIs, kept small so it can follow them.
struct PreparedCase {
  std::unique_ptr<Backend> backend;
  std::optional<ProblemData> data;  // inputs (and the reference) stay alive while prepared
  Inputs inputs;
};

std::string prepare_case(PreparedCase& pc, const std::string& backend_name, const std::string& spec, bool check,
                         int threads) {
  Selection sel;
  sel.backends = {backend_name};
  sel.threads = threads;
  SelectedBackends selected = select_backends(sel);  // throws SpecError for an unknown name
  if (selected.backends.empty()) {
    return "skip " + one_line(selected.missing.empty() ? "not built" : selected.missing.front());
  }
  pc.backend = std::move(selected.backends.front());
  const Problem problem = parse_problem(spec);
  if (Support s = pc.backend->available(); !s) return "skip " + one_line(s.reason);
  if (Support s = pc.backend->supports(problem); !s) return "skip " + one_line(s.reason);
  const Inputs* inputs = nullptr;
  if (check) {
    pc.data = make_problem_data(problem, kWorkerReferenceFlops);
    inputs = &pc.data->inputs;
  } else {
    pc.inputs = generate_inputs(problem);
    inputs = &pc.inputs;
  }
  try {
    pc.backend->prepare(problem, *inputs);
    pc.backend->run();
    pc.backend->sync();
    if (check) {
      const AccuracyReport acc = check_accuracy(problem, pc.backend->output(), pc.data->reference);
      if (acc.reference_invalid) return "skip reference not finite";
      if (!acc.pass()) return "fail " + one_line(acc.summary());
    }
    using clock = std::chrono::steady_clock;
    std::vector<double> warm;
    const auto start = clock::now();
    while (warm.size() < 3 || std::chrono::duration<double>(clock::now() - start).count() < 0.03) {
      const auto t0 = clock::now();
      pc.backend->run();
      pc.backend->sync();
      warm.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
      if (!check) break;  // under valgrind one warm-up call is enough (and a slow one)
    }
    std::string notes;
    for (const auto& [k, v] : pc.backend->case_notes()) notes += (notes.empty() ? "" : ",") + k + "=" + v;
    char est[32];
    std::snprintf(est, sizeof est, "%.6g", round_statistic(warm));
    return std::string("ok pass ") + est + " " + one_line(pc.backend->describe() + (notes.empty() ? "" : "; " + notes));
  } catch (const Unsupported& e) {
    pc.backend->release();
    pc.backend.reset();
    return "skip " + one_line(e.what());
  }
}

// Process CPU time (every thread of the worker): the time the call's work held a core, blind
// to the periods the scheduler gave the cores to other jobs of a shared machine.
double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return 1e3 * static_cast<double>(ts.tv_sec) + 1e-6 * static_cast<double>(ts.tv_nsec);
}

std::string time_calls(Backend& backend, long n) {
  using clock = std::chrono::steady_clock;
  std::string wall = "ok", cpu = " |";
  char buf[32];
  for (long i = 0; i < n; ++i) {
    const double c0 = process_cpu_ms();
    const auto t0 = clock::now();
    backend.run();
    backend.sync();
    const auto t1 = clock::now();
    const double c1 = process_cpu_ms();
    const auto dev = backend.last_device_ms();
    std::snprintf(buf, sizeof buf, " %.6g", dev ? *dev : std::chrono::duration<double, std::milli>(t1 - t0).count());
    wall += buf;
    std::snprintf(buf, sizeof buf, " %.6g", c1 - c0);
    cpu += buf;
  }
  return wall + cpu;
}

std::string count_calls(Backend& backend, long n) {
#if SDPA_HAVE_CALLGRIND
  if (!RUNNING_ON_VALGRIND) return "error count: not running under valgrind --tool=callgrind";
  for (long i = 0; i < n; ++i) {
    CALLGRIND_TOGGLE_COLLECT;
    backend.run();
    backend.sync();
    CALLGRIND_TOGGLE_COLLECT;
  }
  CALLGRIND_DUMP_STATS_AT("sdpa-case");
  return "ok";
#else
  (void)backend;
  (void)n;
  return "error count: built without <valgrind/callgrind.h> (Debian package valgrind)";
#endif
}

std::string handle(const std::string& line, PreparedCase& pc, int threads, bool& quit) {
  std::istringstream words(line);
  std::string verb;
  words >> verb;
  if (verb == "hello") return "ok sdpa-bench-worker " + std::to_string(kWorkerProtocol);
  if (verb == "quit") {
    quit = true;
    return "ok";
  }
  if (verb == "release") {
    if (pc.backend) pc.backend->release();
    pc = PreparedCase{};
    return "ok";
  }
  if (verb == "prepare") {
    std::string backend, spec, mode;
    words >> backend >> spec >> mode;
    if (spec.empty() || (mode != "check" && mode != "nocheck")) return "error usage: prepare BACKEND SPEC check|nocheck";
    if (pc.backend) pc.backend->release();
    pc = PreparedCase{};
    return prepare_case(pc, backend, spec, mode == "check", threads);
  }
  if (verb == "time" || verb == "count") {
    long n = 0;
    if (!(words >> n) || n < 1 || n > 1000000) return "error usage: " + verb + " N (1..1000000)";
    if (!pc.backend) return "error no prepared case";
    return verb == "time" ? time_calls(*pc.backend, n) : count_calls(*pc.backend, n);
  }
  return "error unknown request '" + one_line(verb) + "'";
}

}  // namespace

int serve_worker(std::istream& in, std::ostream& out, int threads) {
  PreparedCase pc;
  std::string line;
  bool quit = false;
  while (!quit && std::getline(in, line)) {
    std::string answer;
    try {
      answer = handle(line, pc, threads, quit);
    } catch (const std::invalid_argument& e) {  // a bad spec or backend name: the request's fault
      answer = "error " + one_line(e.what());
    } catch (const std::exception& e) {  // a backend failed: the case is an error, the worker lives on
      if (pc.backend) pc.backend->release();
      pc = PreparedCase{};
      answer = "error " + one_line(e.what());
    }
    out << answer << '\n' << std::flush;
  }
  if (pc.backend) pc.backend->release();
  return 0;
}

WorkerCommands add_worker_commands(CLI::App& app) {
  auto threads = std::make_shared<int>(0);
  auto* cmd = app.add_subcommand("worker", "Serve cases on stdin for `ab` (one request per line; see harness/worker.h)");
  cmd->add_option("--threads,-t", *threads, "CPU threads (default: all cores)")->check(CLI::NonNegativeNumber);
  auto worker = [threads]() -> int {
    Selection sel;
    sel.threads = *threads;
    apply_threads(sel);
    // The protocol owns stdout: whatever a library prints goes to stderr instead.
    const int proto = dup(STDOUT_FILENO);
    dup2(STDERR_FILENO, STDOUT_FILENO);
    FILE* proto_file = fdopen(proto, "w");
    if (!proto_file) return 1;
    struct FileBuf : std::streambuf {
      FILE* f;
      explicit FileBuf(FILE* file) : f(file) {}
      int overflow(int c) override { return c == EOF ? 0 : std::fputc(c, f); }
      int sync() override { return std::fflush(f); }
    } buf(proto_file);
    std::ostream out(&buf);
    return serve_worker(std::cin, out, *threads);
  };
  return {worker, add_ab_command(app)};
}

}  // namespace sdpa
