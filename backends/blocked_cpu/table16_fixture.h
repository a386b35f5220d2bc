// The fixture of the 16-bit kernel tests (blocked_cpu_bf16_test.cpp, blocked_cpu_f16_test.cpp):
// one instance per Kernels16 table, skipped with the reason where this CPU or build lacks it,
// with the f32 table of the same path for a whole backend.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "backends/blocked_cpu/blocked_cpu.h"
#include "backends/blocked_cpu/kernels16.h"

namespace sdpa {

class Table16Test : public testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const std::string why = blocked::path_unavailable(GetParam());
    if (!why.empty()) GTEST_SKIP() << GetParam() << ": " << why;
    table_ = blocked::select_paths(GetParam()).bf16;
    ASSERT_NE(table_, nullptr);
    f32_ = blocked::select_paths(GetParam()).f32;
  }
  const blocked::Kernels16& k() const { return *table_; }
  std::unique_ptr<BlockedCpuBackend> backend(int threads) const {
    return std::make_unique<BlockedCpuBackend>("blocked_cpu_test", f32_, table_, threads);
  }

  const blocked::Kernels16* table_ = nullptr;
  const blocked::Kernels* f32_ = nullptr;
};

// The tables, as INSTANTIATE_TEST_SUITE_P's generator and name function take them.
inline auto table16_paths() { return testing::Values("amx", "avx512bf16"); }
inline std::string table16_name(const testing::TestParamInfo<const char*>& info) { return info.param; }

}  // namespace sdpa
