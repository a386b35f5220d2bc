// Backends that misbehave on purpose, linked only into the test build of the CLI
// (sdpa-bench-faults), never into sdpa-bench: `fault_crash` dies with SIGSEGV in run(),
// `fault_hang` never returns from run(). They prove that --isolate turns a crash or a hang
// into one failed case and that the matrix goes on.
#include <signal.h>
#include <unistd.h>

#include <memory>

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

// Registered before main() through the registry's hook for extra (test-only) backends.
const bool registered = [] {
  extra_backend_registrations().push_back([](Registry& r) {
    r.add("fault_crash", [](const BackendOptions&) { return std::make_unique<FaultBackend>(true); });
    r.add("fault_hang", [](const BackendOptions&) { return std::make_unique<FaultBackend>(false); });
  });
  return true;
}();

}  // namespace
}  // namespace sdpa
