#version 450
// Scalar path, 16-bit storage (f16 or bf16, by specialisation constant): tensors are read as
// raw 16-bit words and widened exactly to f32; everything in between runs in f32; O is
// rounded to nearest even. Needs storageBuffer16BitAccess only: no 16-bit arithmetic, and
// bf16 needs no bf16 support from the device.

#extension GL_EXT_shader_16bit_storage : require

#include "flash_scalar.glsl"

layout(constant_id = 9) const bool IS_BF16 = false;

layout(binding = 0) readonly buffer Q { uint16_t q[]; };
layout(binding = 1) readonly buffer K { uint16_t k[]; };
layout(binding = 2) readonly buffer V { uint16_t v[]; };
layout(binding = 3) writeonly buffer O { uint16_t o[]; };

float widen(uint bits) { return IS_BF16 ? bf16_bits_to_f32(bits) : f16_bits_to_f32(bits); }

float load_q(uint index) { return widen(uint(q[index])); }
float load_k(uint index) { return widen(uint(k[index])); }
float load_v(uint index) { return widen(uint(v[index])); }
void store_o(uint index, float value) {
  o[index] = uint16_t(IS_BF16 ? f32_to_bf16_bits(value) : f32_to_f16_bits(value));
}
