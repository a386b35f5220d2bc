// Correctness of the blocked backend, for every f32 kernel table this CPU runs: the exp2 bound,
// the micro-kernels, odd shapes in every dtype × mask × GQA against the fp64 reference,
// determinism across thread counts (with the decode key split), scratch that does not grow
// with n. The native bf16 paths have their own file in the same test binary,
// blocked_cpu_bf16_test.cpp.
#include <gtest/gtest.h>
#include <xmmintrin.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "backends/blocked_cpu/blocked_cpu.h"
#include "backends/blocked_cpu/flash.h"
#include "backends/blocked_cpu/kernels.h"
#include "backends/blocked_cpu/sgemm.h"
#include "harness/accuracy.h"
#include "harness/inputs.h"
#include "reference/reference.h"

namespace sdpa {
namespace {

using blocked::Kernels;

// The tables to test here: portable always, AVX2 and AVX-512 where the CPU runs them.
std::vector<const Kernels*> tables() {
  std::vector<const Kernels*> t{&blocked::kernels_portable()};
  for (const char* isa : {"avx2", "avx512"}) {
    try {
      t.push_back(&blocked::select_kernels(isa));
    } catch (const std::runtime_error&) {
      // This CPU or build cannot run that table: nothing to test for it.
    }
  }
  return t;
}

std::string table_name(const testing::TestParamInfo<const Kernels*>& info) { return info.param->isa; }

class BlockedKernels : public testing::TestWithParam<const Kernels*> {
 protected:
  const Kernels& k() const { return *GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Tables, BlockedKernels, testing::ValuesIn(tables()), table_name);

// The documented bound of kernels.h, over a dense sweep of [-126, 0] (3·2^21 points, a step of
// 2e-5, so every fractional part is hit thousands of times) plus the ends and the flush region.
TEST_P(BlockedKernels, Exp2MeetsDocumentedBound) {
  const int64_t n = 3 << 21;
  std::vector<float> x(static_cast<std::size_t>(n)), y(x.size());
  for (int64_t i = 0; i < n; ++i) x[static_cast<std::size_t>(i)] = static_cast<float>(-126.0 * i / (n - 1));
  k().exp2(x.data(), n, y.data());
  double worst = 0, worst_x = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = std::exp2(static_cast<double>(x[i]));
    const double rel = std::abs(y[i] - want) / want;
    if (rel > worst) worst = rel, worst_x = x[i];
  }
  std::printf("[%s] exp2 max relative error over [-126, 0]: %.3g at x = %.9g\n", k().isa, worst, worst_x);
  EXPECT_LE(worst, blocked::exp2_max_rel_error) << "at x = " << worst_x;

