#include "core/problem.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace sdpa {
namespace {

std::string error_of(const std::string& spec) {
  try {
    parse_problem(spec);
  } catch (const SpecError& e) {
    return e.what();
  }
  return "";
}

TEST(ProblemSpec, DefaultsFollowTheDesignTable) {
  Problem p = parse_problem("sq=16");
  EXPECT_EQ(p.b, 1);
  EXPECT_EQ(p.hq, 1);
  EXPECT_EQ(p.hkv, 1);
  EXPECT_EQ(p.skv, 16);
  EXPECT_EQ(p.d, 64);
  EXPECT_EQ(p.dv, 64);
  EXPECT_EQ(p.dtype, DType::f32);
  EXPECT_EQ(p.mask, MaskKind::none);
  EXPECT_DOUBLE_EQ(p.scale(), 1.0 / 8.0);
  EXPECT_EQ(p.seed, 1u);
}

TEST(ProblemSpec, DesignExampleRoundTripsThroughItsCanonicalLine) {
  const std::string line = "b=2,hq=8,hkv=2,sq=1024,skv=1024,d=64,dv=64,dtype=f16,mask=causal,scale=default,seed=7";
  Problem p = parse_problem(line);
  EXPECT_EQ(p.to_string(), line);
  Problem q = parse_problem("b=3,h=4,sq=5,skv=9,d=40,dv=24,dtype=bf16,mask=kvlen:9/0/3,scale=0.125,seed=11");
  EXPECT_EQ(parse_problem(q.to_string()).to_string(), q.to_string());
  EXPECT_EQ(q.hq, 4);
  EXPECT_EQ(q.hkv, 4);
  EXPECT_EQ(q.kvlen, (std::vector<int64_t>{9, 0, 3}));
  EXPECT_DOUBLE_EQ(q.scale(), 0.125);
}

TEST(ProblemSpec, ErrorsNameTheKeyAndTheRule) {
  EXPECT_NE(error_of("sq=abc").find("sq=abc: must be an integer"), std::string::npos);
  EXPECT_NE(error_of("sq=0").find("sq=0: must be >= 1"), std::string::npos);
  EXPECT_NE(error_of("hq=8,hkv=3").find("hkv=3: hq=8 must be a multiple of hkv"), std::string::npos);
  EXPECT_NE(error_of("dtype=f64").find("dtype=f64: must be one of"), std::string::npos);
  EXPECT_NE(error_of("mask=window").find("mask=window"), std::string::npos);
  EXPECT_NE(error_of("b=2,sq=4,mask=kvlen:4").find("one length per batch item"), std::string::npos);
  EXPECT_NE(error_of("sq=4,mask=kvlen:5").find("exceeds skv=4"), std::string::npos);
  EXPECT_NE(error_of("scale=-1").find("scale=-1"), std::string::npos);
  EXPECT_NE(error_of("scale=nan").find("scale=nan"), std::string::npos);
  EXPECT_NE(error_of("heads=4").find("heads=4: unknown key"), std::string::npos);
  EXPECT_NE(error_of("sq=4,sq=8").find("given twice"), std::string::npos);
  EXPECT_NE(error_of("sq").find("expected key=value"), std::string::npos);
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("h=2,hq=2").find("not both"), std::string::npos);
  EXPECT_NE(error_of("d=99999999999").find("must be <="), std::string::npos);
}

TEST(ProblemSpec, MasksKeepAKeyPrefix) {
  Problem causal = parse_problem("sq=4,skv=6,mask=causal");
  EXPECT_EQ(causal.visible_keys(0, 0), 1);
  EXPECT_EQ(causal.visible_keys(0, 3), 4);
  Problem br = parse_problem("sq=4,skv=6,mask=causal_br");
  EXPECT_EQ(br.visible_keys(0, 0), 3);  // bottom-right: the last query sees every key
  EXPECT_EQ(br.visible_keys(0, 3), 6);
  Problem br_long_q = parse_problem("sq=6,skv=4,mask=causal_br");
  EXPECT_EQ(br_long_q.visible_keys(0, 0), 0);  // the first sq-skv rows are fully masked
  EXPECT_EQ(br_long_q.visible_keys(0, 1), 0);
  EXPECT_EQ(br_long_q.visible_keys(0, 2), 1);
  Problem kv = parse_problem("b=2,sq=3,skv=5,mask=kvlen:2/5");
  EXPECT_EQ(kv.visible_keys(0, 2), 2);
  EXPECT_EQ(kv.visible_keys(1, 0), 5);
}

