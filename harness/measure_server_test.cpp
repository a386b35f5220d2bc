// The server scenario with --cold: every query meets flushed caches, and the flush is no part
// of any latency (single-stream times it out as well).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "harness/measure.h"

namespace sdpa {
namespace {

// A query of 1 ms; a device cache flush of 30 ms, far longer than the query, so a latency that
// contained it could not be missed.
class SlowFlushBackend : public Backend {
 public:
  std::string name() const override { return "slow_flush"; }
  std::string describe() const override { return "test: 1 ms queries, 30 ms cache flushes"; }
  Support supports(const Problem&) const override { return Support::yes(); }
  void prepare(const Problem&, const Inputs&) override {}
  void run() override { std::this_thread::sleep_for(std::chrono::milliseconds(1)); }
  std::vector<double> output() override { return {}; }
  uint64_t scratch_bytes() const override { return 0; }
  void release() override {}
  void flush_device_caches() override {
    ++flushes;
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  int flushes = 0;
};

TEST(ServerScenario, ColdFlushesBeforeEveryQueryAndKeepsTheFlushOutOfTheLatency) {
  SlowFlushBackend backend;
  StoppingPolicy policy = stopping_policy("quick");
  policy.cold = true;
  policy.warmup = 0;
  policy.max_time_s = 1;
  const Measurement m = measure_server(backend, policy, 5.0);  // a query every 200 ms on average
  ASSERT_GE(m.wall_ms.size(), 8u);
  EXPECT_EQ(backend.flushes, static_cast<int>(m.wall_ms.size()));
  // The server keeps up at 5 queries/s: a latency is the 1 ms query plus timer slack, never the
  // 30 ms flush (the median, so one preempted sample on a shared machine does not decide).
  EXPECT_LT(percentile(m.wall_ms, 50), 20.0);
  // The offered rate holds with the flush time taken out of the elapsed time.
  EXPECT_GT(m.achieved_qps, 2.0);
}

TEST(ServerScenario, HotRunsNeverFlush) {
  SlowFlushBackend backend;
  StoppingPolicy policy = stopping_policy("quick");
  policy.warmup = 0;
  policy.max_time_s = 0.2;
  const Measurement m = measure_server(backend, policy, 50.0);
  EXPECT_GE(m.wall_ms.size(), 8u);
  EXPECT_EQ(backend.flushes, 0);
}

// A rate so low that the case budget ends before 3 queries arrive: an error at once, never a
// wait of 1/qps seconds (1e-12 queries/s waited forever) nor a negative latency (1e-15 overflowed
// the clock and gave -9.2e12 ms).
TEST(ServerScenario, ATinyRateNeverWaitsPastTheCaseBudget) {
  for (double qps : {0.001, 1e-12, 1e-15}) {
    SlowFlushBackend backend;
    StoppingPolicy policy = stopping_policy("quick");
    policy.warmup = 0;
    policy.max_time_s = 1;
    policy.case_budget_s = 1;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_THROW(measure_server(backend, policy, qps), std::runtime_error) << qps;
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0) << qps;
  }
}

}  // namespace
}  // namespace sdpa
