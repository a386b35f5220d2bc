// Pieces every attention shader shares: the problem's push constants, the mask rule and the
// 16-bit conversions. Included by each .comp (GL_GOOGLE_include_directive).

// Mirrors VulkanPushConstants in vulkan_pipeline.h, field for field.
layout(push_constant) uniform Params {
  uint batch;
  uint hq;
  uint hkv;
  uint sq;
  uint skv;
  uint mask_kind;    // 0 none, 1 causal (top-left), 2 causal_br (bottom-right), 3 kvlen
  uint group;        // hq / hkv: query heads per kv head
  float scale_log2e; // scale · log2(e): softmax runs in base 2 (exp2 is the hardware op)
} pc;

// Valid keys per batch item, read for mask_kind 3 only (a one-element buffer otherwise).
layout(binding = 4) readonly buffer KvLen { uint kvlen[]; };

// Every mask of the spec keeps a key prefix (Problem::visible_keys): row i of batch item bi
// sees keys [0, visible_keys(bi, i)).
uint visible_keys(uint bi, uint i) {
  if (pc.mask_kind == 1u) return min(pc.skv, i + 1u);
  if (pc.mask_kind == 2u) return uint(clamp(int(i) + 1 + int(pc.skv) - int(pc.sq), 0, int(pc.skv)));
  if (pc.mask_kind == 3u) return min(pc.skv, kvlen[bi]);
  return pc.skv;
}

// A finite stand-in for -inf: masked logits and the initial running max. exp2 of it is 0, and
// unlike -inf it never meets another infinity (no -inf - -inf = NaN), whatever the driver's
// float rules. Real logits are far smaller in magnitude.
const float NEG_BIG = -1.0e30;

// f32 -> IEEE binary16 bits, round to nearest even, in integer arithmetic: the rounding of a
// plain float16_t() conversion is implementation-defined in Vulkan (RTE or RTZ), and the f16
// accuracy rule assumes RTE. Same algorithm as harness/half.h.
uint f32_to_f16_bits(float value) {
  uint bits = floatBitsToUint(value);
  uint sign = (bits >> 16) & 0x8000u;
  uint a = bits & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: inf
  if (a < 0x38800000u) {
    // f16 subnormal: value / 2^-24 rounded to an integer, from the f32 significand.
    uint e = a >> 23;
    if (e < 102u) return sign;  // below 2^-25: rounds to zero
    uint m = (a & 0x7fffffu) | 0x800000u;
    uint shift = 126u - e;  // 14 .. 24
    uint r = m >> shift;
    uint rem = m & ((1u << shift) - 1u);
    uint half_way = 1u << (shift - 1u);
    if (rem > half_way || (rem == half_way && (r & 1u) != 0u)) r += 1u;
    return sign | r;
  }
  a += 0xc8000fffu + ((a >> 13) & 1u);  // rebias exponent 127 -> 15, round to nearest even
  return sign | (a >> 13);
}

// IEEE binary16 bits -> f32, exact, in integer arithmetic (no dependence on how the device
// treats f16 subnormals).
float f16_bits_to_f32(uint h) {
  uint sign = (h & 0x8000u) << 16;
  uint e = (h >> 10) & 0x1fu;
  uint mant = h & 0x3ffu;
  if (e == 0u) return uintBitsToFloat(floatBitsToUint(float(mant) * 5.9604644775390625e-8) | sign);
  if (e == 0x1fu) return uintBitsToFloat(sign | 0x7f800000u | (mant << 13));
  return uintBitsToFloat(sign | ((e + 112u) << 23) | (mant << 13));
}

// f32 -> bfloat16 bits, round to nearest even (harness/half.h).
uint f32_to_bf16_bits(float value) {
  uint bits = floatBitsToUint(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return ((bits >> 16) | 0x40u) & 0xffffu;  // quiet NaN
  return ((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16) & 0xffffu;
}

float bf16_bits_to_f32(uint h) { return uintBitsToFloat(h << 16); }
