#include "backends/blocked_cpu/blocked_cpu.h"

#include <omp.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
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
  if (const char* env = std::getenv("SDPA_BLOCKED_CPU_DISABLE")) {
    std::stringstream list(env);
    for (std::string item; std::getline(list, item, ',');) {
      if (item == isa && isa != "portable") return "disabled by SDPA_BLOCKED_CPU_DISABLE";
    }
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  const bool avx512bf16 = avx512 && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bf16");
  if (isa == "portable") return "";
  if (isa == "avx2") return !kernels_avx2() ? "this build has no AVX2 table" : avx2 ? "" : "this CPU has no AVX2 + FMA + F16C";
  if (isa == "avx512") return !kernels_avx512() ? "this build has no AVX-512 table" : avx512 ? "" : "this CPU has no AVX-512F + DQ";
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
    throw std::invalid_argument(source + ": must be auto, amx, avx512bf16, avx512, avx2 or portable");
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
                                     const blocked::Kernels16* bf16, int threads, std::string unavailable,
                                     blocked::F16Route f16)
    : name_(std::move(name)),
      kernels_(kernels ? kernels : &blocked::kernels_portable()),
      unavailable_(kernels ? "" : std::move(unavailable)),
      threads_(resolve_threads(threads)),
      f32_tables_{kernels_},
      f16_(f16) {
  if (kernels && bf16) k16_tables_.push_back(bf16);
}

BlockedCpuBackend::BlockedCpuBackend(std::string name, std::vector<const blocked::Kernels*> f32_tables,
                                     std::vector<const blocked::Kernels16*> k16_tables, int threads, bool tune)
    : name_(std::move(name)),
      kernels_(f32_tables.empty() ? &blocked::kernels_portable() : f32_tables.front()),
      threads_(resolve_threads(threads)),
      f32_tables_(std::move(f32_tables)),
      k16_tables_(std::move(k16_tables)),
      tune_(tune) {
  if (f32_tables_.empty()) f32_tables_.push_back(kernels_);
}

BlockedCpuBackend::~BlockedCpuBackend() = default;

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

std::string table_list(const std::vector<const blocked::Kernels*>& f32, const std::vector<const blocked::Kernels16*>& k16) {
  std::string s;
  for (const blocked::Kernels16* t : k16) s += (s.empty() ? "" : ", ") + std::string(t->isa);
  for (const blocked::Kernels* t : f32) s += (s.empty() ? "" : ", ") + std::string(t->isa);
  return s;
}

}  // namespace

std::string BlockedCpuBackend::describe() const {
  const blocked::CacheSizes caches = blocked::host_cache_sizes();
  std::string s = "flash-style tiled attention, online softmax in fp32, ";
  if (f32_tables_.size() + k16_tables_.size() > 1) {
    s += std::string("route ") + (tune_ ? "measured per shape class" : "by rule") + " among " +
         table_list(f32_tables_, k16_tables_);
  } else {
    s += std::string(kernels_->isa) + " " + std::to_string(kernels_->mr) + "x" + std::to_string(kernels_->nr) +
         " micro-kernel for f32" + (bf16_kernels() ? "" : "/f16") + ", " + bf16_path_words(bf16_kernels());
  }
  s += ", " + std::to_string(threads_) + " threads, blocks from L1d " + kib(caches.l1d_bytes) + " / L2 " +
       kib(caches.l2_bytes);
  if (prepared_) {
    const std::map<std::string, std::string> notes = case_notes();
    s += " (" + notes.at("isa") + " " + notes.at("path") + ", br=" + notes.at("br") + " bc=" + notes.at("bc") + ")";
  }
  return s;
}