TEST(ProblemSpec, FlopsCountOnlyVisiblePairs) {
  EXPECT_DOUBLE_EQ(parse_problem("b=2,hq=3,sq=5,skv=7,d=16").flops(), 4.0 * 2 * 3 * 5 * 7 * 16);
  EXPECT_DOUBLE_EQ(parse_problem("sq=4,d=8,mask=causal").flops(), 4.0 * 8 * (1 + 2 + 3 + 4));
  EXPECT_DOUBLE_EQ(parse_problem("sq=2,d=8,dv=4").flops(), 2.0 * (8 + 4) * 4);
  EXPECT_DOUBLE_EQ(parse_problem("b=2,sq=2,skv=4,d=8,mask=kvlen:1/3").flops(), 4.0 * 8 * (2 * 1 + 2 * 3));
}

// Each key within its bound (2^24), the products past int64: blocked_cpu segfaulted on the first
// and the second ended in std::bad_alloc before the parser refused them.
TEST(ProblemSpec, ElementCountsThatWrapAreRefusedNamingTheSize) {
  EXPECT_NE(error_of("b=16777216,hq=16777216,sq=65536,d=1").find("b*hq*sq*d=16777216*16777216*65536*1: the problem "
                                                                  "needs 2^64 elements of Q, more than any machine holds"),
            std::string::npos);
  EXPECT_NE(error_of("b=65536,hq=65536,sq=65536,d=65536").find("needs 2^64 elements of Q"), std::string::npos);
  // K and V are counted with hkv and skv, O with dv, the scores with sq * skv.
  EXPECT_NE(error_of("b=256,hq=1,sq=1,skv=16777216,d=1024").find("4398046511104 (2^42) elements of K"), std::string::npos);
  EXPECT_NE(error_of("b=256,sq=1,skv=16777216,d=1,dv=1024").find("(2^42) elements of V"), std::string::npos);
  EXPECT_NE(error_of("b=256,sq=16777216,skv=1,d=1,dv=1024").find("(2^42) elements of O"), std::string::npos);
  EXPECT_NE(error_of("b=16,sq=16777216,d=1").find("b*hq*sq*skv=16*1*16777216*16777216: the problem needs 4503599627370496 (2^52) score pairs"),
            std::string::npos);
}

TEST(ProblemSpec, TheSizeLimitsAreInclusive) {
  const Problem at = parse_problem("hq=256,sq=256,d=16777216");  // Q, K, V and O are 2^40 elements each
  EXPECT_EQ(at.q_elems(), kMaxTensorElems);
  EXPECT_EQ(at.o_elems(), kMaxTensorElems);
  EXPECT_NE(error_of("hq=256,sq=257,d=16777216").find("needs 1103806595072 (2^40.01) elements of Q"), std::string::npos);
  const Problem pairs = parse_problem("b=4,sq=16777216,d=1");  // 2^50 score pairs, 2^26 elements per tensor
  EXPECT_EQ(pairs.score_pairs(), kMaxScorePairs);
  EXPECT_DOUBLE_EQ(pairs.visible_pairs(), std::ldexp(1.0, 50));
}

TEST(ProblemSpec, CountsOfAHandMadeProblemThrowInsteadOfWrapping) {
  Problem p;
  p.b = p.hq = p.sq = p.d = int64_t{1} << 24;
  EXPECT_THROW(p.q_elems(), SpecError);
  EXPECT_THROW(p.io_bytes(), SpecError);
  p.b = p.sq = 1;
  EXPECT_EQ(p.q_elems(), int64_t{1} << 48);  // over the parser's limit, but countable
  p.hq = -1;
  EXPECT_THROW(p.q_elems(), SpecError);
}

TEST(ProblemSpec, VisiblePairsInClosedFormMatchTheRowByRowSum) {
  for (const char* mask : {"none", "causal", "causal_br"}) {
    for (int64_t sq : {1, 2, 5, 17}) {
      for (int64_t skv : {1, 3, 5, 16, 40}) {
        const Problem p = parse_problem("b=3,hq=2,sq=" + std::to_string(sq) + ",skv=" + std::to_string(skv) + ",mask=" + mask);
        double rows = 0;
        for (int64_t bi = 0; bi < p.b; ++bi)
          for (int64_t i = 0; i < p.sq; ++i) rows += static_cast<double>(p.visible_keys(bi, i));
        EXPECT_EQ(p.visible_pairs(), rows * static_cast<double>(p.hq)) << p.to_string();
      }
    }
  }
}