  const float edge[] = {0.0f, -0.0f, -std::numeric_limits<float>::infinity(), -127.0f, -200.0f, -126.6f};
  float got[6];
  k().exp2(edge, 6, got);
  EXPECT_EQ(got[0], 1.0f);
  EXPECT_EQ(got[1], 1.0f);
  EXPECT_EQ(got[2], 0.0f) << "masked scores must contribute exactly 0";
  // Below -126: 0 or subnormal (kernels.h); the f32 driver flushes subnormals to 0.
  for (int i = 3; i < 6; ++i) {
    EXPECT_GE(got[i], 0.0f) << "x = " << edge[i];
    EXPECT_LT(got[i], std::numeric_limits<float>::min()) << "x = " << edge[i];
  }
}

// A NaN score stays NaN through the softmax's exponential on the AVX-512 table (README's rule
// for non-finite values: the row that reads it is NaN); the AVX2 and portable tables clamp it.
TEST_P(BlockedKernels, Exp2OfNaN) {
  const float x[2] = {std::numeric_limits<float>::quiet_NaN(), -1.0f};
  float y[2];
  k().exp2(x, 2, y);
  if (std::string(k().isa) == "avx512") {
    EXPECT_TRUE(std::isnan(y[0]));
  }
  EXPECT_EQ(y[1], 0.5f);
}

// The f32 driver flushes subnormals in its threads while it runs and gives the calling
// thread's MXCSR back unchanged.
TEST(BlockedFlash, RestoresTheCallersFloatingPointMode) {
  const Problem p = parse_problem("b=1,hq=2,sq=64,d=32");
  const Inputs in = generate_inputs(p);
  blocked::FlashAttention fa(*tables().front(), 1);
  fa.prepare(p);
  std::vector<float> out(static_cast<std::size_t>(p.o_elems()));
  const unsigned before = _mm_getcsr();
  fa.run(in, out.data());
  EXPECT_EQ(_mm_getcsr(), before);
}

// Every row count and mode of the micro-kernel against a plain double loop.
TEST_P(BlockedKernels, GemmMicroKernelModes) {
  const int nr = k().nr;
  const int64_t kdim = 37, lda = 41, ldc = nr + 5;
  std::vector<float> a(static_cast<std::size_t>(k().mr * lda)), b(static_cast<std::size_t>(kdim * nr));
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = normal_sample(3, TensorId::q, i);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = normal_sample(3, TensorId::k, i);
  const float scale[] = {0.5f, -2.0f, 0.0f, 1.0f, 3.0f, 0.25f, 1.5f, -1.0f, 2.0f, 0.125f, 4.0f, 1.0f, 0.75f, 1.25f};
  for (int m = 1; m <= k().mr; ++m) {
    for (int mode : {blocked::gemm_store, blocked::gemm_accumulate, blocked::gemm_scale_accumulate}) {
      std::vector<float> c(static_cast<std::size_t>(m * ldc)), c0(c.size());
      for (std::size_t i = 0; i < c.size(); ++i) c[i] = c0[i] = normal_sample(3, TensorId::v, i);
      k().gemm(m, kdim, a.data(), lda, b.data(), c.data(), ldc, mode, scale);
      for (int r = 0; r < m; ++r) {
        for (int j = 0; j < nr; ++j) {
          double want = mode == blocked::gemm_store ? 0.0 : c0[static_cast<std::size_t>(r * ldc + j)];
          if (mode == blocked::gemm_scale_accumulate) want *= scale[r];
          for (int64_t kk = 0; kk < kdim; ++kk) {
            want += static_cast<double>(a[static_cast<std::size_t>(r * lda + kk)]) * b[static_cast<std::size_t>(kk * nr + j)];
          }
          ASSERT_NEAR(c[static_cast<std::size_t>(r * ldc + j)], want, 1e-4) << "m=" << m << " mode=" << mode << " r=" << r << " j=" << j;
        }
        // Columns past nr belong to someone else.
        for (int64_t j = nr; j < ldc; ++j) ASSERT_EQ(c[static_cast<std::size_t>(r * ldc + j)], c0[static_cast<std::size_t>(r * ldc + j)]);
      }
    }
  }
}

TEST_P(BlockedKernels, SgemmMatchesDoubleProduct) {
  const int64_t m = 37, n = 45, kdim = 300;  // ragged everywhere and more than one k step
  std::vector<float> a(static_cast<std::size_t>(m * kdim)), b(static_cast<std::size_t>(kdim * n)), c(static_cast<std::size_t>(m * n));
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = normal_sample(5, TensorId::q, i);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = normal_sample(5, TensorId::k, i);
  blocked::sgemm(k(), 2, m, n, kdim, a.data(), b.data(), c.data());
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double want = 0;
      for (int64_t kk = 0; kk < kdim; ++kk) want += static_cast<double>(a[static_cast<std::size_t>(i * kdim + kk)]) * b[static_cast<std::size_t>(kk * n + j)];
      ASSERT_NEAR(c[static_cast<std::size_t>(i * n + j)], want, 1e-3) << "C[" << i << "][" << j << "]";
    }
  }
}

AccuracyReport run_and_check(Backend& backend, const Problem& p) {
  const Inputs inputs = generate_inputs(p);
  backend.prepare(p, inputs);
  backend.run();
  return check_accuracy(p, backend.output(), reference_sdpa(p, inputs));
}

