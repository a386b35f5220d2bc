#version 450
// Cooperative-matrix path (VK_KHR_cooperative_matrix): f16 Q, K, V, O; Q·Kᵀ and P·V on MS×MS×MS
// f16·f16 -> f32 subgroup matrices (MS = 16 on NVIDIA and AMD, 8 on lavapipe); softmax, row
// statistics and the O accumulators in f32.
//
// One workgroup per (query tile of BR = MS·NSG rows, query head, batch item); each subgroup
// owns MS query rows, FlashAttention-2 style, so no row statistic crosses subgroups. The
// workgroup loads K and V tiles of BC keys into shared memory together; then each subgroup:
//   S = Q·Kᵀ (Q fragments stay in registers)  -> shared (the element layout of a cooperative
//   matrix is opaque, so row-wise softmax reads S back from shared memory);
//   online softmax per row in f32; P rounded to f16 (nearest even) into shared;
//   O = O ∘ alpha + P·V, where the per-row rescale alpha is an MS×MS matrix whose row r holds
//   alpha_r (component-wise product of two accumulators of the same type).
// Tiles past the last key any row of the workgroup can see are never loaded.
//
// Compiled with glslangValidator ≥ 13 (GL_KHR_cooperative_matrix), see CMakeLists.txt.

#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;  // threads: NSG subgroups of SG
layout(constant_id = 1) const uint SG = 32;   // subgroup size, required at pipeline creation
layout(constant_id = 2) const uint BC = 32;   // keys per tile, a multiple of 16
layout(constant_id = 3) const uint D = 64;    // head dim of Q and K
layout(constant_id = 4) const uint DV = 64;   // head dim of V and O
layout(constant_id = 5) const uint MS = 16;   // matrix size: MS×MS×MS f16·f16 -> f32, 8 or 16

const uint NSG = WG / SG;
const uint BR = MS * NSG;
const uint DK = (D + MS - 1u) / MS;  // MS-wide chunks of d (zero-padded)
const uint DVK = (DV + MS - 1u) / MS;
const uint BCK = BC / MS;
const uint MS4 = MS / 4u;
const uint MM = MS * MS;
// Row strides, padded by 16 bytes so that the rows of a fragment spread over the banks while
// every row start stays 16-byte aligned.
const uint KSTRIDE = DK * MS4 + 2u;   // f16vec4 per K row
const uint VSTRIDE = DVK * MS4 + 2u;  // f16vec4 per V row
const uint SSTRIDE = BC + 4u;         // floats per S row
const uint PSTRIDE = BC / 2u + 4u;    // f16vec2 per P row
const uint TPR = SG / MS;             // lanes per row of a subgroup's MS-row block
// Constant trip counts for every loop but the one over key tiles, so that they unroll.
const uint K_ROUNDS = (BC * DK * MS4 + WG - 1u) / WG;
const uint V_ROUNDS = (BC * DVK * MS4 + WG - 1u) / WG;
const uint Q_ROUNDS = (MM / 2u + SG - 1u) / SG;
const uint O_ROUNDS = (MM + SG - 1u) / SG;

shared f16vec4 Ks[BC * KSTRIDE];
shared f16vec4 Vs[BC * VSTRIDE];
shared float Ss[NSG * MS * SSTRIDE];
shared f16vec2 Ps[NSG * MS * PSTRIDE];  // also stages Q at the start
shared float Ts[NSG * MM];              // MS×MS per subgroup: row factors, output staging

#include "common.glsl"

layout(binding = 0) readonly buffer Q { float16_t q[]; };
layout(binding = 1) readonly buffer K { float16_t k[]; };
layout(binding = 1) readonly buffer K4 { f16vec4 k4[]; };
layout(binding = 2) readonly buffer V { float16_t v[]; };
layout(binding = 2) readonly buffer V4 { f16vec4 v4[]; };
layout(binding = 3) writeonly buffer O { uint16_t o[]; };

// Columns 4·c4 .. 4·c4+3 of the row starting at element `row`, zero past the head dim.
f16vec4 load_k4(uint row, uint c4) {
  if (D % 4u == 0u) return c4 < D / 4u ? k4[row / 4u + c4] : f16vec4(0.0);
  f16vec4 x = f16vec4(0.0);
  [[unroll]] for (uint e = 0u; e < 4u; ++e) {
    if (c4 * 4u + e < D) x[e] = k[row + c4 * 4u + e];
  }
  return x;
}
f16vec4 load_v4(uint row, uint c4) {
  if (DV % 4u == 0u) return c4 < DV / 4u ? v4[row / 4u + c4] : f16vec4(0.0);
  f16vec4 x = f16vec4(0.0);
  [[unroll]] for (uint e = 0u; e < 4u; ++e) {
    if (c4 * 4u + e < DV) x[e] = v[row + c4 * 4u + e];
  }
  return x;
}

