// IEEE binary16 and bfloat16 conversions, round-to-nearest-even, in plain C++ so that every
// backend and the reference agree bit for bit on what an f16/bf16 input is.
#pragma once

#include <bit>
#include <cstdint>
#include <span>
#include <vector>

namespace sdpa {

inline uint16_t f32_to_bf16_bits(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);  // quiet NaN
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);  // ties to even
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

inline float bf16_bits_to_f32(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

inline uint16_t f32_to_f16_bits(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (abs < 0x38800000u) {
    // Subnormal or zero in f16: scale into the subnormal grid with a float add, whose
    // hardware rounding is round-to-nearest-even at exactly the f16 subnormal spacing (2^-24).
    float magnitude = std::bit_cast<float>(abs) + 0.5f;  // 0.5 = 2^-1: ulp(0.5) = 2^-24
    return static_cast<uint16_t>(sign | (std::bit_cast<uint32_t>(magnitude) - 0x3f000000u));
  }
  uint32_t mantissa_odd = (abs >> 13) & 1u;
  abs += 0xc8000fffu + mantissa_odd;  // rebias exponent (127 -> 15) and round to nearest even
  return static_cast<uint16_t>(sign | (abs >> 13));
}

inline float f16_bits_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    // Subnormal: mant · 2^-24, exact in float.
    float magnitude = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return std::bit_cast<float>(std::bit_cast<uint32_t>(magnitude) | sign);
  }
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

inline float round_to_f16(float v) { return f16_bits_to_f32(f32_to_f16_bits(v)); }
inline float round_to_bf16(float v) { return bf16_bits_to_f32(f32_to_bf16_bits(v)); }

// 16-bit storage (f16 when `bf16` is false) widened to fp64, the form output() returns:
// every backend that downloads 16-bit results goes through this one conversion.
inline std::vector<double> widen_16bit(std::span<const uint16_t> bits, bool bf16) {
  std::vector<double> out(bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i) {
    out[i] = static_cast<double>(bf16 ? bf16_bits_to_f32(bits[i]) : f16_bits_to_f32(bits[i]));
  }
  return out;
}

}  // namespace sdpa
