// Correctness of the native bf16 paths (kernels16.h, flash16.cpp), part of blocked_cpu_test:
// the packed layouts and GEMMs against plain loops, varied shapes against the fp64 reference,
// the decode key split, determinism across thread counts, and mutants of the real path (P
// truncated instead of rounded, the scale left out) that the accuracy check must catch.
// Every test runs once per path and is skipped, with the reason, where the CPU lacks it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numbers>
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

uint16_t bf16_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
float bf16_value(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

class Bf16Path : public Table16Test {};

INSTANTIATE_TEST_SUITE_P(Paths, Bf16Path, table16_paths(), table16_name);

std::vector<uint16_t> random_bf16(int64_t n, uint64_t seed, TensorId id) {
  std::vector<uint16_t> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = bf16_bits(normal_sample(seed, id, i));
  return v;
}

// The VNNI panel layout of kernels16.h, element by element, with ragged keys and head dims.
TEST_P(Bf16Path, PackedLayouts) {
  const int64_t nk = 45, d = 40, dpad = 64, npanels = 4, dv = 24, dvpad = 32, kpad = 64, ld = 50;
  const std::vector<uint16_t> src = random_bf16(nk * ld, 11, TensorId::k);
  std::vector<uint16_t> kp(static_cast<std::size_t>(npanels * 16 * dpad), 0xffff);
  k().pack_k(src.data(), ld, nk, d, dpad, npanels, kp.data());
  for (int64_t p = 0; p < npanels; ++p) {
    for (int64_t i = 0; i < dpad / 2; ++i) {
      for (int64_t n = 0; n < 16; ++n) {
        for (int64_t j = 0; j < 2; ++j) {
          const int64_t key = p * 16 + n, c = 2 * i + j;
          const uint16_t want = key < nk && c < d ? src[static_cast<std::size_t>(key * ld + c)] : 0;
          ASSERT_EQ(kp[static_cast<std::size_t>((p * dpad / 2 + i) * 32 + 2 * n + j)], want) << "K key " << key << " c " << c;
        }
      }
    }
  }
  std::vector<uint16_t> vp(static_cast<std::size_t>(kpad * dvpad), 0xffff);
  k().pack_v(src.data(), ld, nk, dv, kpad, dvpad, vp.data());
  for (int64_t p = 0; p < dvpad / 16; ++p) {
    for (int64_t i = 0; i < kpad / 2; ++i) {
      for (int64_t n = 0; n < 16; ++n) {
        for (int64_t j = 0; j < 2; ++j) {
          const int64_t key = 2 * i + j, c = p * 16 + n;
          const uint16_t want = key < nk && c < dv ? src[static_cast<std::size_t>(key * ld + c)] : 0;
          ASSERT_EQ(vp[static_cast<std::size_t>((p * kpad / 2 + i) * 32 + 2 * n + j)], want) << "V key " << key << " c " << c;
        }
      }
    }
  }
}

// Both GEMMs against double loops over the same bf16 values; every product of two bf16 values
// is exact in f32, so only the f32 accumulation order differs.
TEST_P(Bf16Path, GemmsMatchDoubleLoops) {
  const int rows = 37;  // a partial 16-row tile and a partial 14-row block
  const int64_t d = 72, dpad = 96, nk = 64, dv = 40, dvpad = 64, rows_pad = 64;
  std::vector<uint16_t> q = random_bf16(rows_pad * dpad, 21, TensorId::q);
  for (int64_t r = 0; r < rows_pad; ++r) {
    for (int64_t c = 0; c < dpad; ++c) {
      if (r >= rows || c >= d) q[static_cast<std::size_t>(r * dpad + c)] = 0;
    }
  }
  const std::vector<uint16_t> kv = random_bf16(nk * d, 22, TensorId::k);
  std::vector<uint16_t> kp(static_cast<std::size_t>(nk * dpad)), vp(static_cast<std::size_t>(nk * dvpad));
  k().pack_k(kv.data(), d, nk, d, dpad, nk / 16, kp.data());
  k().pack_v(kv.data(), d, nk, dv, nk, dvpad, vp.data());
  std::vector<float> s(static_cast<std::size_t>(rows_pad * nk));
  if (k().thread_begin) k().thread_begin();  // AMX: this thread's tile configuration
  k().scores(rows, dpad, q.data(), dpad, kp.data(), nk / 16, s.data(), nk);
  for (int r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < nk; ++j) {
      double want = 0;
      for (int64_t c = 0; c < d; ++c) {
        want += static_cast<double>(bf16_value(q[static_cast<std::size_t>(r * dpad + c)])) * bf16_value(kv[static_cast<std::size_t>(j * d + c)]);
      }
      ASSERT_NEAR(s[static_cast<std::size_t>(r * nk + j)], want, 1e-4) << "S[" << r << "][" << j << "]";
    }
  }
  // P·V accumulates onto what O holds: start from a known O.
  const std::vector<uint16_t> p = random_bf16(rows_pad * nk, 23, TensorId::v);
  std::vector<float> o(static_cast<std::size_t>(rows_pad * dvpad));
  for (std::size_t i = 0; i < o.size(); ++i) o[i] = normal_sample(24, TensorId::q, i);
  const std::vector<float> o0 = o;
  k().accumulate(rows, nk, p.data(), nk, vp.data(), nk, dvpad, o.data(), dvpad);
  if (k().thread_end) k().thread_end();
  for (int r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < dv; ++c) {
      double want = o0[static_cast<std::size_t>(r * dvpad + c)];
      for (int64_t j = 0; j < nk; ++j) {
        want += static_cast<double>(bf16_value(p[static_cast<std::size_t>(r * nk + j)])) * bf16_value(kv[static_cast<std::size_t>(j * d + c)]);
      }
      ASSERT_NEAR(o[static_cast<std::size_t>(r * dvpad + c)], want, 1e-4) << "O[" << r << "][" << c << "]";
    }
  }
}

