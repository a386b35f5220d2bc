// Which backends and problems a command runs: the one place that turns --backend, --problem,
// --suite and the filters into a case list, and that decides the default backend set.
#pragma once

#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/problem.h"

namespace sdpa {

struct Selection {
  std::vector<std::string> backends;  // empty: the default set; "all": every built backend
  std::vector<std::string> problems;  // spec lines
  std::string suite;                  // or a suite name / file
  std::string filter;                 // ECMAScript regex searched in each problem's spec line
  std::vector<std::string> dtypes;    // keep only these dtypes (empty: all)
  std::vector<std::string> masks;     // keep only these mask kinds (empty: all)
  int threads = 0;
  std::string vulkan_device;
  int shard_index = 0, shard_count = 1;  // --shard i/n: this process runs the i-th of n parts
};

// "--shard 2/5" -> {2, 5}; SpecError unless 0 <= i < n <= 4096.
std::pair<int, int> parse_shard(const std::string& text);

// The naive kernel is the speed-up reference of the default run only where it is cheap: at
// 0.3 GFLOP (mlperf's n = 256) it takes ~30 ms a sample on two cores, so the 64 samples of a
// p90 claim take ~2 s; at n = 384 (0.6 GFLOP) they took 5-8 s, as long as the fastest
// backends' four largest cases together.
inline constexpr double kDefaultNaiveMaxFlops = 3e8;

struct SelectedBackends {
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<std::string> missing;  // asked for but not built: "name: not built: reason"
  // What the default set left out and why, for the line that says how to include it.
  std::vector<std::string> left_out;
  // Default set: naive is kept only for problems up to kDefaultNaiveMaxFlops.
  bool naive_only_when_cheap = false;
  // With --shard: the case names (backend/problem) of this shard; empty set = no sharding.
  std::set<std::string> shard;
  // Whether a case of this backend and problem is in the selection.
  bool wants(const Backend& backend, const Problem& problem) const;
};

// Throws SpecError for an unknown backend name (listing the built ones). Without --backend:
// one backend per implementation and device (no pinned variants; Vulkan only on a real GPU;
// naive only where cheap). "--backend all": every built backend.
SelectedBackends select_backends(const Selection& selection);

// The suite's and --problem's problems, filtered by --filter, --dtype and --mask. Throws
// SpecError for a bad spec, an unknown suite, a bad filter or a filter that leaves nothing.
std::vector<Problem> select_problems(const Selection& selection);

// Keeps the cases of shard i of n: every case goes to exactly one shard, deterministically, the
// costliest first to the least loaded shard (by FLOPs), so n machines finish at about the same
// time and the n result files merge into exactly the unsharded case set.
void apply_shard(SelectedBackends& selected, const std::vector<Problem>& problems, int index, int count);

// The problems of shard i of n by the same rule (for commands without backends: the saturation
// study).
std::vector<Problem> shard_problems(const std::vector<Problem>& problems, int index, int count);

// Applies --threads (bounded by kMaxThreads; SpecError above it).
inline constexpr int kMaxThreads = 1024;
void apply_threads(const Selection& selection);

}  // namespace sdpa
