// Correctness of f16 on the bf16 tables (kernels16.h's bf16 pairs, flash16.cpp's f16 mode), part
// of blocked_cpu_test: the split on every f16 value, P rounded to f16 and split, the output
// rounding, shapes / masks / GQA / decode against the fp64 reference, non-finite inputs, and
// mutants (the lo halves dropped, P truncated instead of rounded) that the check must catch.
// Every test runs once per table and is skipped, with the reason, where the CPU lacks it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "backends/blocked_cpu/blocked_cpu.h"
#include "backends/blocked_cpu/table16_test_fixture.h"
#include "backends/blocked_cpu/flash16.h"
#include "backends/blocked_cpu/kernels16.h"
#include "core/half.h"
#include "harness/accuracy.h"
#include "harness/inputs.h"
#include "reference/reference.h"

namespace sdpa {
namespace {

using blocked::Kernels16;

class F16Pairs : public Table16Test {};

INSTANTIATE_TEST_SUITE_P(Paths, F16Pairs, table16_paths(), table16_name);

// All 65536 f16 bit patterns, subnormals and both zeros included: hi is x rounded to bf16 and
// hi + lo is x exactly; NaN and ±Inf give lo = NaN (kernels16.h).
TEST_P(F16Pairs, SplitIsExactOnEveryF16Value) {
  std::vector<uint16_t> src(65536), hi(65536), lo(65536);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint16_t>(i);
  k().split_f16(src.data(), static_cast<int64_t>(src.size()), hi.data(), lo.data());
  for (std::size_t i = 0; i < src.size(); ++i) {
    const float x = f16_bits_to_f32(src[i]), h = bf16_bits_to_f32(hi[i]), l = bf16_bits_to_f32(lo[i]);
    if (!std::isfinite(x)) {
      EXPECT_TRUE(std::isnan(l)) << "f16 bits " << i;
      EXPECT_TRUE(std::isnan(x) ? std::isnan(h) : h == x) << "f16 bits " << i;
      continue;
    }
    ASSERT_EQ(hi[i], f32_to_bf16_bits(x)) << "f16 bits " << i;
    ASSERT_EQ(static_cast<double>(h) + l, static_cast<double>(x)) << "f16 bits " << i;
    ASSERT_EQ(std::signbit(h), std::signbit(x)) << "f16 bits " << i;
  }
  // A ragged count: nothing written past n.
  std::vector<uint16_t> h2(20, 0x7777), l2(20, 0x7777);
  k().split_f16(src.data() + 15360, 17, h2.data(), l2.data());
  EXPECT_EQ(h2[17], 0x7777);
  EXPECT_EQ(l2[17], 0x7777);
}

// softmax_f16 against softmax: the same m, l and alpha, and P = the f16 rounding of the f32
// probability, written as an exact pair (hi + lo); finalize_f16 rounds to f16 nearest-even.
TEST_P(F16Pairs, SoftmaxRoundsPToF16AndFinalizeToo) {
  const int rows = 3;
  const int64_t ncols = 64, lds = 64;
  std::vector<float> s(static_cast<std::size_t>(rows * lds));
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = 3.0f * normal_sample(5, TensorId::q, i);
  const int64_t limit[rows] = {64, 37, 0};
  const float c = 0.3f;
  std::vector<float> m1(rows, -INFINITY), l1(rows, 0), a1(rows), m2 = m1, l2 = l1, a2(rows);
  std::vector<uint16_t> pb(static_cast<std::size_t>(rows * ncols)), pf(static_cast<std::size_t>(rows * 2 * ncols));
  k().softmax(s.data(), lds, rows, ncols, limit, c, m1.data(), l1.data(), a1.data(), pb.data(), ncols);
  k().softmax_f16(s.data(), lds, rows, ncols, limit, c, m2.data(), l2.data(), a2.data(), pf.data(), 2 * ncols, ncols);
  for (int r = 0; r < rows; ++r) {
    EXPECT_EQ(m1[r], m2[r]);
    EXPECT_EQ(l1[r], l2[r]) << "l adds the f32 probabilities, before any rounding";
    for (int64_t j = 0; j < ncols; ++j) {
      const float p = j < limit[r] ? static_cast<float>(std::exp2((static_cast<double>(s[r * lds + j]) - m2[r]) * c)) : 0.0f;
      const float got = bf16_bits_to_f32(pf[r * 2 * ncols + j]) + bf16_bits_to_f32(pf[r * 2 * ncols + ncols + j]);
      EXPECT_EQ(round_to_f16(got), got) << "P is an f16 value";
      EXPECT_LE(std::abs(got - p), std::ldexp(std::abs(p), -11) * 1.01f + std::ldexp(1.0f, -25)) << r << "," << j;
    }
  }
  std::vector<float> o(40), out(40);
  for (std::size_t i = 0; i < o.size(); ++i) o[i] = std::ldexp(normal_sample(6, TensorId::v, i), static_cast<int>(i % 9) - 20);
  k().finalize_f16(o.data(), 37, 3.0f, out.data());
  for (int j = 0; j < 37; ++j) EXPECT_EQ(out[static_cast<std::size_t>(j)], round_to_f16(o[static_cast<std::size_t>(j)] / 3.0f)) << j;
}

// The bf16 suite's shapes (GQA, MQA, every mask, odd sizes, decode, an empty kvlen item) at f16.
TEST_P(F16Pairs, ShapesAndMasksAgainstReference) { expect_every_shape_and_mask_passes("f16", "f16 as bf16 pairs"); }

// Forced small blocks (many key blocks and items) and forced key splits, as for bf16; then
// decode's automatic split and 1 vs 2 threads giving the same bits.
TEST_P(F16Pairs, ManyBlocksKeySplitsAndThreadCounts) {
  expect_forced_blockings_pass({"b=1,hq=4,hkv=1,sq=203,skv=517,d=24,dv=20,mask=causal_br,dtype=f16",
                                "b=2,hq=2,hkv=2,sq=150,skv=150,d=33,dv=17,mask=causal,dtype=f16",
                                "b=1,hq=4,hkv=2,sq=3,skv=1100,d=64,dv=64,mask=causal_br,dtype=f16"},
                               {1, 3});
  const Problem decode = parse_problem("b=1,hq=32,hkv=8,sq=1,skv=8192,d=128,dtype=f16");
  const Inputs inputs = generate_inputs(decode);
  // On the pairs driver itself: the backend sends a decode step's f16 down the f32 route.
  EXPECT_FALSE(blocked::f16_pairs_pay(decode));
  std::vector<float> outs[2];
  for (int threads : {1, 2}) {
    blocked::FlashAttention16 fa(k(), threads);
    fa.prepare(decode);
    EXPECT_GT(fa.splits(), 1);
    outs[threads - 1].resize(static_cast<std::size_t>(decode.o_elems()));
    fa.run(inputs, outs[threads - 1].data());
    const AccuracyReport rep =
        check_accuracy(decode, {outs[threads - 1].begin(), outs[threads - 1].end()}, reference_sdpa(decode, inputs));
    EXPECT_TRUE(rep.pass()) << rep.summary();
  }
  EXPECT_EQ(outs[0], outs[1]);
}

// README's rule for non-finite inputs: a row that reads a NaN or ±Inf outputs NaN (the split's
// lo = NaN carries an Inf into the products); rows that do not read it stay correct.
TEST_P(F16Pairs, NonFiniteInputsMakeTheirRowsNaN) {
  const Problem p = parse_problem("b=1,hq=1,sq=40,d=64,dtype=f16,mask=causal");
  for (const float poison : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), NAN}) {
    for (Tensor Inputs::*tensor : {&Inputs::q, &Inputs::k, &Inputs::v}) {
      Inputs in = generate_inputs(p);
      const int64_t row = 20;  // q: row 20 reads it; k, v: key 20, which rows ≥ 20 see
      (in.*tensor).values[static_cast<std::size_t>(row * 64 + 3)] = poison;
      round_to_dtype(in.*tensor);
      blocked::FlashAttention16 fa(k(), 2);  // the pairs driver: the backend sends 40 rows to f32
      fa.prepare(p);
      std::vector<float> out(static_cast<std::size_t>(p.o_elems()));
      fa.run(in, out.data());
      for (int64_t r = 0; r < p.sq; ++r) {
        const bool reads = tensor == &Inputs::q ? r == row : r >= row;
        bool any_nan = false, all_nan = true;
        for (int64_t c = 0; c < p.dv; ++c) {
          const bool nan = std::isnan(out[static_cast<std::size_t>(r * p.dv + c)]);
          any_nan |= nan;
          all_nan &= nan;
        }
        if (reads) {
          EXPECT_TRUE(tensor == &Inputs::v ? any_nan : all_nan) << "poison " << poison << " row " << r;
        } else {
          EXPECT_FALSE(any_nan) << "poison " << poison << " leaked into row " << r;
        }
      }
    }
  }
}

