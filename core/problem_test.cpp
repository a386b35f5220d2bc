#include "core/problem.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sdpa
