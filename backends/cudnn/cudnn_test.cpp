// The cuDNN backend against the fp64 reference. Without a CUDA device the accuracy cases skip
// with the backend's reason; what can be decided without one (the capability rules and the
// mapping of a problem onto cuDNN's call) is tested everywhere.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "backends/cudnn/cuda_check.h"
#include "backends/cudnn/device_buffer.h"
#include "backends/cudnn/sdpa_layout.h"
#include "backends/cudnn/support_contract.h"
#include "backends/registry.h"
#include "harness/accuracy.h"
#include "harness/inputs.h"
#include "reference/reference.h"

namespace sdpa {
namespace {

std::unique_ptr<Backend> make_cudnn() {
  const BackendEntry* entry = registry().find("cudnn");
  if (entry == nullptr) throw std::runtime_error("cudnn backend not registered in this build");
  return entry->make(BackendOptions{});
}

// Skips the calling test when there is no device to run on, with the backend's reason.
#define SKIP_WITHOUT_DEVICE(backend)                                   \
  do {                                                                 \
    if (Support avail_ = (backend).available(); !avail_) {             \
      GTEST_SKIP() << avail_.reason;                                   \
    }                                                                  \
  } while (0)

TEST(CudnnLayout, CausalBottomRightWithMoreQueriesZeroesTheRowsThatSeeNoKey) {
  const Problem p = parse_problem("b=1,h=2,sq=7,skv=3,d=64,dtype=f16,mask=causal_br");
  const cudnn::SdpaLayout layout = cudnn::sdpa_layout(p);
  EXPECT_EQ(layout.q_rows, 3);
  EXPECT_EQ(layout.dead_rows, 4);
  // Dead rows are exactly those with no visible key, and the computed rows form a top-left
  // causal square: row dead_rows + r sees r + 1 keys.
  for (int64_t i = 0; i < p.sq; ++i) {
    if (i < layout.dead_rows) {
      EXPECT_EQ(p.visible_keys(0, i), 0) << "row " << i;
    } else {
      EXPECT_EQ(p.visible_keys(0, i), i - layout.dead_rows + 1) << "row " << i;
    }
  }
}

TEST(CudnnLayout, OtherMasksComputeEveryRow) {
  for (const char* spec : {"b=1,sq=7,skv=3,d=64,dtype=f16,mask=causal",  // top-left: every row sees key 0
                           "b=1,sq=3,skv=7,d=64,dtype=f16,mask=causal_br", "b=2,sq=5,skv=9,d=64,dtype=f16,mask=kvlen:0/4",
                           "b=1,sq=5,skv=9,d=64,dtype=bf16"}) {
    const Problem p = parse_problem(spec);
    const cudnn::SdpaLayout layout = cudnn::sdpa_layout(p);
    EXPECT_EQ(layout.q_rows, p.sq) << spec;
    EXPECT_EQ(layout.dead_rows, 0) << spec;
    EXPECT_EQ(layout.padding, p.mask == MaskKind::kvlen) << spec;
  }
}

TEST(CudnnLayout, GraphKeyIgnoresRuntimeDataOnly) {
  const Problem a = parse_problem("b=2,h=4,sq=64,d=64,dtype=f16,mask=kvlen:10/20,seed=1");
  const Problem b = parse_problem("b=2,h=4,sq=64,d=64,dtype=f16,mask=kvlen:30/64,seed=9");
  EXPECT_EQ(cudnn::graph_key(a), cudnn::graph_key(b));
  for (const char* other : {"b=2,h=4,sq=64,d=64,dtype=bf16,mask=kvlen:10/20", "b=2,h=4,sq=64,d=64,dtype=f16,mask=none",
                            "b=2,h=4,sq=64,d=64,dtype=f16,mask=kvlen:10/20,scale=1",
                            "b=2,h=4,hkv=2,sq=64,d=64,dtype=f16,mask=kvlen:10/20"}) {
    EXPECT_NE(cudnn::graph_key(a), cudnn::graph_key(parse_problem(other))) << other;
  }
}

// sm_<major> of the backend's device, from its results context ("9.0" -> 9).
int compute_capability_major(const Backend& backend) {
  return std::stoi(backend.context().at("cuda_compute_capability"));
}

// The cuDNN loaded at run time, in cuDNN 9's encoding ("9.19.0" -> 91900).
std::size_t loaded_cudnn_version(const Backend& backend) {
  int major = 0, minor = 0, patch = 0;
  std::sscanf(backend.context().at("library_version").c_str(), "%d.%d.%d", &major, &minor, &patch);
  return static_cast<std::size_t>(10000 * major + 100 * minor + patch);
}

TEST(CudnnSupportContract, HalfPrecisionHeadDims64And128OnAmpereAndLater) {
  for (const char* spec : {"b=1,h=2,sq=64,d=64,dtype=f16", "b=2,hq=8,hkv=2,sq=128,skv=300,d=128,dtype=bf16,mask=causal",
                           "b=1,h=2,sq=256,skv=64,d=64,dtype=f16,mask=causal_br",
                           "b=2,h=2,sq=64,skv=128,d=128,dtype=bf16,mask=kvlen:100/77",
                           "b=4,hq=8,hkv=1,sq=1,skv=1000,d=128,dtype=f16"}) {
    const Problem p = parse_problem(spec);
    EXPECT_TRUE(cudnn::cudnn_must_support(p, 8, 91900)) << spec;
    EXPECT_TRUE(cudnn::cudnn_must_support(p, 9, 91900)) << spec;
    EXPECT_TRUE(cudnn::cudnn_must_support(p, 10, 91900)) << spec;
    EXPECT_FALSE(cudnn::cudnn_must_support(p, 7, 91900)) << spec << " (Volta: no fused flash kernels)";
  }
  for (const char* spec : {"b=1,h=2,sq=64,d=64,dtype=f32", "b=1,h=2,sq=64,d=96,dtype=f16",
                           "b=1,h=2,sq=64,d=128,dv=64,dtype=bf16", "b=1,h=2,sq=64,d=256,dtype=f16"}) {
    EXPECT_FALSE(cudnn::cudnn_must_support(parse_problem(spec), 9, 91900)) << spec;
  }
  // A zero key length is cuDNN's known NaN bug before 9.25: declined with that reason until then.
  const Problem empty_item = parse_problem("b=2,h=2,sq=64,skv=128,d=64,dtype=bf16,mask=kvlen:0/77");
  EXPECT_FALSE(cudnn::cudnn_must_support(empty_item, 9, 91900));
  EXPECT_TRUE(cudnn::cudnn_must_support(empty_item, 9, 92500));
}

// A sticky CUDA error ends the process's use of the GPU: the message must say so, not read like
// one failed case.
TEST(CudnnErrors, ALostContextSaysTheProcessMustRestart) {
  try {
    cudnn::check_cuda(cudaErrorIllegalAddress, "cudaStreamSynchronize(stream_)");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cudaErrorIllegalAddress"), std::string::npos) << what;
    EXPECT_NE(what.find("context is lost"), std::string::npos) << what;
    EXPECT_NE(what.find("fresh process"), std::string::npos) << what;
  }
  try {
    cudnn::check_cuda(cudaErrorInvalidValue, "cudaMemcpyAsync(...)");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).find("context is lost"), std::string::npos) << e.what();
  }
}

