#include "backends/blocked_cpu/blocked_cpu.h"

#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <stdexcept>

#include "backends/blocked_cpu/register.h"
#include "backends/blocked_cpu/sgemm.h"
#include "backends/blocked_cpu/tiling.h"
#include "core/memory.h"

namespace sdpa {

namespace blocked {

#ifndef SDPA_BLOCKED_CPU_HAVE_AVX2
const Kernels* kernels_avx2() { return nullptr; }  // this compiler / target has no AVX2 table
#endif
#ifndef SDPA_BLOCKED_CPU_HAVE_AVX512
const Kernels* kernels_avx512() { return nullptr; }
#endif
#ifndef SDPA_BLOCKED_CPU_HAVE_AVX512BF16
const Kernels16* kernels_avx512bf16() { return nullptr; }
#endif
#ifndef SDPA_BLOCKED_CPU_HAVE_AMX
const Kernels16* kernels_amx() { return nullptr; }
const char* amx_permission_error() { return "this build has no AMX table"; }
#else
// Linux keeps the 8 KiB tile data state out of every process until it asks (since 5.16);
// the grant covers all threads of the process, so asking once is enough.
const char* amx_permission_error() {
  static const char* const error = [] () -> const char* {
    constexpr long kArchReqXcompPerm = 0x1023;  // arch_prctl code, <asm/prctl.h>
    constexpr long kXfeatureXtiledata = 18;     // the tile data state component
    if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) {
      return "the kernel refused the AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM; needs Linux >= 5.16)";
    }
    return "";
  }();
  return error;
}
#endif

namespace {

const char* const kIsaNames[] = {"amx", "avx512bf16", "avx512", "avx2", "portable"};

}  // namespace

// __builtin_cpu_supports also checks that the OS enabled the vector state (XCR0); AMX's tile
// data state needs the permission asked for above besides.
std::string path_unavailable(const std::string& isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
  const bool avx512bf16 = avx512 && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bf16");
  if (isa == "portable") return "";
  if (isa == "avx2") return !kernels_avx2() ? "this build has no AVX2 table" : avx2 ? "" : "this CPU has no AVX2 + FMA + F16C";
  if (isa == "avx512") return !kernels_avx512() ? "this build has no AVX-512 table" : avx512 ? "" : "this CPU has no AVX-512F";
  if (isa == "avx512bf16") {
    if (!kernels_avx512bf16() || !kernels_avx512()) return "this build has no AVX512-BF16 table";
    return avx512bf16 ? "" : "this CPU has no AVX512-BF16 (with AVX-512 F/BW/VL/DQ)";
  }
  if (isa == "amx") {
    if (!kernels_amx() || !kernels_avx512()) return "this build has no AMX table";
    if (!avx512bf16 || !__builtin_cpu_supports("amx-tile") || !__builtin_cpu_supports("amx-bf16")) {
      return "this CPU has no AMX-BF16 (with AVX512-BF16)";
    }
    return amx_permission_error();
  }
  return "unknown path";
#else
  return isa == "portable" ? "" : "not an x86 build";
#endif
}

KernelChoice select_paths(const std::string& forced) {
  std::string want = forced;
  if (want.empty()) {
    if (const char* env = std::getenv("SDPA_BLOCKED_CPU_ISA")) want = env;
  }
  if (want.empty() || want == "auto") {
    KernelChoice choice;
    for (const char* isa : kIsaNames) {  // widest first
      if (!path_unavailable(isa).empty()) continue;
      if (!choice.bf16 && std::string(isa) == "amx") choice.bf16 = kernels_amx();
      if (!choice.bf16 && std::string(isa) == "avx512bf16") choice.bf16 = kernels_avx512bf16();
      if (std::string(isa) == "avx512" || std::string(isa) == "avx2") {
        choice.f32 = std::string(isa) == "avx512" ? kernels_avx512() : kernels_avx2();
        return choice;
      }
    }
    choice.f32 = &kernels_portable();
    return choice;
  }
  const std::string source = (forced.empty() ? "SDPA_BLOCKED_CPU_ISA=" : "blocked_cpu path ") + want;
  if (std::find(std::begin(kIsaNames), std::end(kIsaNames), want) == std::end(kIsaNames)) {
    throw std::runtime_error(source + ": must be auto, amx, avx512bf16, avx512, avx2 or portable");
  }
  if (const std::string why = path_unavailable(want); !why.empty()) throw std::runtime_error(source + ": " + why);
  if (want == "amx") return {kernels_avx512(), kernels_amx()};
  if (want == "avx512bf16") return {kernels_avx512(), kernels_avx512bf16()};
  if (want == "avx512") return {kernels_avx512(), nullptr};
  if (want == "avx2") return {kernels_avx2(), nullptr};
  return {&kernels_portable(), nullptr};
}

const Kernels& select_kernels(const std::string& forced) { return *select_paths(forced).f32; }

}  // namespace blocked

