#!/usr/bin/env python3
"""Runs sdpa-bench problems through ONNX Runtime's CPU execution provider (a one-node graph) and
writes a results file in sdpa-bench's format (version 2), beside the project's own backends.

    scripts/peers/setup-onnxruntime                # once: pinned onnxruntime + onnx + numpy in .deps/onnxruntime
    scripts/peers/onnxruntime_sdpa.py --device cpu --threads 2 --suite cpu_peak --out results-onnxruntime.json
    scripts/peers/onnxruntime_sdpa.py --suite smoke --dry-run      # parse and count FLOPs; needs no onnxruntime

Variants (benchmark names):
  onnxruntime_mha        com.microsoft MultiHeadAttention (query (b, sq, hq*d), key and value as
                         (b, h, skv, d)); masks: causal through `unidirectional` where sq = skv,
                         kvlen through key_padding_mask; no GQA (a skip).
  onnxruntime_attention  ONNX Attention (opset 23) on (b, h, s, d) tensors; is_causal, a boolean
                         attn_mask for causal_br and kvlen, GQA through its own K/V head groups.
Where the installed ONNX Runtime has no kernel for a (node, dtype) pair, session creation fails
with NOT_IMPLEMENTED: a skip with that reason. The layout changes (to and from (b, s, h*d)) happen
outside the timed call. Every case is checked with sdpa-bench's accuracy rule against an fp64
reference (peer_accuracy.py): a failing case shows as failing, with its error.
Needs onnxruntime, onnx and numpy only to run; finds .deps/onnxruntime (setup-onnxruntime) by
itself; without them it exits 2 and names the set-up script. Exit 1 if a case failed or errored.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_run  # noqa: E402
from peer_run import MissingDependency, Unsupported  # noqa: E402

SETUP = "scripts/peers/setup-onnxruntime"
peer_run.add_prefix("onnxruntime", "SDPA_ONNXRUNTIME_PREFIX")


def import_peer():
    try:
        import numpy  # noqa: F401
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError as e:
        raise MissingDependency(f"ONNX Runtime, ONNX and NumPy are needed: {e}; install them with {SETUP} "
                                f"(pinned, into .deps/onnxruntime, found by this script)") from None
    return onnxruntime


def peer_context(ort, policy, args):
    import onnx
    ctx = peer_run.base_context("onnxruntime_sdpa.py", "onnxruntime", policy, args.threads)
    ctx.update({"onnxruntime_version": ort.__version__, "onnx_version": onnx.__version__,
                "execution_provider": "CPUExecutionProvider",
                "session_options": (f"intra_op_num_threads={args.threads}, inter_op_num_threads=1, "
                                    "graph_optimization_level=ORT_ENABLE_ALL"),
                "gqa": ("the node's own (Attention: kv heads; MultiHeadAttention: skip)" if args.gqa == "native"
                        else "K/V heads repeated with numpy.repeat before timing")})
    return ctx


def _elem(dtype):
    from onnx import TensorProto
    return {"f32": TensorProto.FLOAT, "f16": TensorProto.FLOAT16, "bf16": TensorProto.BFLOAT16}[dtype]


def _session(model, options):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = options.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001  (onnxruntime's own exception types)
        text = str(e)
        if "NOT_IMPLEMENTED" in text or "Could not find an implementation" in text:
            raise Unsupported("no CPU kernel: " + text.strip().splitlines()[0][:300]) from None
        raise


def _ort_value(x, dtype):
    """An input OrtValue; bf16 from its uint16 bits."""
    import numpy as np
    import onnxruntime as ort
    if dtype == "bf16":
        return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(np.ascontiguousarray(x), _elem("bf16"))
    return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(x))


def _output(value, dtype):
    import numpy as np
    out = value.numpy()
    if dtype == "bf16":
        return (out.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    return out


def _runner(session, feeds, dtype, post):
    import onnxruntime as ort
    names = [o.name for o in session.get_outputs()][:1]
    binding = session.io_binding()
    for name, value in feeds.items():
        binding.bind_ortvalue_input(name, value)
    binding.bind_output(names[0], "cpu")
    run_options = ort.RunOptions()

    def call():
        session.run_with_iobinding(binding, run_options)
        return peer_run.Lazy(lambda: post(_output(binding.get_outputs()[0], dtype)))
    return call


def _fully_masked_rows(p):
    return (p.mask == "kvlen" and 0 in p.kvlen) or (p.mask == "causal_br" and p.sq > p.skv)


def prepare_mha(case, options):
    import numpy as np
    from onnx import TensorProto, helper
    p = case.p
    if p.hq != p.hkv and options.gqa == "native":
        raise Unsupported(f"GQA (hq={p.hq}, hkv={p.hkv}): MultiHeadAttention has no K/V head groups; "
                          "--gqa repeat repeats the K/V heads before timing")
    if p.mask in ("causal", "causal_br") and p.sq != p.skv:
        raise Unsupported(f"mask={p.mask} with sq={p.sq}, skv={p.skv}: MultiHeadAttention's unidirectional "
                          "mask is one convention only and takes no arbitrary boolean mask")
    if _fully_masked_rows(p):
        raise Unsupported(f"mask={p.mask} leaves rows with no visible key: the node's output there is not 0")
    k, v = case.k, case.v
    if p.hq != p.hkv:
        k, v = np.repeat(k, p.group(), axis=1), np.repeat(v, p.group(), axis=1)
    q = np.ascontiguousarray(case.q.transpose(0, 2, 1, 3).reshape(p.b, p.sq, p.hq * p.d))
    et = _elem(p.dtype)
    inputs = [helper.make_tensor_value_info("q", et, list(q.shape)),
              helper.make_tensor_value_info("k", et, list(k.shape)),
              helper.make_tensor_value_info("v", et, list(v.shape))]
    names = ["q", "k", "v"]
    feeds = {"q": _ort_value(q, p.dtype), "k": _ort_value(k, p.dtype), "v": _ort_value(v, p.dtype)}
    if p.mask == "kvlen":
        pad = (np.arange(p.skv)[None, :] < np.array(p.kvlen)[:, None]).astype(np.int32)  # 1: attend
        inputs.append(helper.make_tensor_value_info("key_padding_mask", TensorProto.INT32, list(pad.shape)))
        names += ["", "key_padding_mask"]  # no bias
        import onnxruntime as ort
        feeds["key_padding_mask"] = ort.OrtValue.ortvalue_from_numpy(pad)
    attrs = {"num_heads": p.hq, "scale": float(p.scale())}
    if p.mask in ("causal", "causal_br"):  # sq = skv: both conventions are the same mask
        attrs["unidirectional"] = 1
    node = helper.make_node("MultiHeadAttention", names, ["o"], domain="com.microsoft", **attrs)
    graph = helper.make_graph([node], "mha", inputs,
                              [helper.make_tensor_value_info("o", et, [p.b, p.sq, p.hq * p.dv])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21),
                                                    helper.make_opsetid("com.microsoft", 1)])
    session = _session(model, options)
    notes = {"path": "com.microsoft MultiHeadAttention, query (b, sq, hq*d), key/value (b, h, skv, d)"
                     + (", unidirectional" if p.mask in ("causal", "causal_br") else "")
                     + (", key_padding_mask" if p.mask == "kvlen" else ""),
             "layout": "query packed to (b, sq, hq*d) and the output unpacked outside the timed call"}
    if p.hq != p.hkv:
        notes["gqa"] = "K/V heads repeated with numpy.repeat (outside the timed call)"

    def unpack(o):
        return o.reshape(p.b, p.sq, p.hq, p.dv).transpose(0, 2, 1, 3)
    return _runner(session, feeds, p.dtype, unpack), notes


def prepare_attention(case, options):
    import numpy as np
    from onnx import TensorProto, helper
    p = case.p
    if _fully_masked_rows(p):
        raise Unsupported(f"mask={p.mask} leaves rows with no visible key: the node's softmax over no keys is "
                          "not sdpa-bench's 0")
    k, v = case.k, case.v
    if p.hq != p.hkv and options.gqa == "repeat":
        k, v = np.repeat(k, p.group(), axis=1), np.repeat(v, p.group(), axis=1)
    et = _elem(p.dtype)
    q = case.q
    inputs = [helper.make_tensor_value_info("q", et, list(q.shape)),
              helper.make_tensor_value_info("k", et, list(k.shape)),
              helper.make_tensor_value_info("v", et, list(v.shape))]
    names = ["q", "k", "v"]
    feeds = {"q": _ort_value(q, p.dtype), "k": _ort_value(k, p.dtype), "v": _ort_value(v, p.dtype)}
    attrs = {"scale": float(p.scale())}
    if p.mask == "causal":
        attrs["is_causal"] = 1
    elif p.mask in ("causal_br", "kvlen"):
        import onnxruntime as ort
        keys = np.arange(p.skv)[None, :]
        mask = np.stack([keys < np.array([[p.visible_keys(bi, i)] for i in range(p.sq)])
                         for bi in range(p.b)])[:, None]
        inputs.append(helper.make_tensor_value_info("mask", TensorProto.BOOL, list(mask.shape)))
        names.append("mask")
        feeds["mask"] = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(mask))
    node = helper.make_node("Attention", names, ["o"], **attrs)
    graph = helper.make_graph([node], "attention", inputs,
                              [helper.make_tensor_value_info("o", et, [p.b, p.hq, p.sq, p.dv])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    session = _session(model, options)
    notes = {"path": "ONNX Attention (opset 23), (b, h, s, d) tensors"
                     + (", is_causal" if p.mask == "causal" else "")
                     + (", boolean attn_mask" if p.mask in ("causal_br", "kvlen") else "")}
    if p.hq != p.hkv:
        notes["gqa"] = ("K/V heads repeated with numpy.repeat (outside the timed call)" if options.gqa == "repeat"
                        else "the node's own K/V head groups")
    return _runner(session, feeds, p.dtype, lambda o: o), notes


VARIANTS = {"onnxruntime_mha": prepare_mha, "onnxruntime_attention": prepare_attention}


def main(argv=None):
    return peer_run.main(argv, __doc__, "onnxruntime_sdpa", VARIANTS, list(VARIANTS), import_peer, peer_context)


if __name__ == "__main__":
    sys.exit(main())
