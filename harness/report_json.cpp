#include "harness/report_json.h"

#include <cmath>

#include "core/problem.h"
#include "harness/machine_class.h"
#include "harness/report_compare.h"

namespace sdpa {

namespace {

using nlohmann::json;

json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json numbers(const std::vector<double>& v) {
  json out = json::array();
  for (double x : v) out.push_back(number(x));
  return out;
}

json comparison_json(const Comparison& c) {
  json out = {{"letters", c.letters}, {"machines", c.machines}, {"paths", c.paths}, {"noise", c.noise},
              {"other_context", c.other_context}, {"tables", json::array()}, {"problems", json::array()}};
  for (const Table& t : c.tables) out["tables"].push_back(table_json(t));
  for (const ProblemComparison& pc : c.problems) {
    json best = json::array();
    for (const MachineBest& mb : pc.best) {
      best.push_back({{"ran", mb.ran}, {"backend", mb.backend}, {"p50_ms", mb.ran ? number(mb.p50_ms) : json(nullptr)},
                      {"p90_ms", mb.ran ? number(mb.p90_ms) : json(nullptr)}, {"why_not", mb.why_not}});
    }
    out["problems"].push_back({{"problem", pc.problem}, {"label", pc.label}, {"dtype", pc.dtype}, {"decode", pc.decode},
                               {"scenario", pc.scenario}, {"best", best}, {"speedup", numbers(pc.speedup)},
                               {"by", pc.by}, {"normalised", numbers(pc.normalised)},
                               {"normalised_why", pc.normalised_why}});
  }
  return out;
}

}  // namespace

json table_json(const Table& t) {
  json rows = json::array();
  for (const auto& r : t.rows) {
    json row = json::array();
    for (const Cell& c : r) row.push_back({{"text", c.text}, {"kind", c.kind}, {"title", c.title}});
    rows.push_back(row);
  }
  return {{"id", t.id}, {"title", t.title}, {"note", t.note}, {"header", t.header}, {"rows", rows}};
}

json report_json(const std::vector<ResultsFile>& files) {
  json out = {{"format", kReportFormat}, {"format_version", kReportFormatVersion}, {"files", json::array()},
              {"comparison", nullptr}};
  for (const ResultsFile& f : files) {
    json lines = json::array();
    for (const auto& [key, value, warning] : context_lines(f)) {
      lines.push_back({{"key", key}, {"value", value}, {"warning", warning}});
    }
    json tables = json::array();
    for (const Table& t : file_tables(f)) tables.push_back(table_json(t));
    std::string machine;
    try {
      machine = hardware_class(f.context);
    } catch (const SpecError&) {
      machine = "";  // a peer's file without cpu_model: the page names it by path
    }
    out["files"].push_back({{"path", f.path}, {"machine", machine}, {"format_version", f.format_version},
                            {"context_lines", lines}, {"tables", tables}});
  }
  if (files.size() > 1) out["comparison"] = comparison_json(compare_machines(files));
  return out;
}

}  // namespace sdpa