// Table16Test's shapes and masks (GQA, MQA, odd sizes, decode, an empty kvlen item) in bf16.
TEST_P(Bf16Path, ShapesAndMasksAgainstReference) { expect_every_shape_and_mask_passes("bf16", "bf16"); }

// Small forced blocks (many key blocks per row, many items) and forced key splits, including
// ranges that some rows see nothing of (causal_br) and a range count that does not divide skv.
TEST_P(Bf16Path, ManyBlocksAndKeySplits) {
  expect_forced_blockings_pass({"b=1,hq=4,hkv=1,sq=203,skv=517,d=24,dv=20,mask=causal_br,dtype=bf16",
                                "b=2,hq=2,hkv=2,sq=150,skv=150,d=33,dv=17,mask=causal,dtype=bf16",
                                "b=1,hq=4,hkv=2,sq=3,skv=1100,d=64,dv=64,mask=causal_br,dtype=bf16",
                                "b=1,hq=2,hkv=2,sq=64,skv=1000,d=16,dv=16,scale=1,dtype=bf16"},
                               {1, 3, 7});
}

// Decode takes the key split (so both cores work on one kv head), and the split is a function
// of the problem: 1 and 2 threads give the same bits, with and without a split.
TEST_P(Bf16Path, DecodeSplitAndBitIdenticalForOneAndTwoThreads) {
  const Problem decode = parse_problem("b=1,hq=32,hkv=8,sq=1,skv=8192,d=128,dtype=bf16");
  EXPECT_GT(blocked::plan_key_split(decode, 256).splits, 1);
  EXPECT_EQ(blocked::plan_key_split(parse_problem("b=1,h=8,sq=4096,d=128,dtype=bf16"), 256).splits, 1);
  for (const char* spec : {"b=1,hq=32,hkv=8,sq=1,skv=8192,d=128,dtype=bf16",
                           "b=2,hq=6,hkv=2,sq=700,skv=900,d=64,dv=48,dtype=bf16,mask=causal_br"}) {
    const Problem p = parse_problem(spec);
    const Inputs inputs = generate_inputs(p);
    std::vector<double> outs[2];
    for (int threads : {1, 2}) {
      auto be = backend(threads);
      be->prepare(p, inputs);
      be->run();
      outs[threads - 1] = be->output();
      if (threads == 2) {
        const AccuracyReport rep = check_accuracy(p, outs[1], reference_sdpa(p, inputs));
        EXPECT_TRUE(rep.pass()) << p.to_string() << ": " << rep.summary();
      }
    }
    ASSERT_EQ(outs[0].size(), outs[1].size());
    EXPECT_EQ(std::memcmp(outs[0].data(), outs[1].data(), outs[0].size() * sizeof(double)), 0) << spec;
  }
}

// The lazy running max of softmax16: a later block whose max sits 4 logits above the first
// block's (p up to e^4 against the old reference, kept) and one 16 above it (p would pass 2^8:
// the row is redone against the new max and the output before it rescaled).
TEST_P(Bf16Path, LazyMaxKeptAndRedone) {
  Problem p = parse_problem("b=1,hq=2,sq=3,skv=1000,d=1,dv=8,dtype=bf16,scale=1");
  Inputs in = generate_inputs(p);
  std::fill(in.q.values.begin(), in.q.values.end(), 1.0f);
  for (int64_t j = 0; j < p.skv; ++j) {
    in.k.values[static_cast<std::size_t>(j)] = j == 300 ? 4.0f : j == 700 ? 16.0f : 0.0f;
  }
  round_to_dtype(in.q);
  round_to_dtype(in.k);
  for (int64_t splits : {1, 2}) {
    blocked::FlashAttention16 fa(k(), 2);
    fa.prepare(p, nullptr, splits);
    std::vector<float> out(static_cast<std::size_t>(p.o_elems()));
    fa.run(in, out.data());
    const AccuracyReport rep = check_accuracy(p, {out.begin(), out.end()}, reference_sdpa(p, in));
    EXPECT_TRUE(rep.pass()) << "splits=" << splits << ": " << rep.summary();
  }
}

