// Flash-style tiled attention on the CPU: br × bc tiles with online softmax in fp32, GEMM
// micro-kernels with register blocking on K/V packed into panels, O(n) memory (scratch does
// not grow with n at all). f32 runs on an f32 kernel table (AVX-512, else AVX2 + FMA + F16C,
// else portable C++). bf16 runs natively where the CPU can (flash16.h: AMX-BF16 tiles, else
// AVX512-BF16 vdpbf16ps), and f16 on the same tables as exact pairs of bf16; without them both
// run on the f32 table, converted to f32 while packing.
// `blocked_cpu` takes the widest paths the CPU runs; SDPA_BLOCKED_CPU_ISA=amx|avx512bf16|
// avx512|avx2|portable forces one (amx and avx512bf16 name the 16-bit path, f32 then runs on
// the AVX-512 table; avx512, avx2 and portable run f16 and bf16 converted to f32). Each is also registered pinned (blocked_cpu_amx, ...), so every path
// meets the conformance test and the benchmark.
//
// Why f16 goes through bf16 pairs: AVX512-FP16 multiplies and accumulates in f16 (too coarse
// for the f16 accuracy rule over thousands of keys), Sapphire Rapids' AMX has no FP16 tiles
// (AMX-FP16 came with Granite Rapids), and the f32 FMA route runs at a fraction of the tile
// unit's rate: four bf16 tile products per f16 product in Q·Kᵀ, three in P·V (kernels16.h), still win.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/blocked_cpu/flash.h"
#include "backends/blocked_cpu/flash16.h"
#include "backends/blocked_cpu/kernels.h"
#include "backends/blocked_cpu/kernels16.h"

namespace sdpa {

class BlockedCpuBackend : public Backend {
 public:
  // threads: 0 = OpenMP's default (all cores). kernels = nullptr: a table this CPU cannot run,
  // the backend then only reports `unavailable` as the reason.
  BlockedCpuBackend(std::string name, const blocked::Kernels* kernels, int threads, std::string unavailable = "");
  // bf16: the native bf16 table (which also runs f16, as bf16 pairs), or nullptr to run bf16
  // and f16 on `kernels` (converted to f32).
  BlockedCpuBackend(std::string name, const blocked::Kernels* kernels, const blocked::Kernels16* bf16, int threads,
                    std::string unavailable = "");

  std::string name() const override { return name_; }
  std::string describe() const override;
  std::map<std::string, std::string> context() const override;
  Support available() const override;
  Support supports(const Problem& problem) const override;
  void prepare(const Problem& problem, const Inputs& inputs) override;
  void run() override;
  std::vector<double> output() override;
  uint64_t scratch_bytes() const override;
  // Drops the output buffer (O grows with the problem; the per-thread tile scratch does not).
  void release() override;
  std::map<std::string, std::string> case_notes() const override;
  std::vector<Calibration> calibrate() override;

  const blocked::Kernels& kernels() const { return *kernels_; }
  const blocked::Kernels16* bf16_kernels() const { return k16_; }
  // Whether the prepared problem runs on the 16-bit driver (bf16 native or f16 as bf16 pairs).
  bool native_bf16() const { return use16_; }
  const blocked::FlashAttention16* flash16() const { return flash16_.get(); }

 private:
  std::string name_;
  const blocked::Kernels* kernels_;
  std::string unavailable_;
  blocked::FlashAttention flash_;
  const blocked::Kernels16* k16_ = nullptr;
  std::unique_ptr<blocked::FlashAttention16> flash16_;  // bf16 and f16; null without a bf16 table
  bool use16_ = false;
  Problem problem_;
  const Inputs* inputs_ = nullptr;
  bool prepared_ = false;
  std::vector<float> out_;  // b, hq, sq, dv: rounded to dtype
};

namespace blocked {
// The paths blocked_cpu uses here: `forced` names one ("amx", "avx512bf16", "avx512", "avx2",
// "portable"), empty means automatic, which reads SDPA_BLOCKED_CPU_ISA; automatic takes the
// widest the CPU runs. Throws std::runtime_error for an unknown name or a path this CPU or
// build cannot run, with the reason.
struct KernelChoice {
  const Kernels* f32 = nullptr;     // f32, and f16 / bf16 where `bf16` is null
  const Kernels16* bf16 = nullptr;  // the native bf16 table (bf16, and f16 as pairs), or null
};
KernelChoice select_paths(const std::string& forced = "");
// select_paths(forced).f32.
const Kernels& select_kernels(const std::string& forced = "");
// "" when this CPU and build run the named path, else why not.
std::string path_unavailable(const std::string& isa);
// Whether an f16 problem runs on bf16 pairs (where a Kernels16 table exists) rather than the f32
// route: only when enough query rows reuse each K/V block (blocked_cpu.cpp says how many).
bool f16_pairs_pay(const Problem& problem);
}  // namespace blocked

}  // namespace sdpa
