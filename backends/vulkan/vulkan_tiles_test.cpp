// The tile choosers: the relations the shaders rely on, the shared-memory limits, and the
// devices we know (lavapipe: 32 KiB, subgroup 8; NVIDIA: 48 KiB budget, subgroup 32).
#include <gtest/gtest.h>

#include "backends/vulkan/vulkan_tiles.h"

namespace sdpa::vulkan {
namespace {

const TileLimits kLavapipe{32768, 8, 1024};
const TileLimits kNvidia{101376, 32, 1024};

void expect_valid_scalar(const ScalarTiles& t, int64_t d, int64_t dv, const TileLimits& limits) {
  SCOPED_TRACE("d=" + std::to_string(d) + " dv=" + std::to_string(dv) + " br=" + std::to_string(t.br) +
               " bc=" + std::to_string(t.bc));
  EXPECT_LE(t.shared_bytes, usable_shared_bytes(limits));
  EXPECT_EQ(t.shared_bytes, scalar_shared_bytes(t.br, t.bc, d, dv));
  EXPECT_EQ(t.br % t.tm, 0u);
  EXPECT_EQ(t.bc % t.tn, 0u);
  EXPECT_EQ((t.bc / t.tn) * (t.br / t.tm), t.wg);  // S threads cover the tile exactly
  const uint32_t tpr = t.wg / t.br;                // softmax threads per row
  EXPECT_EQ(tpr * t.br, t.wg);
  EXPECT_LE(tpr, limits.subgroup_size);
  EXPECT_EQ(tpr & (tpr - 1), 0u);
  const uint32_t noy = t.br / t.om, nox = t.wg / noy;
  EXPECT_EQ(noy * t.om, t.br);
  EXPECT_EQ(nox * noy, t.wg);
  EXPECT_GE(nox * t.on, static_cast<uint32_t>((dv + 3) / 4));  // O columns covered
  EXPECT_LE(t.om * t.on * 4, 64u);
}

TEST(ScalarTiles, EveryHeadDimFitsOnLavapipeAndNvidia) {
  for (const TileLimits& limits : {kLavapipe, kNvidia}) {
    for (int64_t d : {1, 8, 17, 40, 64, 80, 96, 128, 160, 256}) {
      for (int64_t dv : {d, int64_t{24}, int64_t{256}}) {
        for (int64_t sq : {1, 7, 100, 4096}) {
          std::string why;
          const auto t = choose_scalar_tiles(d, dv, sq, limits, &why);
          ASSERT_TRUE(t.has_value()) << "d=" << d << " dv=" << dv << " sq=" << sq << ": " << why;
          expect_valid_scalar(*t, d, dv, limits);
        }
      }
    }
  }
}

TEST(ScalarTiles, LongSequencesGetLargeTilesAndDecodeSmallOnes) {
  const auto big = choose_scalar_tiles(64, 64, 4096, kNvidia);
  ASSERT_TRUE(big);
  EXPECT_GE(big->br, 32u);
  const auto decode = choose_scalar_tiles(128, 128, 1, kNvidia);
  ASSERT_TRUE(decode);
  EXPECT_EQ(decode->br, 4u);  // 128 threads / subgroup 32: the smallest row group allowed
  const auto decode_lavapipe = choose_scalar_tiles(128, 128, 1, kLavapipe);
  ASSERT_TRUE(decode_lavapipe);
  EXPECT_EQ(decode_lavapipe->br, 16u);  // 128 / 8
}

TEST(ScalarTiles, SaysWhyNothingFits) {
  std::string why;
  EXPECT_FALSE(choose_scalar_tiles(256, 256, 64, TileLimits{4096, 32, 1024}, &why));
  EXPECT_NE(why.find("shared memory"), std::string::npos) << why;
  EXPECT_FALSE(choose_scalar_tiles(64, 64, 64, TileLimits{32768, 24, 1024}, &why));
  EXPECT_NE(why.find("power of two"), std::string::npos) << why;
}

TEST(CoopmatTiles, FitTheBudgetForEveryHeadDim) {
  for (const auto& [limits, ms] : {std::pair{kNvidia, 16u}, std::pair{kLavapipe, 8u}}) {
    for (int64_t d : {16, 40, 64, 80, 128, 256}) {
      std::string why;
      const auto t = choose_coopmat_tiles(d, d, 4096, ms, limits, &why);
      ASSERT_TRUE(t.has_value()) << "d=" << d << " ms=" << ms << ": " << why;
      EXPECT_LE(t->shared_bytes, usable_shared_bytes(limits));
      EXPECT_EQ(t->shared_bytes, coopmat_shared_bytes(t->nsg, t->bc, d, d, ms));
      EXPECT_EQ(t->bc % ms, 0u);
      EXPECT_EQ(t->wg, t->nsg * limits.subgroup_size);
      EXPECT_EQ(t->br, ms * t->nsg);
      EXPECT_EQ(t->ms, ms);
    }
  }
  const auto decode = choose_coopmat_tiles(128, 128, 1, 16, kNvidia);
  ASSERT_TRUE(decode);
  EXPECT_EQ(decode->nsg, 1u);
}

// A tile that fills the limit exactly (bc=64 at d=64 on NVIDIA took 49,152 of 49,152 bytes)
// fails where a driver keeps some shared memory for itself: every tile leaves the headroom.
TEST(SharedMemory, TilesLeaveHeadroomBelowTheLimit) {
  EXPECT_EQ(usable_shared_bytes(kNvidia), kSharedBudgetBytes - kSharedHeadroomBytes);
  EXPECT_EQ(usable_shared_bytes(kLavapipe), 32768u - kSharedHeadroomBytes);
  EXPECT_EQ(usable_shared_bytes(TileLimits{512, 32, 1024}), 0u);
  ASSERT_EQ(coopmat_shared_bytes(4, 64, 64, 64, 16), kSharedBudgetBytes);  // the tile that filled it
  for (int64_t d : {16, 32, 40, 64, 80, 96, 128, 160, 256}) {
    const auto coopmat = choose_coopmat_tiles(d, d, 4096, 16, kNvidia);
    ASSERT_TRUE(coopmat) << "d=" << d;
    EXPECT_LE(coopmat->shared_bytes + kSharedHeadroomBytes, kSharedBudgetBytes) << "d=" << d;
    const auto scalar = choose_scalar_tiles(d, d, 4096, kNvidia);
    ASSERT_TRUE(scalar) << "d=" << d;
    EXPECT_LE(scalar->shared_bytes + kSharedHeadroomBytes, kSharedBudgetBytes) << "d=" << d;
  }
  // A device offering exactly what a tile needs does not get that tile.
  const uint32_t exact = coopmat_shared_bytes(2, 32, 64, 64, 16);
  const auto t = choose_coopmat_tiles(64, 64, 4096, 16, TileLimits{exact, 32, 1024});
  ASSERT_TRUE(t);
  EXPECT_LT(t->shared_bytes, exact);
}

TEST(CoopmatTiles, NeedASubgroupAtLeastTheMatrixSize) {
  std::string why;
  EXPECT_FALSE(choose_coopmat_tiles(64, 64, 128, 16, kLavapipe, &why));
  EXPECT_NE(why.find("subgroup size 8"), std::string::npos) << why;
  EXPECT_FALSE(choose_coopmat_tiles(64, 64, 128, 12, kNvidia, &why));
}

}  // namespace
}  // namespace sdpa::vulkan
