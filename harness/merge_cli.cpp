#include "harness/merge_cli.h"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "core/problem.h"
#include "harness/exit_code.h"
#include "harness/results.h"
#include "harness/results_file.h"

namespace sdpa {

namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SpecError(path + ": cannot read the results file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_results_json(text.str(), path);
}

}  // namespace

int cmd_merge(const MergeCommand& command) { return exit_code_of([&] { return merge_command(command); }); }

int merge_command(const MergeCommand& command) {
  // Before anything is read or written: an --out that cannot be a file is bad input, and
  // finding it only at the rename would leave the temporary file behind.
  if (command.out.empty()) throw SpecError("merge --out: empty; give the merged file's path");
  if (command.out.back() == '/' || std::filesystem::is_directory(command.out)) {
    throw SpecError("merge --out " + command.out + ": a folder; give the merged file's path");
  }
  if (const auto parent = std::filesystem::path(command.out).parent_path();
      !parent.empty() && std::filesystem::exists(parent) && !std::filesystem::is_directory(parent)) {
    throw SpecError("merge --out " + command.out + ": " + parent.string() + " is not a folder");
  }
  if (std::filesystem::exists(command.out) && !command.force) {
    throw SpecError(command.out + " exists: give another --out, or --force to replace it");
  }
  std::vector<MergeInput> inputs;
  for (const std::string& f : command.files) inputs.push_back({f, read_json(f)});
  const MergeResult merged = merge_results(inputs, command.options);
  for (const std::string& w : merged.warnings) std::cerr << "warning: " << w << "\n";
  write_file_atomically(command.out, merged.doc.dump(1));
  std::cerr << "merged " << command.files.size() << " file(s), " << merged.cases << " cases";
  if (merged.doc["context"].contains("merged_shards")) {
    std::cerr << " (shards: " << merged.doc["context"]["merged_shards"].get<std::string>() << ")";
  }
  std::cerr << " into " << command.out << "\n";
  return 0;
}

std::function<int()> add_merge_command(CLI::App& app) {
  auto command = std::make_shared<MergeCommand>();
  auto* merge = app.add_subcommand("merge", "Join the shard files of one machine class into one results file");
  merge->add_option("files", command->files, "Results files (shards of one run)")
      ->required()
      ->check(CLI::ExistingFile);
  merge->add_option("--out,-o", command->out, "The merged results file (written atomically)")->required();
  merge->add_flag("--allow-mixed", command->options.allow_mixed,
                  "Merge files of different machine classes, commits, suites or shard counts; a case in several "
                  "files keeps the first file's entry");
  merge->add_flag("--allow-missing", command->options.allow_missing,
                  "Write the merge even when shards or cases are absent (recorded in the context)");
  merge->add_flag("--force", command->force, "Replace an existing --out");
  return [command] { return merge_command(*command); };  // main.cpp maps its exceptions to the exit code
}

}  // namespace sdpa