// Fills this subgroup's MS×MS block of Ts with row r = value of lane group r.
void broadcast_rows(uint sg_t, uint r, uint part, float value) {
  [[unroll]] for (uint c = 0u; c < MS / TPR; ++c) Ts[sg_t + r * MS + part * (MS / TPR) + c] = value;
}

#define MAT_A coopmat<float16_t, gl_ScopeSubgroup, MS, MS, gl_MatrixUseA>
#define MAT_B coopmat<float16_t, gl_ScopeSubgroup, MS, MS, gl_MatrixUseB>
#define MAT_C coopmat<float, gl_ScopeSubgroup, MS, MS, gl_MatrixUseAccumulator>

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint sg = gl_SubgroupID;
  const uint sl = gl_SubgroupInvocationID;
  const uint row0 = gl_WorkGroupID.x * BR;
  const uint h = gl_WorkGroupID.y;
  const uint bi = gl_WorkGroupID.z;
  const uint kvh = bi * pc.hkv + h / pc.group;
  const uint q_base = (bi * pc.hq + h) * pc.sq * D;
  const uint k_base = kvh * pc.skv * D;
  const uint v_base = kvh * pc.skv * DV;
  const uint o_base = (bi * pc.hq + h) * pc.sq * DV;
  const uint my_row0 = row0 + sg * MS;  // this subgroup's first query row
  const uint sg_s = sg * MS * SSTRIDE;
  const uint sg_p = sg * MS * PSTRIDE;
  const uint sg_t = sg * MM;

  // Q stays in registers as DK fragments, staged MS columns at a time through this
  // subgroup's part of Ps. Unscaled: f16(q·scale) would add a rounding error to every logit.
  MAT_A qf[DK];
  [[unroll]] for (uint kk = 0u; kk < DK; ++kk) {
    [[unroll]] for (uint round = 0u; round < Q_ROUNDS; ++round) {
      const uint i = sl + round * SG;
      if (i < MM / 2u) {
        const uint r = i / (MS / 2u), c2 = i % (MS / 2u), col = kk * MS + c2 * 2u;
        f16vec2 x = f16vec2(0.0);
        if (my_row0 + r < pc.sq) {
          if (col < D) x.x = q[q_base + (my_row0 + r) * D + col];
          if (col + 1u < D) x.y = q[q_base + (my_row0 + r) * D + col + 1u];
        }
        Ps[sg_p + r * (MS / 2u) + c2] = x;
      }
    }
    subgroupBarrier();
    coopMatLoad(qf[kk], Ps, sg_p, MS / 2u, gl_CooperativeMatrixLayoutRowMajor);
    subgroupBarrier();
  }

  MAT_C of[DVK];
  [[unroll]] for (uint nb = 0u; nb < DVK; ++nb) of[nb] = MAT_C(0.0);

  // Softmax: TPR neighbouring lanes share a row (r_l of this subgroup's MS), each keeping the
  // row's running max and sum.
  const uint r_l = sl / TPR, part = sl % TPR;
  const uint my_visible = my_row0 + r_l < pc.sq ? visible_keys(bi, my_row0 + r_l) : 0u;
  float row_max = NEG_BIG, row_sum = 0.0;

  // Visible key counts never decrease along the rows: the last row bounds the workgroup's.
  const uint kv_end = visible_keys(bi, min(row0 + BR, pc.sq) - 1u);

  for (uint kv0 = 0u; kv0 < kv_end; kv0 += BC) {
    barrier();  // every subgroup is done with the previous Ks and Vs
    [[unroll]] for (uint round = 0u; round < K_ROUNDS; ++round) {
      const uint idx = tid + round * WG;
      if (idx < BC * DK * MS4) {
        const uint j = idx / (DK * MS4), c4 = idx % (DK * MS4);
        Ks[j * KSTRIDE + c4] = kv0 + j < pc.skv ? load_k4(k_base + (kv0 + j) * D, c4) : f16vec4(0.0);
      }
    }
    [[unroll]] for (uint round = 0u; round < V_ROUNDS; ++round) {
      const uint idx = tid + round * WG;
      if (idx < BC * DVK * MS4) {
        const uint j = idx / (DVK * MS4), c4 = idx % (DVK * MS4);
        Vs[j * VSTRIDE + c4] = kv0 + j < pc.skv ? load_v4(v_base + (kv0 + j) * DV, c4) : f16vec4(0.0);
      }
    }
    barrier();

    [[unroll]] for (uint nb = 0u; nb < BCK; ++nb) {
      MAT_C s = MAT_C(0.0);
      [[unroll]] for (uint kk = 0u; kk < DK; ++kk) {
        // Kᵀ as the B operand: element (c, j) of Kᵀ is K row j, column c: column-major.
        MAT_B kb;
        coopMatLoad(kb, Ks, nb * MS * KSTRIDE + kk * MS4, KSTRIDE, gl_CooperativeMatrixLayoutColumnMajor);
        s = coopMatMulAdd(qf[kk], kb, s);
      }
      coopMatStore(s, Ss, sg_s + nb * MS, SSTRIDE, gl_CooperativeMatrixLayoutRowMajor);
    }
    subgroupBarrier();

    float tile_max = NEG_BIG;
    [[unroll]] for (uint k = 0u; k < BC / TPR; ++k) {
      const uint j = part + k * TPR;
      if (kv0 + j < my_visible) tile_max = max(tile_max, Ss[sg_s + r_l * SSTRIDE + j] * pc.scale_log2e);
    }
    [[unroll]] for (uint off = 1u; off < TPR; off <<= 1) {
      tile_max = max(tile_max, subgroupShuffleXor(tile_max, off));
    }
    const float new_max = max(row_max, tile_max);
    const float sub = new_max > 0.5 * NEG_BIG ? new_max : 0.0;
    const float alpha = exp2(row_max - sub);
    float tile_sum = 0.0;
    [[unroll]] for (uint k = 0u; k < (BC / 2u + TPR - 1u) / TPR; ++k) {
      const uint c2 = part + k * TPR;
      if (c2 < BC / 2u) {
        float p[2];
        [[unroll]] for (uint e = 0u; e < 2u; ++e) {
          const uint j = c2 * 2u + e;
          const float x = kv0 + j < my_visible ? Ss[sg_s + r_l * SSTRIDE + j] * pc.scale_log2e : NEG_BIG;
          p[e] = exp2(x - sub);
          tile_sum += p[e];  // the row sum adds P before rounding, as fused kernels do
        }
        Ps[sg_p + r_l * PSTRIDE + c2] = unpackFloat2x16(f32_to_f16_bits(p[0]) | (f32_to_f16_bits(p[1]) << 16));
      }
    }
    [[unroll]] for (uint off = 1u; off < TPR; off <<= 1) {
      tile_sum += subgroupShuffleXor(tile_sum, off);
    }
    row_sum = row_sum * alpha + tile_sum;
    row_max = new_max;
    const bool rescale = subgroupAny(alpha != 1.0);
    if (rescale) broadcast_rows(sg_t, r_l, part, alpha);
    subgroupBarrier();

    if (rescale) {
      MAT_C a;
      coopMatLoad(a, Ts, sg_t, MS, gl_CooperativeMatrixLayoutRowMajor);
      [[unroll]] for (uint nb = 0u; nb < DVK; ++nb) of[nb] = of[nb] * a;
    }
    [[unroll]] for (uint kb = 0u; kb < BCK; ++kb) {
      MAT_A pa;
      coopMatLoad(pa, Ps, sg_p + kb * (MS / 2u), PSTRIDE, gl_CooperativeMatrixLayoutRowMajor);
      [[unroll]] for (uint nb = 0u; nb < DVK; ++nb) {
        MAT_B vb;
        coopMatLoad(vb, Vs, kb * MS * VSTRIDE + nb * MS4, VSTRIDE, gl_CooperativeMatrixLayoutRowMajor);
        of[nb] = coopMatMulAdd(pa, vb, of[nb]);
      }
    }
    subgroupBarrier();  // Ts and Ps are read; the next tile may overwrite them
  }

  // O / l (0 for a fully masked row), then out through Ts MS columns at a time, rounded to
  // f16 nearest-even.
  broadcast_rows(sg_t, r_l, part, row_sum > 0.0 ? 1.0 / row_sum : 0.0);
  subgroupBarrier();
  MAT_C inv_l;
  coopMatLoad(inv_l, Ts, sg_t, MS, gl_CooperativeMatrixLayoutRowMajor);
  [[unroll]] for (uint nb = 0u; nb < DVK; ++nb) {
    subgroupBarrier();
    coopMatStore(of[nb] * inv_l, Ts, sg_t, MS, gl_CooperativeMatrixLayoutRowMajor);
    subgroupBarrier();
    [[unroll]] for (uint round = 0u; round < O_ROUNDS; ++round) {
      const uint i = sl + round * SG;
      if (i < MM) {
        const uint row = my_row0 + i / MS, col = nb * MS + i % MS;
        if (row < pc.sq && col < DV) o[o_base + row * DV + col] = uint16_t(f32_to_f16_bits(Ts[sg_t + i]));
      }
    }
  }
}
