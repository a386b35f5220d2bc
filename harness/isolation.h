// `--isolate`: each case runs in a child process (this executable again, with one backend and
// one problem) under a wall-clock limit, so a backend that crashes or hangs costs one case
// (`crashed: SIGSEGV`, `timeout after N s`, with its repro line) and the matrix goes on.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/cases.h"

namespace sdpa {

struct IsolationOptions {
  double case_timeout_s = 600;
  bool measure = false;                 // the child runs `run` (measured) rather than `check`
  std::vector<std::string> child_args;  // passed on to every child: --threads, --policy, ...
};

// The case as the child reported it, or an `error` case saying how the child ended.
CaseResult run_case_isolated(const std::string& backend, const Problem& problem, const IsolationOptions& options);

// A case read back from its entry in a results file or `check --json` (the layout of
// add_case_fields); the inverse of case_entries for what the reporters use.
CaseResult case_result_from_entry(const nlohmann::json& entry, const Problem& problem);

}  // namespace sdpa
