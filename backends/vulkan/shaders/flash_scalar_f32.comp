#version 450
// Scalar path, f32 storage: tensors are read and written as they are.

#include "flash_scalar.glsl"

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K { float k[]; };
layout(binding = 2) readonly buffer V { float v[]; };
layout(binding = 3) writeonly buffer O { float o[]; };

float load_q(uint index) { return q[index]; }
float load_k(uint index) { return k[index]; }
float load_v(uint index) { return v[index]; }
void store_o(uint index, float value) { o[index] = value; }
