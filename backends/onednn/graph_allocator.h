// The memory the Graph API asks for while it runs a partition (intermediate tensors and
// primitive scratchpads) goes through this allocator, so scratch_bytes() is the library's own
// demand, measured, not an estimate. Freed blocks are kept for the next run of the same size, as
// a framework's caching allocator would, so the timed runs do not pay for page faults.
#pragma once

#include <cstddef>
#include <cstdint>

#include <oneapi/dnnl/dnnl_graph.hpp>

namespace sdpa::onednn {

// The engine's allocator callbacks are plain function pointers, so the pool is process-wide.
class GraphMemoryPool {
 public:
  // An engine whose Graph API allocations go through the pool (SYCL or host callbacks,
  // whichever the library's runtime takes).
  static dnnl::engine make_engine();

  // Peak of the bytes the library held at once since the last reset_peak().
  static uint64_t peak_bytes();
  static void reset_peak();
  // Bytes of the blocks the library holds now (0 between runs, when a partition has handed back
  // its intermediates).
  static uint64_t held_bytes();
  // Bytes of blocks cached for reuse (freed by trim()).
  static uint64_t cached_bytes();
  // Frees the cached blocks. Only call when no execution is in flight (after stream.wait()).
  static void trim();
};

}  // namespace sdpa::onednn
