#pragma once
#include "backends/registry.h"

namespace sdpa {
void register_naive(Registry& registry);
}
