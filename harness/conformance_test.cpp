// Every registered backend × every problem of the smoke suite, against the fp64 reference.
// Only declared skips are skips (ggml's test-backend-ops style: ask first, never drop a case
// silently): a backend without its device (available() = no) or a problem its supports()
// declines. A case that supports() accepted and the backend then refused is a failure, and an
// available backend must pass at least one smoke case, so declining everything is never green.
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
  if (Support s = backend->available(); !s) GTEST_SKIP() << "unavailable: " << s.reason;
  if (Support s = backend->supports(problem); !s) GTEST_SKIP() << "declined by supports(): " << s.reason;
  const ProblemData data = make_problem_data(problem, 0);
  const CaseResult r = run_case(*backend, data);
  ASSERT_NE(r.status, CaseStatus::skip) << "supports() accepted the case, then the backend refused it: " << r.reason
                                        << "\n  repro: " << r.repro();
  ASSERT_NE(r.status, CaseStatus::error) << r.reason << "\n  repro: " << r.repro();
  EXPECT_EQ(r.status, CaseStatus::pass) << r.accuracy.summary() << "\n  repro: " << r.repro();
}

class ConformanceBackend : public ::testing::TestWithParam<std::string> {};

TEST_P(ConformanceBackend, PassesSomeSmokeCaseWhenAvailable) {
  setenv("SDPA_VULKAN_VALIDATION", "1", 0);
  auto backend = registry().find(GetParam())->make(BackendOptions{});
  if (Support s = backend->available(); !s) GTEST_SKIP() << "unavailable: " << s.reason;
  int passed = 0;
  std::vector<std::string> declined;
  for (const SuiteCase& c : load_suite("smoke")) {
    if (Support s = backend->supports(c.problem); !s) {
      declined.push_back(c.problem.to_string() + ": " + s.reason);
      continue;
    }
    passed += run_case(*backend, make_problem_data(c.problem, 0)).status == CaseStatus::pass;
    if (passed > 0) break;
  }
  EXPECT_GT(passed, 0) << GetParam() << " is available but passed no smoke case; declined: " << declined.size()
                       << (declined.empty() ? "" : ", e.g. " + declined.front());
}

INSTANTIATE_TEST_SUITE_P(Smoke, ConformanceBackend, ::testing::ValuesIn(registry().names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

INSTANTIATE_TEST_SUITE_P(Smoke, Conformance, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<ConformanceCase>& info) {
                           return info.param.backend + "_" + std::to_string(info.param.index);
                         });

}  // namespace
}  // namespace sdpa
