// The calibration GEMMs of a run: every backend's peaks per device and dtype, measured in this
// process, and the one each case is held to.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/selection.h"

namespace sdpa {

struct Peaks {
  std::vector<Calibration> all;
  // Memory bandwidth per device class in GB/s (the host: a STREAM triad), the roofline's slope.
  std::map<std::string, double> bandwidth_gbs;

  // The best GEMM of this device and dtype (nullptr: none measured; a bf16 case is never held
  // to the f32 peak, which would read as 160% "of GEMM" on an AMX machine).
  const Calibration* best(const std::string& device_class, DType dtype) const;
  // The figure the regression gate normalises by: the best library GEMM of the device in f32
  // (nullptr when no library GEMM was measured).
  const Calibration* normaliser(const std::string& device_class) const;
  // Context keys: calibration_<device>_tflops (f32, as in version 1), calibration_<device>_gemm,
  // calibration_<device>_<dtype>_tflops, and the list under "calibrations".
  void add_to_context(nlohmann::json& context, const std::string& prefix = "calibration") const;
};

// Runs every available backend's calibrate() and, when a backend runs on the host, the host's
// STREAM triad (progress on `log`).
Peaks calibrate(SelectedBackends& selected, std::ostream& log);

// The host's memory bandwidth: STREAM's triad a = b + s·c over arrays of doubles each twice the
// last-level cache (at least 64 MiB), all OpenMP threads, the best of `runs`; bytes counted as
// STREAM counts them (3 arrays per pass, no write-allocate traffic).
double host_triad_gbs(int runs = 5);


}  // namespace sdpa
