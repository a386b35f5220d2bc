// `sdpa-bench merge FILES... --out M.json [--allow-mixed] [--allow-missing] [--force]`, added to
// the CLI by one call in main.cpp.
#pragma once

#include <functional>

#include <string>
#include <vector>

#include "harness/merge.h"

namespace CLI {
class App;
}

namespace sdpa {

struct MergeCommand {
  std::vector<std::string> files;
  std::string out;
  bool force = false;  // replace an existing --out
  MergeOptions options;
};

// Reads the files, merges them and writes --out atomically; prints what the allow options let
// through on stderr. Returns the exit code: 0 merged, 1 an I/O failure, 2 refused or bad input.
int cmd_merge(const MergeCommand& command);
// The same, throwing SpecError for bad input instead of mapping it (main.cpp maps it).
int merge_command(const MergeCommand& command);

// Registers the `merge` subcommand; main.cpp calls the returned function when `merge` was given.
std::function<int()> add_merge_command(CLI::App& app);

}  // namespace sdpa
