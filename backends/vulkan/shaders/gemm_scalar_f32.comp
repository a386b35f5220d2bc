#version 450
// Scalar calibration GEMM, f32 inputs.
#extension GL_GOOGLE_include_directive : require
#include "gemm_scalar.glsl"

layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) readonly buffer B { float b[]; };

float load_a(uint index) { return a[index]; }
float load_b(uint index) { return b[index]; }
