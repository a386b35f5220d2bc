#include "backends/onednn/graph_pattern.h"

#include <string>

#include "backends/onednn/layout.h"

namespace sdpa::onednn {

namespace {

using dnnl::graph::logical_tensor;
using dnnl::graph::op;
using data_type = logical_tensor::data_type;
using layout_type = logical_tensor::layout_type;

data_type graph_type(DType dtype) {
  switch (dtype) {
    case DType::f16: return data_type::f16;
    case DType::bf16: return data_type::bf16;
    default: return data_type::f32;
  }
}

// Builds ops and logical tensors with ids that are unique within one graph.
class Builder {
 public:
  logical_tensor tensor(data_type type, const Dims& dims) {
    return logical_tensor(next_id_++, type, dims, layout_type::strided);
  }
  op make_op(op::kind kind, const char* name, const std::vector<logical_tensor>& in,
             const logical_tensor& out) {
    op o(next_id_++, kind, name);
    o.add_inputs(in);
    o.add_output(out);
    return o;
  }

 private:
  std::size_t next_id_ = 0;
};

}  // namespace

SdpaGraph build_sdpa_graph(const Problem& p) {
  const SdpaDims dims = sdpa_dims(p);
  const data_type io = graph_type(p.dtype);
  // Scalars are 1-element tensors in ordinary memory, not host scalars: in oneDNN 3.11 a host
  // scalar operand sends the first MatMul (with the scale fused as a post-op) to the reference
  // implementation, ~100x slower on this CPU.
  const Dims one{1};
  Builder b;
  SdpaGraph g;
  auto add_input = [&](const logical_tensor& lt, GraphInput role) {
    g.inputs.push_back(lt);
    g.roles.push_back(role);
  };

  const logical_tensor q = b.tensor(io, dims.q);
  const logical_tensor k = b.tensor(io, dims.k);
  const logical_tensor v = b.tensor(io, dims.v);
  const logical_tensor scale = b.tensor(data_type::f32, one);
  add_input(q, GraphInput::query);
  add_input(k, GraphInput::key);
  add_input(scale, GraphInput::scale);

  const logical_tensor scores = b.tensor(data_type::f32, dims.scores);
  op qk = b.make_op(op::kind::MatMul, "qk", {q, k}, scores);
  qk.set_attr<bool>(op::attr::transpose_b, true);
  g.graph.add_op(qk);

  logical_tensor scaled = b.tensor(data_type::f32, dims.scores);
  g.graph.add_op(b.make_op(op::kind::Multiply, "scale", {scores, scale}, scaled));

  logical_tensor masked = scaled;
  if (p.mask == MaskKind::causal || p.mask == MaskKind::causal_br) {
    logical_tensor rows = b.tensor(data_type::s32, dims.scores);
    op row_index = b.make_op(op::kind::GenIndex, "row_index", {scaled}, rows);
    row_index.set_attr<int64_t>(op::attr::axis, -2);
    g.graph.add_op(row_index);
    if (p.mask == MaskKind::causal_br) {
      // Row i sees keys j <= i + skv - sq: shift the row index by skv, then back by sq, the
      // form oneDNN's bottom-right pattern is written in.
      const logical_tensor kv_len = b.tensor(data_type::s32, one);
      const logical_tensor q_len = b.tensor(data_type::s32, one);
      add_input(kv_len, GraphInput::kv_len);
      add_input(q_len, GraphInput::q_len);
      logical_tensor plus_kv = b.tensor(data_type::s32, dims.scores);
      g.graph.add_op(b.make_op(op::kind::Add, "row_plus_skv", {rows, kv_len}, plus_kv));
      logical_tensor shifted = b.tensor(data_type::s32, dims.scores);
      g.graph.add_op(b.make_op(op::kind::Subtract, "row_minus_sq", {plus_kv, q_len}, shifted));
      rows = shifted;
    }
    logical_tensor cols = b.tensor(data_type::s32, dims.scores);
    op col_index = b.make_op(op::kind::GenIndex, "col_index", {scaled}, cols);
    col_index.set_attr<int64_t>(op::attr::axis, -1);
    g.graph.add_op(col_index);

    logical_tensor keep = b.tensor(data_type::boolean, dims.scores);
    g.graph.add_op(b.make_op(op::kind::GreaterEqual, "row_ge_col", {rows, cols}, keep));
    const logical_tensor neg_inf = b.tensor(data_type::f32, one);
    add_input(neg_inf, GraphInput::neg_inf);
    masked = b.tensor(data_type::f32, dims.scores);
    g.graph.add_op(b.make_op(op::kind::Select, "causal_select", {keep, scaled, neg_inf}, masked));
  } else if (p.mask == MaskKind::kvlen) {
    const logical_tensor mask = b.tensor(data_type::f32, dims.kvlen_mask);
    add_input(mask, GraphInput::mask);
    masked = b.tensor(data_type::f32, dims.scores);
    g.graph.add_op(b.make_op(op::kind::Add, "kvlen_mask", {scaled, mask}, masked));
  }

  // inf_as_zero: a row with every key masked gives probabilities 0 (output 0), not NaN.
  const logical_tensor probs = b.tensor(io, dims.scores);
  op softmax = b.make_op(op::kind::SoftMax, "softmax", {masked}, probs);
  softmax.set_attr<int64_t>(op::attr::axis, -1);
  softmax.set_attr<std::string>(op::attr::mode, "inf_as_zero");
  g.graph.add_op(softmax);

  add_input(v, GraphInput::value);
  g.output = b.tensor(io, dims.o);
  g.graph.add_op(b.make_op(op::kind::MatMul, "pv", {probs, v}, g.output));
  g.graph.finalize();
  return g;
}

}  // namespace sdpa::onednn
