#include "harness/merge.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "core/problem.h"
#include "harness/machine_class.h"
#include "harness/gate.h"
#include "harness/results_file.h"
#include "harness/selection.h"
#include "harness/suite.h"

namespace sdpa {

using nlohmann::json;

namespace {

// Messages list at most this many duplicates: a wrong file given twice repeats every case.
constexpr std::size_t kListedDuplicates = 5;

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string text_of(const json& context, const std::string& key) {
  if (!context.is_object() || !context.contains(key)) return "";
  const json& v = context[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

struct Shard {
  int index = -1, count = 0;  // count 0: not a shard file
};

Shard shard_of(const ResultsFile& file) {
  const std::string text = file.context_text("shard");
  if (text.empty()) return {};
  try {
    auto [index, count] = parse_shard(text);
    return {index, count};
  } catch (const SpecError&) {
    throw SpecError(file.path + ": context shard '" + text + "' is not i/n");
  }
}

// One file's entries grouped by case, in file order.
struct Cases {
  std::vector<std::string> order;
  std::map<std::string, std::vector<json>> entries;
};

Cases group_entries(const json& doc) {
  Cases cases;
  for (const json& e : doc["benchmarks"]) {
    const std::string name = e["run_name"].get<std::string>();  // parse_results checked it
    auto [it, fresh] = cases.entries.try_emplace(name);
    if (fresh) cases.order.push_back(name);
    it->second.push_back(e);
  }
  return cases;
}

// "key differs: a.json, b.json: 'X'; c.json: 'Y'" for every class key whose values differ.
std::vector<std::string> class_differences(const std::vector<ResultsFile>& files, const std::vector<Shard>& shards) {
  std::vector<json> contexts;
  for (const ResultsFile& f : files) contexts.push_back(f.context);
  std::vector<std::pair<std::string, std::vector<std::string>>> values;  // key -> value per file
  for (const std::string& key : machine_class_keys(contexts)) {
    std::vector<std::string> per_file;
    for (const json& c : contexts) per_file.push_back(text_of(c, key));
    values.emplace_back(key, per_file);
  }
  std::vector<std::string> classes;  // vendor, microarchitecture, ISA tier, cores, threads, VM, GPUs
  for (const json& c : contexts) classes.push_back(c.contains("cpu_model") ? hardware_class(c) : "");
  values.emplace_back("machine class", classes);
  std::vector<std::string> shard_counts;
  for (const Shard& s : shards) shard_counts.push_back(s.count ? std::to_string(s.count) : "");
  values.emplace_back("shard count", shard_counts);

  std::vector<std::string> out;
  for (const auto& [key, per_file] : values) {
    std::map<std::string, std::vector<std::string>> by_value;
    std::vector<std::string> value_order;
    for (std::size_t i = 0; i < files.size(); ++i) {
      auto& holders = by_value[per_file[i]];
      if (holders.empty()) value_order.push_back(per_file[i]);
      holders.push_back(files[i].path);
    }
    if (by_value.size() < 2) continue;
    std::string line = key + " differs:";
    for (std::size_t v = 0; v < value_order.size(); ++v) {
      const std::string& value = value_order[v];
      line += (v ? "; " : " ") + join(by_value[value], ", ") + ": " + (value.empty() ? "(none)" : "'" + value + "'");
    }
    out.push_back(line);
  }
  return out;
}

// Absent shard indices, and shard files holding fewer cases than they recorded.
std::vector<std::string> missing_parts(const std::vector<ResultsFile>& files, const std::vector<Shard>& shards,
                                       const std::vector<Cases>& cases, std::vector<int>& absent) {
  std::vector<std::string> out;
  std::map<int, std::set<int>> present;  // shard count -> indices present
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (shards[i].count == 0) continue;
    present[shards[i].count].insert(shards[i].index);
    const double recorded = files[i].context_number("shard_cases", -1);
    if (recorded >= 0 && static_cast<double>(cases[i].order.size()) < recorded) {
      char count[32];
      std::snprintf(count, sizeof count, "%.15g", recorded);  // any double, never cast out of range
      out.push_back(files[i].path + " (shard " + files[i].context_text("shard") + ") holds " +
                    std::to_string(cases[i].order.size()) + " cases of the " + count + " it recorded");
    }
  }
  for (const auto& [count, indices] : present) {
    std::vector<std::string> gone;
    for (int i = 0; i < count; ++i) {
      if (indices.count(i)) continue;
      absent.push_back(i);
      gone.push_back(std::to_string(i));
    }
    if (!gone.empty()) {
      out.push_back("shard" + std::string(gone.size() > 1 ? "s " : " ") + join(gone, ", ") + " of " +
                    std::to_string(count) + " absent (run them with --shard i/" + std::to_string(count) + ")");
    }
  }
  return out;
}

std::string bullet_list(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += "\n  " + l;
  return out;
}

}  // namespace

std::vector<std::string> machine_class_keys(const std::vector<json>& contexts) {
  std::set<std::string> keys{"cpu_model", "threads_used", "git_commit", "suite"};
  for (const json& c : contexts) {
    if (!c.is_object()) continue;
    for (const auto& [key, value] : c.items()) {
      // <backend>_device: the device class ("cpu", "cuda:0") or, for Vulkan, the device's name;
      // <backend>_cuda_device: the GPU's name.
      if (ends_with(key, "_device")) keys.insert(key);
    }
  }
  return {keys.begin(), keys.end()};
}

MergeResult merge_results(const std::vector<MergeInput>& inputs, const MergeOptions& options) {
  if (inputs.empty()) throw SpecError("merge: give the results files to merge");
  std::vector<ResultsFile> files;
  std::vector<Shard> shards;
  std::vector<Cases> cases;
  for (const MergeInput& in : inputs) {
    files.push_back(parse_results(in.doc, in.path));
    if (files.back().format_version != kResultsFormatVersion) {
      throw SpecError(in.path + ": format_version " + std::to_string(files.back().format_version) +
                      ": merge joins version " + std::to_string(kResultsFormatVersion) +
                      " files only (shards of one fleet run are written by one sdpa-bench)");
    }
    shards.push_back(shard_of(files.back()));
    cases.push_back(group_entries(in.doc));
  }

  MergeResult result;
  const std::vector<std::string> mixed = class_differences(files, shards);
  if (!mixed.empty() && !options.allow_mixed) {
    throw SpecError("merge: the files are not of one machine class and build (--allow-mixed merges them all the "
                    "same):" + bullet_list(mixed));
  }
  for (const std::string& m : mixed) result.warnings.push_back("mixed: " + m);

  // Duplicates in command-line order: the first file's entry is the one kept.
  std::map<std::string, std::size_t> owner;  // case -> file index
  std::vector<std::string> duplicates;
  std::size_t duplicate_count = 0;
  std::vector<std::set<std::string>> dropped(files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    for (const std::string& name : cases[i].order) {
      auto [it, fresh] = owner.emplace(name, i);
      if (fresh) continue;
      dropped[i].insert(name);
      if (++duplicate_count <= kListedDuplicates) {
        duplicates.push_back(name + " in " + files[it->second].path + " and " + files[i].path);
      }
    }
  }
  if (duplicate_count > kListedDuplicates) {
    duplicates.push_back("... " + std::to_string(duplicate_count - kListedDuplicates) + " more");
  }
  if (duplicate_count > 0 && !options.allow_mixed) {
    throw SpecError("merge: " + std::to_string(duplicate_count) + " case(s) are in more than one file (the same "
                    "shard given twice?; --allow-mixed keeps the first file's):" + bullet_list(duplicates));
  }
  if (duplicate_count > 0) {
    result.warnings.push_back(std::to_string(duplicate_count) + " duplicate case(s), the first file's entry kept: " +
                              join(duplicates, "; "));
  }

  std::vector<int> absent;
  const std::vector<std::string> missing = missing_parts(files, shards, cases, absent);
  if (!missing.empty() && !options.allow_missing) {
    throw SpecError("merge: cases are missing (--allow-missing writes the partial merge):" + bullet_list(missing));
  }
  for (const std::string& m : missing) result.warnings.push_back("missing: " + m);

  // Shard order in the output (shard 0's cases first), whatever order the files were given in.
  std::vector<std::size_t> order(files.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return shards[a].index < shards[b].index; });

