#include "harness/results.h"

#include "harness/results_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sdpa {

namespace fs = std::filesystem;
using nlohmann::json;

std::string case_name(const std::string& backend, const Problem& problem) {
  return backend + "/" + problem.to_string();
}

std::string journal_name(const json& entry) {
  // An offline case runs (and is named after) the batch it chose, which a resumed run cannot
  // know before it batches again; the selection names the query, so the journal matches by that.
  const std::string query = entry.value("note_offline_query", "");
  if (!query.empty() && entry.contains("backend") && entry["backend"].is_string()) {
    return entry["backend"].get<std::string>() + "/" + query;
  }
  return entry.value("run_name", "");
}

namespace {

json base_entry(const CaseResult& r) {
  json e;
  e["name"] = case_name(r.backend, r.problem);
  e["run_name"] = e["name"];
  e["backend"] = r.backend;
  e["problem"] = r.problem.to_string();
  e["status"] = std::string(to_string(r.status));
  e["threads"] = 1;
  e["iterations"] = 1;
  e["time_unit"] = "ms";
  return e;
}

// A JSON number must be finite; NaN/inf (e.g. an empty summary) become null.
json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

}  // namespace

void add_case_fields(json& e, const CaseResult& r) {
  e["repro"] = r.repro();
  if (r.status == CaseStatus::pass || r.status == CaseStatus::fail || r.status == CaseStatus::invalid) {
    e["scratch_bytes"] = r.scratch_bytes;
    e["max_abs_err"] = num(r.accuracy.max_abs_err);
    e["max_rel_err"] = num(r.accuracy.max_rel_err);
    e["nmse"] = num(r.accuracy.nmse);
    e["worst_of_bound"] = num(r.accuracy.worst_ratio);
    e["failed_elems"] = r.accuracy.failed_elems;
    e["checked_elems"] = r.accuracy.checked_elems;
    e["tol_abs"] = r.accuracy.tol.abs;
    e["tol_rel"] = r.accuracy.tol.rel;
    e["tol_logit"] = r.accuracy.tol.logit;
    e["pass"] = r.status == CaseStatus::pass ? 1 : 0;
    e["rows_checked"] = r.reference_rows_checked;
    e["rows_total"] = r.reference_rows_total;
    e["logit_mean"] = num(r.saturation.logit_mean);
    e["logit_std"] = num(r.saturation.logit_std);
    e["max_prob_mean"] = num(r.saturation.max_prob_mean);
    e["rows_max_prob_over_95"] = num(r.saturation.rows_max_prob_over_95);
    e["logit_abs_max"] = num(r.saturation.logit_abs_max);
    e["entropy_mean"] = num(r.saturation.entropy_mean);
    e["logits_over_f16_max"] = r.saturation.logits_over_f16_max;
    e["logit_std_unscaled"] = num(r.saturation_unscaled.logit_std);
    e["max_prob_mean_unscaled"] = num(r.saturation_unscaled.max_prob_mean);
    e["rows_max_prob_over_95_unscaled"] = num(r.saturation_unscaled.rows_max_prob_over_95);
  }
  for (const auto& [k, v] : r.notes) e["note_" + k] = v;
}

namespace {

void add_counters(json& e, const CaseResult& r, double time_ms, const Roofs& roofs) {
  const double flops = r.problem.flops();
  e["flops"] = flops;
  const double tflops = time_ms > 0 ? flops / (time_ms * 1e-3) / 1e12 : 0;
  e["tflops"] = num(tflops);
  if (roofs.gemm_tflops > 0) e["frac_of_gemm_peak"] = num(tflops / roofs.gemm_tflops);
  // Bytes of Q, K, V and O in storage precision: what a fused kernel must move at least once.
  const double intensity = flops / r.problem.io_bytes();
  e["arithmetic_intensity"] = num(intensity);
  e["bytes_moved_min"] = r.problem.io_bytes();
  if (time_ms > 0) e["gbs_min"] = num(r.problem.io_bytes() / (time_ms * 1e-3) / 1e9);
  if (const double roof = roofs.roofline_tflops(intensity); roof > 0) e["frac_of_roofline"] = num(tflops / roof);
}

// Six significant digits: far below any timer's resolution relative to a sample, and it keeps
// a committed file of 70,000 samples near a megabyte.
json compact_samples(const std::vector<double>& samples) {
  json out = json::array();
  for (double v : samples) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    out.push_back(std::isfinite(v) ? json(std::strtod(buf, nullptr)) : json(nullptr));
  }
  return out;
}

}  // namespace

double Roofs::roofline_tflops(double flops_per_byte) const {
  const double memory = bandwidth_gbs > 0 ? flops_per_byte * bandwidth_gbs / 1e3 : 0;
  if (gemm_tflops > 0 && memory > 0) return std::min(gemm_tflops, memory);
  // With one roof only, the roofline is that roof where it binds: the memory roof alone is
  // still the bound of a decode step, the GEMM alone the bound of a large prefill.
  return gemm_tflops > 0 ? gemm_tflops : memory;
}