// Odd shapes: nothing a multiple of a vector, a panel or a block; GQA and MQA; sq ≠ skv both
// ways (causal_br then has fully masked rows); decode; d = 1 and d = 256; kvlen 0 (a batch
// item with no visible key).
const char* const kShapes[] = {
    "b=2,hq=4,hkv=2,sq=37,skv=53,d=19,dv=13",
    "b=2,hq=3,hkv=1,sq=130,skv=70,d=8,dv=40",
    "b=1,hq=8,hkv=2,sq=1,skv=300,d=72,dv=72",
    "b=2,hq=2,hkv=2,sq=61,skv=200,d=1,dv=1",
    "b=1,hq=1,hkv=1,sq=40,skv=45,d=256,dv=200",
};

TEST_P(BlockedKernels, OddShapesEveryDtypeMaskAndGroup) {
  BlockedCpuBackend backend("blocked_cpu_test", &k(), 2);
  for (const char* shape : kShapes) {
    for (const char* dtype : {"f32", "f16", "bf16"}) {
      for (const char* mask : {"none", "causal", "causal_br", "kvlen"}) {
        Problem p = parse_problem(shape);
        p.dtype = parse_problem(std::string("dtype=") + dtype).dtype;
        p.mask = parse_problem(std::string("mask=") + (std::string(mask) == "kvlen" ? "kvlen:1" : mask)).mask;
        if (p.mask == MaskKind::kvlen) {
          // Item 0 sees nothing; item 1 all but a ragged tail.
          p.kvlen = p.b == 2 ? std::vector<int64_t>{0, p.skv - 3} : std::vector<int64_t>{p.skv / 2 + 1};
        }
        const AccuracyReport rep = run_and_check(backend, p);
        EXPECT_TRUE(rep.pass()) << k().isa << " " << p.to_string() << ": " << rep.summary();
      }
    }
  }
}

// Small forced blocks: many key blocks per row (the online rescale), many items per head, row
// tails in every tile and ragged last blocks, all at once.
TEST_P(BlockedKernels, ManyBlocksOnlineSoftmax) {
  for (const char* spec : {"b=1,hq=4,hkv=1,sq=203,skv=517,d=24,dv=20,mask=causal_br,dtype=bf16",
                           "b=2,hq=2,hkv=2,sq=150,skv=150,d=33,dv=17,mask=causal",
                           "b=1,hq=2,hkv=2,sq=64,skv=1000,d=16,dv=16,scale=1"}) {
    for (int64_t splits : {1, 3}) {  // and the decode key split, forced, ranges of whole blocks
      const Problem p = parse_problem(spec);
      const Inputs inputs = generate_inputs(p);
      blocked::FlashAttention fa(k(), 2);
      const blocked::Blocking forced{k().mr, k().nr, 7};
      fa.prepare(p, &forced, splits);
      std::vector<float> out(static_cast<std::size_t>(p.o_elems()));
      fa.run(inputs, out.data());
      const AccuracyReport rep = check_accuracy(p, {out.begin(), out.end()}, reference_sdpa(p, inputs));
      EXPECT_TRUE(rep.pass()) << k().isa << " " << p.to_string() << " splits=" << fa.splits() << ": " << rep.summary();
    }
  }
}

// Also for a decode step, whose key split is planned from the problem alone.
TEST_P(BlockedKernels, BitIdenticalForOneAndTwoThreads) {
  for (const char* spec : {"b=2,hq=6,hkv=2,sq=700,skv=900,d=64,dv=48,dtype=f16,mask=causal_br",
                           "b=1,hq=8,hkv=2,sq=1,skv=3000,d=64,dtype=f32"}) {
    const Problem p = parse_problem(spec);
    const Inputs inputs = generate_inputs(p);
    std::vector<double> outs[2];
    int64_t splits[2] = {};
    for (int threads : {1, 2}) {
      BlockedCpuBackend backend("blocked_cpu_test", &k(), threads);
      backend.prepare(p, inputs);
      backend.run();
      outs[threads - 1] = backend.output();
      splits[threads - 1] = std::stoll(backend.case_notes()["key_splits"]);
    }
    EXPECT_EQ(splits[0], splits[1]) << spec;
    if (p.sq == 1) {
      EXPECT_GT(splits[0], 1) << "a decode step splits its keys";
      EXPECT_TRUE(check_accuracy(p, outs[1], reference_sdpa(p, inputs)).pass()) << spec;
    }
    ASSERT_EQ(outs[0].size(), outs[1].size());
    EXPECT_EQ(std::memcmp(outs[0].data(), outs[1].data(), outs[0].size() * sizeof(double)), 0) << spec;
  }
}

