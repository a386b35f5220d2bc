#include "harness/ab_gate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <sstream>

#include "backends/registry.h"
#include "core/problem.h"
#include "harness/callgrind.h"
#include "harness/worker.h"
#include "harness/worker_client.h"

namespace sdpa {

namespace fs = std::filesystem;

namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

constexpr double kPrepareTimeoutS = 600;   // inputs, reference and warm-up of the largest gate case
constexpr double kValgrindTimeoutS = 1800;  // one case under callgrind

// Starts a worker and checks that it speaks this protocol. Returns null and sets `why` when the
// binary is too old to have a `worker` subcommand (it exits with a usage error) or speaks another
// protocol version.
std::unique_ptr<WorkerClient> start_worker(const std::string& label, const std::vector<std::string>& argv,
                                           const std::vector<std::string>& env, const std::string& log,
                                           double timeout_s, std::string& why) {
  auto w = std::make_unique<WorkerClient>(label, argv, env, log);
  std::string answer;
  try {
    answer = w->request("hello", timeout_s);
  } catch (const WorkerError& e) {
    why = label + " binary " + argv.back() + " does not serve the worker protocol (no `worker` subcommand: it predates "
          "the paired gate, or does not start): " + e.what();
    return nullptr;
  }
  const std::string expected = "ok sdpa-bench-worker " + std::to_string(kWorkerProtocol);
  if (answer != expected) {
    why = label + " worker answered '" + answer + "' to hello, expected '" + expected + "'";
    return nullptr;
  }
  return w;
}

SideStatus parse_prepare(const std::string& answer) {
  auto [head, rest] = WorkerClient::split(answer);
  SideStatus s;
  if (head == "ok") {
    auto [status, tail] = WorkerClient::split(rest);
    auto [est, detail] = WorkerClient::split(tail);
    s.status = status;
    s.detail = detail;
    try {
      s.est_ms = std::stod(est);
    } catch (const std::exception&) {
      s.status = "error";
      s.detail = "unreadable answer '" + answer + "'";
    }
    return s;
  }
  s.status = head == "skip" || head == "fail" ? head : "error";
  s.detail = head == "skip" || head == "fail" || head == "error" ? rest : "unreadable answer '" + answer + "'";
  return s;
}

// The wall (or device) samples of a `time` answer, or with `cpu` the process CPU ones.
std::vector<double> parse_samples(const std::string& answer, const std::string& who, bool cpu) {
  auto [head, rest] = WorkerClient::split(answer);
  if (head != "ok") throw WorkerError(who + " worker: " + answer);
  const auto bar = rest.find('|');
  if (bar == std::string::npos) throw WorkerError(who + " worker: no CPU times in '" + answer + "'");
  std::istringstream in(cpu ? rest.substr(bar + 1) : rest.substr(0, bar));
  std::vector<double> out;
  double v = 0;
  while (in >> v) out.push_back(v);
  if (out.empty()) throw WorkerError(who + " worker: no samples in '" + answer + "'");
  return out;
}

SideStatus prepare_side(WorkerClient* w, const std::string& backend, const std::string& spec, const char* mode,
                        double timeout_s) {
  if (!w) return {"absent", "", 0};
  try {
    return parse_prepare(w->request("prepare " + backend + " " + spec + " " + mode, timeout_s));
  } catch (const WorkerError& e) {
    return {"error", e.what(), 0};
  }
}

void release(WorkerClient* w) {
  if (!w) return;
  try {
    w->request("release", 60);
  } catch (const WorkerError&) {
  }
}

// The two timing workers. With fresh workers, every block starts a new pair of processes.
struct WorkerPair {
  std::unique_ptr<WorkerClient> base, cur;
};

// Replaces both workers by freshly started ones (both started, then both greeted). Throws
// WorkerError when one does not answer hello as the first ones did.
using Respawn = std::function<void(WorkerPair&)>;

// One case, in blocks. Each block times `pairs` ABBA round pairs; its observation is the mean log
// ratio of its pairs. Before each block the case is prepared afresh, by default in a fresh pair
// of worker processes: a worker process can run a case 5-20% faster or slower than another for
// its whole life (its own placement of stacks, heap and thread structures; measured: between
// process pairs sd 3.4% on a decode case, against 1.2% expected from the blocks), and preparing
// again in the same process does not redraw it. With a fresh pair per block that luck is noise
// the interval covers, not a verdict. Blocks are added until the verdict resolves or `cap_s`
// passes (or exactly `fixed_blocks` blocks when that is > 0). The first preparation (with the
// correctness check) is the caller's.
void time_case(AbCase& c, WorkerPair& w, const Respawn& respawn, const AbOptions& o, double cap_s,
               int fixed_blocks = 0) {
  const double est = std::max({c.base.est_ms, c.current.est_ms, 1e-3});
  const long calls = std::clamp(std::lround(o.round_ms / est), 1L, 100000L);
  const std::string req = "time " + std::to_string(calls);
  // A fresh process's first calls meet cold caches and first-touch page faults: a short untimed
  // round on both sides (at once: it is not measured) before the block.
  const std::string warm = "time " + std::to_string(std::max(1L, calls / 4));
  const bool cpu = o.clock == "cpu";
  const double timeout_s = 60 + 20 * calls * est / 1e3;
  std::vector<double> base_stats, cur_stats;
  const auto start = clock_type::now();
  int next_look = o.min_rounds;
  c.log_ratios.clear();
  const int max_blocks = fixed_blocks > 0 ? fixed_blocks : o.max_rounds;
  for (int block = 0; block < max_blocks; ++block) {
    if (o.fresh_workers) respawn(w);
    if (o.fresh_workers || block > 0) {
      const std::string prep = "prepare " + c.backend + " " + c.problem + " nocheck";
      w.base->send(prep);
      w.cur->send(prep);
      const SideStatus b = parse_prepare(w.base->receive(kPrepareTimeoutS));
      const SideStatus k = parse_prepare(w.cur->receive(kPrepareTimeoutS));
      if (b.status != "pass" || k.status != "pass") {
        throw WorkerError("re-preparing: base " + b.status + " " + b.detail + ", current " + k.status + " " + k.detail);
      }
    }
    if (o.fresh_workers) {
      w.base->send(warm);
      w.cur->send(warm);
      parse_samples(w.base->receive(timeout_s), "base", cpu);
      parse_samples(w.cur->receive(timeout_s), "current", cpu);
    }
    double sum = 0;
    for (int pair = 0; pair < o.pairs_per_block; ++pair) {
      double b = 0, k = 0;
      // ABBA: the side that goes first alternates, so a trend within a block favours neither.
      if (pair % 2 == 0) {
        b = round_low_quartile(parse_samples(w.base->request(req, timeout_s), "base", cpu));
        k = round_low_quartile(parse_samples(w.cur->request(req, timeout_s), "current", cpu));
      } else {
        k = round_low_quartile(parse_samples(w.cur->request(req, timeout_s), "current", cpu));
        b = round_low_quartile(parse_samples(w.base->request(req, timeout_s), "base", cpu));
      }
      base_stats.push_back(b);
      cur_stats.push_back(k);
      sum += std::log(k / b);
    }
    c.log_ratios.push_back(sum / o.pairs_per_block);
    const int n = block + 1;
    if (fixed_blocks > 0 || n < o.min_rounds) {
      if (fixed_blocks > 0 && since(start) > cap_s && n >= 6) break;
      continue;
    }
    // Looks at 10, 15, 22, 33, ... blocks: few enough that looking until something resolves does
    // not turn noise into a verdict.
    if (n == next_look) {
      next_look = n * 3 / 2;
      c.interval = paired_ratio_interval(c.log_ratios, o.level);
      c.verdict = judge_ratio(c.interval, o.threshold);
      if (c.verdict != PairedVerdict::unresolved) break;
    }
    if (since(start) > cap_s) break;
  }
  c.interval = paired_ratio_interval(c.log_ratios, o.level);
  c.verdict = judge_ratio(c.interval, o.threshold);
  c.base_ms = round_statistic(base_stats);
  c.current_ms = round_statistic(cur_stats);
  c.seconds = since(start);
  c.timed = true;
}

void timing_tier(AbResult& res, const AbOptions& o, std::ostream& progress) {
  const auto start = clock_type::now();
  const std::vector<std::string> worker_args = {"worker", "--threads", std::to_string(o.selection.threads)};
  // Idle OpenMP threads of the waiting worker must not spin on the cores the other one times.
  auto env = [](std::vector<std::string> extra) {
    extra.insert(extra.begin(), "OMP_WAIT_POLICY=passive");
    return extra;
  };
  auto argv = [&](const std::string& bin) {
    std::vector<std::string> a = {bin};
    a.insert(a.end(), worker_args.begin(), worker_args.end());
    return a;
  };
  std::string why;
  WorkerPair w;
  w.cur = start_worker("current", argv(o.current_bin), env(o.current_env), o.work_dir + "/current.stderr", 120, why);
  if (!w.cur) throw std::invalid_argument(why);
  w.base = start_worker("base", argv(o.base_bin), env(o.base_env), o.work_dir + "/base.stderr", 120, why);
  if (!w.base) res.timing_not_run = why;
  // Both old workers leave, then both new ones start and are greeted together.
  const Respawn respawn = [&](WorkerPair& pair) {
    pair.base.reset();
    pair.cur.reset();
    pair.base = std::make_unique<WorkerClient>("base", argv(o.base_bin), env(o.base_env), o.work_dir + "/base.stderr");
    pair.cur = std::make_unique<WorkerClient>("current", argv(o.current_bin), env(o.current_env),
                                              o.work_dir + "/current.stderr");
    pair.base->send("hello");
    pair.cur->send("hello");
    const std::string hb = pair.base->receive(120), hc = pair.cur->receive(120);
    const std::string expected = "ok sdpa-bench-worker " + std::to_string(kWorkerProtocol);
    if (hb != expected || hc != expected) throw WorkerError("a fresh worker answered hello with '" + hb + "', '" + hc + "'");
  };
  std::size_t left = res.cases.size();
  for (AbCase& c : res.cases) {
    const std::string spec = c.problem;
    progress << "ab: " << c.backend << " " << spec << ": " << std::flush;
    c.base = prepare_side(w.base.get(), c.backend, spec, "check", kPrepareTimeoutS);
    c.current = prepare_side(w.cur.get(), c.backend, spec, "check", kPrepareTimeoutS);
    if (c.base.status == "pass" && c.current.status == "pass") {
      double cap = o.max_case_s;
      if (o.budget_s > 0) cap = std::min(cap, std::max(0.5, (o.budget_s - since(start)) / static_cast<double>(left)));
      try {
        time_case(c, w, respawn, o, cap);
      } catch (const WorkerError& e) {
        c.current = {"error", e.what(), 0};
        try {
          respawn(w);  // the next case gets workers that answer
        } catch (const WorkerError&) {
        }
      }
      char line[160];
      std::snprintf(line, sizeof line, "%s x%.3f [%.3f, %.3f] in %zu blocks, %.1f s", std::string(to_string(c.verdict)).c_str(),
                    c.interval.ratio, c.interval.lo, c.interval.hi, c.log_ratios.size(), c.seconds);
      progress << line << "\n";
    } else {
      progress << "base " << c.base.status << ", current " << c.current.status << "\n";
    }
    release(w.base.get());
    release(w.cur.get());
    --left;
  }
  // Confirmation: a slowdown must show again, later, in confirm_batches fresh batches of
  // min_rounds blocks each: each batch's estimate above 1, and the interval over all blocks
  // pooled above 1 + threshold (confirm_slower).
  for (AbCase& c : res.cases) {
    if (!c.timed || c.verdict != PairedVerdict::slower || o.confirm_batches == 0) continue;
    progress << "ab: confirming " << c.backend << " " << c.problem << ": " << std::flush;
    char first[96];
    std::snprintf(first, sizeof first, "x%.3f [%.3f, %.3f]", c.interval.ratio, c.interval.lo, c.interval.hi);
    std::string batches = std::string("first batch ") + first;
    std::vector<std::vector<double>> later;
    for (int batch = 0; batch < o.confirm_batches; ++batch) {
      AbCase again = c;
      again.interval = {};
      again.verdict = PairedVerdict::unresolved;
      again.log_ratios.clear();
      try {
        if (w.base && w.cur) {
          again.base = prepare_side(w.base.get(), c.backend, c.problem, "nocheck", kPrepareTimeoutS);
          again.current = prepare_side(w.cur.get(), c.backend, c.problem, "nocheck", kPrepareTimeoutS);
        }
        if (again.base.status == "pass" && again.current.status == "pass") {
          // est_ms of the first preparation sizes the rounds as before; a broad regression must
          // not take minutes, so the batch stops at half a case's cap.
          again.base.est_ms = c.base.est_ms;
          again.current.est_ms = c.current.est_ms;
          time_case(again, w, respawn, o, 0.5 * o.max_case_s, o.min_rounds);
        }
      } catch (const WorkerError&) {
        again.log_ratios.clear();
        try {
          respawn(w);
        } catch (const WorkerError&) {
        }
      }
      later.push_back(again.log_ratios);
      release(w.base.get());
      release(w.cur.get());
    }
    const SlowerConfirmation conf = confirm_slower(c.log_ratios, later, o.threshold, o.level);
    for (std::size_t i = 0; i < conf.batches.size(); ++i) {
      char line[128];
      const RatioInterval& iv = conf.batches[i];
      std::snprintf(line, sizeof line, ", then x%.3f [%.3f, %.3f] in %zu blocks", iv.ratio, iv.lo, iv.hi, iv.n);
      batches += line;
    }
    char pooled[128];
    std::snprintf(pooled, sizeof pooled, "; pooled x%.3f [%.3f, %.3f] in %zu blocks", conf.pooled.ratio, conf.pooled.lo,
                  conf.pooled.hi, conf.pooled.n);
    batches += pooled;
    for (const auto& batch : later) c.log_ratios.insert(c.log_ratios.end(), batch.begin(), batch.end());
    c.interval = conf.pooled;
    c.confirmation = (conf.confirmed ? "confirmed: " : "not confirmed: ") + batches;
    c.verdict = conf.confirmed ? PairedVerdict::slower : PairedVerdict::unresolved;
    progress << c.confirmation << "\n";
  }
  res.timing_seconds = since(start);
}

void instruction_tier(AbResult& res, const AbOptions& o, std::ostream& progress) {
  const auto start = clock_type::now();
  const std::string prefix = fs::absolute(o.work_dir + "/cg").string();
  std::string why;
  auto base = start_worker("base (callgrind)", callgrind_worker_command(o.valgrind, o.base_bin, prefix),
                           [&] { auto e = callgrind_worker_env(); e.insert(e.end(), o.base_env.begin(), o.base_env.end()); return e; }(),
                           o.work_dir + "/base-callgrind.stderr", 300, why);
  std::unique_ptr<WorkerClient> cur;
  if (base) {
    cur = start_worker("current (callgrind)", callgrind_worker_command(o.valgrind, o.current_bin, prefix),
                       [&] { auto e = callgrind_worker_env(); e.insert(e.end(), o.current_env.begin(), o.current_env.end()); return e; }(),
                       o.work_dir + "/current-callgrind.stderr", 300, why);
  }
  if (!base || !cur) {
    res.instructions_not_run = why;
    return;
  }
  for (AbCase& c : res.cases) {
    if (!o.count_backends.empty() &&
        std::find(o.count_backends.begin(), o.count_backends.end(), c.backend) == o.count_backends.end()) {
      c.count_note = "not counted (not among --count-backend)";
      continue;
    }
    progress << "ab: callgrind " << c.backend << " " << c.problem << ": " << std::flush;
    // Both workers at once: the counts do not depend on the machine's load.
    const std::string req = "prepare " + c.backend + " " + c.problem + " nocheck";
    SideStatus sb, sc;
    try {
      base->send(req);
      cur->send(req);
      sb = parse_prepare(base->receive(kValgrindTimeoutS));
      sc = parse_prepare(cur->receive(kValgrindTimeoutS));
      if (sb.status == "pass" && sc.status == "pass") {
        base->send("count 1");
        cur->send("count 1");
        const std::string ab = base->receive(kValgrindTimeoutS), ac = cur->receive(kValgrindTimeoutS);
        if (ab != "ok" || ac != "ok") throw WorkerError("count: base '" + ab + "', current '" + ac + "'");
        c.base_ir = take_callgrind_dump(prefix, base->pid());
        c.current_ir = take_callgrind_dump(prefix, cur->pid());
        c.counted = true;
        c.count_note = sc.detail;
      } else {
        c.count_note = "not counted: base " + sb.status + (sb.detail.empty() ? "" : " (" + sb.detail + ")") + ", current " +
                       sc.status + (sc.detail.empty() ? "" : " (" + sc.detail + ")");
      }
    } catch (const std::exception& e) {
      c.count_note = std::string("not counted: ") + e.what();
      res.instructions_not_run = c.count_note;  // a dead worker counts nothing more
      progress << c.count_note << "\n";
      return;
    }
    if (c.counted) {
      progress << c.base_ir << " -> " << c.current_ir << " Ir\n";
    } else {
      progress << c.count_note << "\n";
    }
    release(base.get());
    release(cur.get());
  }
  res.count_seconds = since(start);
}

}  // namespace

