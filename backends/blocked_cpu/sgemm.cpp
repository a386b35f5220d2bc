#include "backends/blocked_cpu/sgemm.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace sdpa::blocked {

namespace {

// Measured on Zen 5 (L1d 48 KiB, L2 1 MiB), n = 2048, one thread on thread CPU time, with the
// micro-kernel itself at 99% of the FMA peak on L1-resident operands:
// kc = 512: each micro-kernel call loads and stores its C tile once per kc, and at n = 2048
//   the C rows are 8 KiB apart, all in one L1 set; halving that traffic (kc 256 -> 512) gained
//   more (AVX-512: 185 -> 200+ GFLOP/s) than the B panel (kc × nr) lost by outgrowing L1.
// mc = 84 (a multiple of both micro-kernels' 6 and 14 rows): the A block (mc × kc = 168 KiB)
//   stays in L2 while each B panel is swept over it; the B block (kc × nc = 1 MiB) comes
//   from L3 once per A block, a few GB/s.
// nc = 512: n = 2048 splits into 4 column blocks, 2 per thread. A k-major packed A (one
//   stream per strip, the textbook layout) measured slower here: its packing cost more than
//   the 6 or 14 row streams of row-major A, which the prefetchers follow well.
constexpr int64_t kKc = 512;
constexpr int64_t kMc = 84;
constexpr int64_t kNc = 512;

}  // namespace

void sgemm(const Kernels& kr, int threads, int64_t m, int64_t n, int64_t k, const float* a, const float* b,
           float* c) {
  const int64_t nr = kr.nr, mr = kr.mr;
  const int64_t mc = std::max<int64_t>(mr, kMc / mr * mr);
  const int64_t m_blocks = (m + mc - 1) / mc;
  const int64_t n_blocks = (n + kNc - 1) / kNc;
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> bp(static_cast<std::size_t>(kKc * ((kNc + nr - 1) / nr * nr)));
    std::vector<float> ap(static_cast<std::size_t>(mc * kKc));
    std::vector<float> cbuf(static_cast<std::size_t>(mr * nr));
    // Column blocks are the unit of work: each thread packs its own B block once per k step
    // and sweeps every row block past it.
#pragma omp for schedule(static)
    for (int64_t jb = 0; jb < n_blocks; ++jb) {
      const int64_t j0 = jb * kNc, nc = std::min(kNc, n - j0);
      const int64_t panels = (nc + nr - 1) / nr;
      for (int64_t p0 = 0; p0 < k; p0 += kKc) {
        const int64_t kc = std::min(kKc, k - p0);
        // B[p0:p0+kc, j0:j0+nc] into panels of kc × nr, zero-padded past n.
        for (int64_t pn = 0; pn < panels; ++pn) {
          float* dst = bp.data() + pn * kc * nr;
          for (int64_t kk = 0; kk < kc; ++kk) {
            const float* src = b + (p0 + kk) * n + j0 + pn * nr;
            const int64_t cols = std::min(nr, nc - pn * nr);
            for (int64_t j = 0; j < nr; ++j) dst[kk * nr + j] = j < cols ? src[j] : 0.0f;
          }
        }
        const int mode = p0 == 0 ? gemm_store : gemm_accumulate;
        for (int64_t ib = 0; ib < m_blocks; ++ib) {
          const int64_t i0 = ib * mc, mcur = std::min(mc, m - i0);
          for (int64_t i = 0; i < mcur; ++i) std::copy_n(a + (i0 + i) * k + p0, kc, ap.data() + i * kc);
          for (int64_t pn = 0; pn < panels; ++pn) {
            const int64_t cols = std::min(nr, nc - pn * nr);
            for (int64_t r0 = 0; r0 < mcur; r0 += mr) {
              const int rows = static_cast<int>(std::min(mr, mcur - r0));
              float* cblk = c + (i0 + r0) * n + j0 + pn * nr;
              if (cols == nr) {
                kr.gemm(rows, kc, ap.data() + r0 * kc, kc, bp.data() + pn * kc * nr, cblk, n, mode, nullptr);
              } else {  // ragged right edge: through a full-width buffer
                for (int r = 0; r < rows; ++r) std::copy_n(cblk + r * n, cols, cbuf.data() + r * nr);
                kr.gemm(rows, kc, ap.data() + r0 * kc, kc, bp.data() + pn * kc * nr, cbuf.data(), nr, mode, nullptr);
                for (int r = 0; r < rows; ++r) std::copy_n(cbuf.data() + r * nr, cols, cblk + r * n);
              }
            }
          }
        }
      }
    }
  }
}

SgemmTiming time_sgemm(const Kernels& kr, int threads, int64_t n, int repetitions) {
  const std::size_t elems = static_cast<std::size_t>(n * n);
  std::vector<float> a(elems), b(elems), c(elems);
  // Values in [-1, 1) from a fixed LCG: the timing does not depend on the data, only its size.
  uint32_t state = 12345u;
  auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) * (2.0f / 16777216.0f) - 1.0f;
  };
  for (float& x : a) x = next();
  for (float& x : b) x = next();
  sgemm(kr, threads, n, n, n, a.data(), b.data(), c.data());  // warm-up: pages, clocks
  SgemmTiming best;
  for (int rep = 0; rep < repetitions; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    sgemm(kr, threads, n, n, n, a.data(), b.data(), c.data());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double tflops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) / s * 1e-12;
    if (tflops > best.tflops) best = {tflops, s};
  }
  return best;
}

}  // namespace sdpa::blocked
