#pragma once
#include "backends/registry.h"

namespace sdpa {
void register_cudnn(Registry& registry);
}