// More than the GPU has is a skip with the figures, not an error.
TEST(CudnnErrors, OutOfDeviceMemoryIsASkipWithNeedsAndFree) {
  auto backend = make_cudnn();
  SKIP_WITHOUT_DEVICE(*backend);
  std::size_t free_bytes = 0, total_bytes = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total_bytes), cudaSuccess);
  try {
    cudnn::DeviceBuffer too_big(total_bytes + (std::size_t{1} << 30));
    FAIL() << "allocated more than the GPU has";
  } catch (const Unsupported& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("out of device memory (needs ", 0), 0u) << what;
    EXPECT_NE(what.find(", free "), std::string::npos) << what;
  }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // not sticky: the next case runs
}

TEST(CudnnBackend, ReportsItsDeviceOrWhyItHasNone) {
  auto backend = make_cudnn();
  EXPECT_EQ(backend->name(), "cudnn");
  EXPECT_EQ(backend->device_class(), "cuda:0");
  const Support avail = backend->available();
  if (!avail) {
    EXPECT_EQ(avail.reason.rfind("no CUDA device", 0), 0u) << avail.reason;
    EXPECT_NE(backend->describe().find("no CUDA device"), std::string::npos);
  } else {
    EXPECT_FALSE(backend->context().at("cuda_device").empty());
  }
  EXPECT_FALSE(backend->context().at("library_version").empty());
}