namespace {

int resolve_threads(int threads) { return threads > 0 ? threads : omp_get_max_threads(); }

std::string kib(int64_t bytes) { return std::to_string(bytes / 1024) + " KiB"; }

}  // namespace

BlockedCpuBackend::BlockedCpuBackend(std::string name, const blocked::Kernels* kernels, int threads,
                                     std::string unavailable)
    : BlockedCpuBackend(std::move(name), kernels, nullptr, threads, std::move(unavailable)) {}

BlockedCpuBackend::BlockedCpuBackend(std::string name, const blocked::Kernels* kernels,
                                     const blocked::Kernels16* bf16, int threads, std::string unavailable)
    : name_(std::move(name)),
      kernels_(kernels ? kernels : &blocked::kernels_portable()),
      unavailable_(kernels ? "" : std::move(unavailable)),
      flash_(*kernels_, resolve_threads(threads)),
      k16_(kernels ? bf16 : nullptr) {
  if (k16_) flash16_ = std::make_unique<blocked::FlashAttention16>(*k16_, flash_.threads());
}

Support BlockedCpuBackend::available() const {
  return unavailable_.empty() ? Support::yes() : Support::no(unavailable_);
}

namespace {

std::string bf16_path_words(const blocked::Kernels16* k16) {
  if (!k16) return "bf16 converted to f32";
  return std::string("bf16 native and f16 as exact bf16 pairs on ") +
         (std::string(k16->isa) == "amx" ? "AMX-BF16 tiles" : "AVX512-BF16 vdpbf16ps") +
         " (f32 accumulation, P rounded to the dtype)";
}

}  // namespace

std::string BlockedCpuBackend::describe() const {
  const blocked::CacheSizes caches = blocked::host_cache_sizes();
  std::string s = "flash-style tiled attention, online softmax in fp32, " + std::string(kernels_->isa) + " " +
                  std::to_string(kernels_->mr) + "x" + std::to_string(kernels_->nr) + " micro-kernel for f32" +
                  (k16_ ? "" : "/f16") + ", " +
                  bf16_path_words(k16_) + ", " + std::to_string(flash_.threads()) + " threads, blocks from L1d " +
                  kib(caches.l1d_bytes) + " / L2 " + kib(caches.l2_bytes);
  if (prepared_) {
    const blocked::Blocking& b = use16_ ? flash16_->blocking() : flash_.blocking();
    s += " (br=" + std::to_string(b.br) + " bc=" + std::to_string(b.bc) + ")";
  }
  return s;
}

std::map<std::string, std::string> BlockedCpuBackend::context() const {
  const blocked::CacheSizes caches = blocked::host_cache_sizes();
  return {{"isa", kernels_->isa},
          {"bf16_isa", k16_ ? k16_->isa : kernels_->isa},
          {"micro_kernel", std::to_string(kernels_->mr) + "x" + std::to_string(kernels_->nr)},
          {"threads", std::to_string(flash_.threads())},
          {"l1d_bytes", std::to_string(caches.l1d_bytes)},
          {"l2_bytes", std::to_string(caches.l2_bytes)}};
}

Support BlockedCpuBackend::supports(const Problem& p) const {
  // Only the output grows with the problem (scratch does not, but for the decode split's
  // partial results, which are smaller than the output); refuse what cannot fit.
  const double out_bytes = static_cast<double>(p.o_elems()) * sizeof(float);
  const std::string refusal = host_memory_refusal(out_bytes, "output values");
  return refusal.empty() ? Support::yes() : Support::no(refusal);
}

namespace {

// f16 on bf16 pairs splits and repacks every K/V block four segments wide, which pays only when
// enough query rows reuse the block. Measured (2 threads, d=128, skv=2048, GQA 8/2, quick
// policy, the f32 route's time / pairs' time) by rows per kv head (sq·group): 32 rows 0.47,
// 128 rows 0.76, 256 rows 1.01, 512 rows 1.64; a decode step (b=1 hq=32 hkv=8 sq=1 skv=8192,
// 4 rows) took 7.9 ms on pairs and 3.4 ms on the f32 route. The cut is at the crossover.
constexpr int64_t kF16PairsMinRows = 256;

}  // namespace

