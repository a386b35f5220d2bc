#!/usr/bin/env python3
"""Runs sdpa-bench problems through OpenVINO's CPU plugin (one opset13 ScaledDotProductAttention
node) and writes a results file in sdpa-bench's format (version 2), beside the project's backends.

    scripts/peers/setup-openvino                   # once: pinned openvino + numpy in .deps/openvino
    scripts/peers/openvino_sdpa.py --device cpu --threads 2 --suite cpu_peak --out results-openvino.json
    scripts/peers/openvino_sdpa.py --problem h=16,sq=2048,d=64,dtype=f16 --precision-hint bf16
    scripts/peers/openvino_sdpa.py --suite smoke --dry-run      # parse and count FLOPs; needs no openvino

Variants (benchmark names): openvino_static, the model compiled for the problem's exact shapes
(the plugin may fuse it into its MHA kernel), and openvino_dynamic, the same node with every
dimension dynamic (the plugin's SDPA node). The layer types and precisions the compiled model runs
(its runtime model) are recorded per case (note_path, note_runtime_precision).

Precision: the CPU plugin computes in its INFERENCE_PRECISION_HINT, by default bf16 on a CPU with
AVX512-BF16 (even for an f32 model) and f16 where it has AVX512-FP16 and the model is f16.
--precision-hint dtype (the default) sets the hint to the problem's dtype, so the peer computes
what it is asked; `default` leaves the plugin's choice, `bf16`/`f16`/`f32` force one. Every case is
checked with sdpa-bench's accuracy rule against an fp64 reference (peer_accuracy.py): a hint that
computes in less precision than the dtype shows as a failing case, with its error.

Masks: causal through the node's causal flag; causal_br and kvlen as a boolean mask input.
GQA: the node has no K/V head groups: a skip, unless --gqa repeat (K/V heads repeated before timing).
Needs openvino and numpy only to run; finds .deps/openvino (scripts/peers/setup-openvino) by
itself; without them it exits 2 and names the set-up script. Exit 1 if a case failed or errored.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_run  # noqa: E402
from peer_run import MissingDependency, Unsupported  # noqa: E402

SETUP = "scripts/peers/setup-openvino"
peer_run.add_prefix("openvino", "SDPA_OPENVINO_PREFIX")
HINTS = ("dtype", "default", "f32", "bf16", "f16")


def import_peer():
    try:
        import numpy  # noqa: F401
        import openvino
    except ImportError as e:
        raise MissingDependency(f"OpenVINO and NumPy are needed: {e}; install them with {SETUP} "
                                f"(pinned, into .deps/openvino, found by this script)") from None
    return openvino


def peer_context(ov, policy, args):
    ctx = peer_run.base_context("openvino_sdpa.py", "openvino", policy, args.threads)
    core = ov.Core()
    ctx.update({"openvino_version": ov.get_version(),
                "openvino_cpu": str(core.get_property("CPU", "FULL_DEVICE_NAME")),
                "openvino_default_inference_precision": _type_name(core.get_property("CPU", "INFERENCE_PRECISION_HINT")),
                "precision_hint": args.precision_hint,
                "gqa": ("skip (the node has no K/V head groups)" if args.gqa == "native"
                        else "K/V heads repeated with numpy.repeat before timing")})
    return ctx


def _type_name(t):
    """An ov.Type as its short name (f32, bf16, f16)."""
    return t.get_type_name() if hasattr(t, "get_type_name") else str(t)


def _ov_type(ov, dtype):
    return {"f32": ov.Type.f32, "f16": ov.Type.f16, "bf16": ov.Type.bf16}[dtype]


def _mask(p):
    """A boolean (b, 1, sq, skv) mask, True: attend, for causal_br and kvlen."""
    import numpy as np
    rows = np.arange(p.sq)[:, None]
    keys = np.arange(p.skv)[None, :]
    m = np.empty((p.b, 1, p.sq, p.skv), dtype=bool)
    for bi in range(p.b):
        if p.mask == "causal_br":
            m[bi, 0] = keys < np.clip(rows + 1 + p.skv - p.sq, 0, p.skv)
        else:
            m[bi, 0] = np.broadcast_to(keys < min(p.skv, p.kvlen[bi]), (p.sq, p.skv))
    return m


def _fully_masked_rows(p):
    """Whether some query row sees no key (kvlen 0, or causal_br with sq > skv)."""
    return (p.mask == "kvlen" and 0 in p.kvlen) or (p.mask == "causal_br" and p.sq > p.skv)


def _prepare(case, options, dynamic):
    import numpy as np
    import openvino as ov
    from openvino import opset13 as ops
    p = case.p
    q, k, v = case.q, case.k, case.v
    if p.hq != p.hkv:
        if options.gqa == "native":
            raise Unsupported(f"GQA (hq={p.hq}, hkv={p.hkv}): opset13 ScaledDotProductAttention has no K/V head "
                              "groups; --gqa repeat repeats the K/V heads before timing")
        k, v = np.repeat(k, p.group(), axis=1), np.repeat(v, p.group(), axis=1)
    if p.mask in ("causal_br", "kvlen") and _fully_masked_rows(p):
        raise Unsupported(f"mask={p.mask} leaves rows with no visible key: the node's softmax over no keys is "
                          "NaN, where sdpa-bench's rule wants 0")
    t = _ov_type(ov, p.dtype)
    shapes = [q.shape, k.shape, v.shape]
    params = [ops.parameter(ov.PartialShape([-1] * 4) if dynamic else ov.PartialShape(list(s)), t) for s in shapes]
    inputs = [q, k, v]
    scale = ops.constant(np.array(p.scale(), dtype=np.float32))
    if t != ov.Type.f32:
        scale = ops.convert(scale, t)
    if p.mask in ("causal_br", "kvlen"):
        mask = _mask(p)
        params.append(ops.parameter(ov.PartialShape([-1] * 4) if dynamic else ov.PartialShape(list(mask.shape)),
                                    ov.Type.boolean))
        inputs.append(mask)
        node = ops.scaled_dot_product_attention(params[0], params[1], params[2], params[3], scale, causal=False)
    else:
        zero = ops.constant(np.array(0, dtype=np.float32))
        if t != ov.Type.f32:
            zero = ops.convert(zero, t)
        node = ops.scaled_dot_product_attention(params[0], params[1], params[2], zero, scale,
                                                causal=p.mask == "causal")
    model = ov.Model([node.output(0)], params, "sdpa")
    config = {"INFERENCE_NUM_THREADS": options.threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
    hint = p.dtype if options.precision_hint == "dtype" else options.precision_hint
    if hint != "default":
        config["INFERENCE_PRECISION_HINT"] = hint
    compiled = ov.Core().compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    tensors = []
    for x, param in zip(inputs, params):
        if p.dtype == "bf16" and x.dtype == np.uint16:
            tensor = ov.Tensor(ov.Type.bf16, list(x.shape))
            tensor.data.view(np.uint16)[...] = x
        else:
            tensor = ov.Tensor(np.ascontiguousarray(x))
        tensors.append(tensor)
    for i, tensor in enumerate(tensors):
        request.set_input_tensor(i, tensor)

    def fetch():
        out = request.get_output_tensor(0)
        if out.element_type == ov.Type.bf16:
            return (out.data.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        return out.data

    def call():
        request.infer()
        return peer_run.Lazy(fetch)

    layers, precisions = [], []
    for op in compiled.get_runtime_model().get_ops():
        rt = op.get_rt_info()
        kind = rt["layerType"].astype(str)
        if kind in ("Parameter", "Result", "Constant"):
            continue
        layers.append(kind)
        precisions.append(f"{kind}:{rt['runtimePrecision'].astype(str)}")
    notes = {"path": ("dynamic shapes" if dynamic else "static shapes") + ": " + "+".join(dict.fromkeys(layers)),
             "runtime_precision": ", ".join(dict.fromkeys(precisions)),
             "precision_hint": _type_name(compiled.get_property("INFERENCE_PRECISION_HINT")) +
             (" (the plugin's default)" if hint == "default" else " (set)")}
    if p.hq != p.hkv:
        notes["gqa"] = "K/V heads repeated with numpy.repeat (outside the timed call)"
    return call, notes


VARIANTS = {"openvino_static": lambda c, o: _prepare(c, o, dynamic=False),
            "openvino_dynamic": lambda c, o: _prepare(c, o, dynamic=True)}


def _arguments(ap):
    ap.add_argument("--precision-hint", choices=HINTS, default="dtype",
                    help="INFERENCE_PRECISION_HINT: the problem's dtype (default), the plugin's default, or forced")


def main(argv=None):
    return peer_run.main(argv, __doc__, "openvino_sdpa", VARIANTS, list(VARIANTS), import_peer, peer_context,
                         _arguments)


if __name__ == "__main__":
    sys.exit(main())
