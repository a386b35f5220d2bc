// Proof that the accuracy rule can fail: deliberately broken kernels must be caught, and the
// same kernel unbroken must pass. The kernel is a small fp32 flash-style row kernel written
// here (not a backend) so each defect can be switched on alone.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backends/registry.h"
#include "harness/accuracy.h"
#include "core/half.h"
#include "harness/inputs.h"

namespace sdpa {
namespace {

enum class PRounding { none, nearest, truncate };

struct Defects {
  bool drop_scale = false;
  int causal_extra_keys = 0;       // a causal mask off by this many keys
  PRounding p_rounding = PRounding::none;
  int64_t wrong_row = -1;          // this row reads the query of the row before it
};

float truncate_to_f16(float x) {
  const uint16_t bits = f32_to_f16_bits(x);
  float r = f16_bits_to_f32(bits);
  if (std::abs(r) > std::abs(x)) r = f16_bits_to_f32(static_cast<uint16_t>(bits - 1));  // toward zero
  return r;
}

// P goes into P·V in the storage type of V, as tensor-core kernels do; f32 keeps it.
float round_p(float x, PRounding mode, DType dtype) {
  if (mode == PRounding::none || dtype == DType::f32) return x;
  if (mode == PRounding::truncate) return truncate_to_f16(x);
  return dtype == DType::bf16 ? round_to_bf16(x) : round_to_f16(x);
}

std::vector<double> kernel(const Problem& p, const Inputs& in, const Defects& defects) {
  std::vector<double> out(static_cast<std::size_t>(p.o_elems()), 0.0);
  const float scale = defects.drop_scale ? 1.0f : static_cast<float>(p.scale());
  for (int64_t row = 0; row < p.b * p.hq * p.sq; ++row) {
    const int64_t i = row % p.sq, h = (row / p.sq) % p.hq, bi = row / (p.sq * p.hq);
    const int64_t kh = bi * p.hkv + h / p.group();
    const int64_t q_row = row == defects.wrong_row && row > 0 ? row - 1 : row;
    int64_t n = p.visible_keys(bi, i);
    if (p.mask == MaskKind::causal) n = std::min(p.skv, n + defects.causal_extra_keys);
    if (n == 0) continue;
    std::vector<float> s(static_cast<std::size_t>(n));
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < n; ++j) {
      float dot = 0;
      for (int64_t c = 0; c < p.d; ++c) {
        dot += in.q.values[static_cast<std::size_t>(q_row * p.d + c)] * in.k.values[static_cast<std::size_t>((kh * p.skv + j) * p.d + c)];
      }
      s[static_cast<std::size_t>(j)] = dot * scale;
      m = std::max(m, s[static_cast<std::size_t>(j)]);
    }
    float l = 0;
    std::vector<float> acc(static_cast<std::size_t>(p.dv), 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      const float e = std::exp(s[static_cast<std::size_t>(j)] - m);
      l += e;  // the row sum stays fp32, as in flash kernels
      const float pe = round_p(e, defects.p_rounding, p.dtype);
      for (int64_t c = 0; c < p.dv; ++c) acc[static_cast<std::size_t>(c)] += pe * in.v.values[static_cast<std::size_t>((kh * p.skv + j) * p.dv + c)];
    }
    for (int64_t c = 0; c < p.dv; ++c) {
      float o = acc[static_cast<std::size_t>(c)] / l;
      if (p.dtype == DType::f16) o = round_to_f16(o);
      if (p.dtype == DType::bf16) o = round_to_bf16(o);
      out[static_cast<std::size_t>(row * p.dv + c)] = o;
    }
  }
  return out;
}

AccuracyReport run_kernel(const Problem& p, const Inputs& in, const Defects& defects) {
  return check_accuracy(p, kernel(p, in, defects), reference_sdpa(p, in));
}

TEST(Mutants, TheUnbrokenKernelPassesEverywhere) {
  for (const char* spec : {"b=2,hq=4,hkv=2,sq=64,skv=96,d=64,mask=causal", "b=1,hq=2,sq=128,d=128,dtype=f16,mask=causal_br",
                           "b=1,hq=2,sq=257,d=64,dtype=bf16", "b=1,hq=1,sq=64,d=256,scale=1",
                           "b=1,hq=1,sq=7,skv=2048,d=64,dtype=f16,mask=causal_br"}) {
    const Problem p = parse_problem(spec);
    const Inputs in = generate_inputs(p);
    for (PRounding mode : {PRounding::none, PRounding::nearest}) {
      const AccuracyReport r = run_kernel(p, in, {.p_rounding = mode});
      EXPECT_TRUE(r.pass()) << spec << ": " << r.summary();
    }
  }
}

TEST(Mutants, MissingScaleIsCaught) {
  for (const char* spec : {"b=1,hq=2,sq=64,d=64", "b=1,hq=2,sq=64,d=64,dtype=bf16"}) {
    const Problem p = parse_problem(spec);
    EXPECT_FALSE(run_kernel(p, generate_inputs(p), {.drop_scale = true}).pass()) << spec;
  }
}

TEST(Mutants, CausalOffByOneIsCaught) {
  for (const char* spec : {"b=1,hq=2,sq=64,d=64,mask=causal", "b=1,hq=2,sq=64,d=64,dtype=f16,mask=causal"}) {
    const Problem p = parse_problem(spec);
    EXPECT_FALSE(run_kernel(p, generate_inputs(p), {.causal_extra_keys = 1}).pass()) << spec;
  }
}

TEST(Mutants, OneWrongRowIsCaught) {
  const Problem p = parse_problem("b=2,hq=2,sq=32,d=32,dtype=bf16");
  const AccuracyReport r = run_kernel(p, generate_inputs(p), {.wrong_row = 77});
  EXPECT_FALSE(r.pass());
  ASSERT_FALSE(r.worst.empty());
  EXPECT_EQ(r.worst[0].b * 64 + r.worst[0].h * 32 + r.worst[0].s, 77);  // and it is named
}

// P truncated to f16 instead of rounded loses up to one ulp of every p, always downward.
// Inputs that make the loss as large as it gets and put the output where f16 rounding pushes
// it further: one key with logit 0 (p = 1, v = 2.25) and 4095 keys whose p sits just below
// 0.5 + 2^-11 (v = 1). Rounding lands on 0.5 + 2^-11 (error 2^-20); truncation falls to 0.5
// (a relative loss of 2u). Then r = 1 + 1.25u, the truncated output rounds to 1 − u: an
// error of 2.25u against a bound of 2u, while the rounded output errs by 0.75u.
TEST(Mutants, PTruncatedInsteadOfRoundedIsCaught) {
  const int64_t n = 4096;
  Problem p = parse_problem("b=1,hq=1,sq=4,skv=4096,d=1,dv=1,dtype=f16");
  p.scale_value = -std::log(0.5 + std::ldexp(1.0, -11) - std::ldexp(1.0, -20));
  Inputs in = generate_inputs(p);
  std::fill(in.q.values.begin(), in.q.values.end(), 1.0f);
  for (int64_t j = 0; j < n; ++j) {
    in.k.values[static_cast<std::size_t>(j)] = j == 0 ? 0.0f : -1.0f;
    in.v.values[static_cast<std::size_t>(j)] = j == 0 ? 2.25f : 1.0f;
  }
  round_to_dtype(in.q);
  round_to_dtype(in.k);
  round_to_dtype(in.v);
  const AccuracyReport rounded = run_kernel(p, in, {.p_rounding = PRounding::nearest});
  EXPECT_TRUE(rounded.pass()) << rounded.summary();
  const AccuracyReport truncated = run_kernel(p, in, {.p_rounding = PRounding::truncate});
  EXPECT_FALSE(truncated.pass()) << truncated.summary();
  EXPECT_GT(truncated.worst_ratio, 1.05);  // caught with a margin, not by a hair
}

// The fp32 logit error grows with the logits (accuracy.cpp, the logit term). Under the rule
// without it, naive failed f32 scale=100 by 7.6x and d=1655368 (default scale) by 1.2x, f32
// scale=10 by 2.3x and f16 scale=300 by 4.1x (d=128); bf16's tol_abs happened to cover it.
AccuracyReport run_backend(const std::string& name, const Problem& p, const Inputs& in) {
  std::unique_ptr<Backend> backend = registry().find(name)->make({});
  backend->prepare(p, in);
  backend->run();
  const AccuracyReport r = check_accuracy(p, backend->output(), reference_sdpa(p, in));
  backend->release();
  return r;
}

TEST(Mutants, CorrectKernelsPassAtLargeScales) {
  for (const char* spec : {"sq=128,d=64,scale=100", "sq=128,d=64,scale=1000", "b=2,hq=2,sq=96,d=128,scale=100,mask=causal",
                           "hq=4,sq=256,d=128,scale=10", "hq=4,sq=256,d=128,dtype=f16,scale=300",
                           "sq=128,d=64,dtype=f16,scale=1000", "sq=128,d=64,dtype=bf16,scale=100", "sq=8,d=1655368"}) {
    const Problem p = parse_problem(spec);
    const Inputs in = generate_inputs(p);
    for (const char* name : {"naive", "blocked_cpu"}) {
      // blocked_cpu is a backend folder a build may leave out; d=1655368 costs it seconds.
      if (!registry().find(name) || (p.d > 4096 && std::string_view(name) != "naive")) continue;
      const AccuracyReport r = run_backend(name, p, in);
      EXPECT_TRUE(r.pass()) << spec << ": " << name << ": " << r.summary();
    }
    if (p.d <= 128) {
      const AccuracyReport textbook = run_kernel(p, in, {.p_rounding = PRounding::nearest});
      EXPECT_TRUE(textbook.pass()) << spec << ": " << textbook.summary();
    }
  }
}

// The term loosens the bound with the logits, but not so far that real defects pass at scale 100.
TEST(Mutants, DefectsAreStillCaughtAtScale100) {
  const Problem p = parse_problem("b=1,hq=2,sq=64,d=64,mask=causal,scale=100");
  const Inputs in = generate_inputs(p);
  EXPECT_FALSE(run_kernel(p, in, {.causal_extra_keys = 1}).pass());
  EXPECT_FALSE(run_kernel(p, in, {.wrong_row = 70}).pass());
  Problem ten = p;
  ten.scale_value = 10.0;  // a scale off by 10x, the same inputs
  EXPECT_FALSE(check_accuracy(p, kernel(ten, in, {}), reference_sdpa(p, in)).pass());
}

// Terms of one sign are the hard case for the logit term: partial sums grow linearly, not as
// √j, and the f32 dot-product error reaches the order of √d·u·Σ|qᵢkᵢ| that the term assumes.
TEST(Mutants, TheLogitTermHoldsForDotProductsOfOneSign) {
  for (const char* spec : {"sq=64,d=1024", "sq=64,d=4096,scale=0.05", "sq=32,d=16384"}) {
    const Problem p = parse_problem(spec);
    Inputs in = generate_inputs(p);
    for (float& x : in.q.values) x = std::abs(x);
    for (float& x : in.k.values) x = std::abs(x);
    const AccuracyReport r = run_kernel(p, in, {});
    EXPECT_TRUE(r.pass()) << spec << ": " << r.summary();  // 7-19% of the bound; 3.5x without the term
  }
}

}  // namespace
}  // namespace sdpa
