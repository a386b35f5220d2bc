// `merge`: the rules on synthetic files, then the real binary on three shards of the smoke suite.
#include "harness/merge.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/problem.h"
#include "harness/results_file.h"

namespace sdpa {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json context(const std::string& shard = "", int shard_cases = -1) {
  json c{{"executable", "sdpa-bench"}, {"cpu_model", "Zen 5"},    {"threads_used", "2"},
         {"git_commit", "abc123"},     {"suite", "smoke"},         {"naive_device", "cpu"},
         {"date", "2026-12-01T10:00:00Z"}, {"host_name", "node1"}};
  if (!shard.empty()) c["shard"] = shard;
  if (shard_cases >= 0) c["shard_cases"] = shard_cases;
  return c;
}

// A measured case as `run` writes it (two of its aggregates suffice) or a skip.
json entries(const std::string& backend, const std::string& problem, bool skip = false) {
  const std::string run = backend + "/" + problem;
  json base{{"run_name", run}, {"backend", backend}, {"problem", problem}, {"time_unit", "ms"}};
  if (skip) {
    json e = base;
    e.update({{"name", run}, {"run_type", "iteration"}, {"status", "skip"}, {"error_occurred", true},
              {"error_message", "skip: f32 only"}});
    return json::array({e});
  }
  json out = json::array();
  for (const char* agg : {"mean", "median"}) {
    json e = base;
    e.update({{"name", run + "_" + agg}, {"run_type", "aggregate"}, {"aggregate_name", agg}, {"status", "pass"},
              {"real_time", 1.5}, {"cpu_time", 1.6}, {"repetitions", 3}});
    if (std::string(agg) == "median") e.update({{"samples_real_time", {1.4, 1.5, 1.6}}, {"samples_cpu_time", {1.5, 1.6, 1.7}}});
    out.push_back(e);
  }
  return out;
}

MergeInput file(const std::string& path, const json& ctx, const std::vector<json>& cases) {
  json doc{{"format", kResultsFormat}, {"format_version", kResultsFormatVersion}, {"context", ctx},
           {"benchmarks", json::array()}};
  for (const json& c : cases) {
    for (const json& e : c) doc["benchmarks"].push_back(e);
  }
  return {path, doc};
}

std::string refusal(const std::vector<MergeInput>& inputs, MergeOptions options = {}) {
  try {
    merge_results(inputs, options);
  } catch (const SpecError& e) {
    return e.what();
  }
  return "(merged)";
}

std::set<std::string> case_names(const json& doc) {
  std::set<std::string> names;
  for (const CaseRecord& c : parse_results(doc, "merged").cases) names.insert(c.name());
  return names;
}

TEST(Merge, JoinsThreeShardsIntoOneFileOfEveryCase) {
  const std::vector<MergeInput> in{
      file("s2.json", context("2/3", 1), {entries("naive", "sq=8")}),
      file("s0.json", context("0/3", 2), {entries("naive", "sq=4"), entries("blocked_cpu", "sq=4", true)}),
      file("s1.json", context("1/3", 1), {entries("blocked_cpu", "sq=8")})};
  const MergeResult r = merge_results(in, {});
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.cases, 4u);
  EXPECT_EQ(case_names(r.doc),
            (std::set<std::string>{"naive/sq=8", "naive/sq=4", "blocked_cpu/sq=4", "blocked_cpu/sq=8"}));
  const json& ctx = r.doc["context"];
  EXPECT_FALSE(ctx.contains("shard"));
  EXPECT_EQ(ctx["merged_shards"], "3 of 3");
  ASSERT_EQ(ctx["merged_from"].size(), 3u);
  EXPECT_EQ(ctx["merged_from"][0]["file"], "s0.json");  // shard order, whatever the argument order
  EXPECT_EQ(ctx["merged_from"][0]["cases"], 2);
  // The samples survive the round trip.
  const CaseRecord* c = parse_results(r.doc, "m").find("naive/sq=4");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->samples_ms.size(), 3u);
}

TEST(Merge, RefusesDifferentMachineClassesNamingFilesAndValues) {
  json other = context("1/2");
  other["cpu_model"] = "Xeon 8480";
  const std::vector<MergeInput> in{file("a.json", context("0/2"), {entries("naive", "sq=4")}),
                                   file("b.json", other, {entries("naive", "sq=8")})};
  const std::string why = refusal(in);
  EXPECT_NE(why.find("cpu_model differs: a.json: 'Zen 5'; b.json: 'Xeon 8480'"), std::string::npos) << why;
  const MergeResult r = merge_results(in, {.allow_mixed = true});
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.doc["context"]["merge_warnings"][0].get<std::string>().find("cpu_model"), std::string::npos);
}