json case_entries(const CaseResult& r, const Roofs& roofs) {
  json out = json::array();
  if (!r.measurement) {
    // Skipped, failed to run, or checked but not timed: one entry that says so (Google
    // Benchmark's error form, which its compare.py leaves out).
    json e = base_entry(r);
    e["run_type"] = "iteration";
    e["repetitions"] = 0;
    e["repetition_index"] = 0;
    e["real_time"] = 0;
    e["cpu_time"] = 0;
    e["error_occurred"] = true;
    e["error_message"] = std::string(to_string(r.status)) + ": " + (r.reason.empty() ? "not measured" : r.reason);
    add_case_fields(e, r);
    out.push_back(e);
    return out;
  }
  const Measurement& m = *r.measurement;
  const std::vector<double>& primary = m.primary();
  const auto n = static_cast<int64_t>(primary.size());
  const Summary dev = summarize(primary), wall = m.wall();
  const std::pair<const char*, double Summary::*> aggregates[] = {
      {"mean", &Summary::mean}, {"median", &Summary::p50}, {"stddev", &Summary::stddev}, {"min", &Summary::min},
      {"max", &Summary::max},   {"p90", &Summary::p90},    {"p99", &Summary::p99}};
  for (const auto& [agg, field] : aggregates) {
    json e = base_entry(r);
    e["name"] = e["run_name"].get<std::string>() + "_" + agg;
    e["run_type"] = "aggregate";
    e["aggregate_name"] = agg;
    e["aggregate_unit"] = "time";
    e["repetitions"] = n;
    e["real_time"] = num(dev.*field);
    e["cpu_time"] = num(wall.*field);
    if (std::string(agg) != "stddev") add_counters(e, r, dev.*field, roofs);
    e["device_clock"] = !m.device_ms.empty();
    e["stopped_because"] = m.stopped_because;
    e["scenario"] = m.scenario;
    if (m.scenario == "offline" && dev.*field > 0) {
      e["queries_per_batch"] = m.queries_per_batch;
      e["queries_per_s"] = num(static_cast<double>(m.queries_per_batch) / (dev.*field * 1e-3));
    }
    if (m.scenario == "server") {
      e["offered_qps"] = num(m.offered_qps);
      e["achieved_qps"] = num(m.achieved_qps);
    }
    add_case_fields(e, r);
    if (std::string(agg) == "median") {
      // Every sample, compactly: the gate's rank test and the percentiles are computed from them.
      e["samples_real_time"] = compact_samples(primary);
      e["samples_cpu_time"] = compact_samples(m.wall_ms);
    }
    out.push_back(e);
  }
  return out;
}

namespace {

// Writes all of `text` to `fd`; false with errno set on a short write (a full disk, a file size
// limit).
bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = ENOSPC;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

[[noreturn]] void write_failed(const std::string& path, int err) {
  throw SpecError("cannot write " + path + ": " + std::strerror(err));
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& text) {
  if (path.empty()) throw SpecError("an empty output path");
  const fs::path target(path);
  std::error_code ec;
  if (fs::is_directory(target, ec)) throw SpecError(path + " is a directory: give a file name");
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec) throw SpecError("cannot create the folder " + target.parent_path().string() + ": " + ec.message());
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) write_failed(path, errno);
  if (!write_all(fd, text) || ::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());  // no leftover: the reason is in the message
    write_failed(path, err);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    write_failed(path, err);
  }
}

ResultsWriter::ResultsWriter(std::string path, bool resume, const std::set<std::string>& selected)
    : path_(std::move(path)), journal_(path_ + ".partial.jsonl") {
  remove_stale_temporaries();
  if (!resume) {
    fs::remove(journal_);
    return;
  }
  std::ifstream in(journal_);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    json entries = json::parse(lines[i], nullptr, false);
    if (entries.is_object() && entries.contains("context") && !resumed_context_) {
      resumed_context_ = entries["context"];
      continue;
    }
    const bool valid = !entries.is_discarded() && entries.is_array() && !entries.empty() &&
                       entries[0].is_object() && entries[0].contains("run_name") && entries[0]["run_name"].is_string();
    if (!valid) {
      // The last line may be cut off by a kill: that case simply runs again. A bad line
      // before it means the journal was damaged some other way.
      if (i + 1 == lines.size()) continue;
      throw SpecError(journal_ + ": line " + std::to_string(i + 1) +
                      " is not a journalled case; start over with --fresh");
    }
    const std::string name = journal_name(entries[0]);
    if (!selected.count(name)) {
      ignored_.push_back(name);
      continue;
    }
    if (!done_.insert(name).second) continue;  // journalled twice (a kill between write and exit)
    entries_.push_back(std::move(entries));
  }
}

void ResultsWriter::remove_stale_temporaries() const {
  // write_file_atomically() leaves <path>.tmp.<pid> behind only when killed mid-write.
  const fs::path target(path_);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) fs::remove(entry.path(), ec);
  }
}

void ResultsWriter::start(const json& context) {
  if (resumed_context_) return;
  append_line(json{{"context", context}});
}

void ResultsWriter::append_line(const json& line) {
  std::error_code ec;
  if (fs::path(journal_).has_parent_path()) fs::create_directories(fs::path(journal_).parent_path(), ec);
  const int fd = ::open(journal_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) write_failed(journal_, errno);
  const std::string text = line.dump() + "\n";
  if (!write_all(fd, text)) {
    const int err = errno;
    ::close(fd);
    write_failed(journal_, err);  // a cut-off last line is dropped on resume
  }
  ::close(fd);
}

void ResultsWriter::append(const json& entries) {
  append_line(entries);
  entries_.push_back(entries);
  if (!entries.empty()) done_.insert(journal_name(entries[0]));
}

void ResultsWriter::finish(const json& context) {
  json doc;
  doc["format"] = kResultsFormat;
  doc["format_version"] = kResultsFormatVersion;
  doc["context"] = context;
  doc["benchmarks"] = json::array();
  for (const json& entries : entries_) {
    for (const json& e : entries) doc["benchmarks"].push_back(e);
  }
  write_file_atomically(path_, doc.dump(1));
  fs::remove(journal_);
}

}  // namespace sdpa
