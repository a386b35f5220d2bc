// The Vulkan backend against the fp64 reference, with the Khronos validation layer on: every
// case must pass the accuracy rule and leave the layer silent. On lavapipe (CI) the scalar
// path runs for real; the coopmat path skips with the device's reason unless the device has
// VK_KHR_cooperative_matrix.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backends/vulkan/vulkan_backend.h"
#include "backends/vulkan/vulkan_context.h"
#include "backends/vulkan/vulkan_gemm.h"
#include "backends/vulkan/vulkan_memory.h"
#include "harness/accuracy.h"
#include "harness/inputs.h"
#include "reference/reference.h"

namespace sdpa {
namespace {

// Before any context exists (static initialisation precedes gtest's main).
const bool validation_env_set = [] { return setenv(vulkan::kValidationEnv, "1", 1) == 0; }();

std::unique_ptr<VulkanBackend> make(VulkanPath path) {
  return std::make_unique<VulkanBackend>(path, BackendOptions{});
}

// Skips where the machine has no Vulkan device at all, but fails where the device is there and
// only the validation layer is missing: a test run without the layer would prove nothing.
#define REQUIRE_DEVICE(backend)                                                              \
  do {                                                                                       \
    if (const Support s = (backend)->available(); !s) {                                      \
      if (s.reason.find(vulkan::kValidationEnv) != std::string::npos) FAIL() << s.reason;    \
      GTEST_SKIP() << s.reason;                                                              \
    }                                                                                        \
  } while (0)

// Runs one problem and returns the accuracy report against the reference (computed with
// `reference_problem`, the problem itself unless a test wants to prove the check bites).
AccuracyReport run_and_check(VulkanBackend& backend, const Problem& p, const Problem& reference_problem) {
  const Inputs inputs = generate_inputs(p);
  backend.prepare(p, inputs);
  backend.run();
  backend.sync();
  backend.run();  // a second run re-uses the recorded command buffer
  backend.sync();
  const std::vector<double> out = backend.output();
  return check_accuracy(reference_problem, out, reference_sdpa(reference_problem, inputs));
}

class VulkanCases : public ::testing::TestWithParam<std::string> {};

void expect_passes(VulkanPath path, const std::string& spec) {
  auto backend = make(path);
  REQUIRE_DEVICE(backend);
  const Problem p = parse_problem(spec);
  if (const Support s = backend->supports(p); !s) GTEST_SKIP() << s.reason;
  const int errors_before = vulkan::validation_error_count();
  const AccuracyReport r = run_and_check(*backend, p, p);
  EXPECT_TRUE(r.pass()) << spec << ": " << r.summary();
  EXPECT_EQ(vulkan::validation_error_count(), errors_before);
  EXPECT_EQ(backend->case_notes().at("path"), path == VulkanPath::coopmat ? "coopmat" : "scalar")
      << "on " << backend->device_class();
}

// Masks, GQA / MQA, odd and unaligned sizes, dv ≠ d, decode, d = 256, fully masked rows
// (causal_br with sq > skv, kvlen 0), the unscaled ablation. Small: lavapipe is a CPU.
const std::vector<std::string> kF32Cases = {
    "b=1,hq=2,sq=37,skv=53,d=40,dv=24",
    "b=2,hq=4,hkv=2,sq=64,skv=64,d=64,mask=causal",
    "b=1,hq=3,hkv=1,sq=50,skv=70,d=33,dv=17,mask=causal_br",
    "b=1,hq=2,sq=80,skv=40,d=16,mask=causal_br",
    "b=3,hq=2,sq=33,skv=65,d=64,mask=kvlen:65/1/0",
    "b=1,hq=4,hkv=1,sq=1,skv=300,d=128",
    "b=1,hq=1,sq=40,skv=40,d=256,mask=causal",
    "b=1,hq=2,sq=20,skv=20,d=8,scale=1",
    "b=1,hq=1,sq=1,skv=1,d=1",
};
const std::vector<std::string> kF16Cases = {
    "b=1,hq=2,sq=37,skv=53,d=40,dv=24,dtype=f16",
    "b=2,hq=4,hkv=2,sq=64,skv=64,d=64,dtype=f16,mask=causal",
    "b=1,hq=3,hkv=1,sq=50,skv=70,d=33,dv=17,dtype=f16,mask=causal_br",
    "b=2,hq=2,sq=50,skv=90,d=64,dtype=f16,mask=kvlen:90/0",
    "b=1,hq=8,hkv=1,sq=1,skv=200,d=128,dtype=f16",
    "b=1,hq=1,sq=24,skv=24,d=256,dtype=f16,mask=causal",
};
const std::vector<std::string> kBf16Cases = {
    "b=1,hq=2,sq=48,skv=48,d=64,dtype=bf16",
    "b=1,hq=4,hkv=2,sq=40,skv=60,d=96,dv=64,dtype=bf16,mask=causal_br",
};

class ScalarF32 : public VulkanCases {};
TEST_P(ScalarF32, MatchesReference) { expect_passes(VulkanPath::scalar, GetParam()); }
INSTANTIATE_TEST_SUITE_P(Vulkan, ScalarF32, ::testing::ValuesIn(kF32Cases));

class ScalarF16 : public VulkanCases {};
TEST_P(ScalarF16, MatchesReference) { expect_passes(VulkanPath::scalar, GetParam()); }
INSTANTIATE_TEST_SUITE_P(Vulkan, ScalarF16, ::testing::ValuesIn(kF16Cases));

class ScalarBf16 : public VulkanCases {};
TEST_P(ScalarBf16, MatchesReference) { expect_passes(VulkanPath::scalar, GetParam()); }
INSTANTIATE_TEST_SUITE_P(Vulkan, ScalarBf16, ::testing::ValuesIn(kBf16Cases));

class CoopmatF16 : public VulkanCases {};
TEST_P(CoopmatF16, MatchesReference) { expect_passes(VulkanPath::coopmat, GetParam()); }
INSTANTIATE_TEST_SUITE_P(Vulkan, CoopmatF16, ::testing::ValuesIn(kF16Cases));

TEST(VulkanBackendTest, ValidationLayerIsOnAndCountsErrors) {
  ASSERT_TRUE(validation_env_set);
  auto backend = make(VulkanPath::scalar);
  REQUIRE_DEVICE(backend);
  EXPECT_EQ(backend->context().at("validation"), "on");
  // A buffer with no usage bit breaks VUID-VkBufferCreateInfo-usage-requiredbitmask: the
  // layer must see it and the count must move, or a silent layer would pass every test.
  auto ctx = vulkan::acquire_context("");
  const int before = vulkan::validation_error_count();
  std::fprintf(stderr, "(the next two validation errors are provoked on purpose)\n");
  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  info.size = 256;
  info.usage = 0;
  VkBuffer buffer = VK_NULL_HANDLE;
  if (vkCreateBuffer(ctx->device(), &info, nullptr, &buffer) == VK_SUCCESS) {
    vkDestroyBuffer(ctx->device(), buffer, nullptr);
  }
  EXPECT_GT(vulkan::validation_error_count(), before);
  // And the backend turns it into an exception for a case that saw it.
  const Problem p = parse_problem("b=1,hq=1,sq=8,d=16");
  const Inputs inputs = generate_inputs(p);
  backend->prepare(p, inputs);
  vkCreateBuffer(ctx->device(), &info, nullptr, &buffer);
  if (buffer != VK_NULL_HANDLE) vkDestroyBuffer(ctx->device(), buffer, nullptr);
  backend->run();
  EXPECT_THROW(backend->sync(), std::runtime_error);
}

TEST(VulkanBackendTest, WrongReferenceFails) {
  // The comparison can fail: the same kernel checked against the unscaled problem does.
  auto backend = make(VulkanPath::scalar);
  REQUIRE_DEVICE(backend);
  const Problem p = parse_problem("b=1,hq=2,sq=32,skv=48,d=32");
  const Problem unscaled = parse_problem("b=1,hq=2,sq=32,skv=48,d=32,scale=1");
  EXPECT_TRUE(run_and_check(*backend, p, p).pass());
  EXPECT_FALSE(run_and_check(*backend, p, unscaled).pass());
  const Problem causal = parse_problem("b=1,hq=2,sq=32,skv=48,d=32,mask=causal");
  EXPECT_FALSE(run_and_check(*backend, p, causal).pass());
}

TEST(VulkanBackendTest, TimesWithTimestampsAndReportsTheDevice) {
  auto backend = make(VulkanPath::automatic);
  REQUIRE_DEVICE(backend);
  const auto ctx = backend->context();
  EXPECT_FALSE(ctx.at("device").empty());
  EXPECT_FALSE(ctx.at("driver").empty());
  EXPECT_EQ(backend->device_class(), "vulkan:" + ctx.at("device"));
  const Problem p = parse_problem("b=1,hq=2,sq=64,d=64,dtype=f16");
  const Inputs inputs = generate_inputs(p);
  backend->prepare(p, inputs);
  backend->run();
  backend->sync();
  if (ctx.at("timestamp_valid_bits") != "0") {
    ASSERT_TRUE(backend->last_device_ms().has_value());
    EXPECT_GT(*backend->last_device_ms(), 0.0);
    EXPECT_LT(*backend->last_device_ms(), 60e3);
  }
  const auto notes = backend->case_notes();
  // Auto takes coopmat exactly when the device offers it (and the shader was compiled).
  const bool coopmat = ctx.at("coopmat").rfind("yes", 0) == 0 && ctx.at("coopmat_shader") == "compiled";
  EXPECT_EQ(notes.at("path"), coopmat ? "coopmat" : "scalar");
  EXPECT_GT(backend->scratch_bytes(), 0u);
}

TEST(VulkanBackendTest, CoopmatSaysWhyItCannotRun) {
  auto backend = make(VulkanPath::coopmat);
  REQUIRE_DEVICE(backend);
  const Support f32 = backend->supports(parse_problem("b=1,hq=1,sq=16,d=64"));
  EXPECT_FALSE(f32.ok);
  EXPECT_FALSE(f32.reason.empty());
  const Support f16 = backend->supports(parse_problem("b=1,hq=1,sq=16,d=64,dtype=f16"));
  if (backend->context().at("coopmat").rfind("no", 0) == 0) {
    EXPECT_FALSE(f16.ok);
    EXPECT_NE(f16.reason.find("cooperative_matrix"), std::string::npos) << f16.reason;
  }
}

TEST(VulkanBackendTest, RejectsHeadDimsAboveTheShaders) {
  auto backend = make(VulkanPath::scalar);
  REQUIRE_DEVICE(backend);
  const Support s = backend->supports(parse_problem("b=1,hq=1,sq=16,d=320"));
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.reason.find("256"), std::string::npos) << s.reason;
}

TEST(VulkanDeviceChoice, DefaultPrefersDiscreteThenCpu) {
  using vulkan::DeviceCandidate;
  const std::vector<DeviceCandidate> devices = {{"llvmpipe (LLVM 15)", VK_PHYSICAL_DEVICE_TYPE_CPU},
                                                {"NVIDIA H100", VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU},
                                                {"Intel UHD", VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU}};
  EXPECT_EQ(vulkan::choose_device(devices, ""), 1u);
  EXPECT_EQ(vulkan::choose_device({devices[0]}, ""), 0u);
  EXPECT_EQ(vulkan::choose_device({devices[0], devices[2]}, ""), 1u);
}

TEST(VulkanDeviceChoice, ByIndexOrNameElseAnErrorListingDevices) {
  using vulkan::DeviceCandidate;
  const std::vector<DeviceCandidate> devices = {{"llvmpipe (LLVM 15)", VK_PHYSICAL_DEVICE_TYPE_CPU},
                                                {"NVIDIA H100", VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU}};
  EXPECT_EQ(vulkan::choose_device(devices, "0"), 0u);
  EXPECT_EQ(vulkan::choose_device(devices, "h100"), 1u);
  EXPECT_EQ(vulkan::choose_device(devices, "LLVMPIPE"), 0u);
  try {
    vulkan::choose_device(devices, "radeon");
    FAIL() << "no device matches 'radeon'";
  } catch (const vulkan::VulkanError& e) {
    EXPECT_NE(std::string(e.what()).find("NVIDIA H100"), std::string::npos) << e.what();
  }
  EXPECT_THROW(vulkan::choose_device(devices, "2"), vulkan::VulkanError);
  EXPECT_THROW(vulkan::choose_device({}, ""), vulkan::VulkanError);
}

// Every backend of one GPU gets the same calibrations, one per dtype, labelled as this
// project's own kernels, and measured once per process; a CPU device (lavapipe) gets none.
TEST(VulkanCalibration, ScalarGemmsInF32AndF16ForTheDeviceClass) {
  auto backend = make(VulkanPath::automatic);
  REQUIRE_DEVICE(backend);
  const int errors_before = vulkan::validation_error_count();
  const std::vector<Calibration> cal = backend->calibrate();
  EXPECT_EQ(vulkan::validation_error_count(), errors_before);
  if (backend->context().at("device_type") == "CPU") {
    EXPECT_TRUE(cal.empty()) << "a CPU device's GEMM is no peak of the machine";
    return;
  }
  ASSERT_EQ(cal.size(), 2u);
  EXPECT_EQ(cal[0].dtype, DType::f32);
  EXPECT_EQ(cal[1].dtype, DType::f16);
  for (const Calibration& c : cal) {
    EXPECT_EQ(c.device_class, backend->device_class());
    EXPECT_FALSE(c.from_library) << c.what;
    EXPECT_TRUE(std::isfinite(c.tflops) && c.tflops > 0) << c.what << ": " << c.tflops;
  }
  const bool coopmat = backend->context().at("coopmat").rfind("yes", 0) == 0 &&
                       backend->context().at("coopmat_shader") == "compiled";
  EXPECT_NE(cal[1].what.find(coopmat ? "cooperative-matrix" : "scalar"), std::string::npos) << cal[1].what;
  auto scalar = make(VulkanPath::scalar);
  const std::vector<Calibration> again = scalar->calibrate();
  ASSERT_EQ(again.size(), cal.size());
  EXPECT_EQ(again[0].tflops, cal[0].tflops);  // the same measurement, not a second one
}

// The GEMM shaders run everywhere (lavapipe included) and pass their own result check.
TEST(VulkanCalibration, GemmOfEachShaderComputesTheProduct) {
  auto backend = make(VulkanPath::scalar);
  REQUIRE_DEVICE(backend);
  auto ctx = vulkan::acquire_context("");
  const int errors_before = vulkan::validation_error_count();
  for (vulkan::Shader shader : {vulkan::Shader::gemm_scalar_f32, vulkan::Shader::gemm_scalar_f16}) {
    const double seconds = vulkan::time_gemm(*ctx, shader, 128, 2);
    EXPECT_GT(seconds, 0.0) << vulkan::to_string(shader);
  }
  if (ctx->info().coopmat && !vulkan::spirv(vulkan::Shader::gemm_coopmat_f16).empty()) {
    EXPECT_GT(vulkan::time_gemm(*ctx, vulkan::Shader::gemm_coopmat_f16, 128, 2), 0.0);
  }
  EXPECT_EQ(vulkan::validation_error_count(), errors_before);
}

TEST(VulkanColdCaches, FlushSizeCoversTheLargestGpuCacheAndSkipsCpuDevices) {
  EXPECT_EQ(vulkan::cache_flush_bytes(VK_PHYSICAL_DEVICE_TYPE_CPU, uint64_t{64} << 30), 0u);
  EXPECT_EQ(vulkan::cache_flush_bytes(VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU, uint64_t{141} << 30), uint64_t{512} << 20);
  EXPECT_EQ(vulkan::cache_flush_bytes(VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU, uint64_t{1} << 30), uint64_t{128} << 20);
}

TEST(VulkanColdCaches, FlushBetweenRunsLeavesTheCaseIntact) {
  auto backend = make(VulkanPath::automatic);
  REQUIRE_DEVICE(backend);
  const Problem p = parse_problem("b=1,hq=2,sq=40,d=32,dtype=f16");
  const Inputs inputs = generate_inputs(p);
  backend->prepare(p, inputs);
  backend->run();
  backend->sync();
  const std::vector<double> first = backend->output();
  backend->flush_device_caches();
  backend->run();
  backend->sync();
  EXPECT_EQ(backend->output(), first);
  backend->release();
}

TEST(VulkanErrors, ALostDeviceSaysTheProcessMustRestart) {
  try {
    vulkan::check(VK_ERROR_DEVICE_LOST, "vkQueueSubmit");
    FAIL() << "no exception";
  } catch (const vulkan::VulkanError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("VK_ERROR_DEVICE_LOST"), std::string::npos) << what;
    EXPECT_NE(what.find("restarted"), std::string::npos) << what;
  }
}

