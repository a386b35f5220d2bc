#include "backends/onednn/graph_backend.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "backends/onednn/graph_allocator.h"
#include "backends/onednn/graph_pattern.h"

namespace sdpa::onednn {

namespace {

// Bytes the decomposed partition holds per score element (b·h·sq·skv of them), measured with
// GraphMemoryPool on oneDNN 3.11: 4.0 for f32 without a causal mask (scores, softmax in place),
// 6.1 for bf16 (plus bf16 probabilities), 13.0 with the implicit causal mask (its s32 row and
// column indices and boolean keep mask are n² tensors too). Rounded up: the check only has to
// stop a case that cannot fit.
double decomposed_bytes_per_score(const Problem& p) {
  if (p.mask == MaskKind::causal || p.mask == MaskKind::causal_br) return 14.0;
  return p.dtype == DType::f32 ? 4.5 : 6.5;
}

}  // namespace

GraphBackend::GraphBackend(const BackendOptions& options)
    : OnednnBackendBase(options, "Graph API SDPA partition",
                        "Graph API: MatMul, Multiply, GenIndex/GreaterEqual/Select or Add mask, "
                        "SoftMax(inf_as_zero), MatMul; f32 scores") {}

GraphBackend::~GraphBackend() { release(); }

dnnl::engine GraphBackend::create_engine() const { return GraphMemoryPool::make_engine(); }

void GraphBackend::release() {
  wait_idle();
  inputs_.clear();
  outputs_.clear();
  compiled_.reset();
  // The partition hands its intermediates back to the pool after every run; with no partition
  // left, the cached blocks are the case's n² scores, freed here rather than kept for a case
  // that may never come.
  GraphMemoryPool::trim();
  free_storage(mask_);
  out_ = {};
  partitions_ = 0;
  kernels_ = {};
}

Support GraphBackend::supports(const Problem& p) const {
  // oneDNN's CPU SDPA is fused (sdp_decomp_kernel) only for the OpenMP and threadpool runtimes;
  // with the SYCL runtime of the PyPI wheels it always decomposes into primitives that hold
  // every score, so a case must fit its n² intermediates like the unfused variant.
  const double scores = static_cast<double>(p.b * p.hq) * static_cast<double>(p.sq) *
                        static_cast<double>(p.skv);
  const double kvlen_mask =
      p.mask == MaskKind::kvlen ? 4.0 * static_cast<double>(p.b * p.skv) : 0.0;
  const double output = static_cast<double>(p.o_elems() * storage_bytes(p.dtype));
  return admit(p, scores * decomposed_bytes_per_score(p) + kvlen_mask + output,
               "the n² intermediates of oneDNN's decomposed SDPA partition");
}

void GraphBackend::prepare(const Problem& p, const Inputs& in) {
  release();
  problem_ = p;
  SdpaGraph g = [&] {
    try {
      return build_sdpa_graph(p);
    } catch (const dnnl::error& e) {
      rethrow(e, "graph construction for " + p.to_string());
    }
  }();

  std::vector<dnnl::graph::partition> partitions;
  try {
    partitions = g.graph.get_partitions();
  } catch (const dnnl::error& e) {
    rethrow(e, "graph::get_partitions");
  }
  partitions_ = partitions.size();
  if (partitions.size() != 1 || !partitions[0].is_supported()) {
    throw Unsupported("oneDNN " + library_version() + " split the SDPA graph "
                             "into " + std::to_string(partitions.size()) +
                             " partitions instead of matching its SDPA pattern");
  }

  kernels_ = log_kernels([&] {
    try {
      compiled_ = partitions[0].compile(g.inputs, {g.output}, engine());
    } catch (const dnnl::error& e) {
      rethrow(e, "partition::compile");
    }
  });

  scale_ = static_cast<float>(p.scale());
  neg_inf_ = -std::numeric_limits<float>::infinity();
  kv_len_ = static_cast<int32_t>(p.skv);
  q_len_ = static_cast<int32_t>(p.sq);
  if (p.mask == MaskKind::kvlen) {
    mask_.assign(static_cast<std::size_t>(p.b * p.skv), 0.0f);
    for (int64_t bi = 0; bi < p.b; ++bi) {
      for (int64_t j = p.visible_keys(bi, 0); j < p.skv; ++j) mask_[bi * p.skv + j] = neg_inf_;
    }
  }
  out_.resize(p.dtype, p.o_elems());

  // Q, K, V are bound in place: the graph only reads its inputs.
  auto bind = [&](const Tensor& t) { return const_cast<void*>(t.storage()); };
  for (std::size_t i = 0; i < g.inputs.size(); ++i) {
    void* data = nullptr;
    switch (g.roles[i]) {
      case GraphInput::query: data = bind(in.q); break;
      case GraphInput::key: data = bind(in.k); break;
      case GraphInput::value: data = bind(in.v); break;
      case GraphInput::scale: data = &scale_; break;
      case GraphInput::neg_inf: data = &neg_inf_; break;
      case GraphInput::kv_len: data = &kv_len_; break;
      case GraphInput::q_len: data = &q_len_; break;
      case GraphInput::mask: data = mask_.data(); break;
    }
    inputs_.emplace_back(g.inputs[i], engine(), data);
  }
  outputs_.emplace_back(g.output, engine(), out_.data());
  GraphMemoryPool::reset_peak();
}

void GraphBackend::run() {
  try {
    compiled_->execute(stream(), inputs_, outputs_);
  } catch (const dnnl::error& e) {
    rethrow(e, "compiled_partition::execute");
  }
}

uint64_t GraphBackend::scratch_bytes() const {
  // The partition's own allocations plus the kvlen mask this backend builds for it.
  return GraphMemoryPool::peak_bytes() + mask_.size() * sizeof(float);
}

std::map<std::string, std::string> GraphBackend::case_notes() const {
  std::map<std::string, std::string> notes;
  notes["partitions"] = std::to_string(partitions_);
  if (kernels_.captured && !kernels_.graph.empty()) {
    std::string kernel = kernels_.graph.front();
    // The compile log names the class ("larger_partition_kernel_t"), the execute log the kernel.
    if (kernel.size() > 2 && kernel.ends_with("_t")) kernel.resize(kernel.size() - 2);
    notes["kernel"] = kernel;
    // larger_partition_kernel runs the partition's ops as separate primitives; every other
    // dnnl-backend SDPA kernel (sdp_decomp, sdp_primitive) computes it in one pass.
    const bool fused = kernel != "larger_partition_kernel";
    notes.emplace("fused", fused ? std::string("1") : std::string("0"));
    if (!kernels_.primitives.empty()) notes["primitives"] = join(kernels_.primitives);
  }
  return notes;
}

}  // namespace sdpa::onednn
