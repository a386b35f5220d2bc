// `sdpa-bench ab`: the paired speed gate. Two binaries (BASE and CURRENT) run as workers
// (harness/worker.h) for the whole run; each case is prepared and checked in both, then timed in
// alternating short rounds (ABBA order, each side's round ~round_ms of back-to-back calls, so a
// slow phase of a shared machine meets both sides of a pair), and judged on its paired round
// ratios (harness/paired_stats.h), adding rounds until the verdict resolves or the case's time
// cap; each block runs in a fresh pair of worker processes. A SLOWER verdict must be confirmed
// by two more batches later in the run (each pointing the same way, and all blocks pooled still
// SLOWER). Optionally the same cases are counted under callgrind (harness/callgrind.h).
//
//   sdpa-bench ab --base BIN --current BIN [--suite gate | --problem P]... [--backend B]...
//                 [--threshold 0.05] [--instructions] [--out F.json] [--markdown]
//
// Exit codes: 0 pass, 1 a confirmed regression (SLOWER, or an instruction count grown beyond
// its threshold where timing did not call the case FASTER), a failing case, or a case the base
// ran and the current binary no longer does; 2 bad input.
#pragma once

#include <functional>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "harness/paired_stats.h"
#include "harness/selection.h"

namespace CLI {
class App;
}

namespace sdpa {

struct AbOptions {
  std::string base_bin, current_bin;
  std::vector<std::string> base_env, current_env;  // "K=V" for one side only (a pinned path, a fault)
  Selection selection;                             // backends, suite or problems, filters, threads
  double threshold = 0.05;                         // SLOWER: the whole interval above 1 + threshold
  double level = 0.95;
  // What a call's time is: "cpu", the worker process's CPU time (all threads; blind to the
  // periods other jobs held the cores, so it suits a shared runner), or "wall" (a quiet machine;
  // it also sees lost parallelism, which CPU time does not).
  std::string clock = "cpu";
  double round_ms = 40;      // each side's round
  int pairs_per_block = 2;   // ABBA round pairs between two fresh preparations of a case
  int min_rounds = 10;       // blocks before the first verdict
  int max_rounds = 200;      // blocks at most
  double max_case_s = 6;     // adaptive rounds stop here
  // Each block in a fresh pair of worker processes (see time_case in ab_gate.cpp): a process's
  // own speed luck becomes noise the interval covers instead of a bias of the whole case.
  bool fresh_workers = true;
  // A SLOWER case is timed again in this many fresh batches (min_rounds blocks each) after every
  // other case; it stays SLOWER only when each batch's estimate lies above 1 and the interval
  // over all its blocks pooled lies above 1 + threshold (confirm_slower in paired_stats.h).
  int confirm_batches = 2;
  double budget_s = 0;       // the timing tier's whole budget (0: none); shortens the cases' caps
  bool timing = true;
  bool instructions = false;
  double count_threshold = 0.02;
  std::string valgrind = "valgrind";
  std::vector<std::string> count_backends;  // empty: the timing tier's backends
  std::string work_dir = "build/gate-ab/work";
  std::string out;  // JSON
  bool markdown = false;
};

struct SideStatus {
  std::string status;  // pass, fail, skip, error, absent (the side could not be asked)
  std::string detail;  // the reason, or for pass: the backend's description (its code path)
  double est_ms = 0;
};

struct AbCase {
  std::string backend, problem;
  SideStatus base, current;
  // Timing tier.
  bool timed = false;
  std::vector<double> log_ratios;  // one per block
  RatioInterval interval;
  PairedVerdict verdict = PairedVerdict::unresolved;
  double base_ms = 0, current_ms = 0;  // medians of the round statistics
  double seconds = 0;
  // A SLOWER case is timed again in fresh batches after every other case (confirm_batches): it
  // stays SLOWER only when each says SLOWER too (else UNRESOLVED); the batches are noted here.
  std::string confirmation;
  // Instruction tier.
  bool counted = false;
  uint64_t base_ir = 0, current_ir = 0;
  std::string count_note;  // why not counted, or the path the worker took under valgrind
  bool count_grew(double threshold) const {
    return counted && static_cast<double>(current_ir) > (1 + threshold) * static_cast<double>(base_ir);
  }
};

struct AbResult {
  std::vector<AbCase> cases;
  std::string timing_not_run;        // why the timing tier judged nothing (empty: it ran)
  std::string instructions_not_run;  // likewise
  double threshold = 0, count_threshold = 0, level = 0;
  std::string clock;
  bool fresh_workers = false;
  double timing_seconds = 0, count_seconds = 0;
  // Exit code by the rules in the header comment, and the reasons.
  int exit_code() const;
  std::vector<std::string> failures() const;
};

AbResult run_ab(const AbOptions& options, std::ostream& progress);
void print_ab(std::ostream& out, const AbResult& result, bool markdown);
void write_ab_json(const std::string& path, const AbResult& result);

// Registers `ab`; it runs from its own callback and exits with the gate's code.
std::function<int()> add_ab_command(CLI::App& app);

}  // namespace sdpa