int AbResult::exit_code() const { return failures().empty() ? 0 : 1; }

std::vector<std::string> AbResult::failures() const {
  std::vector<std::string> out;
  for (const AbCase& c : cases) {
    const std::string name = c.backend + " " + c.problem;
    if (c.current.status == "fail" || c.current.status == "error") {
      out.push_back(name + ": current " + c.current.status + ": " + c.current.detail);
    } else if (c.base.status == "pass" && c.current.status != "pass") {
      out.push_back(name + ": ran on base, " + c.current.status + " on current: " + c.current.detail);
    }
    if (c.timed && c.verdict == PairedVerdict::slower) {
      char buf[96];
      std::snprintf(buf, sizeof buf, ": SLOWER x%.3f [%.3f, %.3f]", c.interval.ratio, c.interval.lo, c.interval.hi);
      out.push_back(name + buf);
    }
    if (c.count_grew(count_threshold) && !(c.timed && c.verdict == PairedVerdict::faster)) {
      char buf[96];
      std::snprintf(buf, sizeof buf, ": instructions x%.4f (> %.0f%%)",
                    static_cast<double>(c.current_ir) / static_cast<double>(c.base_ir), 100 * count_threshold);
      out.push_back(name + buf);
    }
  }
  return out;
}

AbResult run_ab(const AbOptions& o, std::ostream& progress) {
  if (o.base_bin.empty() || o.current_bin.empty()) throw std::invalid_argument("--base and --current are required");
  if (!fs::exists(o.current_bin)) throw std::invalid_argument("--current " + o.current_bin + ": no such file");
  if (!(o.threshold > 0 && o.threshold < 10)) throw std::invalid_argument("--threshold must lie in (0, 10)");
  if (!(o.count_threshold > 0 && o.count_threshold < 10)) throw std::invalid_argument("--count-threshold must lie in (0, 10)");
  if (o.min_rounds < 6) throw std::invalid_argument("--min-rounds must be at least 6 (fewer pairs give no 95% interval)");
  if (o.selection.backends.empty()) throw std::invalid_argument("ab: name the backends (--backend B, repeatable)");
  for (const std::string& b : o.selection.backends) {
    const Registry& reg = registry();
    const bool missing = std::any_of(reg.missing().begin(), reg.missing().end(), [&](const auto& m) { return m.name == b; });
    if (!reg.find(b) && !missing) {
      throw std::invalid_argument("--backend " + b + ": unknown (built: " + join(reg.names(), ", ") + ")");
    }
  }
  const std::vector<Problem> problems = select_problems(o.selection);
  fs::create_directories(o.work_dir);
  AbResult res;
  res.threshold = o.threshold;
  res.count_threshold = o.count_threshold;
  res.level = o.level;
  res.clock = o.clock;
  res.fresh_workers = o.fresh_workers;
  for (const Problem& p : problems) {
    for (const std::string& b : o.selection.backends) {
      AbCase c;
      c.backend = b;
      c.problem = p.to_string();
      res.cases.push_back(std::move(c));
    }
  }
  const bool base_exists = fs::exists(o.base_bin);
  if (!base_exists) throw std::invalid_argument("--base " + o.base_bin + ": no such file");
  if (o.timing) {
    timing_tier(res, o, progress);
  } else {
    res.timing_not_run = "not asked (--no-timing)";
  }
  if (o.instructions && res.timing_not_run.find("worker protocol") == std::string::npos) {
    instruction_tier(res, o, progress);
  } else {
    res.instructions_not_run = o.instructions ? "the base binary does not serve the worker protocol" : "not asked";
  }
  return res;
}

}  // namespace sdpa