// scale=1e308 overflowed even the fp64 reference (NaN) and then let a backend "pass".
TEST(ProblemSpec, ScalesWhoseLogitsCannotBeFiniteInF32AreRefused) {
  const std::string huge = error_of("d=64,scale=1e308");
  EXPECT_NE(huge.find("scale=1e308: must be 'default' (1/sqrt(d)) or a number from 2^-126 to"), std::string::npos) << huge;
  EXPECT_NE(huge.find("f32"), std::string::npos) << huge;
  EXPECT_NE(error_of("d=64,scale=inf").find("scale=inf"), std::string::npos);
  EXPECT_NE(error_of("d=64,scale=1e-40").find("2^-126"), std::string::npos);  // not a normal f32
  // The limit keeps four times the largest possible |logit| below the f32 maximum.
  for (int64_t d : {1, 64, 16777216}) {
    const double s = max_scale(d);
    EXPECT_LE(4 * s * static_cast<double>(d) * kMaxInputMagnitude * kMaxInputMagnitude,
              static_cast<double>(std::numeric_limits<float>::max()));
    char ok[64], over[64];
    std::snprintf(ok, sizeof ok, "d=%lld,scale=%.17g", static_cast<long long>(d), s);
    std::snprintf(over, sizeof over, "d=%lld,scale=%.17g", static_cast<long long>(d), s * (1 + 1e-15));
    EXPECT_EQ(parse_problem(ok).scale(), s);
    EXPECT_NE(error_of(over).find("must be 'default'"), std::string::npos) << over;
  }
  EXPECT_EQ(parse_problem("d=64,scale=1000").scale(), 1000.0);
}

TEST(ProblemSpec, AnEmptyItemNamesTheCommaNextToIt) {
  EXPECT_EQ(error_of("sq=16,d=64,"), "problem spec: empty item after the ',' at position 11 (a trailing comma?)");
  EXPECT_EQ(error_of("sq=16,,d=64"), "problem spec: empty item after the ',' at position 6 (a double comma?)");
  EXPECT_EQ(error_of(" ,sq=16"), "problem spec: empty item before the ',' at position 2 (a leading comma?)");
  EXPECT_EQ(error_of("sq=16, ,d=64"), "problem spec: empty item after the ',' at position 6 (a double comma?)");
}

TEST(ProblemSpec, SeedTakesTheWholeUint64Range) {
  const Problem p = parse_problem("sq=4,seed=18446744073709551615");
  EXPECT_EQ(p.seed, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(parse_problem(p.to_string()), p);
  EXPECT_EQ(parse_problem("seed=0").seed, 0u);
  for (const char* bad : {"seed=18446744073709551616", "seed=-1", "seed=1.5"}) {
    EXPECT_NE(error_of(bad).find("must be an integer from 0 to 18446744073709551615"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace sdpa

namespace sdpa {
namespace {

TEST(ProblemSpec, InputDistributionsParseRoundTripAndBoundTheScale) {
  // The default stays out of the spec line, so earlier results keep their case names.
  EXPECT_EQ(parse_problem("sq=4,dist=normal").to_string().find("dist"), std::string::npos);
  for (const char* d : {"normal:0.5", "uniform", "outliers:4:20", "shift:-3"}) {
    const Problem p = parse_problem(std::string("sq=4,d=64,dist=") + d);
    EXPECT_NE(p.to_string().find(std::string(",dist=") + d), std::string::npos) << p.to_string();
    EXPECT_EQ(parse_problem(p.to_string()), p) << d;
  }
  for (const char* bad : {"dist=bogus", "dist=normal:0", "dist=normal:-1", "dist=outliers:65:2", "dist=outliers:4",
                          "dist=shift:1e9", "dist=uniform:2", "dist=normal:nan"}) {
    EXPECT_THROW(parse_problem(std::string("sq=4,d=64,") + bad), SpecError) << bad;
  }
  // Larger inputs lower the largest admissible scale: outliers x100 -> 10^4 times lower.
  const Problem big = parse_problem("sq=4,d=64,dist=outliers:1:100");
  EXPECT_NEAR(max_scale(64, big.dist.max_abs()) * 1e4 * 1.01 * 1.01, max_scale(64), max_scale(64) * 1e-9);
  EXPECT_THROW(parse_problem("sq=4,d=64,dist=outliers:1:100,scale=1e33"), SpecError);
  EXPECT_NO_THROW(parse_problem("sq=4,d=64,scale=1e33"));
}

}  // namespace
}  // namespace sdpa