// Long key blocks where L2 holds 1024+ query rows beside one (tiling.cpp); short ones on a
// small L2, whose items would otherwise shrink to a tile and repack every K/V block.
TEST(BlockedTiling, LongKeyBlocksOnlyWhereL2HoldsTheItem) {
  const blocked::CacheSizes big{48 * 1024, 2 * 1024 * 1024}, small{32 * 1024, 256 * 1024};
  struct Case {
    int64_t d;
    blocked::CacheSizes caches;
    int mr, nr;
    int64_t bc;
  };
  for (const Case& c : {Case{64, big, 14, 32, 512}, Case{128, big, 14, 32, 512}, Case{256, big, 14, 32, 128},
                        Case{64, small, 6, 16, 128}, Case{128, small, 14, 32, 128}}) {
    const blocked::Blocking b = blocked::choose_blocking(c.d, c.d, 1, c.mr, c.nr, c.caches);
    EXPECT_EQ(b.bc, c.bc) << "d=" << c.d << " L2 " << c.caches.l2_bytes;
    EXPECT_GE(b.item_positions, b.br) << "d=" << c.d << " L2 " << c.caches.l2_bytes;
  }
  // A decode step that splits its keys keeps short blocks, whatever the cache.
  EXPECT_EQ(blocked::F32Path(blocked::select_kernels()).choose(parse_problem("b=1,hq=8,hkv=2,sq=1,skv=8192,d=128")).bc, 128);
}

TEST_P(BlockedKernels, ScratchDoesNotGrowWithN) {
  const Problem first = parse_problem("b=1,h=8,d=128,sq=256");
  blocked::FlashAttention fa(k(), 2);
  fa.prepare(first);
  const uint64_t scratch = fa.scratch_bytes();
  EXPECT_GT(scratch, 0u);
  EXPECT_LT(scratch, 2u * 4u << 20) << "two threads' workspaces should be L2-sized";
  for (int64_t n : {1024, 16384, 65536}) {
    fa.prepare(parse_problem("b=1,h=8,d=128,sq=" + std::to_string(n)));
    EXPECT_EQ(fa.scratch_bytes(), scratch) << "n=" << n;
  }
}

TEST(BlockedCpuDispatch, ForcedAndEnvironmentChoices) {
  EXPECT_STREQ(blocked::select_kernels("portable").isa, "portable");
  EXPECT_THROW(blocked::select_kernels("sse9"), std::invalid_argument);
  ::setenv("SDPA_BLOCKED_CPU_ISA", "portable", 1);
  EXPECT_STREQ(blocked::select_kernels().isa, "portable");
  ::unsetenv("SDPA_BLOCKED_CPU_ISA");
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
    EXPECT_STRNE(blocked::select_kernels().isa, "portable") << "this CPU runs AVX2: dispatch must take a SIMD table";
    EXPECT_STREQ(blocked::select_kernels("avx2").isa, "avx2");
  }
#endif
}


// The widest f32 SIMD table this CPU runs, or null.
const Kernels* first_simd_table() {
  for (const char* isa : {"avx512", "avx2"}) {
    if (blocked::path_unavailable(isa).empty()) return &blocked::select_kernels(isa);
  }
  return nullptr;
}