namespace blocked {
bool f16_pairs_pay(const Problem& p) { return p.sq * p.group() >= kF16PairsMinRows; }
}  // namespace blocked

void BlockedCpuBackend::prepare(const Problem& p, const Inputs& inputs) {
  use16_ = flash16_ && (p.dtype == DType::bf16 || (p.dtype == DType::f16 && blocked::f16_pairs_pay(p)));
  if (use16_) {
    flash16_->prepare(p);
  } else {
    flash_.prepare(p);
  }
  problem_ = p;
  inputs_ = &inputs;
  out_.assign(static_cast<std::size_t>(p.o_elems()), 0.0f);
  prepared_ = true;
}

void BlockedCpuBackend::run() {
  if (!prepared_) throw std::logic_error(name_ + ": run() before prepare()");
  if (use16_) {
    flash16_->run(*inputs_, out_.data());
  } else {
    flash_.run(*inputs_, out_.data());
  }
}

std::vector<double> BlockedCpuBackend::output() { return {out_.begin(), out_.end()}; }

uint64_t BlockedCpuBackend::scratch_bytes() const {
  return use16_ ? flash16_->scratch_bytes() : flash_.scratch_bytes();
}

void BlockedCpuBackend::release() {
  out_ = {};
  inputs_ = nullptr;
  prepared_ = false;
}

// isa: the table that ran this case; path: "bf16" (native 16-bit GEMMs), "f16 as bf16 pairs"
// (the same GEMMs on exact hi/lo splits, flash16.h) or "f32" (inputs converted to f32); bytes_moved: Q, K, V and O in storage precision, the traffic floor of a
// memory-bound case (decode), to set against the measured time as GB/s.
std::map<std::string, std::string> BlockedCpuBackend::case_notes() const {
  const blocked::Blocking& b = use16_ ? flash16_->blocking() : flash_.blocking();
  char bytes[32];
  std::snprintf(bytes, sizeof bytes, "%.0f", problem_.io_bytes());
  return {{"isa", use16_ ? k16_->isa : kernels_->isa},
          {"path", !use16_ ? "f32" : problem_.dtype == DType::f16 ? "f16 as bf16 pairs" : "bf16"},
          {"br", std::to_string(b.br)},
          {"bc", std::to_string(b.bc)},
          {"item_positions", std::to_string(use16_ ? flash16_->positions_per_item() : flash_.positions_per_item())},
          {"key_splits", std::to_string(use16_ ? flash16_->splits() : flash_.splits())},
          {"bytes_moved", bytes}};
}

std::vector<Calibration> BlockedCpuBackend::calibrate() {
  // The portable table is a fallback, not a claim on the machine's peak.
  if (kernels_ == &blocked::kernels_portable()) return {};
  constexpr int64_t n = 2048;
  // Best of 8 (~0.05 s each on two Zen 5 cores): the peak, not the mean, is the denominator.
  const blocked::SgemmTiming t = blocked::time_sgemm(*kernels_, flash_.threads(), n, 8);
  return {Calibration{"cpu",
                     "blocked_cpu packed sgemm f32 2048^3 on the " + std::string(kernels_->isa) + " " +
                         std::to_string(kernels_->mr) + "x" + std::to_string(kernels_->nr) + " micro-kernel, " +
                         std::to_string(flash_.threads()) + " threads",
                     t.tflops}};
}

namespace {

// A backend pinned to one path; where this CPU or build cannot run it, one that says why.
std::unique_ptr<Backend> pinned(const std::string& name, const std::string& isa, const BackendOptions& o) {
  if (const std::string why = blocked::path_unavailable(isa); !why.empty()) {
    return std::make_unique<BlockedCpuBackend>(name, nullptr, nullptr, o.threads, why);
  }
  const blocked::KernelChoice c = blocked::select_paths(isa);
  return std::make_unique<BlockedCpuBackend>(name, c.f32, c.bf16, o.threads);
}

}  // namespace

void register_blocked_cpu(Registry& registry) {
  registry.add("blocked_cpu", [](const BackendOptions& o) {
    const blocked::KernelChoice c = blocked::select_paths();
    return std::make_unique<BlockedCpuBackend>("blocked_cpu", c.f32, c.bf16, o.threads);
  });
  for (const char* isa : {"amx", "avx512bf16", "avx512", "avx2", "portable"}) {
    const std::string name = std::string("blocked_cpu_") + isa;
    registry.add_variant(name, "blocked_cpu", [name, isa](const BackendOptions& o) { return pinned(name, isa, o); });
  }
}

}  // namespace sdpa