// ---- Mutants --------------------------------------------------------------------------

const Kernels16* g_real = nullptr;

// The lo halves dropped: f16 computed as bf16, 8 bits where the rule promises 11.
void split_without_lo(const uint16_t* src, int64_t n, uint16_t* hi, uint16_t* lo) {
  g_real->split_f16(src, n, hi, lo);
  std::fill(lo, lo + n, uint16_t{0});
}

// P truncated to f16 (toward zero) instead of rounded, then split exactly.
void softmax_truncating(const float* s, int64_t lds, int rows, int64_t ncols, const int64_t* limit, float c, float* m,
                        float* l, float* alpha, uint16_t* p, int64_t ldp, int64_t lo_offset) {
  g_real->softmax_f16(s, lds, rows, ncols, limit, c, m, l, alpha, p, ldp, lo_offset);
  for (int r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < ncols; ++j) {
      const bool visible = !limit || j < limit[r];
      const float x = visible ? static_cast<float>(std::exp2((static_cast<double>(s[r * lds + j]) - m[r]) * c)) : 0.0f;
      const uint16_t bits = f32_to_f16_bits(x);
      float t = f16_bits_to_f32(bits);
      if (t > x) t = f16_bits_to_f32(static_cast<uint16_t>(bits - 1));
      const uint16_t h = f32_to_bf16_bits(t);
      p[r * ldp + j] = h;
      p[r * ldp + lo_offset + j] = f32_to_bf16_bits(t - bf16_bits_to_f32(h));
    }
  }
}

