// `sdpa-bench report --json`: every table of the text report, and the comparison, as data. The
// HTML page (scripts/report) renders these and computes none of them.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "harness/report.h"
#include "harness/results_file.h"

namespace sdpa {

inline constexpr const char* kReportFormat = "sdpa-bench-report";
inline constexpr int kReportFormatVersion = 1;

// {"id", "title", "note", "header": [...], "rows": [[{"text", "kind", "title"}, ...], ...]}
nlohmann::json table_json(const Table& table);

// {"format", "format_version", "files": [{"path", "machine", "format_version", "context_lines":
// [{"key", "value", "warning"}], "tables": [...]}], "comparison": null | {"letters", "machines",
// "paths", "noise", "tables", "other_context", "problems": [{"problem", "label", "dtype", "decode",
// "scenario", "best": [{"ran", "backend", "p50_ms", "p90_ms", "why_not"}], "speedup", "by",
// "normalised", "normalised_why"}]}}; a number that is not finite is null.
nlohmann::json report_json(const std::vector<ResultsFile>& files);

}  // namespace sdpa
