// `sdpa-bench gate`: the CI regression gate's command line (the comparison is harness/gate.h).
//
//   sdpa-bench gate BASE CURRENT [--threshold 0.10] [--alpha 0.01] [--markdown] [--no-perf]
//                   [--confirm RETRY] [--print-regressions] [--require-perf]
//   sdpa-bench gate --update CURRENT [--force] [--baselines DIR]   record CURRENT as this class's baseline
//   sdpa-bench gate --print-class CURRENT                          the machine class of a results file
//
// Exit codes: 0 the gate passes (or is UNRESOLVED: no case's speed could be judged, which the
// verdict line says), 1 it fails (or is UNRESOLVED under --require-perf), 2 bad input (an
// unreadable, foreign or damaged file, a bad option, a baseline that exists without --force, a
// run no speed can be judged against given to --update).
#pragma once

#include <functional>

#include <ostream>
#include <string>
#include <vector>

#include "harness/gate.h"

namespace CLI {
class App;
}

namespace sdpa {

struct GateCommand {
  std::vector<std::string> files;  // BASELINE CURRENT, or CURRENT alone with --update / --print-class
  GateOptions options;
  bool markdown = false;
  bool no_perf = false;      // statuses and case coverage only
  bool update = false;       // record files[0] as the baseline of its machine class
  bool force = false;        // with update: replace a baseline, or record a noisy run
  bool print_class = false;  // print the machine class of files[0]
  std::string confirm;       // results of the SLOWER cases measured again (confirm_regressions)
  // Print only the SLOWER cases, one "BACKEND PROBLEM" line each, for a re-run to confirm.
  bool print_regressions = false;
  bool require_perf = false;  // UNRESOLVED (no speed judged) exits 1, not 0
  std::string baselines = "results/baselines";
};

// Runs the command and returns its exit code; errors are printed on stderr ("error: ...").
int cmd_gate(const GateCommand& command);

// Registers the `gate` subcommand; main.cpp calls the returned function when `gate` was given
// (it throws SpecError for bad input; exit_code_of() maps that to the exit code).
std::function<int()> add_gate_command(CLI::App& app);

// The per-case table (Markdown, or aligned text), the normalisation notes, the cases that fail
// the gate with the reason, and the verdict line last.
void print_gate(std::ostream& out, const GateResult& result, bool markdown);

// Copies `current` to <dir>/<machine class>.json through a temporary file and a rename, so a
// reader never sees half a baseline. Refuses (SpecError) a run that is empty, has a failing case
// or has no case whose speed the gate could judge (all skipped, no or too few samples), and
// without `force` an existing baseline or a run whose calibrations (any GEMM, the bandwidth)
// drifted beyond the default threshold. Returns the path written.
std::string update_baseline(const std::string& current, const std::string& dir, bool force);

}  // namespace sdpa
