// The sdpa-bench subcommands. Each returns the process exit code:
// 0 ok, 1 a case failed (or a regression), 2 bad input (a usage or spec error, a foreign file).
#pragma once

#include <string>
#include <vector>

#include "harness/selection.h"

namespace sdpa {

struct RunOptions {
  std::string out;  // results file; empty: results/<machine>/<suite>-<date>.json
  std::string policy = "default";
  int min_samples = 0;  // 0: the policy's
  double max_time_s = 0;  // 0: the policy's
  bool cold = false;
  bool fresh = false;  // ignore a journal left by a killed run
  bool force = false;  // overwrite a finished results file
  bool no_calibration = false;
  bool isolate = false;
  double case_timeout_s = 0;  // 0: from the policy
  std::string scenario = "single-stream";  // MLPerf's: single-stream, server, offline
  double server_qps = 0;
  double server_p99_ms = 0;
};

struct CheckOptions {
  std::string json_out;
  bool verbose = false;
  bool allow_unavailable = false;  // exit 0 even when no selected backend could run at all
  bool isolate = false;
  double case_timeout_s = 0;  // 0: 600 s
};

int cmd_list(const Selection& sel);
int cmd_check(const Selection& sel, const CheckOptions& opts);
int cmd_run(const Selection& sel, const RunOptions& opts);
int cmd_dump(const Selection& sel, const std::string& dir);
// The tables of each file (and a comparison of several); with `csv_dir`, also the pivots as CSV
// files there (report_csv.h).
int cmd_report(const std::vector<std::string>& files, const std::string& csv_dir = "");

}  // namespace sdpa
