#version 450
// The calibration GEMM of the cooperative-matrix path: C = A·B, n×n row-major, f16 inputs, f32
// accumulation and output, on the same MS×MS×MS subgroup matrices the coopmat attention uses.
// Each subgroup owns a 2MS×2MS block of C (four accumulators) and streams A and B fragments
// straight from global memory: a plain kernel, so the peak it reports is a floor of what the
// matrix units give, honestly labelled as this project's own GEMM.
// n must be a multiple of 2·MS; the grid is (n / 2MS)² / NSG workgroups along x.

#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;  // NSG subgroups of SG threads
layout(constant_id = 1) const uint SG = 32;   // subgroup size, required at pipeline creation
layout(constant_id = 2) const uint MS = 16;   // matrix size, 8 or 16

layout(push_constant) uniform Params { uint n; } pc;
layout(binding = 0) readonly buffer A { float16_t a[]; };
layout(binding = 1) readonly buffer B { float16_t b[]; };
layout(binding = 2) writeonly buffer C { float c[]; };

const uint NSG = WG / SG;

void main() {
  const uint n = pc.n;
  const uint blocks_per_row = n / (2u * MS);
  const uint block = gl_WorkGroupID.x * NSG + gl_SubgroupID;
  const uint row0 = (block / blocks_per_row) * 2u * MS;
  const uint col0 = (block % blocks_per_row) * 2u * MS;
  coopmat<float, gl_ScopeSubgroup, MS, MS, gl_MatrixUseAccumulator> acc[2][2];
  [[unroll]] for (uint i = 0u; i < 2u; ++i) {
    [[unroll]] for (uint j = 0u; j < 2u; ++j) {
      acc[i][j] = coopmat<float, gl_ScopeSubgroup, MS, MS, gl_MatrixUseAccumulator>(0.0);
    }
  }
  for (uint k = 0u; k < n; k += MS) {
    coopmat<float16_t, gl_ScopeSubgroup, MS, MS, gl_MatrixUseA> fa[2];
    coopmat<float16_t, gl_ScopeSubgroup, MS, MS, gl_MatrixUseB> fb[2];
    [[unroll]] for (uint i = 0u; i < 2u; ++i) {
      coopMatLoad(fa[i], a, (row0 + i * MS) * n + k, n, gl_CooperativeMatrixLayoutRowMajor);
      coopMatLoad(fb[i], b, k * n + col0 + i * MS, n, gl_CooperativeMatrixLayoutRowMajor);
    }
    [[unroll]] for (uint i = 0u; i < 2u; ++i) {
      [[unroll]] for (uint j = 0u; j < 2u; ++j) acc[i][j] = coopMatMulAdd(fa[i], fb[j], acc[i][j]);
    }
  }
  [[unroll]] for (uint i = 0u; i < 2u; ++i) {
    [[unroll]] for (uint j = 0u; j < 2u; ++j) {
      coopMatStore(acc[i][j], c, (row0 + i * MS) * n + col0 + j * MS, n, gl_CooperativeMatrixLayoutRowMajor);
    }
  }
}
