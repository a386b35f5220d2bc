// The AMX-BF16 table (Sapphire Rapids and later): Q·Kᵀ and P·V on the tile unit, everything
// else (packing, softmax, rescale) shared with the AVX512-BF16 table through kernels16_simd.h.
// One tdpbf16ps multiplies a 16 × 32 bf16 A tile by a 32 × 16 B tile into 16 × 16 f32, 16
// times the work of a vdpbf16ps. The GEMMs use the 8 tiles as a 2 × 2 block of C (tmm0-3),
// two A tiles (tmm4-5) and two B tiles (tmm6-7): each loaded tile feeds two products, the
// usual blocking for one core's tile unit. C is 32 rows × 32 columns per block, so rows come in
// pairs of 16 (row_pad = 32: callers pad Q with zero rows, P and O with scratch rows); a block
// with at most 16 real rows (a decode step's GQA group) uses one row tile only.
// Compiled with -mamx-tile -mamx-bf16 plus the AVX-512 flags of the shared code; used only
// after blocked_cpu.cpp checked the CPU and got the kernel's permission for the tile state.
#include <immintrin.h>

#include <cstdint>

#include "backends/blocked_cpu/kernels16.h"
#include "backends/blocked_cpu/kernels16_simd.h"

namespace sdpa::blocked {
namespace {

// The ldtilecfg operand: palette 1, every tile 16 rows of 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};
static_assert(sizeof(TileConfig) == 64, "ldtilecfg reads 64 bytes");

// The tile configuration is per thread and lost at tilerelease: every OpenMP thread that runs
// items loads it on entry to the parallel region.
void thread_begin() {
  static const TileConfig config;
  _tile_loadconfig(&config);
}
void thread_end() { _tile_release(); }

// The next k step's B tiles (16 lines of 64 bytes each) into L1 while this step's products
// run: a packed K or V block (64 KiB at d = 128, bc = 256) does not fit L1 beside S and P, so
// B tiles come from L2, and a product waits for its tile load. Measured 3-5% faster on the
// attention benchmarks (best of 4 runs each, one thread, shared machine). Past a panel's end
// the prefetch touches the next panel or nothing: prefetches never fault.
inline void prefetch_tile(const uint16_t* t) {
  for (int i = 0; i < 16; ++i) _mm_prefetch(reinterpret_cast<const char*>(t + i * 32), _MM_HINT_T0);
}

void scores(int rows, int64_t dpad, const uint16_t* q, int64_t ldq, const uint16_t* kp, int64_t npanels, float* s,
            int64_t lds) {
  const int64_t panel = (dpad / 2) * 32;
  const int64_t qstride = ldq * 2, sstride = lds * 4;
  for (int r0 = 0; r0 < rows; r0 += 32) {
    const uint16_t* q0 = q + r0 * ldq;
    const uint16_t* q1 = q0 + 16 * ldq;
    for (int64_t pn = 0; pn < npanels; pn += 2) {
      const uint16_t* k0 = kp + pn * panel;
      const uint16_t* k1 = k0 + panel;
      if (rows - r0 <= 16) {  // one row tile (decode, a short last tile): skip the padding rows
        _tile_zero(0);
        _tile_zero(1);
        for (int64_t c = 0; c < dpad; c += 32) {
          _tile_loadd(4, q0 + c, qstride);
          _tile_loadd(6, k0 + c * 16, 64);
          _tile_loadd(7, k1 + c * 16, 64);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 4, 7);
        }
        _tile_stored(0, s + r0 * lds + pn * 16, sstride);
        _tile_stored(1, s + r0 * lds + pn * 16 + 16, sstride);
        continue;
      }
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int64_t c = 0; c < dpad; c += 32) {
        prefetch_tile(k0 + (c + 32) * 16);
        prefetch_tile(k1 + (c + 32) * 16);
        _tile_loadd(4, q0 + c, qstride);
        _tile_loadd(5, q1 + c, qstride);
        _tile_loadd(6, k0 + c * 16, 64);
        _tile_loadd(7, k1 + c * 16, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      float* c0 = s + r0 * lds + pn * 16;
      _tile_stored(0, c0, sstride);
      _tile_stored(1, c0 + 16, sstride);
      _tile_stored(2, c0 + 16 * lds, sstride);
      _tile_stored(3, c0 + 16 * lds + 16, sstride);
    }
  }
}

void accumulate(int rows, int64_t nkeys, const uint16_t* p, int64_t ldp, const uint16_t* vp, int64_t kpad,
                int64_t dvpad, float* o, int64_t ldo) {
  const int64_t panel = (kpad / 2) * 32;
  const int64_t pstride = ldp * 2, ostride = ldo * 4;
  for (int r0 = 0; r0 < rows; r0 += 32) {
    const uint16_t* p0 = p + r0 * ldp;
    const uint16_t* p1 = p0 + 16 * ldp;
    for (int64_t pn = 0; pn < dvpad / 16; pn += 2) {
      const uint16_t* v0 = vp + pn * panel;
      const uint16_t* v1 = v0 + panel;
      float* c0 = o + r0 * ldo + pn * 16;
      if (rows - r0 <= 16) {  // one row tile, as in scores()
        _tile_loadd(0, c0, ostride);
        _tile_loadd(1, c0 + 16, ostride);
        for (int64_t k = 0; k < nkeys; k += 32) {
          _tile_loadd(4, p0 + k, pstride);
          _tile_loadd(6, v0 + k * 16, 64);
          _tile_loadd(7, v1 + k * 16, 64);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 4, 7);
        }
        _tile_stored(0, c0, ostride);
        _tile_stored(1, c0 + 16, ostride);
        continue;
      }
      _tile_loadd(0, c0, ostride);
      _tile_loadd(1, c0 + 16, ostride);
      _tile_loadd(2, c0 + 16 * ldo, ostride);
      _tile_loadd(3, c0 + 16 * ldo + 16, ostride);
      for (int64_t k = 0; k < nkeys; k += 32) {
        prefetch_tile(v0 + (k + 32) * 16);
        prefetch_tile(v1 + (k + 32) * 16);
        _tile_loadd(4, p0 + k, pstride);
        _tile_loadd(5, p1 + k, pstride);
        _tile_loadd(6, v0 + k * 16, 64);
        _tile_loadd(7, v1 + k * 16, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      _tile_stored(0, c0, ostride);
      _tile_stored(1, c0 + 16, ostride);
      _tile_stored(2, c0 + 16 * ldo, ostride);
      _tile_stored(3, c0 + 16 * ldo + 16, ostride);
    }
  }
}

const Kernels16 kTable = {
    "amx", 32, 32, thread_begin, thread_end, pack_k16, pack_v16, scores, accumulate, softmax16, rescale16, finalize16,
    split_f16, softmax16_f16, finalize16_f16,
};

}  // namespace

const Kernels16* kernels_amx() { return &kTable; }

}  // namespace sdpa::blocked