  json context = files.front().context;
  context.erase("shard");
  context.erase("shard_cases");
  json merged_from = json::array();
  json benchmarks = json::array();
  std::vector<std::string> noise;
  std::set<int> merged_shards;
  int shard_count = 0;
  // The largest drift of any file, over every calibration each ran (the merged context keeps
  // the first file's calibration lists only, so the others' would be lost otherwise).
  double drift = 0;
  bool any_drift = false;
  for (std::size_t i : order) {
    const ResultsFile& f = files[i];
    std::size_t kept = 0;
    for (const std::string& name : cases[i].order) {
      if (dropped[i].count(name)) continue;
      ++kept;
      for (const json& e : cases[i].entries[name]) benchmarks.push_back(e);
    }
    result.cases += kept;
    merged_from.push_back({{"file", f.path},
                           {"shard", f.context_text("shard")},
                           {"cases", kept},
                           {"host_name", f.context_text("host_name")},
                           {"date", f.context_text("date")}});
    if (shards[i].count) merged_shards.insert(shards[i].index);
    shard_count = std::max(shard_count, shards[i].count);
    // The run started when its first shard did; a noisy shard makes the merge noisy.
    if (const std::string date = f.context_text("date"); !date.empty()) {
      auto earliest = context.find("date");
      if (earliest == context.end() || !earliest->is_string() || date < earliest->get<std::string>()) context["date"] = date;
    }
    if (const std::string warn = f.context_text("noise_warning"); !warn.empty()) noise.push_back(f.path + ": " + warn);
    any_drift = any_drift || f.context.contains("calibration_drift") || f.context.contains("calibration_ends");
    drift = std::max(drift, calibration_drift_of(f.context).fraction);
  }
  context["merged_from"] = merged_from;
  if (!merged_shards.empty()) {
    context["merged_shards"] = std::to_string(merged_shards.size()) + " of " + std::to_string(shard_count);
  }
  if (!absent.empty()) context["missing_shards"] = absent;
  if (!result.warnings.empty()) context["merge_warnings"] = result.warnings;
  if (!noise.empty()) context["noise_warning"] = join(noise, "; ");
  if (any_drift) context["calibration_drift"] = drift;
  context["merge_note"] =
      "the context is the first file's (calibration, host) with the earliest date; each case keeps the counters of "
      "the machine that ran it (merged_from lists the files)";

  result.doc = {{"format", kResultsFormat},
                {"format_version", kResultsFormatVersion},
                {"context", context},
                {"benchmarks", benchmarks}};
  return result;
}

}  // namespace sdpa
