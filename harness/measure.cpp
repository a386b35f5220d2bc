#include "harness/measure.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace sdpa {

namespace {

// Twice the last-level cache (at least 64 MiB), so writing it evicts a kernel's working set; a
// 2-core slice of a server part can still see a 300 MiB L3.
std::size_t flush_bytes() {
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  const std::size_t largest = static_cast<std::size_t>(std::max({l3, l2, 0L}));
  return std::max<std::size_t>(2 * largest, std::size_t{64} << 20);
}

void flush_host_caches() {
  static std::vector<char> junk(flush_bytes());
  static char salt = 0;
  ++salt;
  for (std::size_t i = 0; i < junk.size(); i += 64) junk[i] = salt;
}

}  // namespace

Measurement measure_single_stream(Backend& backend, const StoppingPolicy& policy) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < policy.warmup; ++i) {
    backend.run();
    backend.sync();
  }
  Measurement m;
  StoppingRule rule(policy);
  const auto start = clock::now();
  while (true) {
    if (policy.cold) {
      flush_host_caches();
      backend.flush_device_caches();
    }
    const auto t0 = clock::now();
    backend.run();
    backend.sync();
    const auto t1 = clock::now();
    m.wall_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    if (auto dev = backend.last_device_ms()) m.device_ms.push_back(*dev);

    rule.add_sample(m.primary().back(), std::chrono::duration<double>(clock::now() - start).count());
    if (!rule.done()) continue;
    m.stopped_because = rule.reason();
    return m;
  }
}

Measurement measure_server(Backend& backend, const StoppingPolicy& policy, double qps) {
  using clock = std::chrono::steady_clock;
  if (!(qps > 0) || !std::isfinite(qps)) throw std::invalid_argument("server scenario: the rate must be positive");
  for (int i = 0; i < policy.warmup; ++i) {
    backend.run();
    backend.sync();
  }
  Measurement m;
  m.scenario = "server";
  m.offered_qps = qps;
  std::mt19937_64 rng(policy.arrival_seed);
  std::exponential_distribution<double> gap(qps);
  StoppingRule rule(policy);
  const auto start = clock::now();
  // The next arrival in seconds after `start`, not counting the flushes (the arrival clock
  // stands still while they run). Kept in seconds: a gap of 1e15 s must not overflow a clock.
  double arrival_s = 0;
  clock::duration flushing{0};
  while (!rule.done()) {
    arrival_s += gap(rng);
    // Never wait past the rule's time limits: an arrival after them would stop the case anyway.
    rule.check_time(arrival_s);
    if (rule.done()) break;
    if (arrival_s > policy.case_budget_s) {
      throw std::runtime_error("server scenario at " + std::to_string(qps) + " queries/s: " +
                               std::to_string(m.wall_ms.size()) + " queries arrived within the case budget of " +
                               std::to_string(policy.case_budget_s) + " s, fewer than the 3 a case needs");
    }
    if (policy.cold) {
      // Every query meets cold caches, as in single-stream, and the flush is no part of any
      // latency: the arrival clock stops while it runs (this and every later arrival move by
      // its time), so a query's queueing behind the previous one is kept but not the flush.
      const auto flush_start = clock::now();
      flush_host_caches();
      backend.flush_device_caches();
      flushing += clock::now() - flush_start;
    }
    const auto arrival =
        start + flushing + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(arrival_s));
    // The server is idle until the query arrives; a query that arrives while the previous one
    // runs waits (its latency includes the queueing).
    std::this_thread::sleep_until(arrival);
    backend.run();
    backend.sync();
    const auto done = clock::now();
    m.wall_ms.push_back(std::chrono::duration<double, std::milli>(done - arrival).count());
    rule.add_sample(m.wall_ms.back(), std::chrono::duration<double>(done - start - flushing).count());
  }
  m.stopped_because = rule.reason();
  const double elapsed = std::chrono::duration<double>(clock::now() - start - flushing).count();
  m.achieved_qps = elapsed > 0 ? static_cast<double>(m.wall_ms.size()) / elapsed : 0;
  return m;
}

namespace {

// The highest Poisson rate whose p99 latency stays under the bound: bisection between a rate
// the server surely sustains and its service rate, each trial a short server run.
Measurement search_server_rate(Backend& backend, const StoppingPolicy& policy) {
  StoppingPolicy probe = stopping_policy("quick");
  probe.warmup = 0;
  probe.cold = policy.cold;  // the service time the rates are scaled by is the one trials meet
  const Measurement service = measure_single_stream(backend, probe);
  const double service_ms = summarize(service.wall_ms).p50;
  const double bound = policy.server_p99_bound_ms;
  if (service_ms >= bound) {
    Measurement m = measure_server(backend, policy, 0.5 * 1e3 / service_ms);
    m.stopped_because += "; no rate meets p99 <= " + std::to_string(bound) + " ms (one query alone takes " +
                         std::to_string(service_ms) + " ms)";
    return m;
  }
  double lo = 0.05 * 1e3 / service_ms, hi = 1e3 / service_ms;
  StoppingPolicy trial = policy;
  trial.warmup = 0;
  trial.min_samples = 200;
  trial.max_time_s = std::min(policy.max_time_s, 5.0);
  trial.target_rel_stderr = 0;  // a trial runs its time or its sample count
  for (int step = 0; step < 7; ++step) {
    const double mid = 0.5 * (lo + hi);
    const Measurement t = measure_server(backend, trial, mid);
    (percentile(t.wall_ms, 99) <= bound ? lo : hi) = mid;
  }
  Measurement m = measure_server(backend, policy, lo);
  m.stopped_because += "; highest rate found with p99 <= " + std::to_string(bound) + " ms";
  return m;
}

}  // namespace

Measurement measure(Backend& backend, const StoppingPolicy& policy) {
  if (policy.server_p99_bound_ms > 0) return search_server_rate(backend, policy);
  if (policy.server_qps > 0) return measure_server(backend, policy, policy.server_qps);
  return measure_single_stream(backend, policy);
}

}  // namespace sdpa
