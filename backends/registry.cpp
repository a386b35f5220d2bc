#include "backends/registry.h"

// One block per backend folder. SDPA_HAVE_<X> and SDPA_MISSING_<X> come from
// cmake/SdpaBackends.cmake: the first when the folder was built, the second with the reason
// when it was not.
#ifdef SDPA_HAVE_NAIVE
#include "backends/naive/register.h"
#endif
#ifdef SDPA_HAVE_BLOCKED_CPU
#include "backends/blocked_cpu/register.h"
#endif
#ifdef SDPA_HAVE_ONEDNN
#include "backends/onednn/register.h"
#endif
#ifdef SDPA_HAVE_CUDNN
#include "backends/cudnn/register.h"
#endif
#ifdef SDPA_HAVE_VULKAN
#include "backends/vulkan/register.h"
#endif

namespace sdpa {

namespace {

Registry build_registry() {
  Registry r;
#ifdef SDPA_HAVE_NAIVE
  register_naive(r);
#else
  r.add_missing("naive", SDPA_MISSING_NAIVE);
#endif
#ifdef SDPA_HAVE_BLOCKED_CPU
  register_blocked_cpu(r);
#else
  r.add_missing("blocked_cpu", SDPA_MISSING_BLOCKED_CPU);
#endif
#ifdef SDPA_HAVE_ONEDNN
  register_onednn(r);
#else
  r.add_missing("onednn", SDPA_MISSING_ONEDNN);
#endif
#ifdef SDPA_HAVE_CUDNN
  register_cudnn(r);
#else
  r.add_missing("cudnn", SDPA_MISSING_CUDNN);
#endif
#ifdef SDPA_HAVE_VULKAN
  register_vulkan(r);
#else
  r.add_missing("vulkan", SDPA_MISSING_VULKAN);
#endif
  return r;
}

}  // namespace

const BackendEntry* Registry::find(const std::string& name) const {
  for (const auto& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e.name);
  return out;
}

const Registry& registry() {
  static const Registry r = build_registry();
  return r;
}

}  // namespace sdpa