// release() frees the case: nothing of it can be read afterwards, and a new case prepares.
TEST(VulkanLifecycle, ReleaseFreesTheCase) {
  auto backend = make(VulkanPath::scalar);
  REQUIRE_DEVICE(backend);
  const Problem p = parse_problem("b=1,hq=1,sq=8,d=16");
  const Inputs inputs = generate_inputs(p);
  backend->prepare(p, inputs);
  backend->run();
  backend->sync();
  EXPECT_FALSE(backend->case_notes().empty());
  backend->release();
  EXPECT_TRUE(backend->case_notes().empty());
  EXPECT_THROW(backend->output(), std::logic_error);
  EXPECT_THROW(backend->run(), std::logic_error);
  backend->release();  // twice is harmless
  const AccuracyReport r = run_and_check(*backend, p, p);
  EXPECT_TRUE(r.pass()) << r.summary();
}

TEST(VulkanValidationLayer, KnowsCoopmatFrom1_3_261) {
  EXPECT_FALSE(vulkan::validation_layer_knows_coopmat(VK_MAKE_API_VERSION(0, 1, 3, 239)));  // Debian 12
  EXPECT_FALSE(vulkan::validation_layer_knows_coopmat(VK_MAKE_API_VERSION(0, 1, 3, 260)));
  EXPECT_TRUE(vulkan::validation_layer_knows_coopmat(VK_MAKE_API_VERSION(0, 1, 3, 261)));
  EXPECT_TRUE(vulkan::validation_layer_knows_coopmat(VK_MAKE_API_VERSION(0, 1, 4, 0)));
}

