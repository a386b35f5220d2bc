// Correctness of both oneDNN backends against the fp64 reference, and the figures they report.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include "backends/onednn/prims_backend.h"
#include "backends/onednn/runtime.h"
#include "harness/accuracy.h"
#include "harness/inputs.h"
#include "reference/reference.h"
#if SDPA_ONEDNN_GRAPH
#include "backends/onednn/graph_allocator.h"
#include "backends/onednn/graph_backend.h"
#endif

namespace sdpa {
namespace {

// Whether /proc/cpuinfo lists `flag` for this CPU: what the tests expect of the library is
// decided from the hardware, independently of the library's own probe.
bool cpu_has(const std::string& flag) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string word;
    while (words >> word) {
      if (word == flag) return true;
    }
    return false;
  }
  return false;
}

// oneDNN's CPU f16 kernels need one of these (its documented requirement).
bool cpu_runs_f16() { return cpu_has("avx512_fp16") || cpu_has("avx_ne_convert"); }
bool cpu_has_fast_bf16() { return cpu_has("amx_bf16") || cpu_has("avx512_bf16"); }

// Resident memory of this process.
double resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  double size_pages = 0, resident_pages = 0;
  statm >> size_pages >> resident_pages;
  return resident_pages * static_cast<double>(sysconf(_SC_PAGESIZE));
}

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
  // backend must say so rather than fail, and where the CPU has it the case must run.
  if (Support s = backend->supports(parse_problem(spec)); !s) {
    ASSERT_NE(spec.find("dtype=f16"), std::string::npos) << "unexpected skip: " << s.reason;
    ASSERT_FALSE(cpu_runs_f16()) << "the CPU has AVX512-FP16 / AVX-NE-CONVERT: " << s.reason;
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
    // b > 1 and kv heads > 1 with a causal mask plane: the AMX bf16 matmul got its 4-D broadcast
    // wrong (layout.h).
    "b=2,hq=4,hkv=2,sq=64,skv=128,d=64,dtype=bf16,mask=causal",
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

// release() gives the case's memory back: the n² buffers leave the process (they are far above
// malloc's mmap threshold, so freeing them unmaps them), and a case prepared afterwards runs.
TEST_P(OnednnBackend, ReleaseFreesTheCase) {
  auto backend = make(GetParam());
  const Problem big = parse_problem("b=1,hq=8,sq=2048,d=64");
  const double scores_bytes = 8.0 * 2048 * 2048 * 4;  // 128 MiB of f32 scores
  const Inputs inputs = generate_inputs(big);
  backend->prepare(big, inputs);
  backend->run();
  backend->sync();
  ASSERT_GE(static_cast<double>(backend->scratch_bytes()), scores_bytes);
  const double before = resident_bytes();
  backend->release();
  const double freed = before - resident_bytes();
  EXPECT_GT(freed, 0.9 * scores_bytes) << "release() freed " << freed / (1 << 20) << " MiB";
#if SDPA_ONEDNN_GRAPH
  // Nothing of the partition's stays in the pool, held or cached.
  EXPECT_EQ(onednn::GraphMemoryPool::held_bytes(), 0u);
  EXPECT_EQ(onednn::GraphMemoryPool::cached_bytes(), 0u);
#endif
  const Outcome o = run_and_check(*backend, "b=1,hq=2,sq=96,d=64,mask=causal");
  EXPECT_TRUE(o.accuracy.pass()) << o.accuracy.summary();
}

// A case whose intermediates cannot fit is a skip that says how much it needs, before anything
// is allocated: 64·64·65536² f32 scores are 64 TiB.
TEST_P(OnednnBackend, RefusesWhatCannotFit) {
  auto backend = make(GetParam());
  const Support s = backend->supports(parse_problem("b=64,hq=64,sq=65536,d=64"));
  ASSERT_FALSE(s);
  EXPECT_NE(s.reason.find("more than half of the"), std::string::npos) << s.reason;
  EXPECT_NE(s.reason.find("host memory available"), std::string::npos) << s.reason;
}

INSTANTIATE_TEST_SUITE_P(All, OnednnBackend, ::testing::ValuesIn(backend_names()));

TEST(OnednnDtypes, F16RunsWhereTheCpuHasIt) {
  if (!cpu_runs_f16()) GTEST_SKIP() << "this CPU has neither AVX512-FP16 nor AVX-NE-CONVERT";
  const Support s = onednn::dtype_support(DType::f16);
  EXPECT_TRUE(s) << s.reason;
}

const Calibration* find_peak(const std::vector<Calibration>& peaks, DType dtype) {
  auto it = std::find_if(peaks.begin(), peaks.end(),
                         [&](const Calibration& c) { return c.dtype == dtype; });
  return it == peaks.end() ? nullptr : &*it;
}

// One library peak per storage type the CPU runs, the same from both backends (measured once).
TEST(OnednnCalibration, OnePeakPerSupportedDtype) {
  std::vector<std::vector<Calibration>> sets;
  for (const std::string& name : backend_names()) sets.push_back(make(name)->calibrate());
  const std::vector<Calibration>& peaks = sets.front();

  std::set<DType> expected;
  for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
    if (onednn::dtype_support(dtype)) expected.insert(dtype);
  }
  std::set<DType> seen;
  for (const Calibration& c : peaks) {
    std::cout << "  peak " << to_string(c.dtype) << ": " << c.tflops << " TFLOP/s, " << c.what
              << "\n";
    EXPECT_TRUE(seen.insert(c.dtype).second) << "two peaks for " << to_string(c.dtype);
    EXPECT_EQ(c.device_class, "cpu");
    EXPECT_TRUE(c.from_library);
    EXPECT_NE(c.what.find("matmul " + std::string(to_string(c.dtype)) + " "), std::string::npos)
        << c.what;
    EXPECT_NE(c.what.find("^3"), std::string::npos) << c.what;
    // Between a slow core without AVX and anything a CPU socket reaches.
    EXPECT_GT(c.tflops, 0.005) << c.what;
    EXPECT_LT(c.tflops, 500.0) << c.what;
  }
  EXPECT_EQ(seen, expected);

  // Both backends measure the same GEMMs (each call measures anew: the end-of-run noise check
  // must see the machine as it is then), so the harness can match them by their description.
  for (const auto& other : sets) {
    ASSERT_EQ(other.size(), peaks.size());
    for (std::size_t i = 0; i < peaks.size(); ++i) EXPECT_EQ(other[i].what, peaks[i].what);
  }
}

// AMX (or AVX512-BF16's dot product) runs bf16 at several times the f32 FMA rate: a bf16 peak
// at or below the f32 one means the bf16 GEMM did not reach those units.
TEST(OnednnCalibration, Bf16PeakAboveF32WhereTheCpuHasBf16Units) {
  if (!cpu_has_fast_bf16()) GTEST_SKIP() << "this CPU has neither AMX-BF16 nor AVX512-BF16";
  const auto peaks = make("onednn_prims")->calibrate();
  const Calibration* f32 = find_peak(peaks, DType::f32);
  const Calibration* bf16 = find_peak(peaks, DType::bf16);
  ASSERT_NE(f32, nullptr);
  ASSERT_NE(bf16, nullptr) << "no bf16 peak on a CPU with bf16 units";
  EXPECT_GT(bf16->tflops, f32->tflops) << bf16->what << " vs " << f32->what;
}

}  // namespace
}  // namespace sdpa
