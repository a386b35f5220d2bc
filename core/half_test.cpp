#include "core/half.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sdpa {
namespace {

TEST(Half, EveryF16ValueRoundTripsExactly) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const auto h = static_cast<uint16_t>(bits);
    const float f = f16_bits_to_f32(h);
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16_bits(f), h) << "bits 0x" << std::hex << bits;
  }
}

TEST(Half, F16RoundsToNearestEven) {
  EXPECT_EQ(f16_bits_to_f32(f32_to_f16_bits(1.0f + std::ldexp(1.0f, -11))), 1.0f);  // tie -> even
  EXPECT_EQ(f16_bits_to_f32(f32_to_f16_bits(1.0f + 3 * std::ldexp(1.0f, -11))), 1.0f + std::ldexp(1.0f, -9));
  EXPECT_EQ(f16_bits_to_f32(f32_to_f16_bits(1.0f + std::ldexp(1.0f, -11) * 1.01f)), 1.0f + std::ldexp(1.0f, -10));
  EXPECT_EQ(f32_to_f16_bits(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16_bits(65520.0f), 0x7c00);  // rounds past the largest finite: inf
  EXPECT_EQ(f32_to_f16_bits(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16_bits(std::ldexp(1.0f, -25)), 0x0000);  // tie -> even (zero)
  EXPECT_EQ(f32_to_f16_bits(std::ldexp(3.0f, -25)), 0x0002);
  EXPECT_EQ(f32_to_f16_bits(-2.0f), 0xc000);
  EXPECT_TRUE(std::isnan(f16_bits_to_f32(f32_to_f16_bits(NAN))));
}

TEST(Half, Bf16RoundsToNearestEven) {
  EXPECT_EQ(round_to_bf16(1.0f + std::ldexp(1.0f, -8)), 1.0f);  // tie -> even
  EXPECT_EQ(round_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_EQ(round_to_bf16(1.0f + std::ldexp(1.0f, -8) * 1.01f), 1.0f + std::ldexp(1.0f, -7));
  EXPECT_EQ(f32_to_bf16_bits(-1.0f), 0xbf80);
  EXPECT_TRUE(std::isnan(round_to_bf16(NAN)));
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const float f = bf16_bits_to_f32(static_cast<uint16_t>(bits));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_bf16_bits(f), bits);
  }
}

}  // namespace
}  // namespace sdpa