// The layer's version is read and recorded; an old layer hides coopmat from the validated
// context only where the device has the extension (then coopmat runs on a plain context).
TEST(VulkanValidationLayer, VersionIsRecordedAndDecidesWhereCoopmatRuns) {
  auto backend = make(VulkanPath::coopmat);
  REQUIRE_DEVICE(backend);
  const auto ctx = backend->context();
  ASSERT_EQ(ctx.at("validation"), "on");
  const std::string version = ctx.at("validation_layer_version");
  EXPECT_NE(backend->describe().find("layer " + version), std::string::npos) << backend->describe();
  auto context = vulkan::acquire_context("");
  EXPECT_EQ(context->validation_layer_version(), version);
  if (context->coopmat_needs_plain_context()) {
    EXPECT_NE(ctx.at("validation_coopmat").find("predates"), std::string::npos);
    auto plain = vulkan::acquire_context("", /*validate=*/false);
    EXPECT_FALSE(plain->validation());
    EXPECT_FALSE(plain->coopmat_needs_plain_context());
  } else {
    EXPECT_EQ(ctx.count("validation_coopmat"), 0u);
  }
}

TEST(VulkanDeviceChoice, WarnsWhenTheDefaultFallsBackToTheCpuBesideAnNvidiaDriver) {
  const std::string warning =
      vulkan::cpu_fallback_warning(VK_PHYSICAL_DEVICE_TYPE_CPU, "llvmpipe (LLVM 15.0.6, 256 bits)",
                                   /*selector_given=*/false, /*nvidia_present=*/true);
  EXPECT_NE(warning.find("llvmpipe"), std::string::npos) << warning;
  EXPECT_NE(warning.find("NVIDIA_DRIVER_CAPABILITIES"), std::string::npos) << warning;
  EXPECT_NE(warning.find("nvidia_icd.json"), std::string::npos) << warning;
  // No warning: no NVIDIA driver, the user chose the CPU device, or a GPU was found.
  EXPECT_EQ(vulkan::cpu_fallback_warning(VK_PHYSICAL_DEVICE_TYPE_CPU, "llvmpipe", false, false), "");
  EXPECT_EQ(vulkan::cpu_fallback_warning(VK_PHYSICAL_DEVICE_TYPE_CPU, "llvmpipe", true, true), "");
  EXPECT_EQ(vulkan::cpu_fallback_warning(VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU, "NVIDIA H100", false, true), "");
}

