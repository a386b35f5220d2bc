// Micro-benchmarks of the blocked backend's parts, per kernel table, to see where attention
// time goes: the GEMM micro-kernel on L1-resident operands (its ceiling), K/V packing per
// element, the softmax per score, the calibration sgemm, and one whole attention problem; the
// same for the native bf16 tables (attention16/*), and the machine's memory bandwidth
// (stream_triad), the ceiling of a decode step.
// Not a test: `blocked_cpu_bench --benchmark_filter=avx512` and compare the GFLOP/s counters.
// On a shared machine read the CPU column with one thread (OMP_NUM_THREADS=1): wall time
// counts the other tenants.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "backends/blocked_cpu/blocked_cpu.h"
#include "backends/blocked_cpu/flash.h"
#include "backends/blocked_cpu/flash16.h"
#include "backends/blocked_cpu/kernels.h"
#include "backends/blocked_cpu/sgemm.h"
#include "harness/inputs.h"

namespace sdpa::blocked {
namespace {

std::vector<const Kernels*> runnable_tables() {
  std::vector<const Kernels*> t;
  for (const char* isa : {"avx512", "avx2", "portable"}) {
    try {
      t.push_back(&select_kernels(isa));
    } catch (const std::runtime_error&) {
      // Not runnable here.
    }
  }
  return t;
}

void micro_kernel(benchmark::State& state, const Kernels* k) {
  const int64_t kdim = state.range(0);
  std::vector<float> a(static_cast<std::size_t>(k->mr * kdim), 0.01f), b(static_cast<std::size_t>(kdim * k->nr), 0.02f),
      c(static_cast<std::size_t>(k->mr * k->nr));
  for (auto _ : state) {
    k->gemm(k->mr, kdim, a.data(), kdim, b.data(), c.data(), k->nr, gemm_accumulate, nullptr);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * k->mr * k->nr * kdim, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

void pack_kv(benchmark::State& state, const Kernels* k) {
  const int64_t d = state.range(0), bc = 128;
  std::vector<float> kv(static_cast<std::size_t>(bc * d), 0.5f), kp(kv.size()), vp(kv.size() + bc * k->nr);
  for (auto _ : state) {
    k->pack_k(kv.data(), src_f32, d, bc, d, bc / k->nr, kp.data());
    k->pack_v(kv.data(), src_f32, d, bc, d, bc, bc, vp.data());
    benchmark::DoNotOptimize(kp.data());
    benchmark::DoNotOptimize(vp.data());
  }
  state.counters["elems/s"] = benchmark::Counter(2.0 * static_cast<double>(bc * d), benchmark::Counter::kIsIterationInvariantRate);
}

void softmax_block(benchmark::State& state, const Kernels* k) {
  const int rows = 42;
  const int64_t cols = 128;
  std::vector<float> s(static_cast<std::size_t>(rows * cols)), m(rows), l(rows), alpha(rows);
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = normal_sample(1, TensorId::q, i);
  std::fill(m.begin(), m.end(), -1e30f);
  // Each pass turns the block into probabilities in (0, 1], which the next pass takes as
  // scores: the same work every time, no reset (pausing the timer would cost more than it).
  for (auto _ : state) {
    k->softmax(s.data(), cols, rows, cols, nullptr, 0.18f, m.data(), l.data(), alpha.data());
    benchmark::DoNotOptimize(s.data());
  }
  state.counters["scores/s"] = benchmark::Counter(static_cast<double>(rows * cols), benchmark::Counter::kIsIterationInvariantRate);
}

void calibration_sgemm(benchmark::State& state, const Kernels* k) {
  const int64_t n = state.range(0);
  std::vector<float> a(static_cast<std::size_t>(n * n), 0.5f), b(a.size(), 0.25f), c(a.size());
  for (auto _ : state) sgemm(*k, omp_get_max_threads(), n, n, n, a.data(), b.data(), c.data());
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(n * n * n), benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

void attention(benchmark::State& state, const Kernels* k, const std::string& spec) {
  const Problem p = parse_problem(spec);
  const Inputs inputs = generate_inputs(p);
  FlashAttention fa(*k, omp_get_max_threads());
  fa.prepare(p);
  std::vector<float> out(static_cast<std::size_t>(p.o_elems()));
  for (auto _ : state) fa.run(inputs, out.data());
  state.counters["GFLOP/s"] = benchmark::Counter(p.flops(), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void attention16(benchmark::State& state, const Kernels16* k, const std::string& spec) {
  const Problem p = parse_problem(spec);
  const Inputs inputs = generate_inputs(p);
  FlashAttention16 fa(*k, omp_get_max_threads());
  fa.prepare(p);
  std::vector<float> out(static_cast<std::size_t>(p.o_elems()));
  for (auto _ : state) fa.run(inputs, out.data());
  state.counters["GFLOP/s"] = benchmark::Counter(p.flops(), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.counters["GB/s"] = benchmark::Counter(p.io_bytes(), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

// STREAM's triad, a[i] = b[i] + s·c[i], on three 128 MiB arrays (far past any L3), all cores,
// static schedule with first-touch pages on the thread that uses them. Counted as STREAM
// counts it: 12 bytes per element (two loads, one store; the store's write-allocate read is
// not counted), so the figure is comparable with published STREAM numbers and is what a
// read-mostly decode step (K and V read, a small O written) can hope for.
void stream_triad(benchmark::State& state) {
  const int64_t n = int64_t{32} << 20;
  float* a = static_cast<float*>(std::aligned_alloc(64, static_cast<std::size_t>(n) * 4));
  float* b = static_cast<float*>(std::aligned_alloc(64, static_cast<std::size_t>(n) * 4));
  float* c = static_cast<float*>(std::aligned_alloc(64, static_cast<std::size_t>(n) * 4));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) a[i] = 0.0f, b[i] = 1.0f, c[i] = 2.0f;
  for (auto _ : state) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) a[i] = b[i] + 3.0f * c[i];
    benchmark::DoNotOptimize(a);
  }
  state.counters["GB/s"] = benchmark::Counter(12.0 * static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
  std::free(a);
  std::free(b);
  std::free(c);
}

const bool registered = [] {
  for (const Kernels* k : runnable_tables()) {
    const std::string isa = k->isa;
    benchmark::RegisterBenchmark(("micro_kernel/" + isa).c_str(), micro_kernel, k)->Arg(64)->Arg(128)->Arg(512);
    benchmark::RegisterBenchmark(("pack_kv/" + isa).c_str(), pack_kv, k)->Arg(64)->Arg(128);
    benchmark::RegisterBenchmark(("softmax_block/" + isa).c_str(), softmax_block, k);
    benchmark::RegisterBenchmark(("sgemm/" + isa).c_str(), calibration_sgemm, k)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond);
    // The bf16 specs here time the f32 path (bf16 converted while packing), what the native
    // bf16 tables (attention16/*) replace.
    for (const char* spec : {"b=1,h=8,sq=4096,d=128", "b=1,h=8,sq=4096,d=64", "b=1,h=8,sq=4096,d=128,mask=causal",
                             "b=1,h=8,sq=4096,d=128,dtype=bf16", "b=1,h=16,sq=2048,d=64,dtype=bf16"}) {
      benchmark::RegisterBenchmark(("attention/" + isa + "/" + spec).c_str(), attention, k, std::string(spec))
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (const char* isa : {"amx", "avx512bf16"}) {
    const Kernels16* k = select_paths(isa).bf16;
    if (!path_unavailable(isa).empty() || !k) continue;
    for (const char* spec : {"b=1,h=8,sq=4096,d=128,dtype=bf16", "b=1,h=16,sq=2048,d=64,dtype=bf16",
                             "b=1,h=8,sq=4096,d=128,dtype=bf16,mask=causal",
                             "b=1,h=16,sq=2048,d=64,dtype=bf16,mask=causal",
                             "b=1,hq=32,hkv=8,sq=1,skv=8192,d=128,dtype=bf16"}) {
      benchmark::RegisterBenchmark(("attention16/" + std::string(isa) + "/" + spec).c_str(), attention16, k,
                                   std::string(spec))
          ->Unit(benchmark::kMillisecond);
    }
  }
  benchmark::RegisterBenchmark("stream_triad", stream_triad)->Unit(benchmark::kMillisecond)->UseRealTime();
  return true;
}();

}  // namespace
}  // namespace sdpa::blocked

BENCHMARK_MAIN();
