// Flash-style tiled attention on the CPU: br × bc tiles with online softmax in fp32, GEMM
// micro-kernels with register blocking on K/V packed into panels, O(n) memory (scratch does
// not grow with n at all). f32 runs on an f32 kernel table (AVX-512, else AVX2 + FMA + F16C,
// else portable C++). bf16 runs natively where the CPU can (flash16.h: AMX-BF16 tiles, else
// AVX512-BF16 vdpbf16ps), and f16 on the same tables as exact pairs of bf16; without them both
// run on the f32 table, converted to f32 while packing.
// `blocked_cpu` chooses its route by measurement on the machine it runs on: the first time
// prepare() meets a shape class (blocked::shape_class) it times every route this CPU runs —
// the 16-bit tables (amx, avx512bf16: bf16 natively, f16 as bf16 pairs), the f32 tables
// (avx512, avx2; portable only where neither runs) with bf16 / f16 converted while packing,
// and for a decode step the key split's rule, one range and twice the rule's ranges — in
// interleaved rounds, keeps the fastest in a process-wide plan cache, and reports the plan,
// the trial's length and every candidate's time in the case notes. The trial happens in
// prepare(), outside the timed samples. Every route passes the same accuracy rule, but which
// one runs, and so the output's last bits, can differ between machines and runs (each route
// alone is bit-identical for any thread count). SDPA_BLOCKED_CPU_TUNE=off takes the rule
// instead (widest tables; f16 as pairs only with 256+ query rows per kv head): deterministic;
// SDPA_BLOCKED_CPU_ISA=amx|avx512bf16|avx512|avx2|portable narrows the candidates to one path
// (amx and avx512bf16 name the 16-bit path, f32 then runs on the AVX-512 table);
// SDPA_BLOCKED_CPU_DISABLE=amx (a comma list) makes a path unavailable everywhere, as on a
// CPU without it. Each path is also registered pinned (blocked_cpu_amx, ...), one route each
// (the 16-bit ones run f16 as pairs at every size), so every path meets the conformance test
// and the benchmark.
//
// Why f16 may go through bf16 pairs: AVX512-FP16 multiplies and accumulates in f16 (too coarse
// for the f16 accuracy rule over thousands of keys), Sapphire Rapids' AMX has no FP16 tiles
// (AMX-FP16 came with Granite Rapids). With AMX four bf16 tile products per f16 product in
// Q·Kᵀ and three in P·V still beat f32 FMA at enough rows per K/V block; on vdpbf16ps alone
// (Zen 4) they may not, which is what the measurement settles.
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

namespace blocked {

// How an f16 problem runs where a Kernels16 table is given: as exact bf16 pairs on it, through
// the f32 table, or by blocked::f16_pairs_pay (the rule when nothing is measured).
enum class F16Route { rule, pairs, f32 };

// One way to run a problem: the f32 table, or (k16 set) the 16-bit driver on k16; and the
// decode key split (0: plan_key_split's rule).
struct Route {
  const Kernels* f32 = nullptr;
  const Kernels16* k16 = nullptr;
  int64_t splits = 0;
};

}  // namespace blocked

class BlockedCpuBackend : public Backend {
 public:
  // threads: 0 = OpenMP's default (all cores). kernels = nullptr: a table this CPU cannot run,
  // the backend then only reports `unavailable` as the reason.
  BlockedCpuBackend(std::string name, const blocked::Kernels* kernels, int threads, std::string unavailable = "");
  // bf16: the native bf16 table (which also runs f16, as bf16 pairs, as `f16` says), or nullptr
  // to run bf16 and f16 on `kernels` (converted to f32). One route, nothing measured.
  BlockedCpuBackend(std::string name, const blocked::Kernels* kernels, const blocked::Kernels16* bf16, int threads,
                    std::string unavailable = "", blocked::F16Route f16 = blocked::F16Route::rule);
  // Measured dispatch: every table in `f32_tables` (the first is the widest) and `k16_tables`
  // is a candidate route; prepare() times the candidates that can run the problem on it, once
  // per shape class (plan cache), and keeps the fastest. With `tune` false it takes the rule:
  // the first 16-bit table for bf16 (f16 where blocked::f16_pairs_pay), else the first f32 table.
  BlockedCpuBackend(std::string name, std::vector<const blocked::Kernels*> f32_tables,
                    std::vector<const blocked::Kernels16*> k16_tables, int threads, bool tune);
  ~BlockedCpuBackend() override;

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
  const blocked::Kernels16* bf16_kernels() const { return k16_tables_.empty() ? nullptr : k16_tables_.front(); }
  // Whether the prepared problem runs on the 16-bit driver (bf16 native or f16 as bf16 pairs).
  bool native_bf16() const { return route_.k16 != nullptr; }
  // The route prepare() chose.
  const blocked::Route& route() const { return route_; }

