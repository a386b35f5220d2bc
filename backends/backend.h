// The one interface every attention implementation answers to. The harness drives it; a
// backend never sees another backend, the reference or the measuring loop.
//
// Life of a case:   supports(p) -> prepare(p, inputs) -> { run(); sync(); }* -> output() -> release()
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/problem.h"
#include "core/tensor.h"

namespace sdpa {

// Answer of a capability query: ok, or the reason it is not (reported as `skip: reason`).
struct Support {
  bool ok = true;
  std::string reason;

  static Support yes() { return {}; }
  static Support no(std::string why) { return {false, std::move(why)}; }
  explicit operator bool() const { return ok; }
};

// Thrown from prepare() or run() when the library refuses the problem only once asked to build
// it (a plan that no engine supports, a graph split the backend cannot run). The harness reports
// it as `skip: <reason>`; every other exception is a runtime failure of the backend (`error`).
class Unsupported : public std::runtime_error {
 public:
  explicit Unsupported(const std::string& reason) : std::runtime_error(reason) {}
};

// A GEMM that measures the practical peak of a backend's device, run in the same process as
// the attention cases so the ratio attention/GEMM is taken under the same conditions.
struct Calibration {
  std::string device_class;  // what the figure is the peak of: "cpu", "cuda:0", ...
  std::string what;          // e.g. "oneDNN sgemm f32 2048^3, 2 threads"
  double tflops = 0;
  DType dtype = DType::f32;  // the GEMM's input type: a case is held to the peak of its own dtype
  // A library's GEMM (oneDNN, cuBLAS), which nothing in this project can slow down: only such a
  // figure may normalise timings across runs (a kernel's own sgemm would slow with it and hide
  // a regression).
  bool from_library = false;
};

// Settings that come from the command line and mean something to some backends only.
struct BackendOptions {
  int threads = 0;            // 0: all cores (OpenMP's default)
  std::string vulkan_device;  // index or name substring; empty: first discrete GPU, else lavapipe
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  // One line: device, library versions, ISA / driver, the code path taken.
  virtual std::string describe() const = 0;
  // Key/values for the results file's context (versions, device properties).
  virtual std::map<std::string, std::string> context() const { return {}; }
  // Which device the timings belong to: "cpu" for host backends, "cuda:0", "vulkan:<name>".
  virtual std::string device_class() const { return "cpu"; }

  // Whether the backend has a device to run on at all (a GPU backend on a machine without
  // one says so here; its cases are then skipped with this reason).
  virtual Support available() const { return Support::yes(); }
  // Whether this problem can run. Never fakes: an unsupported case is a skip with a reason.
  virtual Support supports(const Problem& problem) const = 0;

  // Allocate, upload, build plans / pipelines. Not timed.
  virtual void prepare(const Problem& problem, const Inputs& inputs) = 0;
  // The timed part: computes O from the prepared inputs. May return before a device finishes.
  virtual void run() = 0;
  // Waits for the work of run() to finish (a no-op for host backends).
  virtual void sync() {}
  // Device time of the last run() in ms, where the device has its own clock (CUDA events,
  // Vulkan timestamp queries); host backends have none and are timed on the wall clock.
  virtual std::optional<double> last_device_ms() const { return std::nullopt; }

  // The output of the last run() as fp64, B,H,S,Dv contiguous, values as stored in dtype.
  virtual std::vector<double> output() = 0;
  // Memory used beyond inputs and outputs, measured (workspaces, intermediates, scratchpads).
  virtual uint64_t scratch_bytes() const = 0;
  // Frees what prepare() allocated for the case (score matrices, device buffers, plans) once the
  // harness has read output, scratch and notes, so the next backend's supports() sees the memory
  // free. Every backend implements it.
  virtual void release() = 0;
  // Extra figures worth recording for this case (e.g. "fused": 1, "path": "coopmat").
  virtual std::map<std::string, std::string> case_notes() const { return {}; }

  // The best GEMMs this backend's library offers for its device, one per dtype it measures
  // (none: no calibration).
  virtual std::vector<Calibration> calibrate() { return {}; }
  // Called before every sample of a cold measurement (--cold), after the harness has flushed the
  // host caches: a device backend evicts its own caches here (e.g. writes a buffer larger than
  // the GPU's L2).
  virtual void flush_device_caches() {}
};

}  // namespace sdpa
