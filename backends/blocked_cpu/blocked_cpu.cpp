#include "backends/blocked_cpu/blocked_cpu.h"

#include <omp.h>

#include <cstdlib>
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

namespace {

// Whether the table was built and this CPU (and OS: __builtin_cpu_supports checks that the
// vector state is enabled) runs every instruction its translation unit was compiled for.
bool cpu_runs(const std::string& isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  if (isa == "avx2") return kernels_avx2() && avx2;
  if (isa == "avx512") return kernels_avx512() && avx2 && __builtin_cpu_supports("avx512f");
#endif
  return isa == "portable";
}

const Kernels& table(const std::string& isa) {
  if (isa == "avx512") return *kernels_avx512();
  if (isa == "avx2") return *kernels_avx2();
  return kernels_portable();
}

}  // namespace

const Kernels& select_kernels(const std::string& forced) {
  std::string want = forced;
  if (want.empty()) {
    if (const char* env = std::getenv("SDPA_BLOCKED_CPU_ISA")) want = env;
  }
  if (want.empty() || want == "auto") {
    for (const char* isa : {"avx512", "avx2"}) {
      if (cpu_runs(isa)) return table(isa);
    }
    return kernels_portable();
  }
  const std::string source = (forced.empty() ? "SDPA_BLOCKED_CPU_ISA=" : "blocked_cpu kernel table ") + want;
  if (want != "avx512" && want != "avx2" && want != "portable") {
    throw std::runtime_error(source + ": must be auto, avx512, avx2 or portable");
  }
  if (!cpu_runs(want)) throw std::runtime_error(source + ": this CPU or build cannot run it");
  return table(want);
}

}  // namespace blocked

namespace {

int resolve_threads(int threads) { return threads > 0 ? threads : omp_get_max_threads(); }

std::string kib(int64_t bytes) { return std::to_string(bytes / 1024) + " KiB"; }

}  // namespace

BlockedCpuBackend::BlockedCpuBackend(std::string name, const blocked::Kernels* kernels, int threads,
                                     std::string unavailable)
    : name_(std::move(name)),
      kernels_(kernels ? kernels : &blocked::kernels_portable()),
      unavailable_(kernels ? "" : std::move(unavailable)),
      flash_(*kernels_, resolve_threads(threads)) {}

Support BlockedCpuBackend::available() const {
  return unavailable_.empty() ? Support::yes() : Support::no(unavailable_);
}

std::string BlockedCpuBackend::describe() const {
  const blocked::CacheSizes caches = blocked::host_cache_sizes();
  std::string s = "flash-style tiled attention, online softmax in fp32, " + std::string(kernels_->isa) + " " +
                  std::to_string(kernels_->mr) + "x" + std::to_string(kernels_->nr) + " micro-kernel, " +
                  std::to_string(flash_.threads()) + " threads, blocks from L1d " + kib(caches.l1d_bytes) +
                  " / L2 " + kib(caches.l2_bytes);
  if (prepared_) {
    const blocked::Blocking& b = flash_.blocking();
    s += " (br=" + std::to_string(b.br) + " bc=" + std::to_string(b.bc) + ")";
  }
  return s;
}

std::map<std::string, std::string> BlockedCpuBackend::context() const {
  const blocked::CacheSizes caches = blocked::host_cache_sizes();
  return {{"isa", kernels_->isa},
          {"micro_kernel", std::to_string(kernels_->mr) + "x" + std::to_string(kernels_->nr)},
          {"threads", std::to_string(flash_.threads())},
          {"l1d_bytes", std::to_string(caches.l1d_bytes)},
          {"l2_bytes", std::to_string(caches.l2_bytes)}};
}

Support BlockedCpuBackend::supports(const Problem& p) const {
  // Only the output grows with the problem (scratch does not); refuse what cannot fit.
  const double out_bytes = static_cast<double>(p.o_elems()) * sizeof(float);
  const std::string refusal = host_memory_refusal(out_bytes, "output values");
  return refusal.empty() ? Support::yes() : Support::no(refusal);
}

void BlockedCpuBackend::prepare(const Problem& p, const Inputs& inputs) {
  flash_.prepare(p);
  inputs_ = &inputs;
  out_.assign(static_cast<std::size_t>(p.o_elems()), 0.0f);
  prepared_ = true;
}

void BlockedCpuBackend::run() {
  if (!prepared_) throw std::logic_error(name_ + ": run() before prepare()");
  flash_.run(*inputs_, out_.data());
}

std::vector<double> BlockedCpuBackend::output() { return {out_.begin(), out_.end()}; }

void BlockedCpuBackend::release() {
  out_ = {};
  inputs_ = nullptr;
  prepared_ = false;
}

std::map<std::string, std::string> BlockedCpuBackend::case_notes() const {
  const blocked::Blocking& b = flash_.blocking();
  return {{"isa", kernels_->isa},
          {"br", std::to_string(b.br)},
          {"bc", std::to_string(b.bc)},
          {"item_positions", std::to_string(flash_.positions_per_item())}};
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

void register_blocked_cpu(Registry& registry) {
  registry.add("blocked_cpu", [](const BackendOptions& o) {
    return std::make_unique<BlockedCpuBackend>("blocked_cpu", &blocked::select_kernels(), o.threads);
  });
  registry.add_variant("blocked_cpu_avx2", "blocked_cpu", [](const BackendOptions& o) {
    try {
      return std::make_unique<BlockedCpuBackend>("blocked_cpu_avx2", &blocked::select_kernels("avx2"), o.threads);
    } catch (const std::runtime_error&) {
      return std::make_unique<BlockedCpuBackend>("blocked_cpu_avx2", nullptr, o.threads,
                                                 "this CPU or build has no AVX2 + FMA + F16C");
    }
  });
  registry.add_variant("blocked_cpu_portable", "blocked_cpu", [](const BackendOptions& o) {
    return std::make_unique<BlockedCpuBackend>("blocked_cpu_portable", &blocked::kernels_portable(), o.threads);
  });
}

}  // namespace sdpa
