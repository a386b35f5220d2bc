// blocked_cpu_dispatch_table: how close the default blocked_cpu (measured dispatch) comes to
// its fastest pinned variant, problem by problem, on the machine it runs on.
//   blocked_cpu_dispatch_table [--rounds N] [--threads N] [--clock wall|cpu] [--variants amx,avx512bf16,avx512,avx2] SUITE...
// For each problem every backend is prepared once (the default's trial happens there and is
// reported), then timed in N interleaved rounds: each round runs every backend in turn, a
// backend's time in a round is its best of enough runs to fill ~30 ms, and its time overall is
// its best round (on a shared machine noise only adds). Prints a markdown table with the ratio
// default / fastest pinned. --clock cpu (with --threads 1) times the runs by this thread's CPU
// time, which leaves out the time other processes held the core. Variants this CPU does not run (or SDPA_BLOCKED_CPU_DISABLE names)
// are left out.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <time.h>

#include "backends/registry.h"
#include "harness/inputs.h"
#include "harness/suite.h"

namespace {

clockid_t g_clock = CLOCK_MONOTONIC;

double now() {
  timespec ts{};
  clock_gettime(g_clock, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double run_seconds(sdpa::Backend& b) {
  const double t0 = now();
  b.run();
  return now() - t0;
}

int usage(const char* why) {
  std::fprintf(stderr, "blocked_cpu_dispatch_table: %s\nusage: blocked_cpu_dispatch_table [--rounds N] [--threads N] [--clock wall|cpu] "
                       "[--variants amx,avx512bf16,avx512,avx2,portable] SUITE...\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  int threads = 0;
  std::vector<std::string> variants = {"amx", "avx512bf16", "avx512", "avx2"};
  std::vector<std::string> suites;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
      if (rounds < 1) return usage("--rounds must be a positive integer");
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
      if (threads < 1) return usage("--threads must be a positive integer");
    } else if (a == "--clock" && i + 1 < argc) {
      const std::string c = argv[++i];
      if (c != "wall" && c != "cpu") return usage("--clock must be wall or cpu");
      g_clock = c == "cpu" ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
    } else if (a == "--variants" && i + 1 < argc) {
      variants.clear();
      std::stringstream list(argv[++i]);
      for (std::string v; std::getline(list, v, ',');) variants.push_back(v);
    } else if (!a.empty() && a[0] == '-') {
      return usage(("unknown option " + a).c_str());
    } else {
      suites.push_back(a);
    }
  }
  if (suites.empty()) return usage("name at least one suite");
  if (g_clock == CLOCK_THREAD_CPUTIME_ID && threads != 1) return usage("--clock cpu needs --threads 1");

  const sdpa::Registry& reg = sdpa::registry();
  auto make = [&](const std::string& name) -> std::unique_ptr<sdpa::Backend> {
    for (const sdpa::BackendEntry& e : reg.entries()) {
      if (e.name == name) return e.make(sdpa::BackendOptions{threads, {}});
    }
    return nullptr;
  };
  std::printf("| suite | problem | default's plan | trial (ms) | default (ms) | fastest pinned | its time (ms) | default / fastest |\n");
  std::printf("|---|---|---|---:|---:|---|---:|---:|\n");
  double worst = 0.0;
  try {
    for (const std::string& suite : suites) {
      for (const sdpa::SuiteCase& sc : sdpa::load_suite(suite)) {
        const sdpa::Problem& p = sc.problem;
        const sdpa::Inputs inputs = sdpa::generate_inputs(p);
        std::vector<std::unique_ptr<sdpa::Backend>> backends;
        backends.push_back(make("blocked_cpu"));
        for (const std::string& v : variants) {
          auto b = make("blocked_cpu_" + v);
          if (b && b->available().ok) backends.push_back(std::move(b));
        }
        for (auto& b : backends) b->prepare(p, inputs);
        const auto notes = backends[0]->case_notes();
        // Runs per round: enough to fill ~30 ms, from one warm-up run of each.
        std::vector<int> reps;
        for (auto& b : backends) reps.push_back(std::clamp(static_cast<int>(0.03 / run_seconds(*b)), 1, 50));
        std::vector<double> best(backends.size(), std::numeric_limits<double>::infinity());
        for (int r = 0; r < rounds; ++r) {
          for (std::size_t k = 0; k < backends.size(); ++k) {
            const std::size_t i = (k + static_cast<std::size_t>(r)) % backends.size();  // rotate the order
            for (int n = 0; n < reps[i]; ++n) best[i] = std::min(best[i], run_seconds(*backends[i]));
          }
        }
        std::size_t fastest = 1;
        for (std::size_t i = 1; i < backends.size(); ++i) {
          if (best[i] < best[fastest]) fastest = i;
        }
        const double ratio = best[0] / best[fastest];
        worst = std::max(worst, ratio);
        std::string plan = notes.at("isa") + " " + notes.at("path") + ", splits " + notes.at("key_splits") + " (" +
                           notes.at("plan") + ")";
        const auto trial = notes.find("trial_ms");
        std::printf("| %s | %s | %s | %s | %.3f | %s | %.3f | %.3f |\n", suite.c_str(), p.to_string().c_str(),
                    plan.c_str(), trial == notes.end() ? "-" : trial->second.c_str(), best[0] * 1e3,
                    backends[fastest]->name().c_str(), best[fastest] * 1e3, ratio);
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "blocked_cpu_dispatch_table: %s\n", e.what());
    return 2;
  }
  std::printf("\nworst default / fastest pinned: %.3f\n", worst);
  return 0;
}
