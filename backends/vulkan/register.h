#pragma once
#include "backends/registry.h"

namespace sdpa {
// Registers vulkan (cooperative matrices where the device has them, else scalar),
// vulkan_scalar and vulkan_coopmat.
void register_vulkan(Registry& registry);
}