TEST(CudnnBackend, DeclinesWhatCudnnCannotRunOnAnyDevice) {
  auto backend = make_cudnn();
  const struct {
    const char* spec;
    const char* reason_part;
  } cases[] = {
      {"b=1,h=2,sq=64,d=64,dtype=f32", "f32"},
      {"b=1,h=2,sq=64,d=60,dtype=f16", "multiples of 8"},
      {"b=1,h=2,sq=64,d=64,dv=36,dtype=bf16", "multiples of 8"},
      {"b=1,h=2,sq=64,d=512,dtype=f16", "up to 256"},
  };
  for (const auto& c : cases) {
    const Support s = backend->supports(parse_problem(c.spec));
    EXPECT_FALSE(s) << c.spec;
    EXPECT_NE(s.reason.find(c.reason_part), std::string::npos) << c.spec << ": " << s.reason;
  }
}

// One spec per property of the graph: dtype, each mask, GQA / MQA, decode, scale ablation,
// head dims, and lengths that are not multiples of the kernels' tiles.
class CudnnAccuracy : public ::testing::TestWithParam<const char*> {};

TEST_P(CudnnAccuracy, MatchesTheReference) {
  auto backend = make_cudnn();
  SKIP_WITHOUT_DEVICE(*backend);
  const Problem p = parse_problem(GetParam());
  // A refusal of what cuDNN runs on this GPU is a failure here, not a skip that reads green.
  const bool must = cudnn::cudnn_must_support(p, compute_capability_major(*backend), loaded_cudnn_version(*backend));
  if (Support s = backend->supports(p); !s) {
    if (must) FAIL() << p.to_string() << " must run on this GPU, but: " << s.reason;
    GTEST_SKIP() << s.reason;
  }
  const Inputs inputs = generate_inputs(p);
  const ReferenceResult ref = reference_sdpa(p, inputs);
  try {
    backend->prepare(p, inputs);
  } catch (const Unsupported& e) {
    if (must) FAIL() << p.to_string() << " must run on this GPU, but cuDNN refused it: " << e.what();
    GTEST_SKIP() << e.what();
  }
  const auto notes = backend->case_notes();
  EXPECT_FALSE(notes.at("engine").empty());
  EXPECT_TRUE(notes.at("implementation") == "unified" || notes.at("implementation") == "composite")
      << notes.at("implementation");
  // Host launch time must stay outside the device window wherever the driver allows it.
  if (std::getenv("SDPA_CUDNN_LAUNCH_GATE") == nullptr) {
    EXPECT_EQ(notes.at("device_timing"), "gated");
  }
  backend->run();
  backend->sync();
  const std::vector<double> first = backend->output();
  const AccuracyReport report = check_accuracy(p, first, ref);
  EXPECT_TRUE(report.pass()) << p.to_string() << ": " << report.summary();

  const std::optional<double> ms = backend->last_device_ms();
  ASSERT_TRUE(ms.has_value());
  EXPECT_GT(*ms, 0.0);
  // The forward kernels are deterministic: a second run gives the same bits.
  backend->run();
  backend->sync();
  EXPECT_EQ(backend->output(), first) << p.to_string();
}

