#include "backends/onednn/yardstick.h"

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/onednn/runtime.h"
#include "core/best_of.h"

namespace sdpa::onednn {

namespace {

using dnnl::memory;
using tag = memory::format_tag;

// One n x n x n f32 matmul with pre-packed weights, the calibration GEMM's kind (calibration.cpp)
// at a size that fits in L2 + L3: it measures the cores, not a memory system a neighbour shares.
class Matmul {
 public:
  Matmul(const dnnl::engine& engine, int64_t n)
      : n_(n), stream_(engine), a_(size(), 1.0f), b_(size(), 0.5f), c_(size(), 0.0f) {
    const memory::desc plain({n, n}, memory::data_type::f32, tag::ab);
    const memory::desc any({n, n}, memory::data_type::f32, tag::any);
    const dnnl::matmul::primitive_desc pd(engine, plain, any, plain);
    memory b_plain(plain, engine, b_.data());
    memory b_packed(pd.weights_desc(), engine);
    dnnl::reorder(b_plain, b_packed).execute(stream_, b_plain, b_packed);
    stream_.wait();
    matmul_ = dnnl::matmul(pd);
    args_ = {{DNNL_ARG_SRC, memory(plain, engine, a_.data())},
             {DNNL_ARG_WEIGHTS, b_packed},
             {DNNL_ARG_DST, memory(plain, engine, c_.data())}};
  }

  double run_ms() {
    const auto t0 = std::chrono::steady_clock::now();
    matmul_.execute(stream_, args_);
    stream_.wait();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  int64_t n() const { return n_; }
  double flops() const { return 2.0 * static_cast<double>(n_) * static_cast<double>(n_) * static_cast<double>(n_); }

 private:
  std::size_t size() const { return static_cast<std::size_t>(n_ * n_); }

  int64_t n_;
  dnnl::stream stream_;
  std::vector<float> a_, b_, c_;
  dnnl::matmul matmul_;
  std::unordered_map<int, memory> args_;
};

}  // namespace

std::optional<Yardstick> make_matmul_yardstick(const dnnl::engine& engine) {
  constexpr double kTargetMs = 1.0;
  try {
    // The smallest power-of-two size whose best of 5 runs reaches the target (256^3 is 34
    // MFLOP: ~0.15 ms on two cores; a many-core host stops at 1024 or 2048).
    auto matmul = std::make_shared<Matmul>(engine, 256);
    while (matmul->n() < 2048 && best_of_seconds(5, [&] { return matmul->run_ms() * 1e-3; }) * 1e3 < kTargetMs) {
      matmul = std::make_shared<Matmul>(engine, matmul->n() * 2);
    }
    const std::string n = std::to_string(matmul->n());
    return Yardstick{"cpu", "oneDNN matmul f32 " + n + "^3, weights pre-packed, " + std::to_string(threads_used()) + " threads",
                     matmul->flops(), [matmul] { return matmul->run_ms(); }};
  } catch (const dnnl::error&) {
    return std::nullopt;
  }
}

}  // namespace sdpa::onednn