TEST(VulkanDeviceChoice, TheWarningReachesDescribeAndContextOnThisMachine) {
  auto backend = make(VulkanPath::automatic);
  REQUIRE_DEVICE(backend);
  const bool cpu = backend->context().at("device_type") == "CPU";
  const bool expect_warning = cpu && vulkan::nvidia_driver_present() && std::getenv(vulkan::kDeviceEnv) == nullptr;
  EXPECT_EQ(backend->context().count("warning"), expect_warning ? 1u : 0u);
  EXPECT_EQ(backend->describe().find("WARNING") != std::string::npos, expect_warning) << backend->describe();
}

TEST(VulkanDeviceChoice, ANamedDeviceThatDoesNotExistIsASpecError) {
  REQUIRE_DEVICE(make(VulkanPath::automatic));
  BackendOptions options;
  options.vulkan_device = "no-such-gpu-xyz";
  try {
    VulkanBackend backend(VulkanPath::automatic, options);
    FAIL() << "a device name that matches nothing must not fall back to another device";
  } catch (const SpecError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("--vulkan-device no-such-gpu-xyz"), std::string::npos) << what;
    EXPECT_NE(what.find("devices: 0: "), std::string::npos) << what;  // lists what there is
  }
  options.vulkan_device = "99";
  EXPECT_THROW(VulkanBackend(VulkanPath::scalar, options), SpecError);
}

}  // namespace
}  // namespace sdpa
