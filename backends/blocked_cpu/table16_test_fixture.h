// The fixture of the 16-bit kernel tests (blocked_cpu_bf16_test.cpp, blocked_cpu_f16_test.cpp):
// one instance per Kernels16 table, skipped with the reason where this CPU or build lacks it,
// with the f32 table of the same path for a whole backend.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "backends/blocked_cpu/blocked_cpu.h"
#include "backends/blocked_cpu/flash16.h"
#include "backends/blocked_cpu/kernels16.h"
#include "core/problem.h"
#include "harness/accuracy.h"
#include "harness/inputs.h"
#include "reference/reference.h"

namespace sdpa {

inline AccuracyReport run_table16(const blocked::Kernels16& table, const Problem& p, const Inputs& in,
                                  int64_t splits = 0);

class Table16Test : public testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const std::string why = blocked::path_unavailable(GetParam());
    if (!why.empty()) GTEST_SKIP() << GetParam() << ": " << why;
    table_ = blocked::select_paths(GetParam()).bf16;
    ASSERT_NE(table_, nullptr);
    f32_ = blocked::select_paths(GetParam()).f32;
  }
  const blocked::Kernels16& k() const { return *table_; }
  std::unique_ptr<BlockedCpuBackend> backend(int threads) const {
    return std::make_unique<BlockedCpuBackend>("blocked_cpu_test", f32_, table_, threads);
  }

  // GQA and MQA, every mask, odd sizes (nothing a multiple of 16 or 32), the head dims of real
  // models, decode, and a kvlen batch item that sees no key at all, in `dtype` ("bf16", "f16"),
  // each against the fp64 reference on a 2-thread backend whose case notes must name this
  // table and `path`.
  void expect_every_shape_and_mask_passes(const std::string& dtype, const std::string& path) const {
    const char* const shapes[] = {
        "b=2,hq=4,hkv=2,sq=37,skv=53,d=40,dv=24",   "b=1,hq=6,hkv=1,sq=130,skv=70,d=64,dv=64",
        "b=1,hq=2,hkv=2,sq=200,skv=333,d=128,dv=128", "b=1,hq=2,hkv=1,sq=45,skv=61,d=256,dv=256",
        "b=1,hq=8,hkv=2,sq=1,skv=1000,d=128,dv=128",  "b=2,hq=2,hkv=2,sq=33,skv=17,d=8,dv=72",
    };
    auto be = backend(2);
    for (const char* shape : shapes) {
      for (const std::string mask : {"none", "causal", "causal_br", "kvlen"}) {
        Problem p = parse_problem(std::string(shape) + ",dtype=" + dtype);
        p.mask = parse_problem("mask=" + (mask == "kvlen" ? std::string("kvlen:1") : mask)).mask;
        if (p.mask == MaskKind::kvlen) {
          p.kvlen = p.b == 2 ? std::vector<int64_t>{0, p.skv - 3} : std::vector<int64_t>{p.skv / 2 + 1};
        }
        const Inputs inputs = generate_inputs(p);
        be->prepare(p, inputs);
        be->run();
        const AccuracyReport rep = check_accuracy(p, be->output(), reference_sdpa(p, inputs));
        EXPECT_TRUE(rep.pass()) << GetParam() << " " << p.to_string() << ": " << rep.summary();
        // f16 with few rows per K/V block takes the f32 route (blocked::f16_pairs_pay): the
        // backend must say so, and the pairs driver must still be right on the shape.
        const bool native = p.dtype != DType::f16 || blocked::f16_pairs_pay(p);
        EXPECT_EQ(be->case_notes()["path"], native ? path : "f32") << p.to_string();
        EXPECT_EQ(be->case_notes()["isa"], native ? std::string(GetParam()) : std::string(f32_->isa));
        if (!native) {
          const AccuracyReport pairs = run_table16(k(), p, inputs);
          EXPECT_TRUE(pairs.pass()) << GetParam() << " pairs " << p.to_string() << ": " << pairs.summary();
        }
      }
    }
  }

  // Each spec through the driver with small forced blocks (many key blocks per row, many items)
  // and each forced key-range count, against the fp64 reference.
  void expect_forced_blockings_pass(const std::vector<std::string>& specs, const std::vector<int64_t>& splits) const {
    const blocked::Blocking small{k().row_pad > 1 ? k().row_pad : 2 * k().mr, 32, 5};
    for (const std::string& spec : specs) {
      for (int64_t s : splits) {
        const Problem p = parse_problem(spec);
        const Inputs inputs = generate_inputs(p);
        blocked::FlashAttention16 fa(k(), 2);
        fa.prepare(p, &small, s);
        std::vector<float> out(static_cast<std::size_t>(p.o_elems()));
        fa.run(inputs, out.data());
        const AccuracyReport rep = check_accuracy(p, {out.begin(), out.end()}, reference_sdpa(p, inputs));
        EXPECT_TRUE(rep.pass()) << GetParam() << " " << p.to_string() << " splits=" << fa.splits() << ": "
                                << rep.summary();
      }
    }
  }

  // The truncation probe (below) passes on this table and fails, with a margin, on `mutant`.
  void expect_truncation_caught(const blocked::Kernels16& mutant, const std::string& dtype, int bits) const;

  const blocked::Kernels16* table_ = nullptr;
  const blocked::Kernels* f32_ = nullptr;
};

