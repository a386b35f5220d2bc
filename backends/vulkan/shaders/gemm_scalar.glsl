// The calibration GEMM of the scalar path, C = A·B with n×n row-major matrices, f32 accumulation
// and output: what the scalar attention kernels can reach on this device, so a scalar case is
// held to a peak of the same kind. Each wrapper defines load_a / load_b for its input type.
//
// 256 threads per 64×64 tile of C, 4×4 outputs each; K in steps of 16 through shared memory.
// n must be a multiple of 64 (the host picks such an n).

#extension GL_EXT_control_flow_attributes : require

// One-dimensional workgroup of 256 (constant_id 0, like every shader here, so the host knows
// the size); thread (tx, ty) of the 16×16 grid is tid % 16, tid / 16.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;
layout(push_constant) uniform Params { uint n; } pc;
layout(binding = 2) writeonly buffer C { float c[]; };

const uint TILE = 64u;
const uint BK = 16u;
const uint THREADS = 256u;

shared float As[BK][TILE + 1u];  // As[k][row], padded against bank conflicts on the transpose
shared float Bs[BK][TILE];       // Bs[k][col]

float load_a(uint index);
float load_b(uint index);

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint tx = tid % 16u, ty = tid / 16u;
  const uint row0 = gl_WorkGroupID.y * TILE, col0 = gl_WorkGroupID.x * TILE;
  const uint n = pc.n;
  float acc[4][4];
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    [[unroll]] for (uint j = 0u; j < 4u; ++j) acc[i][j] = 0.0;
  }
  for (uint k0 = 0u; k0 < n; k0 += BK) {
    [[unroll]] for (uint r = 0u; r < TILE * BK / THREADS; ++r) {
      const uint e = tid + r * THREADS;
      As[e % BK][e / BK] = load_a((row0 + e / BK) * n + k0 + e % BK);
      Bs[e / TILE][e % TILE] = load_b((k0 + e / TILE) * n + col0 + e % TILE);
    }
    barrier();
    [[unroll]] for (uint kk = 0u; kk < BK; ++kk) {
      float a[4], b[4];
      [[unroll]] for (uint i = 0u; i < 4u; ++i) a[i] = As[kk][ty * 4u + i];
      [[unroll]] for (uint j = 0u; j < 4u; ++j) b[j] = Bs[kk][tx + 16u * j];  // adjacent threads, adjacent columns
      [[unroll]] for (uint i = 0u; i < 4u; ++i) {
        [[unroll]] for (uint j = 0u; j < 4u; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
      }
    }
    barrier();
  }
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    [[unroll]] for (uint j = 0u; j < 4u; ++j) c[(row0 + ty * 4u + i) * n + col0 + tx + 16u * j] = acc[i][j];
  }
}