std::map<std::string, std::string> BlockedCpuBackend::context() const {
  const blocked::CacheSizes caches = blocked::host_cache_sizes();
  std::map<std::string, std::string> c = {{"isa", kernels_->isa},
                                          {"bf16_isa", bf16_kernels() ? bf16_kernels()->isa : kernels_->isa},
                                          {"micro_kernel", std::to_string(kernels_->mr) + "x" + std::to_string(kernels_->nr)},
                                          {"threads", std::to_string(threads_)},
                                          {"l1d_bytes", std::to_string(caches.l1d_bytes)},
                                          {"l2_bytes", std::to_string(caches.l2_bytes)}};
  if (f32_tables_.size() + k16_tables_.size() > 1) {
    c["routes"] = table_list(f32_tables_, k16_tables_);
    c["tune"] = tune_ ? "on" : "off";
  }
  return c;
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
// enough query rows reuse the block. Measured on Sapphire Rapids with AMX (2 threads, d=128,
// skv=2048, GQA 8/2, quick policy, the f32 route's time / pairs' time) by rows per kv head
// (sq·group): 32 rows 0.47, 128 rows 0.76, 256 rows 1.01, 512 rows 1.64; a decode step (b=1
// hq=32 hkv=8 sq=1 skv=8192, 4 rows) took 7.9 ms on pairs and 3.4 ms on the f32 route. The cut
// is at the crossover. It is only the rule for SDPA_BLOCKED_CPU_TUNE=off: on Zen 4 (AVX512-BF16,
// no AMX) pairs lost to the f32 route at every size, which is why the default measures.
constexpr int64_t kF16PairsMinRows = 256;

int64_t pow2_at_least(int64_t x) {
  int64_t p = 1;
  while (p < x) p *= 2;
  return p;
}

// Measured plans of this process, by backend name and shape class (the backend may be made
// afresh for every case).
std::mutex& plan_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, blocked::Route>& plan_cache() {
  static std::map<std::string, blocked::Route> cache;
  return cache;
}

}  // namespace

namespace blocked {
bool f16_pairs_pay(const Problem& p) { return p.sq * p.group() >= kF16PairsMinRows; }

bool tune_enabled() {
  const char* env = std::getenv("SDPA_BLOCKED_CPU_TUNE");
  const std::string v = env ? env : "on";
  if (v == "on" || v.empty()) return true;
  if (v == "off") return false;
  throw std::invalid_argument("SDPA_BLOCKED_CPU_TUNE=" + v + ": must be on or off");
}

std::string shape_class(const Problem& p) {
  std::ostringstream s;
  s << to_string(p.dtype) << " d=" << p.d << " dv=" << p.dv << " group=" << p.group()
    << " mask=" << static_cast<int>(p.mask) << " bh<=" << pow2_at_least(p.b * p.hkv)
    << " sq<=" << pow2_at_least(p.sq) << " skv<=" << pow2_at_least(p.skv);
  return s.str();
}
}  // namespace blocked

blocked::FlashAttention& BlockedCpuBackend::f32_driver(const blocked::Kernels* table) {
  const auto i = static_cast<std::size_t>(std::find(f32_tables_.begin(), f32_tables_.end(), table) - f32_tables_.begin());
  if (f32_drivers_.size() < f32_tables_.size()) f32_drivers_.resize(f32_tables_.size());
  if (!f32_drivers_[i]) f32_drivers_[i] = std::make_unique<blocked::FlashAttention>(*table, threads_);
  return *f32_drivers_[i];
}

blocked::FlashAttention16& BlockedCpuBackend::k16_driver(const blocked::Kernels16* table) {
  const auto i = static_cast<std::size_t>(std::find(k16_tables_.begin(), k16_tables_.end(), table) - k16_tables_.begin());
  if (k16_drivers_.size() < k16_tables_.size()) k16_drivers_.resize(k16_tables_.size());
  if (!k16_drivers_[i]) k16_drivers_[i] = std::make_unique<blocked::FlashAttention16>(*table, threads_);
  return *k16_drivers_[i];
}

void BlockedCpuBackend::prepare_route(const blocked::Route& r, const Problem& p) {
  if (r.k16) {
    k16_driver(r.k16).prepare(p, nullptr, r.splits);
  } else {
    f32_driver(r.f32).prepare(p, nullptr, r.splits);
  }
}

blocked::Route BlockedCpuBackend::rule_route(const Problem& p) const {
  blocked::Route r;
  r.f32 = f32_tables_.front();
  const blocked::Kernels16* k16 = bf16_kernels();
  if (k16 && p.dtype == DType::bf16) r.k16 = k16;
  if (k16 && p.dtype == DType::f16) {
    const bool pairs = f16_ == blocked::F16Route::pairs || (f16_ == blocked::F16Route::rule && blocked::f16_pairs_pay(p));
    if (pairs) r.k16 = k16;
  }
  return r;
}