 private:
  blocked::FlashAttention& f32_driver(const blocked::Kernels* table);
  blocked::FlashAttention16& k16_driver(const blocked::Kernels16* table);
  // Prepares the driver of `r` for the problem; its blocking and key split.
  void prepare_route(const blocked::Route& r, const Problem& p);
  std::vector<blocked::Route> candidates(const Problem& p) const;
  blocked::Route rule_route(const Problem& p) const;
  // Times the candidates in interleaved rounds; the fastest.
  blocked::Route measure(const std::vector<blocked::Route>& routes, const Problem& p, const Inputs& inputs);
  // What measure() times: `p`, or the same problem on fewer heads when a round of every
  // candidate on all of them would be long (blocked_cpu.cpp).
  Problem trial_problem(const std::vector<blocked::Route>& routes, const Problem& p, const Inputs& inputs);
  // One run of `r` on `p`, in seconds of this clock (thread CPU time with one thread, else wall).
  double time_route(const blocked::Route& r, const Problem& p, const Inputs& inputs);

  std::string name_;
  const blocked::Kernels* kernels_;  // the first f32 table
  std::string unavailable_;
  int threads_;
  std::vector<const blocked::Kernels*> f32_tables_;
  std::vector<const blocked::Kernels16*> k16_tables_;
  blocked::F16Route f16_ = blocked::F16Route::rule;
  bool tune_ = false;
  std::vector<std::unique_ptr<blocked::FlashAttention>> f32_drivers_;    // one per f32 table, made when used
  std::vector<std::unique_ptr<blocked::FlashAttention16>> k16_drivers_;  // one per 16-bit table
  blocked::Route route_;
  std::string plan_source_;  // "rule", "measured" or "cached"
  double trial_seconds_ = 0.0;
  std::string trial_times_;  // each candidate's best time in the trial
  std::string trial_heads_;  // "" (the trial ran the problem itself) or "H of N kv heads"
  Problem problem_;
  const Inputs* inputs_ = nullptr;
  bool prepared_ = false;
  std::vector<float> out_;  // b, hq, sq, dv: rounded to dtype
};

namespace blocked {
// The paths blocked_cpu uses here: `forced` names one ("amx", "avx512bf16", "avx512", "avx2",
// "portable"), empty means automatic, which reads SDPA_BLOCKED_CPU_ISA; automatic takes the
// widest the CPU runs. Throws std::invalid_argument for an unknown name (bad input) and
// std::runtime_error for a path this CPU or build cannot run, with the reason.
struct KernelChoice {
  const Kernels* f32 = nullptr;     // f32, and f16 / bf16 where `bf16` is null
  const Kernels16* bf16 = nullptr;  // the native bf16 table (bf16, and f16 as pairs), or null
};
KernelChoice select_paths(const std::string& forced = "");
// select_paths(forced).f32.
const Kernels& select_kernels(const std::string& forced = "");
// "" when this CPU and build run the named path, else why not. A path named in
// SDPA_BLOCKED_CPU_DISABLE (a comma list, e.g. "amx") is unavailable too: what a CPU without it
// would see.
std::string path_unavailable(const std::string& isa);
// Whether an f16 problem runs on bf16 pairs (where a Kernels16 table exists) rather than the f32
// route: only when enough query rows reuse each K/V block (blocked_cpu.cpp says how many).
bool f16_pairs_pay(const Problem& problem);
// SDPA_BLOCKED_CPU_TUNE: "on" (default) or "off"; throws std::invalid_argument for anything else.
bool tune_enabled();
// The shape class a measured plan is kept for: dtype, d, dv, group, mask kind, and the
// powers of two at or above b·hkv, sq and skv.
std::string shape_class(const Problem& problem);
}  // namespace blocked

}  // namespace sdpa
