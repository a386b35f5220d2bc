// Micro-benchmarks of the blocked backend's parts, per kernel table, to see where attention
// time goes: the GEMM micro-kernel on L1-resident operands (its ceiling), K/V packing per
// element, the softmax per score, the calibration sgemm, and one whole attention problem.
// Not a test: `blocked_cpu_bench --benchmark_filter=avx512` and compare the GFLOP/s counters.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <string>
#include <vector>

#include "backends/blocked_cpu/blocked_cpu.h"
#include "backends/blocked_cpu/flash.h"
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

const bool registered = [] {
  for (const Kernels* k : runnable_tables()) {
    const std::string isa = k->isa;
    benchmark::RegisterBenchmark(("micro_kernel/" + isa).c_str(), micro_kernel, k)->Arg(64)->Arg(128)->Arg(512);
    benchmark::RegisterBenchmark(("pack_kv/" + isa).c_str(), pack_kv, k)->Arg(64)->Arg(128);
    benchmark::RegisterBenchmark(("softmax_block/" + isa).c_str(), softmax_block, k);
    benchmark::RegisterBenchmark(("sgemm/" + isa).c_str(), calibration_sgemm, k)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond);
    for (const char* spec : {"b=1,h=8,sq=4096,d=128", "b=1,h=8,sq=4096,d=64", "b=1,h=8,sq=4096,d=128,mask=causal"}) {
      benchmark::RegisterBenchmark(("attention/" + isa + "/" + spec).c_str(), attention, k, std::string(spec))
          ->Unit(benchmark::kMillisecond);
    }
  }
  return true;
}();

}  // namespace
}  // namespace sdpa::blocked

BENCHMARK_MAIN();
