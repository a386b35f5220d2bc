// Correctness of both oneDNN backends against the fp64 reference, and the figures they report.
#include <gtest/gtest.h>

#include <cctype>
#include <memory>
#include <string>

#include "backends/onednn/prims_backend.h"
#include "harness/accuracy.h"
#include "harness/inputs.h"
#include "reference/reference.h"
#if SDPA_ONEDNN_GRAPH
#include "backends/onednn/graph_backend.h"
#endif

namespace sdpa {
namespace {

std::unique_ptr<Backend> make(const std::string& name, int threads = 0) {
  BackendOptions options;
  options.threads = threads;
#if SDPA_ONEDNN_GRAPH
  if (name == "onednn") return std::make_unique<onednn::GraphBackend>(options);
#endif
  return std::make_unique<onednn::PrimsBackend>(options);
}

struct Outcome {
  AccuracyReport accuracy;
  std::vector<double> out;
};

// Runs `backend` on `spec` and checks it against the reference of `reference_spec` (the same
// problem unless a test wants to prove that a difference is caught).
Outcome run_and_check(Backend& backend, const std::string& spec,
                      const std::string& reference_spec = "") {
  const Problem p = parse_problem(spec);
  const Problem ref_p = parse_problem(reference_spec.empty() ? spec : reference_spec);
  const Inputs inputs = generate_inputs(p);
  EXPECT_TRUE(backend.supports(p)) << backend.supports(p).reason;
  backend.prepare(p, inputs);
  backend.run();
  backend.sync();
  Outcome o;
  o.out = backend.output();
  o.accuracy = check_accuracy(ref_p, o.out, reference_sdpa(ref_p, inputs));
  return o;
}

class OnednnCase : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(OnednnCase, MatchesReference) {
  const auto& [name, spec] = GetParam();
  auto backend = make(name);
  ASSERT_TRUE(backend->available()) << backend->available().reason;
  // f16 needs CPU support oneDNN checks for (AVX512-FP16 / AVX-NE-CONVERT); elsewhere the
  // backend must say so rather than fail.
  if (Support s = backend->supports(parse_problem(spec)); !s) {
    ASSERT_NE(spec.find("dtype=f16"), std::string::npos) << "unexpected skip: " << s.reason;
    ASSERT_NE(s.reason.find("f16 matmul on this CPU"), std::string::npos) << s.reason;
    GTEST_SKIP() << s.reason;
  }
  const Outcome o = run_and_check(*backend, spec);
  EXPECT_TRUE(o.accuracy.pass()) << name << " " << spec << ": " << o.accuracy.summary();
}

// Every mask (with fully masked rows: kvlen 0 and causal_br with sq > skv), every dtype, GQA
// and MQA, dv != d, odd lengths, the unscaled ablation.
const std::vector<std::string> kSpecs = {
    "b=1,hq=2,sq=64,d=64",
    "b=2,hq=4,hkv=2,sq=77,d=64,mask=causal",
    "b=1,hq=2,sq=9,skv=130,d=40,mask=causal_br",
    "b=1,hq=1,sq=130,skv=9,d=80,mask=causal_br",
    "b=3,hq=2,sq=33,skv=65,d=96,mask=kvlen:65/1/0",
    "b=1,hq=4,hkv=1,sq=1,skv=300,d=128",
    "b=1,hq=2,sq=100,d=64,dv=32,scale=1",
    "b=1,hq=2,sq=128,d=64,dtype=f16,mask=causal",
    "b=2,hq=4,hkv=2,sq=50,skv=90,d=64,dtype=f16,mask=kvlen:90/17",
    "b=1,hq=4,hkv=2,sq=96,d=128,dtype=bf16,mask=causal",
    "b=1,hq=1,sq=7,skv=7,d=96,dv=64,dtype=bf16,mask=causal_br",
};

std::vector<std::string> backend_names() {
#if SDPA_ONEDNN_GRAPH
  return {"onednn", "onednn_prims"};
#else
  return {"onednn_prims"};
#endif
}

INSTANTIATE_TEST_SUITE_P(All, OnednnCase,
                         ::testing::Combine(::testing::ValuesIn(backend_names()),
                                            ::testing::ValuesIn(kSpecs)),
                         [](const auto& info) {
                           std::string s = std::get<0>(info.param) + "_" + std::get<1>(info.param);
                           for (char& c : s) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return s;
                         });

class OnednnBackend : public ::testing::TestWithParam<std::string> {};

// The check that passes the cases above is sharp enough to see a mask that is off by one
// diagonal, or a missing scale: the backend's output does not pass as another problem's.
TEST_P(OnednnBackend, OutputDiffersFromAWrongProblem) {
  auto backend = make(GetParam());
  const std::string spec = "b=1,hq=2,sq=64,d=64,mask=causal";
  EXPECT_FALSE(run_and_check(*backend, spec, "b=1,hq=2,sq=64,d=64").accuracy.pass());
  EXPECT_FALSE(run_and_check(*backend, spec, "b=1,hq=2,sq=64,skv=64,d=64,mask=causal,scale=1")
                   .accuracy.pass());
}

TEST_P(OnednnBackend, FullyMaskedRowsAreZero) {
  auto backend = make(GetParam());
  const Outcome o = run_and_check(*backend, "b=2,hq=1,sq=4,skv=8,d=64,mask=kvlen:0/8");
  ASSERT_TRUE(o.accuracy.pass()) << o.accuracy.summary();
  for (int i = 0; i < 4 * 64; ++i) ASSERT_EQ(o.out[i], 0.0) << "element " << i;
}

// Scratch is measured and is O(n²): quadrupling n multiplies it by ~16.
TEST_P(OnednnBackend, ScratchGrowsWithScores) {
  auto backend = make(GetParam());
  run_and_check(*backend, "b=1,hq=2,sq=128,d=64");
  const double small = static_cast<double>(backend->scratch_bytes());
  run_and_check(*backend, "b=1,hq=2,sq=512,d=64");
  const double large = static_cast<double>(backend->scratch_bytes());
  const double scores_bytes = 2.0 * 512 * 512 * 4;  // f32 scores of the large case
  EXPECT_GE(large, scores_bytes);
  EXPECT_GT(large / small, 10.0);
  EXPECT_LT(large / small, 20.0);
}

TEST_P(OnednnBackend, ThreadOptionReachesTheLibrary) {
  auto backend = make(GetParam(), 1);
  EXPECT_EQ(backend->context().at("threads"), "1");
  EXPECT_NE(backend->describe().find("1 threads"), std::string::npos) << backend->describe();
}

TEST_P(OnednnBackend, NotesSayWhatRan) {
  auto backend = make(GetParam());
  run_and_check(*backend, "b=1,hq=2,sq=64,d=64,mask=causal");
  const auto notes = backend->case_notes();
  ASSERT_TRUE(notes.count("fused"));
  EXPECT_TRUE(notes.at("fused") == "0" || notes.at("fused") == "1");
  ASSERT_TRUE(notes.count("primitives"));
  EXPECT_NE(notes.at("primitives").find("softmax"), std::string::npos) << notes.at("primitives");
  if (GetParam() == "onednn") {
    EXPECT_EQ(notes.at("partitions"), "1");
    EXPECT_FALSE(notes.at("kernel").empty());
  }
}

INSTANTIATE_TEST_SUITE_P(All, OnednnBackend, ::testing::ValuesIn(backend_names()));

TEST(OnednnCalibration, MeasuresAPlausibleGemm) {
  auto backend = make("onednn_prims");
  const auto cals = backend->calibrate();
  ASSERT_FALSE(cals.empty());
  const Calibration* cal = &cals.front();
  EXPECT_EQ(cal->device_class, "cpu");
  EXPECT_NE(cal->what.find("2048^3"), std::string::npos);
  // Between a slow core without AVX and anything a CPU socket reaches.
  EXPECT_GT(cal->tflops, 0.005);
  EXPECT_LT(cal->tflops, 200.0);
}

}  // namespace
}  // namespace sdpa