TEST(Merge, RefusesDifferentCommitsThreadsGpusAndShardCounts) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"git_commit", "def456"}, {"threads_used", "4"}, {"cudnn_cuda_device", "NVIDIA H100"}, {"suite", "ci"}}) {
    json other = context("1/2");
    other[key] = value;
    const std::string why = refusal({file("a.json", context("0/2"), {entries("naive", "sq=4")}),
                                     file("b.json", other, {entries("naive", "sq=8")})});
    EXPECT_NE(why.find(key + " differs"), std::string::npos) << why;
  }
  const std::string why = refusal({file("a.json", context("0/2"), {entries("naive", "sq=4")}),
                                   file("b.json", context("1/3"), {entries("naive", "sq=8")})});
  EXPECT_NE(why.find("shard count differs: a.json: '2'; b.json: '3'"), std::string::npos) << why;
}

TEST(Merge, DuplicateCasesAreRefusedOrKeepTheFirstFilesEntry) {
  json first = entries("naive", "sq=4"), second = entries("naive", "sq=4");
  for (json& e : second) e["real_time"] = 9.0;
  const std::vector<MergeInput> in{file("a.json", context(), {first}), file("b.json", context(), {second})};
  const std::string why = refusal(in);
  EXPECT_NE(why.find("naive/sq=4 in a.json and b.json"), std::string::npos) << why;
  const MergeResult r = merge_results(in, {.allow_mixed = true});
  EXPECT_EQ(r.cases, 1u);
  EXPECT_EQ(parse_results(r.doc, "m").find("naive/sq=4")->p50_ms(), 1.5);
  EXPECT_EQ(r.doc["context"]["merged_from"][1]["cases"], 0);
}

TEST(Merge, NamesAbsentShardsAndShortShardFiles) {
  const std::vector<MergeInput> in{file("s0.json", context("0/4"), {entries("naive", "sq=4")}),
                                   file("s2.json", context("2/4", 2), {entries("naive", "sq=8")})};
  const std::string why = refusal(in);
  EXPECT_NE(why.find("shards 1, 3 of 4 absent"), std::string::npos) << why;
  EXPECT_NE(why.find("s2.json (shard 2/4) holds 1 cases of the 2 it recorded"), std::string::npos) << why;
  const MergeResult r = merge_results(in, {.allow_missing = true});
  EXPECT_EQ(r.doc["context"]["missing_shards"], json({1, 3}));
  EXPECT_EQ(r.doc["context"]["merged_shards"], "2 of 4");
}

TEST(Merge, RefusesForeignAndOlderFiles) {
  MergeInput foreign = file("gb.json", context(), {});
  foreign.doc.erase("format");
  foreign.doc["context"].erase("executable");
  EXPECT_NE(refusal({foreign}).find("gb.json: not a results file"), std::string::npos);
  MergeInput v1 = file("v1.json", context(), {});
  v1.doc["format_version"] = 1;
  EXPECT_NE(refusal({v1}).find("v1.json: format_version 1"), std::string::npos);
  EXPECT_NE(refusal({}).find("give the results files"), std::string::npos);
}

// The real binary: three shards of the smoke suite merge into exactly the unsharded case set.
struct CliResult {
  int code = -1;
  std::string out;
};

