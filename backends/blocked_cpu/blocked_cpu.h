// Flash-style tiled attention on the CPU: br × bc tiles with online softmax in fp32, GEMM
// micro-kernels with register blocking on K/V packed into panels, O(n) memory (scratch does
// not grow with n at all). Registered three times: `blocked_cpu` takes the widest kernel
// table the CPU runs (AVX-512, else AVX2 + FMA + F16C, else portable C++;
// SDPA_BLOCKED_CPU_ISA=avx512|avx2|portable forces one), `blocked_cpu_avx2` and
// `blocked_cpu_portable` force those tables, so every path meets the conformance test and
// the benchmark.
#pragma once

#include <vector>

#include "backends/backend.h"
#include "backends/blocked_cpu/flash.h"
#include "backends/blocked_cpu/kernels.h"

namespace sdpa {

class BlockedCpuBackend : public Backend {
 public:
  // threads: 0 = OpenMP's default (all cores). kernels = nullptr: a table this CPU cannot run,
  // the backend then only reports `unavailable` as the reason.
  BlockedCpuBackend(std::string name, const blocked::Kernels* kernels, int threads, std::string unavailable = "");

  std::string name() const override { return name_; }
  std::string describe() const override;
  std::map<std::string, std::string> context() const override;
  Support available() const override;
  Support supports(const Problem& problem) const override;
  void prepare(const Problem& problem, const Inputs& inputs) override;
  void run() override;
  std::vector<double> output() override;
  uint64_t scratch_bytes() const override { return flash_.scratch_bytes(); }
  // Drops the output buffer (O grows with the problem; the per-thread tile scratch does not).
  void release() override;
  std::map<std::string, std::string> case_notes() const override;
  std::vector<Calibration> calibrate() override;

  const blocked::Kernels& kernels() const { return *kernels_; }

 private:
  std::string name_;
  const blocked::Kernels* kernels_;
  std::string unavailable_;
  blocked::FlashAttention flash_;
  const Inputs* inputs_ = nullptr;
  bool prepared_ = false;
  std::vector<float> out_;  // b, hq, sq, dv: rounded to dtype
};

namespace blocked {
// The table blocked_cpu uses here: `forced` ("avx512", "avx2", "portable", or empty for
// automatic, which reads SDPA_BLOCKED_CPU_ISA; automatic takes the widest the CPU runs).
// Throws std::runtime_error for an unknown name or a table this CPU or build cannot run.
const Kernels& select_kernels(const std::string& forced = "");
}  // namespace blocked

}  // namespace sdpa