// Every table that runs the dtype, each with the key split's rule and, where the rule splits
// (a decode step), one range and twice the rule's ranges besides.
std::vector<blocked::Route> BlockedCpuBackend::candidates(const Problem& p) const {
  std::vector<blocked::Route> tables;
  if (p.dtype != DType::f32) {
    for (const blocked::Kernels16* t : k16_tables_) tables.push_back({f32_tables_.front(), t, 0});
  }
  for (const blocked::Kernels* t : f32_tables_) tables.push_back({t, nullptr, 0});
  std::vector<blocked::Route> out;
  for (const blocked::Route& r : tables) {
    out.push_back(r);
    const int64_t bc = r.k16 ? blocked::choose_blocking16(p.d, p.dv, p.group(), r.k16->mr, blocked::host_cache_sizes(), p.dtype).bc
                             : blocked::F32Path(*r.f32).choose(p).bc;
    const int64_t rule = blocked::plan_key_split(p, bc).splits;
    if (rule > 1) {
      out.push_back({r.f32, r.k16, 1});
      if (blocked::plan_key_split(p, bc, 2 * rule).splits > rule) out.push_back({r.f32, r.k16, 2 * rule});
    }
  }
  return out;
}

namespace {

std::string route_words(const blocked::Route& r, DType dtype) {
  std::string s = r.k16 ? std::string(r.k16->isa) + (dtype == DType::f16 ? " pairs" : " bf16") : std::string(r.f32->isa) + " f32";
  if (r.splits > 0) s += " splits=" + std::to_string(r.splits);
  return s;
}

}  // namespace

double BlockedCpuBackend::time_route(const blocked::Route& r, const Problem& p, const Inputs& inputs) {
  // One thread: the run happens on this thread, whose CPU time leaves out the time other
  // processes held the core (robust on a shared machine). More: wall time, which also sees
  // idle threads (a decode step without a key split).
  const clockid_t clock_id = threads_ == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
  auto now = [clock_id] {
    timespec ts{};
    clock_gettime(clock_id, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  };
  prepare_route(r, p);
  const double t0 = now();
  if (r.k16) {
    k16_driver(r.k16).run(inputs, out_.data());
  } else {
    f32_driver(r.f32).run(inputs, out_.data());
  }
  return now() - t0;
}

// The trial's first round runs every candidate once, so on a long problem (h8 n4096, f16 as
// pairs: 0.3 s a run on two cores, 5 candidates) it alone took seconds, and up to 31 s on a
// loaded machine. Every head is the same work on the same tiles, so the route that wins on a
// few heads wins on all: when a round on the whole problem would pass kTrialRoundS, the trial
// runs the same problem on fewer kv heads (batch item 0's data, the longest kvlen), as many as
// keep a round near that. One run on a single head sizes it. The plan is still kept for the
// whole problem's shape class. Decode steps keep the problem: their key split is planned from
// the head count (and they are short).
constexpr double kTrialRoundS = 0.25;

Problem BlockedCpuBackend::trial_problem(const std::vector<blocked::Route>& routes, const Problem& p,
                                         const Inputs& inputs) {
  trial_heads_.clear();
  const int64_t heads = p.b * p.hkv;
  const bool splits = std::any_of(routes.begin(), routes.end(), [](const blocked::Route& r) { return r.splits > 0; });
  if (heads < 2 || splits) return p;
  Problem one = p;
  one.b = 1;
  one.hkv = 1;
  one.hq = p.group();
  // Batch 0's keys, as many as the longest batch item reads.
  if (p.mask == MaskKind::kvlen) one.kvlen = {*std::max_element(p.kvlen.begin(), p.kvlen.end())};
  time_route(routes.front(), one, inputs);  // warm-up
  const double per_head = time_route(routes.front(), one, inputs);
  const double round = per_head * static_cast<double>(heads * static_cast<int64_t>(routes.size()));
  if (round <= kTrialRoundS) return p;
  const auto keep = std::clamp<int64_t>(
      static_cast<int64_t>(kTrialRoundS / (per_head * static_cast<double>(routes.size()))), 1, p.hkv);
  if (keep >= heads) return p;
  Problem few = one;
  few.hkv = keep;
  few.hq = keep * p.group();
  trial_heads_ = std::to_string(keep) + " of " + std::to_string(heads) + " kv heads";
  return few;
}

// Rounds of every candidate in turn (the first also warms each up), each candidate's best
// (least disturbed) time kept. After the first round a candidate over 50 ms and 1.5x the
// fastest drops out (so a long problem's trial is one round of everything and a second of the
// close ones); after each later round, any over 1.5x. At least two rounds; more, up to 30,
// while the trial has run under 0.5 s, so a short problem is timed often enough to see past a
// busy machine's noise.
blocked::Route BlockedCpuBackend::measure(const std::vector<blocked::Route>& routes, const Problem& p,
                                          const Inputs& inputs) {
  std::vector<double> best(routes.size(), std::numeric_limits<double>::infinity());
  std::vector<bool> live(routes.size(), true);
  double elapsed = 0.0;
  for (int round = 1; round <= 30; ++round) {
    for (std::size_t i = 0; i < routes.size(); ++i) {
      if (!live[i]) continue;
      const double t = time_route(routes[i], p, inputs);
      best[i] = std::min(best[i], t);
      elapsed += t;
    }
    const double fastest = *std::min_element(best.begin(), best.end());
    if (round == 1) {  // a long candidate well behind is not run again
      for (std::size_t i = 0; i < routes.size(); ++i) live[i] = !(best[i] > 0.05 && best[i] > 1.5 * fastest);
      continue;
    }
    for (std::size_t i = 0; i < routes.size(); ++i) live[i] = live[i] && best[i] <= 1.5 * fastest;
    if (elapsed >= 0.5) break;
  }
  std::size_t win = 0;
  std::ostringstream times;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    if (best[i] < best[win]) win = i;
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.3g", best[i] * 1e3);
    times << (i ? "; " : "") << route_words(routes[i], p.dtype) << " " << ms << " ms";
  }
  trial_times_ = times.str();
  return routes[win];
}

