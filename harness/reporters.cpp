#include "harness/reporters.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "harness/npy.h"
#include "harness/results_file.h"

namespace sdpa {

using nlohmann::json;

int CaseCounts::total() const {
  int n = 0;
  for (const auto& [s, c] : by_status) n += c;
  return n;
}

std::string CaseCounts::summary() const {
  std::string line = std::to_string((*this)[CaseStatus::pass]) + " passed, " +
                     std::to_string((*this)[CaseStatus::fail] + (*this)[CaseStatus::error]) + " failed, " +
                     std::to_string((*this)[CaseStatus::skip]) + " skipped";
  if (int e = (*this)[CaseStatus::error]) line += " (" + std::to_string(e) + " of the failures: backend errors)";
  if (int i = (*this)[CaseStatus::invalid]) line += ", " + std::to_string(i) + " invalid (reference not finite)";
  return line;
}

namespace {

std::string status_line(const CaseResult& r) {
  std::ostringstream line;
  line << std::left << std::setw(8) << to_string(r.status) << std::setw(22) << r.backend << " "
       << r.problem.to_string() << "  ";
  if (r.status == CaseStatus::skip || r.status == CaseStatus::error) {
    line << r.reason;
    return line.str();
  }
  line << r.accuracy.summary();
  if (r.reference_rows_checked < r.reference_rows_total) {
    line << " (rows sampled: " << r.reference_rows_checked << "/" << r.reference_rows_total << ")";
  }
  return line.str();
}

std::string format_duration(double s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  } else {
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  }
  return buf;
}

}  // namespace

void CheckConsoleReporter::case_finished(const CaseResult& r, const ProblemData&) {
  counts_.add(r.status);
  out_ << status_line(r) << "\n";
  if (r.status == CaseStatus::fail || r.status == CaseStatus::error) out_ << "        repro: " << r.repro() << "\n";
  if (verbose_ && (r.status == CaseStatus::pass || r.status == CaseStatus::fail)) {
    for (const BadElement& e : r.accuracy.worst) {
      char buf[256];
      std::snprintf(buf, sizeof buf, "        worst [b=%lld,h=%lld,s=%lld,c=%lld] got %.9g want %.9g bound %.2e\n",
                    static_cast<long long>(e.b), static_cast<long long>(e.h), static_cast<long long>(e.s),
                    static_cast<long long>(e.c), e.got, e.want, e.bound);
      out_ << buf;
    }
  }
  out_.flush();
}

void CheckJsonReporter::case_finished(const CaseResult& r, const ProblemData&) {
  json c;
  c["name"] = case_name(r.backend, r.problem);
  c["backend"] = r.backend;
  c["problem"] = r.problem.to_string();
  c["status"] = std::string(to_string(r.status));
  c["reason"] = r.reason;
  add_case_fields(c, r);
  cases_.push_back(std::move(c));
}

void CheckJsonReporter::write(const json& context) const {
  const json doc{{"format", "sdpa-bench-check"},
                 {"format_version", kResultsFormatVersion},
                 {"context", context},
                 {"cases", cases_}};
  write_file_atomically(path_, doc.dump(1));
}

void ProgressReporter::case_started(const Backend& b, const Problem& p, std::size_t index, std::size_t total) {
  err_ << "[" << index << "/" << total << "] " << b.name() << " " << p.to_string() << " ... ";
  err_.flush();
}

void ProgressReporter::case_finished(const CaseResult& r, const ProblemData& data) {
  counts_.add(r.status);
  char buf[160];
  if (r.measurement) {
    const Summary s = summarize(r.measurement->primary());
    std::snprintf(buf, sizeof buf, "%s p50 %.4g ms, %.3g TFLOP/s, %zu samples", std::string(to_string(r.status)).c_str(),
                  s.p50, r.problem.flops() / (s.p50 * 1e-3) / 1e12, r.measurement->primary().size());
    err_ << buf;
  } else {
    err_ << to_string(r.status) << ": " << r.reason;
  }
  done_flops_ += data.problem.flops();
  if (terminal_ && done_flops_ > 0 && total_flops_ > done_flops_) {
    // By FLOPs rather than by cases: the cases of a suite differ in cost by 1000x.
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    err_ << "  (ETA " << format_duration(elapsed * (total_flops_ - done_flops_) / done_flops_) << ")";
  }
  err_ << "\n";
  if (r.status == CaseStatus::fail) err_ << "    " << r.accuracy.summary() << "\n    repro: " << r.repro() << "\n";
  if (r.status == CaseStatus::error) err_ << "    repro: " << r.repro() << "\n";
}

void ResultsReporter::case_finished(const CaseResult& r, const ProblemData&) {
  Roofs roofs;
  for (const auto& b : selected_.backends) {
    if (b->name() != r.backend) continue;
    if (const Calibration* c = peaks_.best(b->device_class(), r.problem.dtype)) roofs.gemm_tflops = c->tflops;
    if (auto it = peaks_.bandwidth_gbs.find(b->device_class()); it != peaks_.bandwidth_gbs.end()) {
      roofs.bandwidth_gbs = it->second;
    }
  }
  writer_.append(case_entries(r, roofs));
}

void DumpReporter::case_finished(const CaseResult& r, const ProblemData& data) {
  if (r.output.empty()) {
    failure_ = std::string(to_string(r.status)) + ": " + r.reason;
    return;
  }
  const Problem& p = data.problem;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw SpecError("dump: cannot create " + dir_ + ": " + ec.message());
  write_npy(dir_ + "/q.npy", data.inputs.q.values, {p.b, p.hq, p.sq, p.d});
  write_npy(dir_ + "/k.npy", data.inputs.k.values, {p.b, p.hkv, p.skv, p.d});
  write_npy(dir_ + "/v.npy", data.inputs.v.values, {p.b, p.hkv, p.skv, p.dv});
  write_npy(dir_ + "/out.npy", r.output, {p.b, p.hq, p.sq, p.dv});
  write_npy(dir_ + "/ref.npy", data.reference.out, {p.b, p.hq, p.sq, p.dv});
  std::ofstream(dir_ + "/problem.txt") << p.to_string() << "\n";
  wrote_ = true;
}

}  // namespace sdpa
