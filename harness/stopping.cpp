#include "harness/stopping.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace sdpa {

namespace {

StoppingPolicy with_name(StoppingPolicy p, const char* name) {
  p.name = name;
  return p;
}

StoppingPolicy quick() {
  StoppingPolicy p = with_name({}, "quick");
  p.warmup = 1;
  p.min_samples = 8;
  p.min_time_s = 0;
  p.max_time_s = 2;
  p.case_budget_s = 10;
  p.target_rel_stderr = 0.02;
  return p;
}

// quick's budget with 16 samples: enough for the rank test to reach p < 0.01 with room to spare
// (8 vs 8 can only just), over at least 0.2 s, so that a short case spans more than one
// scheduler hiccup.
StoppingPolicy gate() {
  StoppingPolicy p = with_name(quick(), "gate");
  p.warmup = 2;
  p.min_samples = 16;
  p.min_time_s = 0.2;
  return p;
}

StoppingPolicy p99() {
  StoppingPolicy p = with_name({}, "p99");
  p.min_samples = 662;
  p.max_samples = 5000;
  p.max_time_s = 60;
  p.case_budget_s = 600;
  return p;
}

}  // namespace

const std::vector<NamedPolicy>& stopping_policies() {
  static const std::vector<NamedPolicy> all{
      {"64+ samples over 0.25-10 s, until the mean is known to 0.5% (a p90 claim)", with_name({}, "default")},
      {"8+ samples, at most 2 s a case: tests and smoke runs, no percentile claims", quick()},
      {"16+ samples over at least 0.2 s: the regression gate's", gate()},
      {"662+ samples, up to 60 s a case: MLPerf's minimum for a p99 claim", p99()},
  };
  return all;
}

std::vector<std::string> stopping_policy_names() {
  std::vector<std::string> names;
  for (const NamedPolicy& p : stopping_policies()) names.push_back(p.policy.name);
  return names;
}

std::string stopping_policy_help() {
  std::string text;
  for (const NamedPolicy& p : stopping_policies()) {
    text += (text.empty() ? "" : "; ") + p.policy.name + ": " + p.summary;
  }
  return text;
}

StoppingPolicy stopping_policy(const std::string& name) {
  for (const NamedPolicy& p : stopping_policies()) {
    if (p.policy.name == name) return p.policy;
  }
  std::string known;
  for (const std::string& n : stopping_policy_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("stopping policy '" + name + "': must be one of " + known);
}

double StoppingRule::rel_stderr() const {
  if (count_ < 2 || mean_ <= 0) return std::numeric_limits<double>::infinity();
  const double stddev = std::sqrt(m2_ / static_cast<double>(count_ - 1));
  return stddev / std::sqrt(static_cast<double>(count_)) / mean_;
}

void StoppingRule::add_sample(double value, double elapsed_s) {
  if (done()) return;
  ++count_;
  const double delta = value - mean_;
  mean_ += delta / static_cast<double>(count_);
  m2_ += delta * (value - mean_);
  decide(elapsed_s);
}

void StoppingRule::check_time(double elapsed_s) {
  if (!done() && count_ > 0) decide(elapsed_s);
}

void StoppingRule::decide(double elapsed_s) {
  char why[96] = "";
  if (count_ >= policy_.max_samples) {
    std::snprintf(why, sizeof why, "max_samples %d", policy_.max_samples);
  } else if (count_ < policy_.min_samples) {
    if (count_ >= 3 && elapsed_s >= policy_.case_budget_s) {
      std::snprintf(why, sizeof why, "case budget %.3g s, %lld of %d samples", policy_.case_budget_s,
                    static_cast<long long>(count_), policy_.min_samples);
    }
  } else if (elapsed_s >= policy_.max_time_s) {
    std::snprintf(why, sizeof why, "max_time %.3g s", policy_.max_time_s);
  } else if (elapsed_s >= policy_.min_time_s) {
    if (const double rse = rel_stderr(); rse <= policy_.target_rel_stderr) {
      std::snprintf(why, sizeof why, "rel_stderr %.2g%% <= %.2g%%", 100 * rse, 100 * policy_.target_rel_stderr);
    }
  }
  reason_ = why;
}

}  // namespace sdpa