void BlockedCpuBackend::prepare(const Problem& p, const Inputs& inputs) {
  problem_ = p;
  inputs_ = &inputs;
  out_.assign(static_cast<std::size_t>(p.o_elems()), 0.0f);
  trial_seconds_ = 0.0;
  trial_times_.clear();
  trial_heads_.clear();
  const std::vector<blocked::Route> routes = tune_ ? candidates(p) : std::vector<blocked::Route>{};
  if (routes.size() < 2) {
    route_ = rule_route(p);
    plan_source_ = "rule";
  } else {
    const std::string key = name_ + " " + blocked::shape_class(p);
    bool cached = false;
    {
      std::lock_guard<std::mutex> lock(plan_mutex());
      if (auto it = plan_cache().find(key); it != plan_cache().end()) {
        route_ = it->second;
        cached = true;
      }
    }
    if (cached) {
      plan_source_ = "cached";
    } else {
      const auto t0 = std::chrono::steady_clock::now();
      route_ = measure(routes, trial_problem(routes, p, inputs), inputs);
      trial_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      plan_source_ = "measured";
      std::lock_guard<std::mutex> lock(plan_mutex());
      plan_cache()[key] = route_;
    }
  }
  prepare_route(route_, p);
  prepared_ = true;
}

void BlockedCpuBackend::run() {
  if (!prepared_) throw std::logic_error(name_ + ": run() before prepare()");
  if (route_.k16) {
    k16_driver(route_.k16).run(*inputs_, out_.data());
  } else {
    f32_driver(route_.f32).run(*inputs_, out_.data());
  }
}

std::vector<double> BlockedCpuBackend::output() { return {out_.begin(), out_.end()}; }

uint64_t BlockedCpuBackend::scratch_bytes() const {
  if (!prepared_) return 0;
  auto* self = const_cast<BlockedCpuBackend*>(this);  // the drivers are made on first use only
  return route_.k16 ? self->k16_driver(route_.k16).scratch_bytes() : self->f32_driver(route_.f32).scratch_bytes();
}

void BlockedCpuBackend::release() {
  out_ = {};
  inputs_ = nullptr;
  prepared_ = false;
}

