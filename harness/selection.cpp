#include "harness/selection.h"

#include <omp.h>

#include <algorithm>
#include <set>

#include "backends/registry.h"
#include "harness/suite.h"

namespace sdpa {

namespace {

BackendOptions backend_options(const Selection& sel) {
  BackendOptions opts;
  opts.threads = sel.threads;
  opts.vulkan_device = sel.vulkan_device;
  return opts;
}

// A Vulkan device that is a CPU emulator (lavapipe / llvmpipe) measures the emulator, not a GPU.
bool runs_on_cpu_emulator(const Backend& b) {
  const std::string cls = b.device_class();
  return cls.find("llvmpipe") != std::string::npos || cls.find("lavapipe") != std::string::npos;
}

// A backend whose factory refuses its configuration (SDPA_BLOCKED_CPU_ISA=garbage, a path this
// CPU cannot run) is bad input: exit 2 before anything runs, naming the backend.
std::unique_ptr<Backend> make_backend(const BackendEntry& e, const BackendOptions& opts) {
  try {
    return e.make(opts);
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::exception& x) {
    throw SpecError("backend " + e.name + ": " + x.what());
  }
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

bool SelectedBackends::wants(const Backend& backend, const Problem& problem) const {
  if (naive_only_when_cheap && backend.name() == "naive" && problem.flops() > kDefaultNaiveMaxFlops) return false;
  return shard.empty() || shard.count(backend.name() + "/" + problem.to_string()) != 0;
}

std::pair<int, int> parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  int index = -1, count = 0;
  try {
    std::size_t used = 0;
    if (slash == std::string::npos) throw std::invalid_argument("no slash");
    index = std::stoi(text.substr(0, slash), &used);
    if (used != slash) throw std::invalid_argument("index");
    count = std::stoi(text.substr(slash + 1), &used);
    if (used != text.size() - slash - 1) throw std::invalid_argument("count");
  } catch (const std::exception&) {
    throw SpecError("--shard " + text + ": expected i/n, e.g. 0/4");
  }
  if (count < 1 || count > 4096 || index < 0 || index >= count) {
    throw SpecError("--shard " + text + ": needs 0 <= i < n <= 4096");
  }
  return {index, count};
}

namespace {

struct ShardCase {
  std::string name;
  double cost;
};

// The names of shard `index` of `count`: the costliest case first to the least loaded shard.
std::set<std::string> shard_of(std::vector<ShardCase> cases, int index, int count) {
  std::sort(cases.begin(), cases.end(), [](const ShardCase& a, const ShardCase& b) {
    return a.cost != b.cost ? a.cost > b.cost : a.name < b.name;
  });
  std::vector<double> load(static_cast<std::size_t>(count), 0.0);
  std::set<std::string> mine;
  for (const ShardCase& c : cases) {
    const auto least = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    load[static_cast<std::size_t>(least)] += c.cost;
    if (least == index) mine.insert(c.name);
  }
  return mine;
}

}  // namespace

void apply_shard(SelectedBackends& selected, const std::vector<Problem>& problems, int index, int count) {
  if (count <= 1) return;
  std::vector<ShardCase> cases;
  for (const Problem& p : problems) {
    for (const auto& b : selected.backends) {
      if (!selected.wants(*b, p)) continue;
      // FLOPs plus a constant: tiny cases still cost set-up, checking and a time floor.
      cases.push_back({b->name() + "/" + p.to_string(), p.flops() + 1e8});
    }
  }
  std::set<std::string> mine = shard_of(std::move(cases), index, count);
  // An empty shard (more shards than cases) must still run nothing, not everything.
  if (mine.empty()) mine.insert("");
  selected.shard = std::move(mine);
}

std::vector<Problem> shard_problems(const std::vector<Problem>& problems, int index, int count) {
  if (count <= 1) return problems;
  std::vector<ShardCase> cases;
  for (const Problem& p : problems) cases.push_back({p.to_string(), p.flops() + 1e8});
  const std::set<std::string> mine = shard_of(std::move(cases), index, count);
  std::vector<Problem> out;
  for (const Problem& p : problems) {
    if (mine.count(p.to_string())) out.push_back(p);
  }
  return out;
}

SelectedBackends select_backends(const Selection& sel) {
  const Registry& reg = registry();
  const BackendOptions opts = backend_options(sel);
  SelectedBackends out;
  const bool all = sel.backends.size() == 1 && sel.backends.front() == "all";
  if (sel.backends.empty() || all) {
    std::vector<std::string> variants, emulated, unavailable;
    for (const BackendEntry& e : reg.entries()) {
      if (!all && !e.variant_of.empty()) {
        variants.push_back(e.name);
        continue;
      }
      auto backend = make_backend(e, opts);
      if (!all) {
        if (Support s = backend->available(); !s) {
          unavailable.push_back(e.name + ": " + s.reason);
          continue;
        }
        if (runs_on_cpu_emulator(*backend)) {
          emulated.push_back(e.name);
          continue;
        }
      }
      out.backends.push_back(std::move(backend));
    }
    if (!all) {
      out.naive_only_when_cheap = true;
      if (!variants.empty()) out.left_out.push_back(join(variants, ", ") + " (pinned code paths of another backend)");
      if (!emulated.empty()) {
        out.left_out.push_back(join(emulated, ", ") + " (Vulkan on lavapipe, a CPU emulator)");
      }
      for (const std::string& u : unavailable) out.left_out.push_back(u);
      out.left_out.push_back("naive above 0.3 GFLOP per case (tenths of a second per sample)");
    }
    return out;
  }
  std::set<std::string> seen;
  for (const std::string& name : sel.backends) {
    if (name == "all") throw SpecError("--backend all: give it alone, not with other backends");
    if (!seen.insert(name).second) continue;
    if (const BackendEntry* e = reg.find(name)) {
      out.backends.push_back(make_backend(*e, opts));
      continue;
    }
    auto missing = std::find_if(reg.missing().begin(), reg.missing().end(),
                                [&](const MissingBackend& m) { return name.rfind(m.name, 0) == 0; });
    if (missing != reg.missing().end()) {
      out.missing.push_back(name + ": not built: " + missing->reason);
      continue;
    }
    throw SpecError("--backend " + name + ": unknown backend (built: " + join(reg.names(), ", ") + "; or all)");
  }
  return out;
}

std::vector<Problem> select_problems(const Selection& sel) {
  std::vector<Problem> problems;
  if (!sel.suite.empty()) {
    for (const SuiteCase& c : load_suite(sel.suite)) problems.push_back(c.problem);
  }
  for (const std::string& line : sel.problems) problems.push_back(parse_problem(line));
  for (const std::string& d : sel.dtypes) {
    if (d != "f32" && d != "f16" && d != "bf16") throw SpecError("--dtype " + d + ": must be f32, f16 or bf16");
  }
  for (const std::string& m : sel.masks) {
    if (m != "none" && m != "causal" && m != "causal_br" && m != "kvlen") {
      throw SpecError("--mask " + m + ": must be none, causal, causal_br or kvlen");
    }
  }
  std::optional<std::regex> filter;
  if (!sel.filter.empty()) {
    try {
      filter.emplace(sel.filter, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw SpecError("--filter " + sel.filter + ": not a regular expression (" + e.what() + ")");
    }
  }
  const std::size_t before = problems.size();
  std::erase_if(problems, [&](const Problem& p) {
    if (!sel.dtypes.empty() && !contains(sel.dtypes, std::string(to_string(p.dtype)))) return true;
    if (!sel.masks.empty() && !contains(sel.masks, std::string(to_string(p.mask)))) return true;
    return filter && !std::regex_search(p.to_string(), *filter);
  });
  if (before > 0 && problems.empty()) {
    throw SpecError("--filter/--dtype/--mask left none of the " + std::to_string(before) + " problems");
  }
  return problems;
}

void apply_threads(const Selection& sel) {
  if (sel.threads > kMaxThreads) {
    throw SpecError("--threads " + std::to_string(sel.threads) + ": at most " + std::to_string(kMaxThreads));
  }
  if (sel.threads > 0) omp_set_num_threads(sel.threads);
}

}  // namespace sdpa
