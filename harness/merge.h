// Joining the shard files of one machine class into one results file (`sdpa-bench merge`).
//
// A fleet runs `sdpa-bench run --shard i/n` on n machines of one class; each writes a results
// file whose context says which shard it holds. Merging checks that the files can honestly
// stand for one run before joining them:
//   - one machine class and build: cpu_model, threads_used, the GPU / Vulkan device names,
//     git_commit, suite and shard count agree (else refused, naming each file's value);
//   - no case twice: the same backend/problem in two files is refused, naming both files;
//   - no shard missing: with shard files i/n, every index 0..n-1 is present and each file
//     holds the shard_cases it recorded (else refused, naming the absent shards).
// --allow-mixed lets the first two through (a duplicate then keeps the entry of the file given
// first) and --allow-missing the third; what they let through is recorded in the merged context.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sdpa {

struct MergeOptions {
  bool allow_mixed = false;    // differing machine class / commit / suite / shard count; duplicates
  bool allow_missing = false;  // absent shards or cases
};

struct MergeInput {
  std::string path;  // named in messages and recorded in the merged context
  nlohmann::json doc;
};

struct MergeResult {
  nlohmann::json doc;                 // a results file of the current format version
  std::vector<std::string> warnings;  // what the allow options let through (also in the context)
  std::size_t cases = 0;
};

// The context keys that must agree between files of one machine class and build: the fixed
// ones plus every GPU / Vulkan device name the files carry (`<backend>_device`,
// `<backend>_cuda_device`).
std::vector<std::string> machine_class_keys(const std::vector<nlohmann::json>& contexts);

// Throws SpecError (exit 2) for a refused merge, a file that is not a current-version results
// file, or no input; the message names the files and the differing values.
MergeResult merge_results(const std::vector<MergeInput>& inputs, const MergeOptions& options);

}  // namespace sdpa
