#include "harness/stopping.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace sdpa {

StoppingPolicy stopping_policy(const std::string& name) {
  StoppingPolicy p;
  p.name = name;
  if (name == "default") return p;
  if (name == "quick") {
    p.warmup = 1;
    p.min_samples = 8;
    p.min_time_s = 0;
    p.max_time_s = 2;
    p.case_budget_s = 10;
    p.target_rel_stderr = 0.02;
    return p;
  }
  if (name == "gate") {
    // quick's budget with 16 samples: enough for the rank test to reach p < 0.01 with room to
    // spare (8 vs 8 can only just), over at least 0.2 s, so that a short case spans more than
    // one scheduler hiccup.
    p = stopping_policy("quick");
    p.name = name;
    p.warmup = 2;
    p.min_samples = 16;
    p.min_time_s = 0.2;
    return p;
  }
  if (name == "p99") {
    p.min_samples = 662;
    p.max_samples = 5000;
    p.max_time_s = 60;
    p.case_budget_s = 600;
    return p;
  }
  throw std::invalid_argument("stopping policy '" + name + "': must be default, quick, gate or p99");
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
