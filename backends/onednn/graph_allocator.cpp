#include "backends/onednn/graph_allocator.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>

#include <oneapi/dnnl/dnnl_config.h>
#if DNNL_CPU_RUNTIME == DNNL_RUNTIME_SYCL
#include <oneapi/dnnl/dnnl_graph_sycl.h>
#endif

#include "backends/onednn/runtime.h"

namespace sdpa::onednn {

namespace {

// 64 bytes: a cache line and an AVX-512 register, the most any oneDNN kernel asks for on CPU.
constexpr std::size_t kMinAlignment = 64;

struct Pool {
  std::mutex mutex;
  std::multimap<std::size_t, void*> cached;  // free blocks by requested size
  std::map<void*, std::size_t> held;         // blocks the library holds, with their size
  uint64_t held_bytes = 0;
  uint64_t peak_bytes = 0;

  void* allocate(std::size_t size, std::size_t alignment) {
    std::lock_guard<std::mutex> lock(mutex);
    void* p = nullptr;
    if (auto it = cached.find(size); it != cached.end()) {
      p = it->second;
      cached.erase(it);
    } else {
      const std::size_t align = std::max(alignment, kMinAlignment);
      const std::size_t rounded = (std::max<std::size_t>(size, 1) + align - 1) / align * align;
      p = std::aligned_alloc(align, rounded);
      if (!p) return nullptr;  // the library reports the failed allocation with its context
    }
    held[p] = size;
    held_bytes += size;
    peak_bytes = std::max(peak_bytes, held_bytes);
    return p;
  }

  // The library may hand a block back before the kernels that use it have finished (the SYCL
  // callback carries the event to wait for). Keeping it cached, never freeing it here, makes
  // that safe: it is reused only by a later execution on the same in-order stream.
  void release(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mutex);
    auto it = held.find(p);
    if (it == held.end()) return;
    held_bytes -= it->second;
    cached.emplace(it->second, p);
    held.erase(it);
  }

  uint64_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mutex);
    uint64_t total = 0;
    for (const auto& [size, p] : cached) total += size;
    return total;
  }

  void trim() {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& [size, p] : cached) std::free(p);
    cached.clear();
  }
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: engines may outlive static destruction order
  return *p;
}

#if DNNL_CPU_RUNTIME == DNNL_RUNTIME_SYCL
void* sycl_allocate(std::size_t size, std::size_t alignment, const void*, const void*) {
  return pool().allocate(size, alignment);
}
void sycl_release(void* p, const void*, const void*, void*) { pool().release(p); }
#else
void* host_allocate(std::size_t size, std::size_t alignment) {
  return pool().allocate(size, alignment);
}
void host_release(void* p) { pool().release(p); }
#endif

void check(dnnl_status_t status, const char* call) {
  if (status != dnnl_success) {
    throw std::runtime_error(std::string("oneDNN ") + call + " failed (status " +
                             std::to_string(static_cast<int>(status)) + ")");
  }
}

dnnl_graph_allocator_t make_allocator() {
  dnnl_graph_allocator_t allocator = nullptr;
#if DNNL_CPU_RUNTIME == DNNL_RUNTIME_SYCL
  // On a SYCL engine the Graph API calls the SYCL callbacks; a CPU device reads host memory, so
  // plain aligned host blocks serve.
  check(dnnl_graph_sycl_interop_allocator_create(&allocator, sycl_allocate, sycl_release),
        "dnnl_graph_sycl_interop_allocator_create");
#else
  check(dnnl_graph_allocator_create(&allocator, host_allocate, host_release),
        "dnnl_graph_allocator_create");
#endif
  return allocator;
}

}  // namespace

dnnl::engine GraphMemoryPool::make_engine() {
  if (Support s = cpu_engine_status(); !s) throw std::runtime_error(s.reason);
  // One allocator for the process, never destroyed: the API does not say whether an engine
  // keeps the allocator alive, so it must outlive every engine.
  static const dnnl_graph_allocator_t allocator = make_allocator();
  dnnl_engine_t engine = nullptr;
  check(dnnl_graph_make_engine_with_allocator(&engine, dnnl_cpu, 0, allocator),
        "dnnl_graph_make_engine_with_allocator(cpu, 0)");
  return dnnl::engine(engine);
}

uint64_t GraphMemoryPool::peak_bytes() {
  std::lock_guard<std::mutex> lock(pool().mutex);
  return pool().peak_bytes;
}

void GraphMemoryPool::reset_peak() {
  std::lock_guard<std::mutex> lock(pool().mutex);
  pool().peak_bytes = pool().held_bytes;
}

uint64_t GraphMemoryPool::held_bytes() {
  std::lock_guard<std::mutex> lock(pool().mutex);
  return pool().held_bytes;
}

uint64_t GraphMemoryPool::cached_bytes() { return pool().cached_bytes(); }

void GraphMemoryPool::trim() { pool().trim(); }

}  // namespace sdpa::onednn
