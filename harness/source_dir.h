// The source tree this binary was built from (suites, scripts/report). One function in its own
// translation unit, so that the path's length shapes no other code: two checkouts of the same
// commit then build the same machine code (scripts/gate-ab times one against the other).
#pragma once

namespace sdpa {

const char* source_dir();

}  // namespace sdpa