// Measured dispatch: with the portable table beside a SIMD one, the trial must find the SIMD
// table (several times faster), say what it measured, keep the plan for the shape class, and
// the result must stay right. Thread CPU time (one thread) keeps this steady on a busy machine.
TEST(BlockedCpuMeasuredDispatch, TrialFindsTheFasterTableAndCachesThePlan) {
  const Kernels* simd = first_simd_table();
  if (!simd) GTEST_SKIP() << "no SIMD table runs here: nothing to choose between";
  const std::vector<const Kernels*> f32{&blocked::kernels_portable(), simd};
  const Problem p = parse_problem("b=1,hq=4,sq=256,d=64,mask=causal,seed=3");
  const Inputs inputs = generate_inputs(p);

  BlockedCpuBackend tuned("blocked_cpu_tune_test", f32, {}, 1, true);
  tuned.prepare(p, inputs);
  tuned.run();
  auto notes = tuned.case_notes();
  EXPECT_EQ(notes["plan"], "measured");
  EXPECT_EQ(notes["isa"], simd->isa) << notes["trial"];
  EXPECT_NE(notes["trial"].find("portable f32"), std::string::npos) << notes["trial"];
  EXPECT_GT(std::stod(notes["trial_ms"]), 0.0);
  EXPECT_TRUE(check_accuracy(p, tuned.output(), reference_sdpa(p, inputs)).pass());

  // Another backend of the same name, a problem of the same shape class: the plan is reused.
  const Problem q = parse_problem("b=1,hq=4,sq=250,d=64,mask=causal,seed=4");
  ASSERT_EQ(blocked::shape_class(p), blocked::shape_class(q));
  const Inputs qin = generate_inputs(q);
  BlockedCpuBackend again("blocked_cpu_tune_test", f32, {}, 1, true);
  again.prepare(q, qin);
  again.run();
  notes = again.case_notes();
  EXPECT_EQ(notes["plan"], "cached");
  EXPECT_EQ(notes["isa"], simd->isa);
  EXPECT_EQ(notes.count("trial_ms"), 0u);
  EXPECT_TRUE(check_accuracy(q, again.output(), reference_sdpa(q, qin)).pass());

  // Tuning off: the rule, the first table.
  BlockedCpuBackend rule("blocked_cpu_tune_test", f32, {}, 1, false);
  rule.prepare(p, inputs);
  EXPECT_EQ(rule.case_notes()["plan"], "rule");
  EXPECT_EQ(rule.route().f32, &blocked::kernels_portable());
}

// A long problem's trial runs on fewer heads (a round of every candidate on all 16 would take
// seconds on the portable table): the notes say on how many, the faster table still wins.
TEST(BlockedCpuMeasuredDispatch, LongProblemsAreTrialledOnFewerHeads) {
  const Kernels* simd = first_simd_table();
  if (!simd) GTEST_SKIP() << "no SIMD table runs here: nothing to choose between";
  const Problem p = parse_problem("b=2,hq=8,sq=2048,d=64,mask=kvlen:2048/1500,seed=6");
  const Inputs inputs = generate_inputs(p);
  BlockedCpuBackend tuned("blocked_cpu_tune_long_test", {&blocked::kernels_portable(), simd}, {}, 1, true);
  tuned.prepare(p, inputs);
  auto notes = tuned.case_notes();
  EXPECT_EQ(notes["plan"], "measured");
  EXPECT_EQ(notes["isa"], simd->isa) << notes["trial"];
  EXPECT_NE(notes["trial_on"].find(" of 16 kv heads"), std::string::npos) << notes["trial_on"];
  // The run after the trial is the whole problem, on the chosen table: the same bits as that
  // table alone gives.
  tuned.run();
  const std::vector<double> out = tuned.output();
  BlockedCpuBackend rule("blocked_cpu_tune_long_rule", {simd}, {}, 1, false);
  rule.prepare(p, inputs);
  rule.run();
  EXPECT_EQ(out, rule.output());
}

// A decode step's trial also tries one key range and twice the rule's ranges.
TEST(BlockedCpuMeasuredDispatch, DecodeTrialCoversKeySplits) {
  const Problem p = parse_problem("b=1,hq=4,hkv=1,sq=1,skv=4096,d=64,seed=5");
  const Inputs inputs = generate_inputs(p);
  BlockedCpuBackend b("blocked_cpu_tune_decode_test", {&blocked::select_kernels(), &blocked::kernels_portable()}, {}, 2,
                      true);
  b.prepare(p, inputs);
  b.run();
  const std::string trial = b.case_notes()["trial"];
  EXPECT_NE(trial.find("splits=1 "), std::string::npos) << trial;
  EXPECT_NE(trial.find("splits=16 "), std::string::npos) << trial;  // the rule gives 8 here (key_split.cpp)
  EXPECT_TRUE(check_accuracy(p, b.output(), reference_sdpa(p, inputs)).pass());
}