// isa: the table that ran this case; path: "bf16" (native 16-bit GEMMs), "f16 as bf16 pairs"
// (the same GEMMs on exact hi/lo splits, flash16.h) or "f32" (inputs converted to f32);
// bytes_moved: Q, K, V and O in storage precision, the traffic floor of a memory-bound case
// (decode), to set against the measured time as GB/s. plan: "rule", "measured" (this case ran
// the trial: trial_ms, its length, and trial, every candidate's best time) or "cached" (an
// earlier case of the same shape class did).
std::map<std::string, std::string> BlockedCpuBackend::case_notes() const {
  auto* self = const_cast<BlockedCpuBackend*>(this);
  const bool k16 = route_.k16 != nullptr;
  const blocked::Blocking& b = k16 ? self->k16_driver(route_.k16).blocking() : self->f32_driver(route_.f32).blocking();
  const int64_t positions = k16 ? self->k16_driver(route_.k16).positions_per_item() : self->f32_driver(route_.f32).positions_per_item();
  const int64_t splits = k16 ? self->k16_driver(route_.k16).splits() : self->f32_driver(route_.f32).splits();
  char bytes[32];
  std::snprintf(bytes, sizeof bytes, "%.0f", problem_.io_bytes());
  std::map<std::string, std::string> notes = {
      {"isa", k16 ? route_.k16->isa : route_.f32->isa},
      {"path", !k16 ? "f32" : problem_.dtype == DType::f16 ? "f16 as bf16 pairs" : "bf16"},
      {"br", std::to_string(b.br)},
      {"bc", std::to_string(b.bc)},
      {"item_positions", std::to_string(positions)},
      {"key_splits", std::to_string(splits)},
      {"bytes_moved", bytes},
      {"plan", plan_source_}};
  if (plan_source_ == "measured") {
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.1f", trial_seconds_ * 1e3);
    notes["trial_ms"] = ms;
    notes["trial"] = trial_times_;
    if (!trial_heads_.empty()) notes["trial_on"] = trial_heads_;
  }
  return notes;
}

std::vector<Calibration> BlockedCpuBackend::calibrate() {
  // The portable table is a fallback, not a claim on the machine's peak.
  if (kernels_ == &blocked::kernels_portable()) return {};
  constexpr int64_t n = 2048;
  // Best of 8 (~0.05 s each on two Zen 5 cores): the peak, not the mean, is the denominator.
  const blocked::SgemmTiming t = blocked::time_sgemm(*kernels_, threads_, n, 8);
  return {Calibration{"cpu",
                     "blocked_cpu packed sgemm f32 2048^3 on the " + std::string(kernels_->isa) + " " +
                         std::to_string(kernels_->mr) + "x" + std::to_string(kernels_->nr) + " micro-kernel, " +
                         std::to_string(threads_) + " threads",
                     t.tflops}};
}

namespace {

// A backend pinned to one path; where this CPU or build cannot run it, one that says why. The
// 16-bit paths run f16 as bf16 pairs, whatever the size: each variant is one route.
std::unique_ptr<Backend> pinned(const std::string& name, const std::string& isa, const BackendOptions& o) {
  if (const std::string why = blocked::path_unavailable(isa); !why.empty()) {
    return std::make_unique<BlockedCpuBackend>(name, nullptr, nullptr, o.threads, why);
  }
  const blocked::KernelChoice c = blocked::select_paths(isa);
  return std::make_unique<BlockedCpuBackend>(name, c.f32, c.bf16, o.threads, "", blocked::F16Route::pairs);
}

// The default: every path this CPU runs is a candidate (portable only where no SIMD table
// runs), widest first; SDPA_BLOCKED_CPU_ISA narrows it to one path (whose f16 route and key
// split are still measured).
std::unique_ptr<Backend> automatic(const BackendOptions& o) {
  const bool tune = blocked::tune_enabled();
  const char* env = std::getenv("SDPA_BLOCKED_CPU_ISA");
  std::vector<const blocked::Kernels*> f32;
  std::vector<const blocked::Kernels16*> k16;
  if (env && *env && std::string(env) != "auto") {
    const blocked::KernelChoice c = blocked::select_paths();
    f32.push_back(c.f32);
    if (c.bf16) k16.push_back(c.bf16);
  } else {
    if (blocked::path_unavailable("amx").empty()) k16.push_back(blocked::kernels_amx());
    if (blocked::path_unavailable("avx512bf16").empty()) k16.push_back(blocked::kernels_avx512bf16());
    if (blocked::path_unavailable("avx512").empty()) f32.push_back(blocked::kernels_avx512());
    if (blocked::path_unavailable("avx2").empty()) f32.push_back(blocked::kernels_avx2());
    if (f32.empty()) f32.push_back(&blocked::kernels_portable());
  }
  return std::make_unique<BlockedCpuBackend>("blocked_cpu", f32, k16, o.threads, tune);
}

}  // namespace

void register_blocked_cpu(Registry& registry) {
  registry.add("blocked_cpu", automatic);
  for (const char* isa : {"amx", "avx512bf16", "avx512", "avx2", "portable"}) {
    const std::string name = std::string("blocked_cpu_") + isa;
    registry.add_variant(name, "blocked_cpu", [name, isa](const BackendOptions& o) { return pinned(name, isa, o); });
  }
}

}  // namespace sdpa
