// The run plan: its argv round trip (what an isolated child is told is what the parent planned),
// its validation (bad input is SpecError, never ignored) and its fingerprint.
#include "harness/run_plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>

#include "harness/stopping.h"

namespace sdpa {
namespace {

RunPlan server_plan() {
  RunPlan p;
  p.selection.threads = 3;
  p.selection.vulkan_device = "1";
  p.policy = "gate";
  p.min_samples = 20;
  p.max_time_s = 0.1 + 0.2;  // not exactly representable in short decimal: the argv must keep every bit
  p.cold = true;
  p.scenario = "server";
  p.server_qps = 1.0 / 3.0;
  return p;
}

TEST(RunPlan, ChildArgsParseBackToTheSamePlan) {
  for (RunPlan p : {server_plan(), RunPlan{}}) {
    const RunPlan back = parse_plan_args(p.child_args());
    EXPECT_TRUE(back == p) << "lost in the child's argv";
    EXPECT_EQ(back.server_qps, p.server_qps);
    EXPECT_EQ(back.max_time_s, p.max_time_s);
  }
  RunPlan p99;
  p99.scenario = "server";
  p99.server_p99_ms = 2.5;
  EXPECT_TRUE(parse_plan_args(p99.child_args()) == p99);
}

TEST(RunPlan, TheChildOfAServerRunMeasuresTheServer) {
  RunPlan p = server_plan();
  p.resolve();
  const RunPlan child = parse_plan_args(p.child_args());
  const StoppingPolicy policy = child.stopping();
  EXPECT_EQ(policy.server_qps, 1.0 / 3.0);
  EXPECT_EQ(policy.min_samples, 20);
  EXPECT_TRUE(policy.cold);
}

TEST(RunPlan, ResolveRefusesWhatWouldBeIgnoredOrHang) {
  auto refused = [](auto edit) {
    RunPlan p;
    edit(p);
    try {
      p.resolve();
    } catch (const SpecError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_NE(refused([&](RunPlan& p) { p.max_time_s = nan; }).find("--max-time"), std::string::npos);
  EXPECT_NE(refused([&](RunPlan& p) { p.case_timeout_s = nan; }).find("--case-timeout"), std::string::npos);
  EXPECT_NE(refused([&](RunPlan& p) { p.max_time_s = -1; }), "");
  EXPECT_NE(refused([&](RunPlan& p) { p.min_samples = 100000000; }).find("cap of 2000"), std::string::npos);
  EXPECT_NE(refused([&](RunPlan& p) { p.policy = "nosuch"; }).find("default, quick, gate, p99"), std::string::npos);
  for (double qps : {0.001, 1e-12, 1e-15, 1e308}) {
    const std::string why = refused([&](RunPlan& p) {
      p.scenario = "server";
      p.server_qps = qps;
      p.max_time_s = 1;
    });
    EXPECT_NE(why.find("--qps"), std::string::npos) << qps;
    EXPECT_LT(why.size(), 200u) << why;  // a short number, never hundreds of digits
  }
  EXPECT_NE(refused([&](RunPlan& p) { p.scenario = "server"; }).find("--qps RATE"), std::string::npos);
  EXPECT_NE(refused([&](RunPlan& p) {
              p.scenario = "offline";
              p.isolate = true;
            }).find("--isolate"),
            std::string::npos);
  EXPECT_NE(refused([&](RunPlan& p) { p.shard = "2/2"; }).find("--shard"), std::string::npos);
  EXPECT_EQ(refused([](RunPlan& p) {
              p.scenario = "server";
              p.server_qps = 50;
            }),
            "");
}

TEST(RunPlan, OmpNumThreadsIsBoundedLikeThreads) {
  const char* before = std::getenv("OMP_NUM_THREADS");
  const std::string saved = before ? before : "";
  for (const char* bad : {"100000", "0", "abc", "4,", ""}) {
    ::setenv("OMP_NUM_THREADS", bad, 1);
    RunPlan p;
    EXPECT_THROW(p.resolve(), SpecError) << bad;
  }
  for (const char* good : {"2", "4,2"}) {
    ::setenv("OMP_NUM_THREADS", good, 1);
    RunPlan p;
    EXPECT_NO_THROW(p.resolve()) << good;
  }
  if (before) ::setenv("OMP_NUM_THREADS", saved.c_str(), 1);
  else ::unsetenv("OMP_NUM_THREADS");
}

TEST(RunPlan, MachineOverrideIsOneSafeFolderName) {
  EXPECT_EQ(checked_machine_override("ci-box_1.a"), "ci-box_1.a");
  for (const char* bad : {"", ".", "..", "../../X", "a/b", "x y"}) {
    EXPECT_THROW(checked_machine_override(bad), SpecError) << bad;
  }
}

TEST(RunPlan, FingerprintChangesWithEveryMeasuringOption) {
  const nlohmann::json base = RunPlan{}.fingerprint();
  std::vector<RunPlan> edits(7);
  edits[0].scenario = "offline";
  edits[1].policy = "quick";
  edits[2].max_time_s = 3;
  edits[3].min_samples = 9;
  edits[4].cold = true;
  edits[5].isolate = true;
  edits[6].selection.threads = 977;
  for (const RunPlan& p : edits) EXPECT_NE(p.fingerprint(), base) << p.fingerprint().dump();
  EXPECT_TRUE(base.contains("git_commit"));
}

TEST(RunPlan, CasePlanSelectsOneCase) {
  RunPlan base = server_plan();
  base.selection.suite = "smoke";
  base.shard = "1/4";
  base.out = "x.json";
  const Problem problem = parse_problem("sq=8,d=8");
  const RunPlan one = case_plan(base, "naive", problem);
  EXPECT_EQ(one.selection.backends, std::vector<std::string>{"naive"});
  EXPECT_EQ(one.selection.problems, std::vector<std::string>{problem.to_string()});
  EXPECT_TRUE(one.selection.suite.empty());
  EXPECT_TRUE(one.out.empty());
  EXPECT_EQ(one.server_qps, base.server_qps);
  RunPlan quick = case_plan(RunPlan{}, "naive", problem);
  quick.policy = "quick";
  const CaseResult r = run_planned_case(quick);
  EXPECT_EQ(r.status, CaseStatus::pass) << r.reason;
  ASSERT_TRUE(r.measurement.has_value());
  EXPECT_GE(r.measurement->wall_ms.size(), 8u);
}

TEST(RunPlan, APreparedCaseMeasuresAsOftenAsAsked) {
  RunPlan plan = case_plan(RunPlan{}, "naive", parse_problem("sq=8,d=8"));
  plan.policy = "quick";
  PreparedCase c(plan);
  const Measurement a = c.measure(), b = c.measure();
  EXPECT_GE(a.wall_ms.size(), 8u);
  EXPECT_GE(b.wall_ms.size(), 8u);
  EXPECT_EQ(a.scenario, "single-stream");
  RunPlan two = plan;
  two.selection.problems.push_back("sq=16,d=8");
  EXPECT_THROW(PreparedCase{two}, SpecError);
}

TEST(StoppingPolicies, OneRegistryNamesEveryPolicy) {
  const std::vector<std::string> names = stopping_policy_names();
  EXPECT_EQ(names, (std::vector<std::string>{"default", "quick", "gate", "p99"}));
  for (const std::string& n : names) {
    EXPECT_EQ(stopping_policy(n).name, n);
    EXPECT_NE(stopping_policy_help().find(n + ": "), std::string::npos);
  }
  EXPECT_THROW(stopping_policy("nosuch"), std::invalid_argument);
}

}  // namespace
}  // namespace sdpa
