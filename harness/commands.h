// The sdpa-bench subcommands. Each returns the process exit code:
// 0 ok, 1 a check failed / a regression, 2 bad input (a usage or spec error).
#pragma once

#include <string>
#include <vector>

namespace sdpa {

struct Selection {
  std::vector<std::string> backends;  // empty: every built backend
  std::vector<std::string> problems;  // spec lines
  std::string suite;                  // or a suite name / file
  int threads = 0;
  std::string vulkan_device;
};

struct RunOptions {
  std::string out;  // results file; empty: results/<machine>/<date>.json
  std::string policy = "default";
  int min_samples = 0;  // 0: the policy's
  bool cold = false;
  bool fresh = false;  // ignore a journal left by a killed run
  bool no_calibration = false;
};

int cmd_list(const Selection& sel);
int cmd_check(const Selection& sel, const std::string& json_out, bool verbose);
int cmd_run(const Selection& sel, const RunOptions& opts);
int cmd_dump(const Selection& sel, const std::string& dir);
int cmd_report(const std::vector<std::string>& files);
int cmd_compare(const std::string& base, const std::string& current, double max_slowdown);

}  // namespace sdpa
