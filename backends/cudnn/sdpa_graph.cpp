#include "backends/cudnn/sdpa_graph.h"

#include <cudnn_frontend.h>

#include <array>
#include <vector>

#include "backends/cudnn/cuda_device.h"
#include "backends/cudnn/sdpa_layout.h"

namespace sdpa::cudnn {

namespace fe = cudnn_frontend;

namespace {

// Our own tensor ids, so the variant pack is built without looking tensors up by name.
enum Uid : int64_t { kQ = 1, kK, kV, kO, kSeqLenQ, kSeqLenKv };

// Where cuDNN says "not this graph" rather than "you made a mistake". Heuristics finding no
// engine and a failed support check both mean the device has no kernel for the problem;
// operation-graph and plan building fail with the backend's CUDNN_STATUS_NOT_SUPPORTED*
// codes for the same reason.
bool means_unsupported(fe::error_t& status) {
  const fe::error_code_t code = status.get_code();
  return code == fe::error_code_t::GRAPH_NOT_SUPPORTED || code == fe::error_code_t::HEURISTIC_QUERY_FAILED ||
         status.get_message().find("NOT_SUPPORTED") != std::string::npos;
}

enum class OnFailure { error, classify, skip };

// A frontend status becomes a skip (the device cannot) or an error (the build went wrong),
// with the stage and cuDNN's own message. Only build stages may classify a failure as a skip:
// a failed execute is always an error.
void check(fe::error_t status, const char* stage, OnFailure on_failure) {
  if (status.is_good()) return;
  std::string message = std::string("cuDNN ") + stage + ": " + status.get_message();
  if (on_failure == OnFailure::skip || (on_failure == OnFailure::classify && means_unsupported(status))) {
    throw UnsupportedProblem(message);
  }
  throw std::runtime_error("cudnn backend: " + message);
}

fe::DataType_t io_type(DType dtype) {
  switch (dtype) {
    case DType::f16: return fe::DataType_t::HALF;
    case DType::bf16: return fe::DataType_t::BFLOAT16;
    case DType::f32: break;
  }
  throw UnsupportedProblem("f32: cuDNN's fused SDPA has no f32 path (f16 and bf16 only)");
}

// B,H,S,D contiguous with `rows_allocated` rows per head: a view of fewer rows keeps the
// full tensor's strides.
std::vector<int64_t> bhsd_strides(int64_t heads, int64_t rows_allocated, int64_t dim) {
  return {heads * rows_allocated * dim, rows_allocated * dim, dim, 1};
}

}  // namespace

std::string to_string(SdpaImplementation implementation) {
  return implementation == SdpaImplementation::unified ? "unified" : "composite";
}

struct SdpaPlan::Impl {
  std::shared_ptr<fe::graph::Graph> graph = std::make_shared<fe::graph::Graph>();
  int64_t workspace_bytes = 0;
  std::string engine;
  SdpaImplementation implementation = SdpaImplementation::unified;
  std::string refusals;
};

SdpaPlan::SdpaPlan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SdpaPlan::~SdpaPlan() = default;

std::unique_ptr<SdpaPlan> SdpaPlan::build(const Problem& p, cudnnHandle_t handle) {
  std::string refusals;
  for (SdpaImplementation implementation : {SdpaImplementation::unified, SdpaImplementation::composite}) {
    try {
      auto impl = build_graph(p, handle, implementation);
      impl->refusals = refusals;
      return std::unique_ptr<SdpaPlan>(new SdpaPlan(std::move(impl)));
    } catch (const UnsupportedProblem& e) {
      refusals += (refusals.empty() ? "" : "; ") + to_string(implementation) + " node: " + e.what();
    } catch (const std::runtime_error& e) {
      // The unified node's support surface reports some refusals with other codes than
      // GRAPH_NOT_SUPPORTED: it gets the same second chance; the composite node's errors stand.
      if (implementation == SdpaImplementation::composite) throw;
      refusals += (refusals.empty() ? "" : "; ") + to_string(implementation) + " node failed: " + e.what();
    }
  }
  throw UnsupportedProblem("cuDNN " + cudnn_version_string(cudnnGetVersion()) +
                           " declines this graph (unified and composite SDPA nodes, heuristics A and FALLBACK): " +
                           refusals);
}

std::unique_ptr<SdpaPlan::Impl> SdpaPlan::build_graph(const Problem& p, cudnnHandle_t handle,
                                                      SdpaImplementation implementation) {
  const SdpaLayout layout = sdpa_layout(p);
  const fe::DataType_t io = io_type(p.dtype);
  auto impl = std::make_unique<Impl>();
  fe::graph::Graph& graph = *impl->graph;
  // f32 intermediates and accumulation: the precision contract of the fused kernels.
  graph.set_name("sdpa_bench")
      .set_io_data_type(io)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);

  auto tensor = [&](const char* name, Uid uid, std::vector<int64_t> dim, std::vector<int64_t> stride) {
    return graph.tensor(fe::graph::Tensor_attributes()
                            .set_name(name)
                            .set_uid(uid)
                            .set_dim(std::move(dim))
                            .set_stride(std::move(stride))
                            .set_data_type(io));
  };
  auto q = tensor("Q", kQ, {p.b, p.hq, layout.q_rows, p.d}, bhsd_strides(p.hq, p.sq, p.d));
  auto k = tensor("K", kK, {p.b, p.hkv, p.skv, p.d}, bhsd_strides(p.hkv, p.skv, p.d));
  auto v = tensor("V", kV, {p.b, p.hkv, p.skv, p.dv}, bhsd_strides(p.hkv, p.skv, p.dv));

