#include "harness/source_dir.h"

namespace sdpa {

const char* source_dir() { return SDPA_SOURCE_DIR; }

}  // namespace sdpa
