// oneDNN's yardstick (backend.h): an f32 matmul sized so that one run takes about a millisecond
// on this machine, long enough that timer and thread wake-up jitter stay small, short enough
// to follow the machine's speed from one sample to the next without doubling a run's time.
#pragma once

#include <optional>

#include <oneapi/dnnl/dnnl.hpp>

#include "backends/backend.h"

namespace sdpa::onednn {

// Built on `engine` (a CPU engine); std::nullopt where oneDNN cannot build the matmul.
std::optional<Yardstick> make_matmul_yardstick(const dnnl::engine& engine);

}  // namespace sdpa::onednn
