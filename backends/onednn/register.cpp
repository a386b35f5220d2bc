#include "backends/onednn/register.h"

#include "backends/onednn/prims_backend.h"
#if SDPA_ONEDNN_GRAPH
#include "backends/onednn/graph_backend.h"
#endif

namespace sdpa {

void register_onednn(Registry& registry) {
#if SDPA_ONEDNN_GRAPH
  registry.add("onednn", [](const BackendOptions& options) {
    return std::make_unique<onednn::GraphBackend>(options);
  });
#else
  registry.add_missing("onednn", "oneDNN " SDPA_ONEDNN_VERSION_TEXT
                                 " has no Graph API SDPA with implicit causal masks (needs >= 3.7)");
#endif
  auto prims = [](const BackendOptions& options) { return std::make_unique<onednn::PrimsBackend>(options); };
#if SDPA_ONEDNN_GRAPH
  // The same library integrated the unfused way: tested everywhere and measured when named, but a
  // default run measures one backend per library and device.
  registry.add_variant("onednn_prims", "onednn", prims);
#else
  registry.add("onednn_prims", prims);
#endif
}

}  // namespace sdpa