// ---- Mutants: the real path with one defect put into its softmax ------------------------

const Kernels16* g_real = nullptr;  // the table the mutant softmaxes wrap

// P truncated to bf16 instead of rounded: the real softmax keeps m, l and alpha; P is then
// recomputed from S with the final max and chopped.
void softmax_truncating(const float* s, int64_t lds, int rows, int64_t ncols, const int64_t* limit, float c, float* m,
                        float* l, float* alpha, uint16_t* p, int64_t ldp) {
  g_real->softmax(s, lds, rows, ncols, limit, c, m, l, alpha, p, ldp);
  for (int r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < ncols; ++j) {
      const bool visible = !limit || j < limit[r];
      const float x = visible ? static_cast<float>(std::exp2((static_cast<double>(s[r * lds + j]) - m[r]) * c)) : 0.0f;
      uint32_t u;
      std::memcpy(&u, &x, sizeof u);
      p[r * ldp + j] = static_cast<uint16_t>(u >> 16);
    }
  }
}

// The scale left out: logits taken as raw Q·Kᵀ.
void softmax_unscaled(const float* s, int64_t lds, int rows, int64_t ncols, const int64_t* limit, float, float* m,
                      float* l, float* alpha, uint16_t* p, int64_t ldp) {
  g_real->softmax(s, lds, rows, ncols, limit, static_cast<float>(std::numbers::log2e), m, l, alpha, p, ldp);
}

// The bf16 form of the harness's f16 mutant (table16_test_fixture.h's truncation probe, u = 2^-8).
TEST_P(Bf16Path, MutantPTruncatedIsCaught) {
  g_real = &k();
  Kernels16 mutant = k();
  mutant.softmax = softmax_truncating;
  expect_truncation_caught(mutant, "bf16", 8);
}

TEST_P(Bf16Path, MutantMissingScaleIsCaught) {
  g_real = &k();
  Kernels16 mutant = k();
  mutant.softmax = softmax_unscaled;
  for (const char* spec : {"b=1,hq=2,sq=64,d=64,dtype=bf16", "b=1,hq=4,hkv=2,sq=1,skv=2048,d=128,dtype=bf16"}) {
    const Problem p = parse_problem(spec);
    const Inputs in = generate_inputs(p);
    EXPECT_TRUE(run_table16(k(), p, in).pass()) << spec;
    EXPECT_FALSE(run_table16(mutant, p, in).pass()) << spec;
  }
}

TEST(BlockedCpuDispatch, Bf16PathNamesAndReasons) {
  EXPECT_THROW(blocked::select_paths("amx512"), std::invalid_argument);
  for (const char* isa : {"amx", "avx512bf16"}) {
    const std::string why = blocked::path_unavailable(isa);
    if (why.empty()) {
      EXPECT_STREQ(blocked::select_paths(isa).bf16->isa, isa);
      EXPECT_STREQ(blocked::select_paths(isa).f32->isa, "avx512") << "f32 and f16 stay on the AVX-512 table";
    } else {
      EXPECT_THROW(blocked::select_paths(isa), std::runtime_error) << why;
    }
  }
  EXPECT_EQ(blocked::select_paths("avx512").bf16, nullptr) << "avx512 pins bf16 to the f32 path";
  for (const char* isa : {"amx", "avx512bf16"}) {  // the environment variable takes the new names
    if (!blocked::path_unavailable(isa).empty()) continue;
    ::setenv("SDPA_BLOCKED_CPU_ISA", isa, 1);
    EXPECT_STREQ(blocked::select_paths().bf16->isa, isa);
    ::unsetenv("SDPA_BLOCKED_CPU_ISA");
  }
  ::setenv("SDPA_BLOCKED_CPU_ISA", "avx512", 1);
  EXPECT_EQ(blocked::select_paths().bf16, nullptr);
  ::unsetenv("SDPA_BLOCKED_CPU_ISA");
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (blocked::path_unavailable("amx").empty()) {
    EXPECT_STREQ(blocked::select_paths().bf16->isa, "amx") << "automatic takes AMX where the CPU has it";
  }
#endif
}

}  // namespace
}  // namespace sdpa