CliResult run(const std::string& args) {
  CliResult r;
  FILE* pipe = popen((std::string(SDPA_BENCH_EXE) + " " + args + " 2>&1").c_str(), "r");
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, pipe)) r.out.append(buf, n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(MergeCli, ThreeSmokeShardsMergeIntoTheUnshardedCaseSet) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("sdpa_merge_cli_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string select = "--backend naive --backend blocked_cpu --suite smoke";
  CliResult r = run("check " + select + " --json " + (dir / "check.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  std::set<std::string> unsharded;
  const json check = json::parse(std::ifstream(dir / "check.json"));
  for (const json& c : check["cases"]) {
    unsharded.insert(c["name"].get<std::string>());
  }
  std::string shards;
  for (int i = 0; i < 3; ++i) {
    const std::string out = (dir / ("s" + std::to_string(i) + ".json")).string();
    r = run("run " + select + " --policy quick --no-calibration --shard " + std::to_string(i) + "/3 --out " + out);
    ASSERT_EQ(r.code, 0) << r.out;
    shards += " " + out;
  }
  const std::string merged = (dir / "merged.json").string();
  r = run("merge" + shards + " --out " + merged);
  ASSERT_EQ(r.code, 0) << r.out;
  std::set<std::string> got;
  for (const CaseRecord& c : load_results(merged).cases) got.insert(c.name());
  EXPECT_EQ(got, unsharded);
  EXPECT_GT(unsharded.size(), 3u);

  // A shard given twice, a missing shard, an existing --out: refused with exit 2, and the
  // merged file is left as it was.
  r = run("merge" + shards + " " + (dir / "s1.json").string() + " --out " + merged + " --force");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("in more than one file"), std::string::npos) << r.out;
  r = run("merge " + (dir / "s0.json").string() + " --out " + (dir / "part.json").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("shards 1, 2 of 3 absent"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "part.json"));
  r = run("merge" + shards + " --out " + merged);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("exists"), std::string::npos) << r.out;
  EXPECT_EQ(load_results(merged).cases.size(), unsharded.size());
}

// `--out ''` (or a folder): refused with the reason before anything is read or written, and no
// temporary file left behind (it was: ".tmp.<pid>" in the working folder, and exit 1).
TEST(MergeCli, AnOutThatCannotBeAFileIsRefusedWithNoLeftovers) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("sdpa_merge_out_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "folder");
  const std::string in = (dir / "in.json").string();
  const MergeInput one = file(in, context(), {entries("naive", "b=1,hq=4,sq=64,d=64,dtype=f32")});
  std::ofstream(in) << one.doc.dump();
  std::ofstream(dir / "plain") << "x";
  for (const auto& [out, says] : std::vector<std::pair<std::string, std::string>>{
           {"''", "empty"}, {(dir / "folder").string(), "a folder"}, {(dir / "folder").string() + "/", "a folder"},
           {(dir / "plain" / "m.json").string(), "not a folder"}}) {
    for (const std::string force : {"", " --force"}) {
      const CliResult r = run("merge " + in + " --out " + out + force + " --allow-missing");
      EXPECT_EQ(r.code, 2) << out << ": " << r.out;
      EXPECT_NE(r.out.find(says), std::string::npos) << out << ": " << r.out;
    }
  }
  // Run from inside the folder, as the empty --out resolved against the working folder.
  const std::string here = "cd " + dir.string() + " && " + std::string(SDPA_BENCH_EXE) + " merge in.json --out '' >/dev/null 2>&1";
  EXPECT_NE(std::system(here.c_str()), 0);
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
  EXPECT_TRUE(fs::is_directory(dir / "folder"));
  EXPECT_TRUE(fs::is_empty(dir / "folder"));
}

// A damaged file given to merge: exit 2 naming the file and the field (it was exit 1 and a bare
// library message), and a case given twice inside one file is refused, naming it.
TEST(MergeCli, DamagedAndDuplicatedFilesAreBadInputNamingTheFile) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("sdpa_merge_damaged_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string problem = "b=1,hq=4,sq=64,d=64,dtype=f32";
  MergeInput sound = file("x", context(), {entries("naive", problem), entries("blocked_cpu", problem)});
  std::vector<std::pair<std::string, json>> damaged;
  json d = sound.doc;
  d["benchmarks"][0]["time_unit"] = 5;
  damaged.emplace_back("time_unit", d);
  d = sound.doc;
  d["benchmarks"][0]["error_occurred"] = "yes";
  damaged.emplace_back("error_occurred", d);
  d = sound.doc;
  d["format_version"] = 4294967298ull;
  damaged.emplace_back("format_version 4294967298", d);
  d = sound.doc;
  d["context"]["calibration_drift"] = "high";
  d["context"]["date"] = 7;
  damaged.emplace_back("", d);  // context values of the wrong type: merged, not a crash
  d = sound.doc;
  d["benchmarks"].push_back(d["benchmarks"][0]);
  damaged.emplace_back("case naive/" + problem + " is given twice", d);
  for (const auto& [field, doc] : damaged) {
    const std::string path = (dir / "damaged.json").string();
    std::ofstream(path) << doc.dump();
    const CliResult r = run("merge " + path + " --out " + (dir / "m.json").string() + " --force");
    if (field.empty()) {
      EXPECT_EQ(r.code, 0) << r.out;
      continue;
    }
    EXPECT_EQ(r.code, 2) << field << ": " << r.out;
    EXPECT_NE(r.out.find(path + ": "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(field), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace sdpa
