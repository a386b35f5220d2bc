#include "backends/onednn/prims_backend.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace sdpa::onednn {

namespace {

using dnnl::memory;
using dt = memory::data_type;

memory::desc dense_md(const Dims& dims, dt type) {
  return memory::desc(dims, type, dense_strides(dims));
}

// Kᵀ without a copy: K is stored (…, skv, d); the matmul reads it as (…, d, skv) through
// swapped strides.
memory::desc transposed_md(const Dims& dims, dt type) {
  Dims t = dims;
  Dims strides = dense_strides(dims);
  const std::size_t n = dims.size();
  std::swap(t[n - 1], t[n - 2]);
  std::swap(strides[n - 1], strides[n - 2]);
  return memory::desc(t, type, strides);
}

bool is_masked(const Problem& p) { return p.mask != MaskKind::none; }

}  // namespace

PrimsBackend::PrimsBackend(const BackendOptions& options)
    : OnednnBackendBase(options, "primitives matmul + softmax + matmul",
                        "primitives: matmul (src scale attribute, binary_add mask post-op), "
                        "softmax_accurate, matmul; f32 scores materialised") {}

PrimsBackend::~PrimsBackend() { release(); }

Support PrimsBackend::supports(const Problem& p) const {
  // What prepare() allocates (the scratchpad, tens of KiB, aside): f32 scores, 16-bit
  // probabilities for f16 / bf16, the additive mask (one (group·sq) x skv plane for the causal
  // masks, one row per batch item for kvlen) and the output.
  const double scores = static_cast<double>(p.b * p.hq) * static_cast<double>(p.sq) *
                        static_cast<double>(p.skv);
  const double probs_bytes = p.dtype == DType::f32 ? 0.0 : 2.0;
  double mask = 0.0;
  if (p.mask == MaskKind::causal || p.mask == MaskKind::causal_br) {
    mask = 4.0 * static_cast<double>(p.group() * p.sq * p.skv);
  } else if (p.mask == MaskKind::kvlen) {
    mask = 4.0 * static_cast<double>(p.b * p.skv);
  }
  const double output = static_cast<double>(p.o_elems() * storage_bytes(p.dtype));
  return admit(p, scores * (4.0 + probs_bytes) + mask + output,
               "the materialised scores, probabilities and mask");
}

void PrimsBackend::create_primitives(const Problem& p, const Inputs& in) {
  const SdpaDims dims = folded_gqa_dims(p);
  const dt io = memory_type(p.dtype);
  const dnnl::engine& eng = engine();

  const memory::desc q_md = dense_md(dims.q, io);
  const memory::desc kt_md = transposed_md(dims.k, io);
  const memory::desc v_md = dense_md(dims.v, io);
  const memory::desc o_md = dense_md(dims.o, io);
  const memory::desc scores_md = dense_md(dims.scores, dt::f32);
  // f32 runs the softmax in place; f16/bf16 round the probabilities for the second matmul.
  const memory::desc probs_md = p.dtype == DType::f32 ? scores_md : dense_md(dims.scores, io);
  const memory::desc scale_md({1}, dt::f32, memory::format_tag::a);

  memory::desc mask_md;
  if (p.mask == MaskKind::kvlen) mask_md = dense_md(dims.kvlen_mask, dt::f32);
  if (p.mask == MaskKind::causal || p.mask == MaskKind::causal_br) {
    mask_md = dense_md(dims.causal_mask, dt::f32);
  }

  dnnl::primitive_attr qk_attr;
  qk_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  qk_attr.set_scales_mask(DNNL_ARG_SRC, 0);  // one scale for the whole tensor
  if (is_masked(p)) {
    dnnl::post_ops ops;
    ops.append_binary(dnnl::algorithm::binary_add, mask_md);
    qk_attr.set_post_ops(ops);
  }
  dnnl::primitive_attr plain_attr;
  plain_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);

  const int axis = static_cast<int>(dims.scores.size()) - 1;
  dnnl::matmul::primitive_desc qk_pd(eng, q_md, kt_md, scores_md, qk_attr);
  dnnl::softmax_forward::primitive_desc softmax_pd(eng, dnnl::prop_kind::forward_inference,
                                                    dnnl::algorithm::softmax_accurate, scores_md,
                                                    probs_md, axis, plain_attr);
  dnnl::matmul::primitive_desc pv_pd(eng, probs_md, v_md, o_md, plain_attr);

  // One scratchpad serves all three: they run one after the other on one stream.
  const std::size_t scratchpad_size = std::max({qk_pd.scratchpad_desc().get_size(),
                                                softmax_pd.scratchpad_desc().get_size(),
                                                pv_pd.scratchpad_desc().get_size()});
  scratchpad_.assign(scratchpad_size, 0);
  scores_.assign(scores_md.get_size() / sizeof(float), 0.0f);
  if (p.dtype != DType::f32) probs16_.assign(probs_md.get_size() / sizeof(uint16_t), 0);
  scratch_bytes_ = scores_md.get_size() + (p.dtype == DType::f32 ? 0 : probs_md.get_size()) +
                   (is_masked(p) ? mask_md.get_size() : 0) + scratchpad_size;

  auto bind = [&](const memory::desc& md, const void* data) {
    return memory(md, eng, const_cast<void*>(data));
  };
  auto scratchpad_of = [&](const memory::desc& md) { return bind(md, scratchpad_.data()); };
  const memory scores_mem = bind(scores_md, scores_.data());
  const memory probs_mem =
      p.dtype == DType::f32 ? scores_mem : bind(probs_md, probs16_.data());

  Step qk{dnnl::matmul(qk_pd),
          {{DNNL_ARG_SRC, bind(q_md, in.q.storage())},
           {DNNL_ARG_WEIGHTS, bind(kt_md, in.k.storage())},
           {DNNL_ARG_DST, scores_mem},
           {DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC, bind(scale_md, &scale_)},
           {DNNL_ARG_SCRATCHPAD, scratchpad_of(qk_pd.scratchpad_desc())}}};
  if (is_masked(p)) {
    qk.args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, bind(mask_md, mask_.data()));
  }
  Step softmax{dnnl::softmax_forward(softmax_pd),
               {{DNNL_ARG_SRC, scores_mem},
                {DNNL_ARG_DST, probs_mem},
                {DNNL_ARG_SCRATCHPAD, scratchpad_of(softmax_pd.scratchpad_desc())}}};
  Step pv{dnnl::matmul(pv_pd),
          {{DNNL_ARG_SRC, probs_mem},
           {DNNL_ARG_WEIGHTS, bind(v_md, in.v.storage())},
           {DNNL_ARG_DST, bind(o_md, out_.data())},
           {DNNL_ARG_SCRATCHPAD, scratchpad_of(pv_pd.scratchpad_desc())}}};
  steps_ = {std::move(qk), std::move(softmax), std::move(pv)};
}

