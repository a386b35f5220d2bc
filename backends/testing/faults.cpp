// Backends that misbehave on purpose, linked only into the test build of the CLI
// (sdpa-bench-faults), never into sdpa-bench: `fault_crash` dies with SIGSEGV in run(),
// `fault_hang` never returns from run(). They prove that --isolate turns a crash or a hang
// into one failed case and that the matrix goes on.
//
// SDPA_FAULT_SLOWDOWN=BACKEND:FRACTION[,...] (e.g. blocked_cpu:0.10) makes that real backend slower
// by FRACTION of each call: after its run() and sync() it spins for FRACTION times their process
// CPU time (see SlowedBackend::run for how that time is taken). The paired gate's detection is measured with it (scripts/gate-ab, `ab --current-env`).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include "backends/backend.h"
#include "backends/registry.h"

namespace sdpa {
namespace {

class FaultBackend : public Backend {
 public:
  explicit FaultBackend(bool crash) : crash_(crash) {}
  std::string name() const override { return crash_ ? "fault_crash" : "fault_hang"; }
  std::string describe() const override { return "test-only backend that " + std::string(crash_ ? "crashes" : "hangs"); }
  Support supports(const Problem&) const override { return Support::yes(); }
  void prepare(const Problem& p, const Inputs&) override { elems_ = p.o_elems(); }
  void run() override {
    if (crash_) raise(SIGSEGV);
    while (true) pause();
  }
  std::vector<double> output() override { return std::vector<double>(static_cast<std::size_t>(elems_), 0.0); }
  uint64_t scratch_bytes() const override { return 0; }
  void release() override { elems_ = 0; }

 private:
  bool crash_;
  int64_t elems_ = 0;
};

double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// A real backend, made slower by a fixed fraction of each call's own time.
class SlowedBackend : public Backend {
 public:
  SlowedBackend(std::unique_ptr<Backend> inner, double fraction) : inner_(std::move(inner)), fraction_(fraction) {}
  std::string name() const override { return inner_->name(); }
  std::string describe() const override { return inner_->describe() + " [slowed by SDPA_FAULT_SLOWDOWN]"; }
  std::map<std::string, std::string> context() const override { return inner_->context(); }
  std::string device_class() const override { return inner_->device_class(); }
  Support available() const override { return inner_->available(); }
  Support supports(const Problem& p) const override { return inner_->supports(p); }
  void prepare(const Problem& p, const Inputs& in) override {
    inner_->prepare(p, in);
    mark_ = -1;
  }
  // The spin adds FRACTION of the call's process CPU time (what `sdpa-bench ab` judges by
  // default), whatever share of the cores other jobs of the machine take meanwhile. The call's
  // cost is what the process used since the previous call's spin ended: the kernel adds another
  // thread's time to the process clock when that thread sleeps or at a tick, so right after
  // run() the OpenMP helpers' last stretch may be missing from c1 - c0 (measured: a 2-thread
  // blocked_cpu case slowed by 5% instead of 10% in one run, by 10% in another); summed from
  // call to call nothing is missed. It is capped at 4 x (c1 - c0) so that work between calls
  // (a check, a prepare's warm-up) is not taken for the call's. The spin itself is timed on this
  // thread's own clock, which the lag does not touch.
  void run() override {
    const double c0 = process_cpu_s();
    inner_->run();
    inner_->sync();
    const double c1 = process_cpu_s();
    double cost = c1 - c0;
    if (mark_ >= 0) cost = std::clamp(c1 - mark_, cost, 4 * cost);
    const double t0 = thread_cpu_s(), spin = fraction_ * cost;
    double t = t0;
    while (t - t0 < spin) t = thread_cpu_s();
    mark_ = process_cpu_s() - (t - t0);
  }
  std::optional<double> last_device_ms() const override { return inner_->last_device_ms(); }
  std::vector<double> output() override { return inner_->output(); }
  uint64_t scratch_bytes() const override { return inner_->scratch_bytes(); }
  void release() override { inner_->release(); }
  std::map<std::string, std::string> case_notes() const override { return inner_->case_notes(); }
  std::vector<Calibration> calibrate() override { return inner_->calibrate(); }
  void flush_device_caches() override { inner_->flush_device_caches(); }

 private:
  std::unique_ptr<Backend> inner_;
  double fraction_;
  double mark_ = -1;  // the process clock at the end of the previous call, less its spin
};

// Wraps the factory of the backend SDPA_FAULT_SLOWDOWN names. The registry is still being built
// (this runs inside build_registry() on its non-const local), so rewriting an entry is defined;
// the production binary never links this file.
void apply_slowdown(Registry& r) {
  const char* env = std::getenv("SDPA_FAULT_SLOWDOWN");
  if (!env || !*env) return;
  std::string list = env;
  for (std::size_t start = 0; start <= list.size();) {
    const std::size_t end = std::min(list.find(',', start), list.size());
    const std::string spec = list.substr(start, end - start);
    start = end + 1;
    const auto colon = spec.rfind(':');
    double fraction = -1;
    try {
      if (colon != std::string::npos) fraction = std::stod(spec.substr(colon + 1));
    } catch (const std::exception&) {
    }
    const BackendEntry* entry = colon == std::string::npos ? nullptr : r.find(spec.substr(0, colon));
    if (!entry || !(fraction >= 0 && fraction <= 100)) {
      throw std::invalid_argument("SDPA_FAULT_SLOWDOWN=" + list + ": expected BACKEND:FRACTION[,...] with built backends");
    }
    auto& mutable_entry = const_cast<BackendEntry&>(*entry);
    mutable_entry.make = [inner = entry->make, fraction](const BackendOptions& o) -> std::unique_ptr<Backend> {
      return std::make_unique<SlowedBackend>(inner(o), fraction);
    };
  }
}

// Registered before main() through the registry's hook for extra (test-only) backends.
const bool registered = [] {
  extra_backend_registrations().push_back([](Registry& r) {
    r.add("fault_crash", [](const BackendOptions&) { return std::make_unique<FaultBackend>(true); });
    r.add("fault_hang", [](const BackendOptions&) { return std::make_unique<FaultBackend>(false); });
    apply_slowdown(r);
  });
  return true;
}();

}  // namespace
}  // namespace sdpa
