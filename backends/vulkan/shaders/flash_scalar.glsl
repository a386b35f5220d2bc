// The scalar flash-attention kernel, shared by the f32-storage and the 16-bit-storage shaders.
// The including .comp includes it first and then defines the storage: load_q/load_k/load_v
// (index) -> float and store_o(index, value), on element indices of the B,H,S,D tensors.
//
// One workgroup per (query tile of BR rows, query head, batch item). K and V go through shared
// memory one tile of BC keys at a time (the same buffer, K then V); every product and the
// softmax run in fp32, online (running max and sum per row, rescaling O as the max grows).
// Per tile:
//   1. K tile -> KVs                      4. V tile -> KVs
//   2. S = Q·Kᵀ (register micro-tiles)    5. O = O·alpha + P·V (register micro-tiles)
//   3. online softmax on the rows of S -> P, per-row rescale alpha
// with a barrier after each step. Tiles past the last key any row of the workgroup can see
// are never loaded.
//
// Every loop but the one over key tiles has a trip count fixed at specialisation and asks to
// be unrolled: GPUs want the register arrays indexed by constants, and lavapipe before
// Mesa 23 ends any invocation after 65535 loop iterations in total (gallivm's loop limiter),
// which loops inside the tile loop reached at ~850 tiles.

#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require

// The host (vulkan_tiles.cpp) picks these per device and head dim; the relations it
// guarantees: NX·NY = WG, NOX·NOY = WG, WG / BR threads per softmax row is a power of two no
// larger than the subgroup, NOX·ON ≥ DV4.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;  // threads per workgroup
layout(constant_id = 1) const uint BR = 32;   // query rows per workgroup
layout(constant_id = 2) const uint BC = 32;   // keys per tile
layout(constant_id = 3) const uint D = 64;    // head dim of Q and K
layout(constant_id = 4) const uint DV = 64;   // head dim of V and O
layout(constant_id = 5) const uint TM = 2;    // S micro-tile: rows per thread
layout(constant_id = 6) const uint TN = 4;    //               keys per thread
layout(constant_id = 7) const uint OM = 4;    // O micro-tile: rows per thread
layout(constant_id = 8) const uint ON = 2;    //               vec4 columns per thread

const uint D4 = (D + 3u) / 4u;   // Q/K rows in vec4s, zero-padded
const uint DV4 = (DV + 3u) / 4u;
const uint KVW = D4 > DV4 ? D4 : DV4;
// One vec4 of padding per row: threads reading the same column of consecutive rows then hit
// different banks.
const uint QSTRIDE = D4 + 1u;
const uint KVSTRIDE = KVW + 1u;
const uint NX = BC / TN;   // S threads along keys
const uint TPR = WG / BR;  // softmax threads per row
const uint NOY = BR / OM;  // O threads along rows
const uint NOX = WG / NOY; // O threads along vec4 columns
// Loads spread over the workgroup, per thread (the last round partly idle).
const uint Q_ROUNDS = (BR * D4 + WG - 1u) / WG;
const uint K_ROUNDS = (BC * D4 + WG - 1u) / WG;
const uint V_ROUNDS = (BC * DV4 + WG - 1u) / WG;
const uint CPT = BC / TPR;  // softmax columns per thread

shared vec4 Qs[BR * QSTRIDE];   // Q tile, pre-multiplied by scale·log2(e)
shared vec4 KVs[BC * KVSTRIDE]; // K tile, then V tile
shared float Ps[BR * BC];       // S, then P = exp2(S - m)
shared float row_scale[BR];     // per tile: alpha = exp2(m_old - m_new); at the end: 1 / l

#include "common.glsl"