// `table` (the real one or a mutant) through the 16-bit driver on 2 threads, checked against the
// fp64 reference; `splits` > 0 forces that many key ranges.
inline AccuracyReport run_table16(const blocked::Kernels16& table, const Problem& p, const Inputs& in,
                                  int64_t splits) {
  blocked::FlashAttention16 fa(table, 2);
  fa.prepare(p, nullptr, splits);
  std::vector<float> out(static_cast<std::size_t>(p.o_elems()));
  fa.run(in, out.data());
  return check_accuracy(p, {out.begin(), out.end()}, reference_sdpa(p, in));
}

// The harness's P-truncation mutant (harness/mutant_test.cpp) for a 16-bit dtype of unit
// roundoff u = 2^-bits: one key with logit 0 (p = 1, v = 2.25) and 4095 keys whose p sits just
// below 0.5 + u (v = 1). Rounding P lands on 0.5 + u, truncation falls to 0.5, a loss of 2u on
// nearly all the weight: r ≈ 1 + 0.16u, the truncated output errs by ~2.16u against a bound of
// 2u·r, the rounded one by ~0.16u. Run it with one key range: P is relative to the max of its
// range, and a range without key 0 has p = 1 for every key, which truncation leaves exact.
// Returns the problem; `in` gets its inputs.
inline Problem truncation_probe(const std::string& dtype, int bits, Inputs& in) {
  Problem p = parse_problem("b=1,hq=1,sq=4,skv=4096,d=1,dv=1,dtype=" + dtype);
  p.scale_value = -std::log(0.5 + std::ldexp(1.0, -bits) - std::ldexp(1.0, -bits - 7));
  in = generate_inputs(p);
  std::fill(in.q.values.begin(), in.q.values.end(), 1.0f);
  for (int64_t j = 0; j < p.skv; ++j) {
    in.k.values[static_cast<std::size_t>(j)] = j == 0 ? 0.0f : -1.0f;
    in.v.values[static_cast<std::size_t>(j)] = j == 0 ? 2.25f : 1.0f;
  }
  round_to_dtype(in.q);
  round_to_dtype(in.k);
  round_to_dtype(in.v);
  return p;
}

inline void Table16Test::expect_truncation_caught(const blocked::Kernels16& mutant, const std::string& dtype,
                                                  int bits) const {
  Inputs in;
  const Problem p = truncation_probe(dtype, bits, in);
  const AccuracyReport rounded = run_table16(k(), p, in, 1);
  EXPECT_TRUE(rounded.pass()) << rounded.summary();
  const AccuracyReport truncated = run_table16(mutant, p, in, 1);
  EXPECT_FALSE(truncated.pass()) << truncated.summary();
  EXPECT_GT(truncated.worst_ratio, 1.05);  // caught with a margin, not by a hair
}

// The tables, as INSTANTIATE_TEST_SUITE_P's generator and name function take them.
inline auto table16_paths() { return testing::Values("amx", "avx512bf16"); }
inline std::string table16_name(const testing::TestParamInfo<const char*>& info) { return info.param; }

}  // namespace sdpa