void PrimsBackend::release() {
  wait_idle();
  steps_.clear();
  free_storage(scores_);
  free_storage(probs16_);
  free_storage(mask_);
  free_storage(scratchpad_);
  free_storage(masked_rows_);
  out_ = {};
  scratch_bytes_ = 0;
  kernels_ = {};
}

void PrimsBackend::prepare(const Problem& p, const Inputs& in) {
  // Free the previous case's n² buffers before allocating this one's, so the two never coexist.
  release();
  problem_ = p;
  scale_ = static_cast<float>(p.scale());
  out_.resize(p.dtype, p.o_elems());

  // The additive mask, 0 where a key is visible and -inf where it is not: per batch item for
  // kvlen, one (group·sq) x skv plane for the causal masks (the same for every batch item and
  // kv head; folded row r is query position r % sq).
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (p.mask == MaskKind::kvlen) {
    mask_.assign(static_cast<std::size_t>(p.b * p.skv), 0.0f);
    for (int64_t bi = 0; bi < p.b; ++bi) {
      for (int64_t j = p.visible_keys(bi, 0); j < p.skv; ++j) mask_[bi * p.skv + j] = neg_inf;
    }
  } else if (p.mask == MaskKind::causal || p.mask == MaskKind::causal_br) {
    const int64_t rows = p.group() * p.sq;
    mask_.assign(static_cast<std::size_t>(rows * p.skv), 0.0f);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = p.visible_keys(0, r % p.sq); j < p.skv; ++j) mask_[r * p.skv + j] = neg_inf;
    }
  }
  masked_rows_.clear();
  for (int64_t bi = 0; bi < p.b; ++bi) {
    for (int64_t i = 0; i < p.sq; ++i) {
      if (p.visible_keys(bi, i) > 0) continue;
      for (int64_t h = 0; h < p.hq; ++h) masked_rows_.push_back((bi * p.hq + h) * p.sq + i);
    }
  }

  kernels_ = log_kernels([&] {
    try {
      create_primitives(p, in);
    } catch (const dnnl::error& e) {
      rethrow(e, "primitive creation for " + p.to_string());
    }
  });
}

void PrimsBackend::run() {
  try {
    for (auto& step : steps_) step.primitive.execute(stream(), step.args);
  } catch (const dnnl::error& e) {
    rethrow(e, "primitive execute");
  }
  if (masked_rows_.empty()) return;
  // The softmax primitive has no inf_as_zero mode in the public API: a row whose keys are all
  // masked comes out NaN. Its output is defined as 0, which is what callers write there.
  wait_idle();
  const std::size_t row_bytes = static_cast<std::size_t>(problem_.dv) * storage_bytes(problem_.dtype);
  auto* base = static_cast<uint8_t*>(out_.data());
  for (int64_t row : masked_rows_) std::memset(base + row * row_bytes, 0, row_bytes);
}

std::map<std::string, std::string> PrimsBackend::case_notes() const {
  std::map<std::string, std::string> notes{{"fused", "0"}};
  if (kernels_.captured && !kernels_.primitives.empty()) {
    notes["primitives"] = join(kernels_.primitives);
  }
  return notes;
}

}  // namespace sdpa::onednn
