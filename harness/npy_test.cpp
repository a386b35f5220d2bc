#include "harness/npy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

namespace sdpa {
namespace {

TEST(Npy, HeaderIsPaddedAndDescribesTheArray) {
  const std::string h = npy_header("<f4", {2, 3, 4, 5});
  EXPECT_EQ(h.size() % 64, 0u);
  EXPECT_EQ(h.substr(0, 6), "\x93NUMPY");
  EXPECT_NE(h.find("'shape': (2, 3, 4, 5)"), std::string::npos);
  EXPECT_NE(h.find("'descr': '<f4'"), std::string::npos);
  EXPECT_EQ(h.back(), '\n');
  EXPECT_NE(npy_header("<f8", {7}).find("'shape': (7,)"), std::string::npos);
  const auto len = static_cast<std::size_t>(static_cast<unsigned char>(h[8]) | (static_cast<unsigned char>(h[9]) << 8));
  EXPECT_EQ(len + 10, h.size());
}

TEST(Npy, WritesTheDataAfterTheHeader) {
  const std::string path = ::testing::TempDir() + "/npy_test_" + std::to_string(::getpid()) + ".npy";
  write_npy(path, std::vector<double>{1.5, -2.0, 3.25}, {3});
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t header = npy_header("<f8", {3}).size();
  ASSERT_EQ(bytes.size(), header + 3 * sizeof(double));
  double v[3];
  std::memcpy(v, bytes.data() + header, sizeof v);
  EXPECT_EQ(v[0], 1.5);
  EXPECT_EQ(v[1], -2.0);
  EXPECT_EQ(v[2], 3.25);
  EXPECT_THROW(write_npy("/nonexistent-dir/x.npy", std::vector<float>{1}, {1}), std::runtime_error);
}

}  // namespace
}  // namespace sdpa
