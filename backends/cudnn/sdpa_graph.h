// One problem's cuDNN SDPA graph, built once (validate, operation graph, heuristics, support
// check, plans) and executed many times. The only file that sees the cuDNN frontend, whose
// headers take half a minute to compile.
#pragma once

#include <cudnn.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "backends/backend.h"
#include "core/problem.h"

namespace sdpa::cudnn {

// cuDNN cannot run this problem on this device: the harness reports it as a skip with the reason.
using UnsupportedProblem = sdpa::Unsupported;

// Device pointers of one case, B,H,S,D contiguous, at the start of each full tensor.
struct SdpaBuffers {
  void* q = nullptr;
  void* k = nullptr;
  void* v = nullptr;
  void* o = nullptr;
  void* seq_len_q = nullptr;   // int32 [b]: mask=kvlen only
  void* seq_len_kv = nullptr;  // int32 [b]: mask=kvlen only
};

// The frontend's two SDPA nodes: the unified one (one cuDNN operation, cuDNN >= 9.13.1) and the
// composite one (matmul, softmax, matmul fused by cuDNN's runtime fusion engines).
enum class SdpaImplementation { unified, composite };
std::string to_string(SdpaImplementation implementation);

class SdpaPlan {
 public:
  // Tries the unified node, then the composite one (the frontend's AUTO order, but going on to
  // the other when the first is refused at any stage), each with heuristics A and FALLBACK.
  // Throws UnsupportedProblem (every refusal, by implementation) where cuDNN declines both,
  // std::runtime_error (with the stage and cuDNN's message) for anything else.
  static std::unique_ptr<SdpaPlan> build(const Problem& problem, cudnnHandle_t handle);
  ~SdpaPlan();
  SdpaPlan(const SdpaPlan&) = delete;
  SdpaPlan& operator=(const SdpaPlan&) = delete;

  int64_t workspace_bytes() const;
  // The engine the heuristics picked, e.g. "eng3_k2=..." (for case notes).
  const std::string& engine() const;
  SdpaImplementation implementation() const;
  // Why the implementations tried before this one were refused; empty if the first was taken.
  const std::string& refusals() const;

  // The tensor bindings of one case: built once per prepare, reused by every execute.
  std::unordered_map<int64_t, void*> bind(const Problem& problem, const SdpaBuffers& buffers) const;
  // Enqueues the attention on the handle's stream.
  void execute(cudnnHandle_t handle, std::unordered_map<int64_t, void*>& bindings, void* workspace) const;

 private:
  struct Impl;
  explicit SdpaPlan(std::unique_ptr<Impl> impl);
  static std::unique_ptr<Impl> build_graph(const Problem& problem, cudnnHandle_t handle,
                                           SdpaImplementation implementation);
  std::unique_ptr<Impl> impl_;
};

// "1.32.0": the frontend headers this binary was compiled with.
std::string cudnn_frontend_version();

}  // namespace sdpa::cudnn
