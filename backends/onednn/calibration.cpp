#include "backends/onednn/calibration.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "backends/onednn/layout.h"
#include "backends/onednn/runtime.h"
#include "core/best_of.h"
#include "core/half.h"

namespace sdpa::onednn {

namespace {

using dnnl::memory;
using tag = memory::format_tag;

// 2048^3 for every type: one f32 run (AVX-512 FMA) takes ~100 ms on 2 Sapphire Rapids cores, and
// f16 runs at the same rate (widened to f32 for the FMA on AVX512-FP16; that CPU has no f16
// AMX). bf16 on AMX is 5-10x faster, ~15 ms a run, and measured no higher at 3072 or 4096 in
// interleaved runs on a shared machine, so it gets more runs instead of a larger size: a short
// run is the one a neighbour's time slice spoils. All three take ~2 s on 2 idle cores.
struct PeakGemm {
  DType dtype;
  int64_t n;
  int runs;  // timed runs after the untimed one (best_of_seconds)
};
constexpr PeakGemm kGemms[] = {
    {DType::f32, 2048, 6}, {DType::bf16, 2048, 20}, {DType::f16, 2048, 6}};

// Storage for one n x n operand filled with `value` in `dtype` (the values do not change the
// time; they are normal numbers so that no denormal path is taken).
struct HostMatrix {
  std::vector<float> f32;
  std::vector<uint16_t> bits16;

  HostMatrix(DType dtype, int64_t n, float value) {
    const auto elems = static_cast<std::size_t>(n * n);
    if (dtype == DType::f32) {
      f32.assign(elems, value);
    } else {
      bits16.assign(elems, dtype == DType::bf16 ? f32_to_bf16_bits(value) : f32_to_f16_bits(value));
    }
  }
  void* data() { return f32.empty() ? static_cast<void*>(bits16.data()) : f32.data(); }
};

// C = A·B in `dtype`: A and C plain row-major, B pre-packed into the layout the primitive
// prefers (format `any`, reordered once outside the timing), the way a framework holds weights
// and benchdnn measures by default. The destination is the storage type itself (f32
// accumulation inside), what a bf16 / f16 model's matmul writes.
Calibration measure(const dnnl::engine& engine, dnnl::stream& stream, const PeakGemm& gemm) {
  const int64_t n = gemm.n;
  const auto type = memory_type(gemm.dtype);
  const memory::desc plain({n, n}, type, tag::ab);
  const memory::desc packed_any({n, n}, type, tag::any);
  const std::string name = std::string(to_string(gemm.dtype)) + " " + std::to_string(n) + "^3";

  try {
    const dnnl::matmul::primitive_desc pd(engine, plain, packed_any, plain);
    HostMatrix a(gemm.dtype, n, 1.0f), b(gemm.dtype, n, 0.5f), c(gemm.dtype, n, 0.0f);
    memory a_mem(plain, engine, a.data()), b_plain(plain, engine, b.data());
    memory c_mem(plain, engine, c.data());
    memory b_packed(pd.weights_desc(), engine);
    dnnl::reorder(b_plain, b_packed).execute(stream, b_plain, b_packed);
    stream.wait();

    const dnnl::matmul matmul(pd);
    const std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_packed}, {DNNL_ARG_DST, c_mem}};
    const double best_s = best_of_seconds(gemm.runs, [&] {
      const auto t0 = std::chrono::steady_clock::now();
      matmul.execute(stream, args);
      stream.wait();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });

    Calibration cal;
    cal.device_class = "cpu";
    cal.dtype = gemm.dtype;
    cal.from_library = true;
    cal.tflops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) /
                 best_s / 1e12;
    cal.what = "oneDNN matmul " + name + " -> " + std::string(to_string(gemm.dtype)) +
               " (f32 accumulation), weights pre-packed, " + pd.impl_info_str() + ", " +
               std::to_string(threads_used()) + " threads";
    return cal;
  } catch (const dnnl::error& e) {
    rethrow(e, "matmul " + name + " (calibration)");
  }
}

std::vector<Calibration> measure_all() {
  if (!cpu_engine_status()) return {};
  dnnl::engine engine = make_cpu_engine();
  dnnl::stream stream(engine);
  std::vector<Calibration> peaks;
  for (const PeakGemm& gemm : kGemms) {
    if (dtype_support(gemm.dtype)) peaks.push_back(measure(engine, stream, gemm));
  }
  return peaks;
}

}  // namespace

std::vector<Calibration> matmul_peaks() {
  // Measured at every call, never cached: the run's noise check calls it again at the end and
  // must see the machine as it is then. Two backends of this library measuring the same GEMMs is
  // harmless: the harness keeps one reading per GEMM (the best).
  return measure_all();
}

}  // namespace sdpa::onednn
