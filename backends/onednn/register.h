#pragma once
#include "backends/registry.h"

namespace sdpa {
// Registers `onednn` (Graph API partition) and `onednn_prims` (matmul + softmax + matmul).
void register_onednn(Registry& registry);
}
