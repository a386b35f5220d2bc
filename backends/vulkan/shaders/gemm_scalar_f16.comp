#version 450
// Scalar calibration GEMM, f16 inputs read as packed pairs and widened (unpackHalf2x16 is core
// GLSL: no 16-bit storage or arithmetic needed), like the 16-bit attention path.
#extension GL_GOOGLE_include_directive : require
#include "gemm_scalar.glsl"

layout(binding = 0) readonly buffer A { uint a[]; };
layout(binding = 1) readonly buffer B { uint b[]; };

float load_a(uint index) { return unpackHalf2x16(a[index >> 1])[index & 1u]; }
float load_b(uint index) { return unpackHalf2x16(b[index >> 1])[index & 1u]; }