// Defined by the including shader, after this file.
float load_q(uint index);
float load_k(uint index);
float load_v(uint index);
void store_o(uint index, float value);

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint row0 = gl_WorkGroupID.x * BR;
  const uint h = gl_WorkGroupID.y;
  const uint bi = gl_WorkGroupID.z;
  const uint kvh = bi * pc.hkv + h / pc.group;
  const uint q_base = (bi * pc.hq + h) * pc.sq * D;
  const uint k_base = kvh * pc.skv * D;
  const uint v_base = kvh * pc.skv * DV;
  const uint o_base = (bi * pc.hq + h) * pc.sq * DV;

  [[unroll]] for (uint round = 0u; round < Q_ROUNDS; ++round) {
    const uint idx = tid + round * WG;
    if (idx < BR * D4) {
      const uint r = idx / D4, c4 = idx % D4;
      vec4 v = vec4(0.0);
      if (row0 + r < pc.sq) {
        [[unroll]] for (uint e = 0u; e < 4u; ++e) {
          if (c4 * 4u + e < D) v[e] = load_q(q_base + (row0 + r) * D + c4 * 4u + e);
        }
      }
      Qs[r * QSTRIDE + c4] = v * pc.scale_log2e;
    }
  }

  // Visible key counts never decrease along the rows, so the workgroup's last row bounds
  // the keys any of its rows can see.
  const uint kv_end = visible_keys(bi, min(row0 + BR, pc.sq) - 1u);

  // S micro-tile: rows ty·TM + m, keys tx + n·NX (neighbouring threads, neighbouring keys).
  const uint tx = tid % NX, ty = tid / NX;
  uint s_visible[TM];
  [[unroll]] for (uint m = 0u; m < TM; ++m) {
    const uint row = row0 + ty * TM + m;
    s_visible[m] = row < pc.sq ? visible_keys(bi, row) : 0u;
  }

  // Softmax: TPR neighbouring threads share a row; its running max and sum live in each of
  // them (identical copies).
  const uint my_row = tid / TPR, lane = tid % TPR;
  float row_max = NEG_BIG, row_sum = 0.0;

  // O micro-tile: rows oy·OM + m, vec4 columns ox + n·NOX.
  const uint ox = tid % NOX, oy = tid / NOX;
  vec4 o_acc[OM * ON];
  [[unroll]] for (uint i = 0u; i < OM * ON; ++i) o_acc[i] = vec4(0.0);

  for (uint kv0 = 0u; kv0 < kv_end; kv0 += BC) {
    barrier();  // the previous tile's readers of KVs and Ps are done (and Qs is written)
    [[unroll]] for (uint round = 0u; round < K_ROUNDS; ++round) {
      const uint idx = tid + round * WG;
      if (idx < BC * D4) {
        const uint j = idx / D4, c4 = idx % D4;
        vec4 v = vec4(0.0);
        if (kv0 + j < pc.skv) {
          [[unroll]] for (uint e = 0u; e < 4u; ++e) {
            if (c4 * 4u + e < D) v[e] = load_k(k_base + (kv0 + j) * D + c4 * 4u + e);
          }
        }
        KVs[j * KVSTRIDE + c4] = v;
      }
    }
    barrier();

    float acc[TM * TN];
    [[unroll]] for (uint i = 0u; i < TM * TN; ++i) acc[i] = 0.0;
    [[unroll]] for (uint c4 = 0u; c4 < D4; ++c4) {
      vec4 qv[TM];
      [[unroll]] for (uint m = 0u; m < TM; ++m) qv[m] = Qs[(ty * TM + m) * QSTRIDE + c4];
      [[unroll]] for (uint n = 0u; n < TN; ++n) {
        const vec4 kv = KVs[(tx + n * NX) * KVSTRIDE + c4];
        [[unroll]] for (uint m = 0u; m < TM; ++m) acc[m * TN + n] += dot(qv[m], kv);
      }
    }
    [[unroll]] for (uint m = 0u; m < TM; ++m) {
      [[unroll]] for (uint n = 0u; n < TN; ++n) {
        const uint j = tx + n * NX;
        Ps[(ty * TM + m) * BC + j] = kv0 + j < s_visible[m] ? acc[m * TN + n] : NEG_BIG;
      }
    }
    barrier();

    {
      float tile_max = NEG_BIG;
      [[unroll]] for (uint k = 0u; k < CPT; ++k) tile_max = max(tile_max, Ps[my_row * BC + lane + k * TPR]);
      [[unroll]] for (uint off = 1u; off < TPR; off <<= 1) {
        tile_max = max(tile_max, subgroupShuffleXor(tile_max, off));
      }
      const float new_max = max(row_max, tile_max);
      // While every key so far is masked, subtract 0: P stays exp2(NEG_BIG) = 0.
      const float sub = new_max > 0.5 * NEG_BIG ? new_max : 0.0;
      const float alpha = exp2(row_max - sub);
      float tile_sum = 0.0;
      [[unroll]] for (uint k = 0u; k < CPT; ++k) {
        const uint j = lane + k * TPR;
        const float p = exp2(Ps[my_row * BC + j] - sub);
        Ps[my_row * BC + j] = p;
        tile_sum += p;
      }
      [[unroll]] for (uint off = 1u; off < TPR; off <<= 1) {
        tile_sum += subgroupShuffleXor(tile_sum, off);
      }
      row_sum = row_sum * alpha + tile_sum;
      row_max = new_max;
      if (lane == 0u) row_scale[my_row] = alpha;
    }
    [[unroll]] for (uint round = 0u; round < V_ROUNDS; ++round) {
      const uint idx = tid + round * WG;
      if (idx < BC * DV4) {
        const uint j = idx / DV4, c4 = idx % DV4;
        vec4 v = vec4(0.0);
        if (kv0 + j < pc.skv) {
          [[unroll]] for (uint e = 0u; e < 4u; ++e) {
            if (c4 * 4u + e < DV) v[e] = load_v(v_base + (kv0 + j) * DV + c4 * 4u + e);
          }
        }
        KVs[j * KVSTRIDE + c4] = v;
      }
    }
    barrier();

    [[unroll]] for (uint m = 0u; m < OM; ++m) {
      const float alpha = row_scale[oy * OM + m];
      [[unroll]] for (uint n = 0u; n < ON; ++n) o_acc[m * ON + n] *= alpha;
    }
    [[unroll]] for (uint j = 0u; j < BC; ++j) {
      vec4 vv[ON];
      [[unroll]] for (uint n = 0u; n < ON; ++n) {
        const uint c4 = ox + n * NOX;
        vv[n] = c4 < DV4 ? KVs[j * KVSTRIDE + c4] : vec4(0.0);
      }
      [[unroll]] for (uint m = 0u; m < OM; ++m) {
        const float p = Ps[(oy * OM + m) * BC + j];
        [[unroll]] for (uint n = 0u; n < ON; ++n) o_acc[m * ON + n] += p * vv[n];
      }
    }
  }

  barrier();
  // A fully masked row has row_sum = 0 and outputs 0.
  if (lane == 0u) row_scale[my_row] = row_sum > 0.0 ? 1.0 / row_sum : 0.0;
  barrier();
  [[unroll]] for (uint m = 0u; m < OM; ++m) {
    const uint r = oy * OM + m;
    if (row0 + r >= pc.sq) continue;
    const float inv = row_scale[r];
    [[unroll]] for (uint n = 0u; n < ON; ++n) {
      const uint c4 = ox + n * NOX;
      [[unroll]] for (uint e = 0u; e < 4u; ++e) {
        const uint c = c4 * 4u + e;
        if (c < DV) store_o(o_base + (row0 + r) * DV + c, o_acc[m * ON + n][e] * inv);
      }
    }
  }
}