// Over many keys with N(0,1) inputs bf16's errors average out below the worst-case bound, so
// the cases are few keys: one (O = V, off by up to 2^-9 against a bound of 2^-10) and three with
// the unscaled logits (a Klo dropped moves a logit by ~2^-9·8, p by ~1.5%).
TEST_P(F16Pairs, MutantWithoutLoHalvesIsCaught) {
  g_real = &k();
  Kernels16 mutant = k();
  mutant.split_f16 = split_without_lo;
  for (const char* spec : {"b=1,hq=2,sq=64,skv=1,d=64,dtype=f16", "b=1,hq=2,sq=16,skv=3,d=64,dtype=f16,scale=1"}) {
    const Problem p = parse_problem(spec);
    const Inputs in = generate_inputs(p);
    EXPECT_TRUE(run_table16(k(), p, in).pass()) << spec;
    const AccuracyReport rep = run_table16(mutant, p, in);
    EXPECT_FALSE(rep.pass()) << spec << ": " << rep.summary();
  }
}

// The harness's f16 truncation mutant (harness/mutant_test.cpp), on the real path: one key
// range, so P is relative to the max of all keys (see blocked_cpu_bf16_test.cpp).
TEST_P(F16Pairs, MutantPTruncatedIsCaught) {
  g_real = &k();
  Kernels16 mutant = k();
  mutant.softmax_f16 = softmax_truncating;
  expect_truncation_caught(mutant, "f16", 11);
}

}  // namespace
}  // namespace sdpa