  auto options = fe::graph::SDPA_attributes()
                     .set_name("sdpa")
                     .set_generate_stats(false)  // inference: no softmax statistics for a backward pass
                     .set_attn_scale(static_cast<float>(p.scale()))
                     .set_implementation(implementation == SdpaImplementation::unified
                                             ? fe::AttentionImplementation_t::UNIFIED
                                             : fe::AttentionImplementation_t::COMPOSITE);
  switch (p.mask) {
    case MaskKind::none: break;
    case MaskKind::causal:
      // Key j is visible to query i when j <= i + 0: the diagonal starts at the top left.
      options.set_diagonal_alignment(fe::DiagonalAlignment_t::TOP_LEFT).set_diagonal_band_right_bound(0);
      break;
    case MaskKind::causal_br:
      // j <= i + (s_kv − s_q): the diagonal ends at the bottom right (FlashAttention's convention).
      options.set_diagonal_alignment(fe::DiagonalAlignment_t::BOTTOM_RIGHT).set_diagonal_band_right_bound(0);
      break;
    case MaskKind::kvlen: {
      auto lengths = [&](const char* name, Uid uid) {
        return graph.tensor(fe::graph::Tensor_attributes()
                                .set_name(name)
                                .set_uid(uid)
                                .set_dim({p.b, 1, 1, 1})
                                .set_stride({1, 1, 1, 1})
                                .set_data_type(fe::DataType_t::INT32));
      };
      options.set_padding_mask(true)
          .set_seq_len_q(lengths("seq_len_q", kSeqLenQ))
          .set_seq_len_kv(lengths("seq_len_kv", kSeqLenKv));
      break;
    }
  }

  std::array<std::shared_ptr<fe::graph::Tensor_attributes>, 2> outputs;
  try {
    outputs = graph.sdpa(q, k, v, options);
  } catch (const std::exception& e) {
    // The frontend throws when no SDPA implementation accepts the attributes at all.
    throw UnsupportedProblem(std::string("cuDNN sdpa node: ") + e.what());
  }
  outputs[0]
      ->set_output(true)
      .set_uid(kO)
      .set_dim({p.b, p.hq, layout.q_rows, p.dv})
      .set_stride(bhsd_strides(p.hq, p.sq, p.dv))
      .set_data_type(io);

  check(graph.validate(), "graph validation", OnFailure::classify);
  check(graph.build_operation_graph(handle), "operation graph", OnFailure::classify);
  // A first, then FALLBACK's engines: the support check and the plan build take the first of
  // the list that this device runs.
  check(graph.create_execution_plans({fe::HeurMode_t::A, fe::HeurMode_t::FALLBACK}), "heuristics",
        OnFailure::classify);
  check(graph.check_support(), "support check", OnFailure::skip);
  check(graph.build_plans(fe::BuildPlanPolicy_t::HEURISTICS_CHOICE), "plan build", OnFailure::classify);
  check(graph.get_workspace_size(impl->workspace_bytes), "workspace size", OnFailure::error);
  check(graph.get_plan_name(impl->engine), "plan name", OnFailure::error);
  impl->implementation = implementation;
  return impl;
}

int64_t SdpaPlan::workspace_bytes() const { return impl_->workspace_bytes; }

const std::string& SdpaPlan::engine() const { return impl_->engine; }

SdpaImplementation SdpaPlan::implementation() const { return impl_->implementation; }

const std::string& SdpaPlan::refusals() const { return impl_->refusals; }

std::unordered_map<int64_t, void*> SdpaPlan::bind(const Problem& p, const SdpaBuffers& buffers) const {
  const SdpaLayout layout = sdpa_layout(p);
  // Q and O views start after the dead rows; d and dv are multiples of 8, so the offset keeps
  // the 16-byte alignment the kernels load with.
  auto* q = static_cast<char*>(buffers.q) + layout.dead_rows * p.d * static_cast<int64_t>(storage_bytes(p.dtype));
  auto* o = static_cast<char*>(buffers.o) + layout.dead_rows * p.dv * static_cast<int64_t>(storage_bytes(p.dtype));
  std::unordered_map<int64_t, void*> bindings{{kQ, q}, {kK, buffers.k}, {kV, buffers.v}, {kO, o}};
  if (layout.padding) {
    bindings[kSeqLenQ] = buffers.seq_len_q;
    bindings[kSeqLenKv] = buffers.seq_len_kv;
  }
  return bindings;
}

void SdpaPlan::execute(cudnnHandle_t handle, std::unordered_map<int64_t, void*>& bindings, void* workspace) const {
  check(impl_->graph->execute(handle, bindings, workspace), "execute", OnFailure::error);
}

std::string cudnn_frontend_version() {
  return std::to_string(CUDNN_FRONTEND_MAJOR_VERSION) + "." + std::to_string(CUDNN_FRONTEND_MINOR_VERSION) + "." +
         std::to_string(CUDNN_FRONTEND_PATCH_VERSION);
}

}  // namespace sdpa::cudnn
