// `sdpa-bench gate`: the CI regression gate's command line (the comparison is harness/gate.h).
//
//   sdpa-bench gate BASE CURRENT [--threshold 0.10] [--alpha 0.01] [--markdown] [--no-perf]
//   sdpa-bench gate --update CURRENT [--force] [--baselines DIR]   record CURRENT as this class's baseline
//   sdpa-bench gate --print-class CURRENT                          the machine class of a results file
//
// Exit codes: 0 the gate passes, 1 it fails, 2 bad input (an unreadable or foreign file, a bad
// option, a baseline that exists without --force).
#pragma once

#include <functional>
#include <ostream>
#include <string>

#include <CLI/CLI.hpp>

#include "harness/gate.h"

namespace sdpa {

// Adds the `gate` subcommand to `app`. When the command line selects it, parsing sets `action`
// to the command, which main runs in its error-handling block (SpecError: exit 2).
void add_gate_command(CLI::App& app, std::function<int()>& action);

// The per-case table (Markdown, or aligned text), the normalisation notes, the cases that fail
// the gate with the reason, and the verdict line last.
void print_gate(std::ostream& out, const GateResult& result, bool markdown);

// Copies `current` to <dir>/<machine class>.json through a temporary file and a rename, so a
// reader never sees half a baseline. Refuses (SpecError) a run that is empty or has a failing
// case, and without `force` an existing baseline or a run whose calibration drifted beyond the
// default threshold. Returns the path written.
std::string update_baseline(const std::string& current, const std::string& dir, bool force);

}  // namespace sdpa
