// Every registered backend × every problem of the smoke suite, against the fp64 reference.
// A backend that cannot run a case reports GTEST_SKIP with its reason (ggml's test-backend-ops
// style: ask supports() first, never drop a case silently).
#include <gtest/gtest.h>

#include <cstdlib>

#include "backends/registry.h"
#include "harness/cases.h"
#include "harness/suite.h"

namespace sdpa {
namespace {

struct ConformanceCase {
  std::string backend;
  std::string spec;
  int index = 0;
};

std::vector<ConformanceCase> all_cases() {
  std::vector<ConformanceCase> cases;
  const std::vector<SuiteCase> smoke = load_suite("smoke");
  for (const std::string& name : registry().names()) {
    for (std::size_t i = 0; i < smoke.size(); ++i) {
      cases.push_back({name, smoke[i].problem.to_string(), static_cast<int>(i)});
    }
  }
  return cases;
}

void PrintTo(const ConformanceCase& c, std::ostream* os) { *os << c.backend << " " << c.spec; }

class Conformance : public ::testing::TestWithParam<ConformanceCase> {};

TEST_P(Conformance, MatchesTheReference) {
  // Vulkan backends turn validation-layer messages into errors when this is set.
  setenv("SDPA_VULKAN_VALIDATION", "1", 0);
  const ConformanceCase& c = GetParam();
  const Problem problem = parse_problem(c.spec);
  auto backend = registry().find(c.backend)->make(BackendOptions{});
  const ProblemData data = make_problem_data(problem, 0);
  const CaseResult r = run_case(*backend, data);
  if (r.status == CaseStatus::skip) GTEST_SKIP() << r.reason;
  ASSERT_NE(r.status, CaseStatus::error) << r.reason << "\n  repro: " << r.repro();
  EXPECT_EQ(r.status, CaseStatus::pass) << r.accuracy.summary() << "\n  repro: " << r.repro();
}

INSTANTIATE_TEST_SUITE_P(Smoke, Conformance, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<ConformanceCase>& info) {
                           return info.param.backend + "_" + std::to_string(info.param.index);
                         });

}  // namespace
}  // namespace sdpa
