#!/usr/bin/env python3
"""Checks an `sdpa-bench dump` folder with NumPy alone: recomputes attention in float64 from
q.npy/k.npy/v.npy and the problem line, and applies the accuracy rule (harness/README.md, "Accuracy rule") to out.npy.
Independent of the C++ reference: agreement means both the backend and the oracle are right.

usage: scripts/verify_dump.py DIR        exit 0 when out.npy passes, 1 when not, 2 on bad input
"""
import math
import sys

import numpy as np

# The constants of harness/accuracy.cpp: (tol_abs, tol_rel) per dtype.
TOLERANCE = {"f32": (2.0**-14, 16 * 2.0**-24), "f16": (2.0**-11, 2.0**-11), "bf16": (2.0**-8, 2.0**-8)}


def parse(line):
    spec = dict(item.split("=", 1) for item in line.strip().split(","))
    return spec


def visible_keys(spec, b, sq, skv):
    """Keys visible to each query row: every mask of the spec keeps a prefix."""
    rows = np.arange(sq)
    mask = spec["mask"]
    if mask == "none":
        return np.full((b, sq), skv)
    if mask == "causal":
        return np.tile(np.minimum(skv, rows + 1), (b, 1))
    if mask == "causal_br":
        return np.tile(np.clip(rows + 1 + skv - sq, 0, skv), (b, 1))
    lengths = [int(x) for x in mask.split(":", 1)[1].split("/")]
    return np.array([[min(skv, lengths[i])] * sq for i in range(b)])


def main(folder):
    try:
        spec = parse(open(f"{folder}/problem.txt").read())
        q, k, v = (np.load(f"{folder}/{n}.npy").astype(np.float64) for n in ("q", "k", "v"))
        out = np.load(f"{folder}/out.npy").astype(np.float64)
    except (OSError, ValueError, KeyError) as e:
        print(f"verify_dump: {folder}: {e}", file=sys.stderr)
        return 2
    b, hq, sq, d = q.shape
    hkv, skv = k.shape[1], k.shape[2]
    scale = 1 / math.sqrt(d) if spec["scale"] == "default" else float(spec["scale"])
    k = np.repeat(k, hq // hkv, axis=1)  # GQA: query head h reads kv head h // group
    v = np.repeat(v, hq // hkv, axis=1)
    logits = np.einsum("bhqd,bhkd->bhqk", q, k) * scale
    visible = visible_keys(spec, b, sq, skv)[:, None, :, None] > np.arange(skv)[None, None, None, :]
    logits = np.where(visible, logits, -np.inf)
    row_max = logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits - np.where(np.isfinite(row_max), row_max, 0))
    total = weights.sum(axis=-1, keepdims=True)
    p = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)  # fully masked rows: 0
    ref = p @ v
    abs_pv = p @ np.abs(v)
    tol_abs, tol_rel = TOLERANCE[spec["dtype"]]
    bound = tol_abs * abs_pv + tol_rel * np.abs(ref)
    err = np.abs(out - ref)
    bad = int(np.sum(~(err <= bound)))
    nmse = float(np.sum(err**2) / max(np.sum(ref**2), 1e-300))
    print(f"numpy fp64 sdpa vs out.npy: max_abs={err.max():.2e} nmse={nmse:.2e} "
          f"worst={float(np.max(np.divide(err, bound, out=np.zeros_like(err), where=bound > 0))):.3g} of bound, "
          f"{bad} of {err.size} elements out of bound")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
