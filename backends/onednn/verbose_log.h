// Which kernels oneDNN picked. The library has no API for the implementation behind a compiled
// partition or primitive; its verbose log (written to stdout) names them. We switch the log on
// around one call, with stdout sent to a temporary file, and read the names back.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace sdpa::onednn {

struct KernelLog {
  bool captured = false;              // false when the log could not be read (see below)
  std::vector<std::string> graph;     // graph partitions: "larger_partition_kernel", ...
  std::vector<std::string> primitives;  // "matmul brg_matmul:avx512_core", ...
};

// Runs `call` with oneDNN's creation log on and returns the kernels it names. When the user has
// set ONEDNN_VERBOSE the log is theirs: it is left alone and nothing is captured.
KernelLog log_kernels(const std::function<void()>& call);

// "matmul brg_matmul:avx512_core, softmax jit:avx512_core_bf16"
std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");

}  // namespace sdpa::onednn
