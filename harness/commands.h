// The sdpa-bench subcommands. Each returns the process exit code:
// 0 ok, 1 a case failed (or a regression), 2 bad input (a usage or spec error, a foreign file).
#pragma once

#include <string>
#include <vector>

#include "harness/run_plan.h"

namespace sdpa {

struct CheckOptions {
  std::string json_out;
  bool verbose = false;
  bool allow_unavailable = false;  // exit 0 even when no selected backend could run at all
};

// Every command resolves (validates) its plan first: bad input is exit 2 before anything runs.
int cmd_list(RunPlan plan);
// The stopping policies: name, summary and numbers (a table, or JSON for scripts/peers).
int cmd_list_policies(bool json);
// `check` uses the plan's selection, isolation and case timeout (600 s unless given).
int cmd_check(RunPlan plan, const CheckOptions& opts);
int cmd_run(RunPlan plan);
int cmd_dump(RunPlan plan, const std::string& dir);

}  // namespace sdpa
