#include "harness/calibration.h"

#include <algorithm>
#include <cmath>

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

void Peaks::add_to_context(json& context, const std::string& prefix) const {
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

double calibration_drift(const Peaks& first, const Peaks& second) {
  double drift = 0;
  for (const Calibration& a : first.all) {
    for (const Calibration& b : second.all) {
      if (a.device_class == b.device_class && a.dtype == b.dtype && a.what == b.what && a.tflops > 0) {
        drift = std::max(drift, std::abs(b.tflops - a.tflops) / a.tflops);
      }
    }
  }
  return drift;
}

}  // namespace sdpa