INSTANTIATE_TEST_SUITE_P(
    Problems, CudnnAccuracy,
    ::testing::Values("b=2,h=4,sq=128,d=64,dtype=f16", "b=2,h=4,sq=128,d=64,dtype=bf16",
                      "b=1,h=3,sq=200,skv=200,d=128,dtype=f16,mask=causal",
                      "b=1,h=2,sq=64,skv=256,d=64,dtype=bf16,mask=causal",
                      "b=1,h=2,sq=256,skv=64,d=64,dtype=f16,mask=causal",
                      "b=2,hq=8,hkv=2,sq=64,skv=256,d=64,dtype=f16,mask=causal_br",
                      "b=1,hq=4,hkv=2,sq=256,skv=96,d=64,dtype=bf16,mask=causal_br",
                      "b=3,hq=4,hkv=1,sq=128,skv=256,d=64,dtype=f16,mask=kvlen:256/100/1",
                      "b=2,h=2,sq=64,skv=128,d=64,dtype=bf16,mask=kvlen:0/77",
                      "b=4,hq=8,hkv=1,sq=1,skv=1000,d=128,dtype=bf16",
                      "b=1,h=4,sq=256,d=64,dtype=f16,scale=1", "b=1,h=2,sq=128,d=256,dtype=f16",
                      "b=1,h=2,sq=128,d=128,dv=64,dtype=bf16", "b=1,h=2,sq=100,skv=300,d=40,dtype=f16"));

// The check this suite relies on can fail: the output of the default scale does not pass
// against the reference of the unscaled problem.
TEST(CudnnAccuracyCheck, CatchesAWrongScale) {
  auto backend = make_cudnn();
  SKIP_WITHOUT_DEVICE(*backend);
  const Problem p = parse_problem("b=1,h=4,sq=128,d=64,dtype=f16");
  Problem unscaled = p;
  unscaled.scale_value = 1.0;
  const Inputs inputs = generate_inputs(p);
  backend->prepare(p, inputs);
  backend->run();
  backend->sync();
  const AccuracyReport report = check_accuracy(unscaled, backend->output(), reference_sdpa(unscaled, inputs));
  EXPECT_FALSE(report.pass()) << report.summary();
}

// The plain shapes on every mask: a refusal fails (the backend throws an error, not a skip).
TEST(CudnnAccuracyCheck, RunsEveryMaskAtHeadDims64And128) {
  auto backend = make_cudnn();
  SKIP_WITHOUT_DEVICE(*backend);
  if (compute_capability_major(*backend) < 8) GTEST_SKIP() << "pre-Ampere GPU";
  for (const char* dtype : {"f16", "bf16"}) {
    for (int d : {64, 128}) {
      for (const char* mask : {"none", "causal", "causal_br", "kvlen:200/31"}) {
        const Problem p = parse_problem("b=2,hq=4,hkv=2,sq=96,skv=200,d=" + std::to_string(d) + ",dtype=" + dtype +
                                        ",mask=" + mask);
        ASSERT_TRUE(backend->supports(p)) << p.to_string() << ": " << backend->supports(p).reason;
        const Inputs inputs = generate_inputs(p);
        ASSERT_NO_THROW(backend->prepare(p, inputs)) << p.to_string();
        backend->run();
        backend->sync();
        EXPECT_TRUE(check_accuracy(p, backend->output(), reference_sdpa(p, inputs)).pass()) << p.to_string();
        backend->release();
      }
    }
  }
}

// --cold: the flush runs between samples without disturbing the prepared case.
TEST(CudnnAccuracyCheck, CacheFlushLeavesTheCaseIntact) {
  auto backend = make_cudnn();
  SKIP_WITHOUT_DEVICE(*backend);
  const Problem p = parse_problem("b=1,h=4,sq=128,d=64,dtype=f16");
  const Inputs inputs = generate_inputs(p);
  backend->prepare(p, inputs);
  backend->run();
  backend->sync();
  const std::vector<double> first = backend->output();
  const uint64_t scratch = backend->scratch_bytes();
  backend->flush_device_caches();
  backend->run();
  backend->sync();
  EXPECT_EQ(backend->output(), first);
  EXPECT_EQ(backend->scratch_bytes(), scratch);  // the flush buffer is not the case's scratch
  backend->release();
}

TEST(CudnnCalibration, GemmReportsAPeakForThisDevice) {
  auto backend = make_cudnn();
  SKIP_WITHOUT_DEVICE(*backend);
  const std::vector<Calibration> cal = backend->calibrate();
  ASSERT_EQ(cal.size(), 1u);
  const Calibration* c = &cal.front();
  EXPECT_EQ(c->device_class, backend->device_class());
  EXPECT_TRUE(std::isfinite(c->tflops) && c->tflops > 0) << c->tflops;
}

}  // namespace
}  // namespace sdpa
