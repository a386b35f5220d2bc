// The machine class on /proc/cpuinfo text recorded from real parts (harness/testdata/cpuinfo/),
// and on the contexts of files written before the identity keys existed.
#include "harness/machine_class.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "core/problem.h"
#include "harness/machine_info.h"
#include "harness/merge.h"

namespace sdpa {
namespace {

using nlohmann::json;

CpuIdentity fixture(const std::string& name) {
  std::ifstream in(std::string(SDPA_SOURCE_DIR) + "/harness/testdata/cpuinfo/" + name);
  EXPECT_TRUE(in) << name;
  std::ostringstream text;
  text << in.rdbuf();
  return parse_cpuinfo(text.str());
}

// A context as a run on `cpu` with 2 of its cores would record it.
json context_of(const CpuIdentity& cpu, int cores = 2, int threads = 2) {
  json c = cpu_identity_context(cpu);
  c["cpu_model"] = cpu.model_name;
  c["cpu_cores_online"] = std::to_string(cores);
  c["threads_used"] = std::to_string(threads);
  return c;
}

TEST(machine_class, parses_the_first_processor) {
  const CpuIdentity zen4 = fixture("zen4-epyc-9r14-kvm.txt");
  EXPECT_EQ(zen4.vendor_id, "AuthenticAMD");
  EXPECT_EQ(zen4.model_name, "AMD EPYC 9R14");
  EXPECT_EQ(zen4.family, 25);
  EXPECT_EQ(zen4.model, 17);
  EXPECT_EQ(zen4.stepping, 1);
  EXPECT_EQ(zen4.microcode, "0xa10113e");
  EXPECT_DOUBLE_EQ(zen4.mhz, 2600.0);
  EXPECT_TRUE(zen4.hypervisor());
  EXPECT_TRUE(zen4.flags.count("avx512_bf16"));
  EXPECT_FALSE(fixture("alderlake-i7-12700k.txt").hypervisor());
}

TEST(machine_class, microarchitecture_from_family_and_model) {
  EXPECT_EQ(microarchitecture(fixture("zen4-epyc-9r14-kvm.txt")).name, "zen4");
  EXPECT_EQ(microarchitecture(fixture("zen5-epyc-9r45-kvm.txt")).name, "zen5");
  EXPECT_EQ(microarchitecture(fixture("sapphirerapids-8488c-kvm.txt")).name, "sapphirerapids");
  EXPECT_EQ(microarchitecture(fixture("alderlake-i7-12700k.txt")).name, "alderlake");
  CpuIdentity clx = fixture("sapphirerapids-8488c-kvm.txt");
  clx.model = 0x55;
  clx.stepping = 7;
  clx.flags.erase("amx_bf16");
  clx.flags.erase("avx512_fp16");
  clx.flags.erase("avx512_bf16");
  EXPECT_EQ(microarchitecture(clx).name, "cascadelake");
  CpuIdentity emr = fixture("sapphirerapids-8488c-kvm.txt");
  emr.model = 0xcf;
  EXPECT_EQ(microarchitecture(emr).name, "emeraldrapids");
}

TEST(machine_class, isa_tiers) {
  EXPECT_EQ(isa_tier(fixture("zen4-epyc-9r14-kvm.txt").flags), "avx512bf16");
  EXPECT_EQ(isa_tier(fixture("sapphirerapids-8488c-kvm.txt").flags), "amx");
  EXPECT_EQ(isa_tier(fixture("alderlake-i7-12700k.txt").flags), "avx2");
  EXPECT_EQ(isa_tier({"avx512f", "avx512bw", "avx512vl", "avx2", "fma"}), "avx512");
  EXPECT_EQ(isa_tier({"sse4_2"}), "base");
}

TEST(machine_class, a_guest_whose_model_contradicts_its_flags_keeps_the_raw_model) {
  // Family 6 model 167 is Rocket Lake, which has no AMX; this KVM guest shows AMX-BF16 and
  // AVX512-FP16, so the model is the hypervisor's and the class keeps it raw.
  const CpuIdentity kvm = fixture("kvm-intel-6-167-amx.txt");
  const Microarchitecture u = microarchitecture(kvm);
  EXPECT_FALSE(u.known);
  EXPECT_EQ(u.name, "6-167");
  EXPECT_EQ(u.guess, "sapphirerapids or later (by flags: amx_bf16, avx512_fp16); the reported model is rocketlake, "
                     "which has no amx");
  EXPECT_EQ(hardware_class(context_of(kvm)), "intel-6-167-amx-2c2t-vm");
  EXPECT_EQ(cpu_identity_context(kvm).at("cpu_uarch_guess"), u.guess);
  // A model the table has never heard of: raw, with the flags' guess.
  CpuIdentity future = kvm;
  future.model = 250;
  EXPECT_EQ(microarchitecture(future).name, "6-250");
  EXPECT_EQ(microarchitecture(future).guess.rfind("sapphirerapids or later", 0), 0u);
}

TEST(machine_class, two_generations_get_different_classes) {
  const std::string zen4 = hardware_class(context_of(fixture("zen4-epyc-9r14-kvm.txt")));
  const std::string zen5 = hardware_class(context_of(fixture("zen5-epyc-9r45-kvm.txt")));
  EXPECT_EQ(zen4, "amd-zen4-avx512bf16-2c2t-vm");
  EXPECT_EQ(zen5, "amd-zen5-avx512bf16-2c2t-vm");
  EXPECT_EQ(hardware_class(context_of(fixture("sapphirerapids-8488c-kvm.txt"))), "intel-sapphirerapids-amx-2c2t-vm");
  EXPECT_EQ(hardware_class(context_of(fixture("alderlake-i7-12700k.txt"), 20, 8)), "intel-alderlake-avx2-20c8t");
}

TEST(machine_class, threads_cores_and_gpus_split_a_class) {
  json c = context_of(fixture("zen4-epyc-9r14-kvm.txt"));
  const std::string two = hardware_class(c);
  c["threads_used"] = "1";
  EXPECT_NE(hardware_class(c), two);
  c["cudnn_cuda_device"] = "NVIDIA H100 80GB HBM3";
  c["vulkan_device"] = "llvmpipe (LLVM 15.0.6, 256 bits)";
  c["vulkan_device_type"] = "CPU";
  EXPECT_EQ(hardware_class(c), "amd-zen4-avx512bf16-2c1t-vm-nvidia-h100-80gb-hbm3");
  c["vulkan_device"] = "AMD Radeon RX 7900 XTX";
  c["vulkan_device_type"] = "DISCRETE_GPU";
  EXPECT_EQ(hardware_class(c), "amd-zen4-avx512bf16-2c1t-vm-amd-radeon-rx-7900-xtx-nvidia-h100-80gb-hbm3");
}

TEST(machine_class, files_from_before_the_identity_keys) {
  // What results/amd-epyc-2c recorded: no family or model, but AVX-512 with a 48 KiB L1d.
  json zen5 = {{"cpu_model", "AMD EPYC"}, {"cpu_cores_online", "2"}, {"threads_used", "2"}, {"num_cpus", 2},
               {"caches_per_core", "L1=48K L2=1024K L3=32768K"},
               {"isa_flags", "sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_bf16 avx512_vnni"}};
  EXPECT_EQ(hardware_class(zen5), "amd-zen5-avx512bf16-2c2t");
  json zen4 = zen5;
  zen4["caches_per_core"] = "L1=32K L2=1024K L3=32768K";
  EXPECT_EQ(hardware_class(zen4), "amd-zen4-avx512bf16-2c2t");
  json xeon = {{"cpu_model", "Intel(R) Xeon(R) Processor"}, {"cpu_cores_online", "2"}, {"threads_used", "2"},
               {"isa_flags", "avx2 fma avx512f avx512bw avx512vl avx512_bf16 avx512_fp16 amx_tile amx_bf16"}};
  EXPECT_EQ(hardware_class(xeon), "intel-unknowngen-amx-2c2t");
  EXPECT_THROW(hardware_class(json{{"threads_used", "2"}}), SpecError);
}

TEST(machine_class, every_results_file_records_the_identity_of_this_machine) {
  const auto ctx = host_context(2);
  for (const char* key : {"cpu_vendor", "cpu_family", "cpu_model_number", "cpu_stepping", "cpu_uarch", "cpu_isa_tier",
                          "cpu_virtualised", "caches_per_core", "machine_class"}) {
    ASSERT_TRUE(ctx.count(key)) << key;
    EXPECT_FALSE(ctx.at(key).empty()) << key;
  }
  EXPECT_EQ(ctx.at("machine_class"), hardware_class(json(ctx)));
  EXPECT_EQ(ctx.at("machine_class"), host_hardware_class(2));
  EXPECT_TRUE(std::regex_search(ctx.at("machine_class"), std::regex("-[0-9]+c2t(-|$)"))) << ctx.at("machine_class");
}

TEST(machine_class, merge_refuses_two_generations_under_one_model_string) {
  // Everything merge compared before agrees (model string, threads, commit, suite); only the
  // generation differs, as with the Zen 4 run that once landed in a Zen 5 folder.
  auto file = [](const std::string& uarch) {
    json ctx = context_of(fixture(uarch == "zen4" ? "zen4-epyc-9r14-kvm.txt" : "zen5-epyc-9r45-kvm.txt"));
    ctx.update({{"cpu_model", "AMD EPYC"}, {"executable", "sdpa-bench"}, {"git_commit", "abc"}, {"suite", "smoke"}});
    return json{{"format", "sdpa-bench-results"}, {"format_version", 2}, {"context", ctx},
                {"benchmarks", json::array()}};
  };
  try {
    merge_results({{"zen4.json", file("zen4")}, {"zen5.json", file("zen5")}}, MergeOptions{});
    FAIL() << "merged two generations";
  } catch (const SpecError& e) {
    EXPECT_NE(std::string(e.what()).find("machine class differs: zen4.json: 'amd-zen4-avx512bf16-2c2t-vm'; "
                                         "zen5.json: 'amd-zen5-avx512bf16-2c2t-vm'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(merge_results({{"a.json", file("zen5")}, {"b.json", file("zen5")}}, MergeOptions{}));
}

}  // namespace
}  // namespace sdpa
