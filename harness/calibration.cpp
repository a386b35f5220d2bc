#include "harness/calibration.h"

#include <algorithm>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <stdexcept>

#include "core/best_of.h"

namespace sdpa {

using nlohmann::json;

const Calibration* Peaks::best(const std::string& device_class, DType dtype) const {
  const Calibration* out = nullptr;
  for (const Calibration& c : all) {
    if (c.device_class == device_class && c.dtype == dtype && (!out || c.tflops > out->tflops)) out = &c;
  }
  return out;
}

const Calibration* Peaks::normaliser(const std::string& device_class) const {
  const Calibration* out = nullptr;
  for (const Calibration& c : all) {
    if (c.device_class == device_class && c.from_library && c.dtype == DType::f32 && (!out || c.tflops > out->tflops)) {
      out = &c;
    }
  }
  if (out) return out;
  // A GPU has no f32 library GEMM here (cuBLAS calibrates in f16): its best library GEMM.
  for (const Calibration& c : all) {
    if (c.device_class == device_class && c.from_library && (!out || c.tflops > out->tflops)) out = &c;
  }
  return out;
}

double host_triad_gbs(int runs) {
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  const auto llc = static_cast<std::size_t>(std::max({l3, l2, 0L}));
  const std::size_t n = std::max<std::size_t>(2 * llc, std::size_t{64} << 20) / sizeof(double);
  std::vector<double> a(n), b(n), c(n);
  const auto count = static_cast<int64_t>(n);
  // First touch by the same threads that run the triad, so pages sit where they are used.
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) {
    a[i] = 0.0;
    b[i] = 1.0;
    c[i] = 2.0;
  }
  const double s = 3.0;
  const double best = best_of_seconds(runs, [&] {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) a[i] = b[i] + s * c[i];
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  });
  if (a[count / 2] != 7.0) throw std::logic_error("STREAM triad computed a wrong value");
  return 3.0 * static_cast<double>(n) * sizeof(double) / best / 1e9;
}

void Peaks::add_to_context(json& context, const std::string& prefix) const {
  // "bandwidth_cpu_gbs" for the run's figures; "calibration_end_bandwidth_cpu_gbs" for a re-check.
  const std::string bandwidth = prefix == "calibration" ? "bandwidth_" : prefix + "_bandwidth_";
  for (const auto& [dev, gbs] : bandwidth_gbs) context[bandwidth + dev + "_gbs"] = gbs;
  json list = json::array();
  std::vector<std::string> devices;
  for (const Calibration& c : all) {
    list.push_back({{"device_class", c.device_class},
                    {"dtype", std::string(to_string(c.dtype))},
                    {"gemm", c.what},
                    {"tflops", c.tflops},
                    {"from_library", c.from_library}});
    if (std::find(devices.begin(), devices.end(), c.device_class) == devices.end()) devices.push_back(c.device_class);
  }
  context[prefix + "s"] = list;
  for (const std::string& dev : devices) {
    for (DType t : {DType::f32, DType::f16, DType::bf16}) {
      if (const Calibration* c = best(dev, t)) {
        context[prefix + "_" + dev + "_" + std::string(to_string(t)) + "_tflops"] = c->tflops;
      }
    }
    if (const Calibration* c = best(dev, DType::f32)) {
      context[prefix + "_" + dev + "_tflops"] = c->tflops;
      context[prefix + "_" + dev + "_gemm"] = c->what;
    }
    if (const Calibration* c = normaliser(dev)) {
      context[prefix + "_" + dev + "_normaliser_tflops"] = c->tflops;
      context[prefix + "_" + dev + "_normaliser_gemm"] = c->what;
    }
  }
}

Peaks calibrate(SelectedBackends& selected, std::ostream& log) {
  Peaks peaks;
  for (auto& b : selected.backends) {
    if (!b->available()) continue;
    if (b->device_class() == "cpu" && !peaks.bandwidth_gbs.count("cpu")) {
      peaks.bandwidth_gbs["cpu"] = host_triad_gbs();
      log << "  cpu memory bandwidth (STREAM triad): " << peaks.bandwidth_gbs["cpu"] << " GB/s\n";
    }
    log << "calibrating " << b->name() << " ...\n";
    for (Calibration& c : b->calibrate()) {
      log << "  " << c.device_class << " " << to_string(c.dtype) << ": " << c.what << " = " << c.tflops
          << " TFLOP/s\n";
      // Two backends of one library measure the same GEMM: keep its best reading once.
      auto same = std::find_if(peaks.all.begin(), peaks.all.end(), [&](const Calibration& o) {
        return o.device_class == c.device_class && o.dtype == c.dtype && o.what == c.what;
      });
      if (same == peaks.all.end()) {
        peaks.all.push_back(std::move(c));
      } else {
        same->tflops = std::max(same->tflops, c.tflops);
      }
    }
  }
  return peaks;
}

}  // namespace sdpa
