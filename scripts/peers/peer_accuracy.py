"""The fp64 reference and sdpa-bench's accuracy rule (harness/accuracy.cpp), in NumPy, and the
inputs a peer feeds every backend. NumPy is imported where it is used, so the rest of the peer
(parsing, --dry-run, the tests of pure parts) runs without it."""

import math

# The fp64 reference checks every row up to this many FLOPs, and an odd-strided sample of rows
# above it (NumPy's BLAS does ~2e10 fp64 FLOPs in about a second on two cores).
REFERENCE_FLOPS = 2e10
ACCURACY_NOTE = ("|o-r| <= tol_abs(dtype)*sum_k p_k|v_k| + tol_rel(dtype)*|r| against an fp64 reference "
                 "computed by the peer with NumPy")
INPUTS_NOTE = ("N(0,1) from numpy.random.default_rng(seed) (PCG64), float32, rounded to dtype; deterministic "
               "and independent of threads and device, but not sdpa-bench's counter-based generator: errors "
               "are comparable in distribution, not element by element")


def make_inputs(p):
    """Deterministic N(0,1) float32 inputs (NumPy PCG64 with the problem's seed)."""
    import numpy as np
    rng = np.random.default_rng(p.seed)
    q = rng.standard_normal((p.b, p.hq, p.sq, p.d), dtype=np.float32)
    k = rng.standard_normal((p.b, p.hkv, p.skv, p.d), dtype=np.float32)
    v = rng.standard_normal((p.b, p.hkv, p.skv, p.dv), dtype=np.float32)
    return q, k, v


TOLERANCE = {  # (tol_abs, tol_rel); derived in harness/accuracy.cpp
    "f32": (2.0 ** -14, 16 * 2.0 ** -24),
    "f16": (2.0 ** -11, 2.0 ** -11),
    "bf16": (2.0 ** -8, 2.0 ** -8),
}


def reference_row_stride(p, budget_flops=REFERENCE_FLOPS):
    """Every row within the budget, else an odd stride over the b*hq*sq rows (harness/cases.cpp)."""
    per_row = p.skv * (p.d + p.dv) * 2.0
    rows = p.b * p.hq * p.sq
    if budget_flops <= 0 or per_row * rows <= budget_flops:
        return 1
    return int(math.ceil(per_row * rows / budget_flops)) | 1


def reference(p, q, k, v, stride=1, chunk_elems=1 << 23):
    """The fp64 oracle on the rows row % stride == 0 of the b*hq*sq query rows (row-major b, h, s).
    q, k, v: float64 arrays (b, hq, sq, d), (b, hkv, skv, d), (b, hkv, skv, dv) holding the values
    exactly as stored. Returns (rows, out, abs_pv): the global row indices, the exact output and
    sum_k p_k|v_k| of those rows (fully masked rows: 0 and 0, the spec's convention)."""
    import numpy as np
    rows_all, outs, abs_pvs = [], [], []
    scale = p.scale()
    for bi in range(p.b):
        for h in range(p.hq):
            base = (bi * p.hq + h) * p.sq
            first = (-base) % stride
            idx = np.arange(first, p.sq, stride, dtype=np.int64)
            if idx.size == 0:
                continue
            hk = h // p.group()
            kh, vh = k[bi, hk], v[bi, hk]
            abs_v = np.abs(vh)
            step = max(1, chunk_elems // max(1, p.skv))
            for c0 in range(0, idx.size, step):
                rows = idx[c0:c0 + step]
                visible = np.array([p.visible_keys(bi, int(i)) for i in rows], dtype=np.int64)
                s = (q[bi, h, rows] @ kh.T) * scale
                s[np.arange(p.skv)[None, :] >= visible[:, None]] = -np.inf
                m = s.max(axis=1)
                m[visible == 0] = 0.0
                w = np.exp(s - m[:, None])
                l = w.sum(axis=1)
                l[visible == 0] = 1.0
                w /= l[:, None]
                outs.append(w @ vh)
                abs_pvs.append(w @ abs_v)
                rows_all.append(base + rows)
    if not rows_all:
        return np.zeros(0, np.int64), np.zeros((0, p.dv)), np.zeros((0, p.dv))
    return np.concatenate(rows_all), np.concatenate(outs), np.concatenate(abs_pvs)


def check_accuracy(dtype, out, ref, abs_pv):
    """sdpa-bench's accuracy rule on matching arrays of checked elements (any shape):
    |o - r| <= tol_abs*abs_pv + tol_rel*|r|; a non-finite output fails outright; a zero bound
    (fully masked row) demands an exact zero."""
    import numpy as np
    tol_abs, tol_rel = TOLERANCE[dtype]
    o = np.asarray(out, dtype=np.float64).ravel()
    r = np.asarray(ref, dtype=np.float64).ravel()
    a = np.asarray(abs_pv, dtype=np.float64).ravel()
    if o.shape != r.shape or a.shape != r.shape:
        raise ValueError(f"output has {o.size} elements, the reference {r.size}")
    finite = np.isfinite(o)
    non_finite = int(o.size - np.count_nonzero(finite))
    o_f, r_f, a_f = o[finite], r[finite], a[finite]
    err = np.abs(o_f - r_f)
    bound = tol_abs * a_f + tol_rel * np.abs(r_f)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bound > 0, err / np.where(bound > 0, bound, 1.0), np.where(err > 0, np.inf, 0.0))
        rel_ok = (np.abs(r_f) > 1e-3 * a_f) & (np.abs(r_f) > 0)
        rel = err[rel_ok] / np.abs(r_f[rel_ok])
    ref_sq = float(np.sum(r_f * r_f))
    err_sq = float(np.sum(err * err))
    failed = int(np.count_nonzero(ratio > 1)) + non_finite
    worst = float(ratio.max()) if ratio.size else 0.0
    if non_finite:
        worst = math.inf
    return {"tol_abs": tol_abs, "tol_rel": tol_rel, "checked_elems": int(o.size), "failed_elems": failed,
            "non_finite": non_finite,
            "max_abs_err": float(err.max()) if err.size else 0.0,
            "max_rel_err": float(rel.max()) if rel.size else 0.0,
            "nmse": err_sq / ref_sq if ref_sq > 0 else err_sq,
            "worst_of_bound": worst, "pass": failed == 0}


def accuracy_summary(acc):
    s = (f"max_abs={acc['max_abs_err']:.2e} max_rel={acc['max_rel_err']:.2e} nmse={acc['nmse']:.2e} "
         f"worst={acc['worst_of_bound']:.3g} of bound")
    if acc["non_finite"]:
        s += f" NON-FINITE OUTPUT ({acc['non_finite']} elements)"
    if acc["failed_elems"]:
        s += f" ({acc['failed_elems']} of {acc['checked_elems']} elements out of bound)"
    return s