TEST(BlockedCpuMeasuredDispatch, SwitchesAndShapeClasses) {
  ::unsetenv("SDPA_BLOCKED_CPU_TUNE");
  EXPECT_TRUE(blocked::tune_enabled());
  ::setenv("SDPA_BLOCKED_CPU_TUNE", "off", 1);
  EXPECT_FALSE(blocked::tune_enabled());
  ::setenv("SDPA_BLOCKED_CPU_TUNE", "sometimes", 1);
  EXPECT_THROW(blocked::tune_enabled(), std::invalid_argument);
  ::unsetenv("SDPA_BLOCKED_CPU_TUNE");

  ::setenv("SDPA_BLOCKED_CPU_DISABLE", "avx2,amx", 1);
  EXPECT_NE(blocked::path_unavailable("avx2").find("SDPA_BLOCKED_CPU_DISABLE"), std::string::npos);
  EXPECT_EQ(blocked::path_unavailable("portable"), "") << "portable always runs";
  ::unsetenv("SDPA_BLOCKED_CPU_DISABLE");

  const std::string c = blocked::shape_class(parse_problem("b=1,hq=8,sq=1024,d=64,dtype=f16"));
  EXPECT_EQ(c, blocked::shape_class(parse_problem("b=1,hq=8,sq=1000,d=64,dtype=f16")));
  EXPECT_NE(c, blocked::shape_class(parse_problem("b=1,hq=8,sq=1025,d=64,dtype=f16")));
  EXPECT_NE(c, blocked::shape_class(parse_problem("b=1,hq=8,sq=1024,d=64,dtype=bf16")));
  EXPECT_NE(c, blocked::shape_class(parse_problem("b=1,hq=8,hkv=2,sq=1024,d=64,dtype=f16")));
  EXPECT_NE(c, blocked::shape_class(parse_problem("b=1,hq=8,sq=1024,d=64,dtype=f16,mask=causal")));
}

// README's rule for non-finite inputs, on the f32 path of every table: a NaN or ±Inf never
// leaks into a row that does not read it (key 20 is masked for rows < 20). The AVX-512 table
// also makes a row that reads a NaN logit NaN (its exponential keeps NaN); the AVX2 and portable
// exponentials clamp a NaN logit to a zero weight, and on every table a -inf logit weighs 0, so
// those rows are not checked here: the reference marks such a case invalid either way.
TEST_P(BlockedKernels, NonFiniteInputsStayInTheirRows) {
  const Problem p = parse_problem("b=1,hq=1,sq=40,d=64,mask=causal");
  for (const float poison : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), NAN}) {
    for (Tensor Inputs::*tensor : {&Inputs::q, &Inputs::k, &Inputs::v}) {
      Inputs in = generate_inputs(p);
      const int64_t row = 20;  // q: row 20 reads it; k, v: key 20, which rows ≥ 20 see
      (in.*tensor).values[static_cast<std::size_t>(row * 64 + 3)] = poison;
      blocked::FlashAttention fa(k(), 2);
      fa.prepare(p);
      std::vector<float> out(static_cast<std::size_t>(p.o_elems()));
      fa.run(in, out.data());
      const char* name = tensor == &Inputs::q ? "q" : tensor == &Inputs::k ? "k" : "v";
      for (int64_t r = 0; r < p.sq; ++r) {
        const bool reads = tensor == &Inputs::q ? r == row : r >= row;
        bool all_finite = true, all_nan = true;
        for (int64_t c = 0; c < p.dv; ++c) {
          const float x = out[static_cast<std::size_t>(r * p.dv + c)];
          all_finite &= std::isfinite(x);
          all_nan &= std::isnan(x);
        }
        const bool nan_logit = std::isnan(poison) && tensor != &Inputs::v;
        if (!reads) {
          EXPECT_TRUE(all_finite) << k().isa << ": " << name << " = " << poison << " leaked into row " << r;
        } else if (nan_logit && std::string(k().isa) == "avx512") {
          EXPECT_TRUE(all_nan) << "row " << r << " read a NaN logit";
        }
      }
    }
  }
}

}  // namespace
}  // namespace sdpa
