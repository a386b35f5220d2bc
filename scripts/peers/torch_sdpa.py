#!/usr/bin/env python3
"""Runs sdpa-bench problems through PyTorch's scaled_dot_product_attention and writes a results
file in sdpa-bench's format (version 2), so `sdpa-bench report` shows PyTorch beside the
project's own backends.

    scripts/peers/setup-torch                      # once: pinned torch + numpy in .deps/torch
    scripts/peers/torch_sdpa.py --device cpu --threads 2 --suite cpu_peak --out results-torch-cpu.json
    scripts/peers/torch_sdpa.py --device cuda --suite flash_sweep --out results/torch-cuda.json
    scripts/peers/torch_sdpa.py --device cuda --backend flash --problem b=2,hq=8,sq=1024,d=64,dtype=f16,mask=causal
    scripts/peers/torch_sdpa.py --suite smoke --dry-run     # parse and count FLOPs; needs no torch

Backends (benchmark names torch_<backend>): on CUDA one per PyTorch SDPA backend, pinned with
sdpa_kernel (cudnn, flash, efficient, math); on the CPU `cpu` (whatever PyTorch dispatches) and
the pinned `cpu_flash` and `cpu_math`. The kernel that actually ran is confirmed with
torch.profiler and recorded per case (note_kernel).

Every case is checked against an fp64 reference computed here with NumPy, with sdpa-bench's
accuracy rule |o - r| <= tol_abs*sum_k p_k|v_k| + tol_rel*|r| and its constants. Inputs are
N(0,1) from NumPy's PCG64 seeded with the problem's seed, rounded to the dtype: deterministic and
independent of thread count and device, but NOT bit-identical to sdpa-bench's counter-based
generator, so error figures are comparable in distribution, not element by element.

Timing follows sdpa-bench's stopping policies (warm-up, then at least 64 samples, until the
relative standard error of the mean is <= 0.5% or 10 s; `--policy quick`: 8 samples). CPU:
real_time = cpu_time = wall clock of one call. CUDA: real_time = CUDA events around the call
(device time), cpu_time = wall clock from the host call to completion (end-to-end latency).

Needs torch (and numpy) only to run; finds .deps/torch (scripts/peers/setup-torch) by itself.
Without torch it exits 2 and names the set-up script.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import sys
import time
import warnings
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITES = os.path.join(REPO, "harness", "suites")
SETUP = "scripts/peers/setup-torch"
FORMAT = "sdpa-bench-results"
FORMAT_VERSION = 2
CUDA_BACKENDS = ("cudnn", "flash", "efficient", "math")
CPU_BACKENDS = ("cpu", "cpu_flash", "cpu_math")
AGGREGATES = ("mean", "median", "stddev", "min", "max", "p90", "p99")
MAX_DIM = 1 << 24  # as core/problem.cpp: beyond this a dimension is a typo
# The math backend materialises b*hq*sq*skv scores (and their softmax) in memory: above this
# many it is left out (skip with the reason) instead of running for minutes or exhausting memory.
MATH_MAX_SCORES = 1 << 28
# The fp64 reference checks every row up to this many FLOPs, and an odd-strided sample of rows
# above it (NumPy's BLAS does ~2e10 fp64 FLOPs in about a second on two cores).
REFERENCE_FLOPS = 2e10
FLOPS_NOTE = ("flops = 2*(d+dv) per unmasked (query, key) pair, summed over batch and heads (= 4*b*hq*sq*skv*d "
              "for d=dv and no mask); masked pairs are not counted")
ACCURACY_NOTE = ("|o-r| <= tol_abs(dtype)*sum_k p_k|v_k| + tol_rel(dtype)*|r| against an fp64 reference "
                 "computed by this script with NumPy")
INPUTS_NOTE = ("N(0,1) from numpy.random.default_rng(seed) (PCG64), float32, rounded to dtype; deterministic "
               "and independent of threads and device, but not sdpa-bench's counter-based generator: errors "
               "are comparable in distribution, not element by element")


def _add_local_prefix():
    """Puts the prefix of scripts/peers/setup-torch on sys.path, so no PYTHONPATH is needed."""
    prefix = os.environ.get("SDPA_TORCH_PREFIX") or os.path.join(REPO, ".deps", "torch")
    site = os.path.join(prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")
    if os.path.isdir(site) and site not in sys.path:
        sys.path.insert(0, site)


_add_local_prefix()


class SpecError(ValueError):
    """A malformed problem spec or option; the message names the key, the value and the rule."""


# ---- problems (core/problem.cpp) -------------------------------------------------------------

@dataclass
class Problem:
    b: int = 1
    hq: int = 1
    hkv: int = 1
    sq: int = 1
    skv: int = 1
    d: int = 64
    dv: int = 64
    dtype: str = "f32"
    mask: str = "none"  # none, causal, causal_br, kvlen
    kvlen: list = field(default_factory=list)
    scale_value: float = None  # None: 1/sqrt(d)
    seed: int = 1

    def scale(self):
        return self.scale_value if self.scale_value is not None else 1.0 / math.sqrt(self.d)

    def group(self):
        return self.hq // self.hkv

    def visible_keys(self, bi, i):
        """Keys [0, visible) that query row i of batch item bi sees (core/problem.cpp)."""
        if self.mask == "causal":
            return min(self.skv, i + 1)
        if self.mask == "causal_br":
            return min(max(i + 1 + self.skv - self.sq, 0), self.skv)
        if self.mask == "kvlen":
            return min(self.skv, self.kvlen[bi])
        return self.skv

    def visible_pairs(self):
        pairs = 0
        for bi in range(self.b):
            if self.mask in ("none", "kvlen"):
                per_head = self.sq * self.visible_keys(bi, 0)
            else:
                per_head = sum(self.visible_keys(bi, i) for i in range(self.sq))
            pairs += per_head * self.hq
        return pairs

    def flops(self):
        return float(self.visible_pairs()) * 2.0 * (self.d + self.dv)

    def scores(self):
        return self.b * self.hq * self.sq * self.skv

    def to_string(self):
        """The canonical spec line, as Problem::to_string() writes it (benchmark names join on it)."""
        mask = "kvlen:" + "/".join(str(x) for x in self.kvlen) if self.mask == "kvlen" else self.mask
        scale = "default" if self.scale_value is None else _cpp_double(self.scale_value)
        return (f"b={self.b},hq={self.hq},hkv={self.hkv},sq={self.sq},skv={self.skv},d={self.d},"
                f"dv={self.dv},dtype={self.dtype},mask={mask},scale={scale},seed={self.seed}")


def _cpp_double(x):
    """A double as std::ostream with precision(17) prints it (%.17g)."""
    return format(x, ".17g")


def _fail(key, value, rule):
    raise SpecError(f"problem spec: {key}" + (f"={value}" if value else "") + f": {rule}")


def _int(key, value, minimum):
    if not re.fullmatch(r"-?[0-9]+", value):  # what std::from_chars accepts: no '+', '_' or spaces
        _fail(key, value, "must be an integer")
    result = int(value)
    if result < minimum:
        _fail(key, value, f"must be >= {minimum}")
    return result


def _float(value):
    """A decimal number as std::from_chars reads it (no '_', no leading '+'), else NaN."""
    if not re.fullmatch(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?", value):
        return float("nan")
    return float(value)


def _dim(key, value):
    result = _int(key, value, 1)
    if result > MAX_DIM:
        _fail(key, value, f"must be <= {MAX_DIM}")
    return result


KNOWN_KEYS = ("b", "h", "hq", "hkv", "sq", "skv", "d", "dv", "dtype", "mask", "scale", "seed")


def parse_problem(spec):
    """Parses a spec line with the rules of core/problem.cpp; raises SpecError."""
    spec = spec.strip()
    if not spec:
        _fail("spec", "", "is empty; expected key=value pairs separated by ','")
    seen = {}
    for item in spec.split(","):
        item = item.strip()
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            _fail(item, "", "expected key=value")
        if not value:
            _fail(key, "", "has no value")
        if key in seen:
            _fail(key, value, "is given twice")
        seen[key] = value
    for key, value in sorted(seen.items()):  # the C++ walks a std::map: first unknown key by name
        if key not in KNOWN_KEYS:
            _fail(key, value, "unknown key; known keys: " + ",".join(KNOWN_KEYS))

    p = Problem()
    if "b" in seen:
        p.b = _dim("b", seen["b"])
    if "h" in seen and "hq" in seen:
        _fail("h", seen["h"], "give h or hq, not both (h is an alias of hq)")
    for key in ("h", "hq"):
        if key in seen:
            p.hq = _dim(key, seen[key])
    p.hkv = _dim("hkv", seen["hkv"]) if "hkv" in seen else p.hq
    if p.hq % p.hkv != 0:
        _fail("hkv", seen["hkv"], f"hq={p.hq} must be a multiple of hkv")
    if "sq" in seen:
        p.sq = _dim("sq", seen["sq"])
    p.skv = _dim("skv", seen["skv"]) if "skv" in seen else p.sq
    if "d" in seen:
        p.d = _dim("d", seen["d"])
    p.dv = _dim("dv", seen["dv"]) if "dv" in seen else p.d
    if "dtype" in seen:
        if seen["dtype"] not in ("f32", "f16", "bf16"):
            _fail("dtype", seen["dtype"], "must be one of f32, f16, bf16")
        p.dtype = seen["dtype"]
    if "mask" in seen:
        m = seen["mask"]
        if m in ("none", "causal", "causal_br"):
            p.mask = m
        elif m.startswith("kvlen:"):
            p.mask = "kvlen"
            for length in m[len("kvlen:"):].split("/"):
                value = _int("mask", length, 0)
                if value > p.skv:
                    _fail("mask", m, f"kvlen {value} exceeds skv={p.skv}")
                p.kvlen.append(value)
            if len(p.kvlen) != p.b:
                _fail("mask", m, f"kvlen needs one length per batch item (b={p.b}, got {len(p.kvlen)})")
        else:
            _fail("mask", m, "must be none, causal, causal_br or kvlen:L1/L2/...")
    if "scale" in seen and seen["scale"] != "default":
        s = _float(seen["scale"])
        if not math.isfinite(s) or s <= 0:
            _fail("scale", seen["scale"], "must be 'default' (1/sqrt(d)) or a positive finite number")
        p.scale_value = s
    if "seed" in seen:
        p.seed = _int("seed", seen["seed"], 0)
    return p


def load_suite(name_or_path):
    """Problem lines of a suite (a name in harness/suites or a path); '#' starts a comment."""
    path = name_or_path
    if not os.path.exists(path):
        path = os.path.join(SUITES, name_or_path + ".txt")
    if not os.path.exists(path):
        known = sorted(f[:-4] for f in os.listdir(SUITES) if f.endswith(".txt")) if os.path.isdir(SUITES) else []
        raise SpecError(f"suite {name_or_path}: no such file or suite (known suites: {', '.join(known)})")
    problems = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                problems.append(parse_problem(line))
            except SpecError as e:
                raise SpecError(f"{os.path.basename(path)}:{number}: {e}") from None
    return problems


# ---- statistics and the stopping policy (harness/stats.cpp, harness/measure.cpp) --------------

def percentile(samples, q):
    """Linear interpolation between order statistics (NumPy's default), as harness/stats.cpp."""
    if not samples:
        return float("nan")
    s = sorted(samples)
    pos = min(max(q, 0.0), 100.0) / 100.0 * (len(s) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarize(samples):
    n = len(samples)
    if n == 0:
        return {agg: float("nan") for agg in AGGREGATES}
    mean = sum(samples) / n
    var = sum((x - mean) ** 2 for x in samples)
    return {"mean": mean, "median": percentile(samples, 50), "min": min(samples), "max": max(samples),
            "p90": percentile(samples, 90), "p99": percentile(samples, 99),
            "stddev": math.sqrt(var / (n - 1)) if n > 1 else 0.0}


@dataclass
class Policy:
    name: str = "default"
    warmup: int = 3
    min_samples: int = 64
    max_samples: int = 2000
    min_time_s: float = 0.25
    max_time_s: float = 10.0
    case_budget_s: float = 60.0
    target_rel_stderr: float = 0.005


def stopping_policy(name):
    """The named policies of harness/measure.cpp: default, quick (8 samples), p99 (662 samples)."""
    if name == "default":
        return Policy()
    if name == "quick":
        return Policy(name, warmup=1, min_samples=8, min_time_s=0, max_time_s=2, case_budget_s=10,
                      target_rel_stderr=0.02)
    if name == "p99":
        return Policy(name, min_samples=662, max_samples=5000, max_time_s=60, case_budget_s=600)
    raise SpecError(f"stopping policy '{name}': must be default, quick or p99")


def rel_stderr(samples):
    s = summarize(samples)
    if len(samples) < 2 or s["mean"] <= 0:
        return math.inf
    return s["stddev"] / math.sqrt(len(samples)) / s["mean"]


def measure(sample, policy, now=time.perf_counter):
    """Calls sample() -> (wall_ms, device_ms or None) until the policy says stop, as measure.cpp.
    Returns (wall_ms list, device_ms list (empty without a device clock), stopped_because)."""
    for _ in range(policy.warmup):
        sample()
    wall, device = [], []
    start = now()
    while True:
        w, dev = sample()
        wall.append(w)
        if dev is not None:
            device.append(dev)
        n = len(wall)
        elapsed = now() - start
        if n >= policy.max_samples:
            why = f"max_samples {policy.max_samples}"
        elif 3 <= n < policy.min_samples and elapsed >= policy.case_budget_s:
            why = f"case budget {policy.case_budget_s:.3g} s, {n} of {policy.min_samples} samples"
        elif n < policy.min_samples:
            continue
        elif elapsed >= policy.max_time_s:
            why = f"max_time {policy.max_time_s:.3g} s"
        elif elapsed < policy.min_time_s:
            continue
        else:
            rse = rel_stderr(device or wall)
            if rse > policy.target_rel_stderr:
                continue
            why = f"rel_stderr {100 * rse:.2g}% <= {100 * policy.target_rel_stderr:.2g}%"
        return wall, device, why


# ---- accuracy (harness/accuracy.cpp) -------------------------------------------------------

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


# ---- which kernel ran (torch.profiler event names) --------------------------------------------

SDPA_OPS = {  # the aten op each PyTorch SDPA path runs, as the profiler names it
    "aten::_scaled_dot_product_flash_attention_for_cpu": "flash_attention_cpu",
    "aten::_scaled_dot_product_flash_attention": "flash",
    "aten::_scaled_dot_product_efficient_attention": "efficient",
    "aten::_scaled_dot_product_cudnn_attention": "cudnn",
    "aten::_scaled_dot_product_fused_attention_overrideable": "fused_overrideable",
    "aten::_scaled_dot_product_attention_math": "math",
}


def kernel_from_profile(op_names, device_kernels=()):
    """A note naming the SDPA path PyTorch dispatched, from the profiler's op names, plus the
    longest-running device kernels (name, total time), if any."""
    found = [SDPA_OPS[n] + f" ({n})" for n in dict.fromkeys(op_names) if n in SDPA_OPS]
    note = "; ".join(found) if found else "unknown (no SDPA op in the profile)"
    if device_kernels:
        kernels = sorted(device_kernels, key=lambda kv: -kv[1])[:2]
        note += "; device kernels: " + ", ".join(name[:100] for name, _ in kernels)
    return note


def memory_peak(events):
    """Peak of the running sum of (start time, bytes) allocation (+) and free (-) events."""
    peak = cur = 0
    for _, size in sorted(events, key=lambda e: e[0]):
        cur += size
        peak = max(peak, cur)
    return peak


# ---- results file (format version 2) --------------------------------------------------------

def num(x):
    """A JSON number must be finite: NaN and inf become null."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _base_entry(backend, p, status):
    name = f"{backend}/{p.to_string()}"
    return {"name": name, "run_name": name, "backend": backend, "problem": p.to_string(), "status": status,
            "threads": 1, "iterations": 1, "time_unit": "ms"}


def _counters(p, time_ms):
    flops = p.flops()
    return {"flops": flops, "tflops": num(flops / (time_ms * 1e-3) / 1e12) if time_ms and time_ms > 0 else 0.0}


def skip_entries(backend, p, reason, status="skip"):
    """A case that did not run: one iteration entry with error_message '<status>: <reason>'."""
    e = _base_entry(backend, p, status)
    e.update({"run_type": "iteration", "repetitions": 0, "repetition_index": 0, "real_time": 0, "cpu_time": 0,
              "error_occurred": True, "error_message": f"{status}: {reason}"})
    return [e]


def case_entries(backend, p, wall_ms, device_ms, stopped_because, acc, scratch_bytes=0, notes=None, extra=None):
    """The aggregates of one case. real_time: the device clock where there is one, else the wall
    clock; cpu_time: the wall clock (end-to-end) of the same queries. The median also carries
    every sample (samples_real_time, samples_cpu_time)."""
    primary = device_ms or wall_ms
    n = len(primary)
    dev, wall = summarize(primary), summarize(wall_ms)
    status = "pass" if acc["pass"] else "fail"
    out = []
    for agg in AGGREGATES:
        e = _base_entry(backend, p, status)
        e.update({"name": e["run_name"] + "_" + agg, "run_type": "aggregate", "aggregate_name": agg,
                  "aggregate_unit": "time", "repetitions": n,
                  "real_time": num(dev[agg]), "cpu_time": num(wall[agg])})
        if agg != "stddev":
            e.update(_counters(p, dev[agg]))
        e.update({"device_clock": bool(device_ms), "stopped_because": stopped_because,
                  "scratch_bytes": int(scratch_bytes),
                  "max_abs_err": num(acc["max_abs_err"]), "max_rel_err": num(acc["max_rel_err"]),
                  "nmse": num(acc["nmse"]), "worst_of_bound": num(acc["worst_of_bound"]),
                  "tol_abs": acc["tol_abs"], "tol_rel": acc["tol_rel"], "pass": 1 if acc["pass"] else 0})
        for key, value in (extra or {}).items():
            e[key] = value
        for key, value in (notes or {}).items():
            e["note_" + key] = value
        if agg == "median":
            e["samples_real_time"] = [num(x) for x in primary]
            e["samples_cpu_time"] = [num(x) for x in wall_ms]
        out.append(e)
    return out


def results_document(context, entries):
    ctx = {key: (num(value) if isinstance(value, float) else value) for key, value in context.items()}
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "context": ctx, "benchmarks": entries}


def write_atomically(path, doc):
    """Writes JSON to a temporary file beside path and renames it: a reader never sees half a file."""
    text = json.dumps(doc, indent=1, allow_nan=False)  # NaN is not JSON: num() must have caught it
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cpuinfo_field(key, path="/proc/cpuinfo"):
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def isa_flags():
    flags = set(cpuinfo_field("flags").split())
    wanted = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_bf16",
              "avx512_fp16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_fp16")
    return " ".join(f for f in wanted if f in flags)


# ---- torch ------------------------------------------------------------------------------

class MissingDependency(Exception):
    pass


def import_torch(device):
    """torch and numpy, or MissingDependency with what to do."""
    # Kineto's start/stop chatter (and "gpuGetDeviceCount failed" without a GPU) on every profile.
    os.environ.setdefault("KINETO_LOG_LEVEL", "5")
    try:
        import numpy  # noqa: F401  (the fp64 reference)
        import torch
        from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: F401  (PyTorch >= 2.3)
    except ImportError as e:
        raise MissingDependency(f"PyTorch (2.3 or newer) and NumPy are needed: {e}; install them with {SETUP} "
                                f"(pinned, into .deps/torch, found by this script)") from None
    if device == "cuda" and not torch.cuda.is_available():
        raise MissingDependency(f"torch {torch.__version__} sees no CUDA device (built for CUDA "
                                f"{torch.version.cuda}); use --device cpu for PyTorch's CPU SDPA")
    return torch


def _version_string(v):
    """cuDNN's integer version as text: 91900 -> 9.19.0 (cuDNN 9), 8902 -> 8.9.2 (cuDNN 8)."""
    if v is None:
        return "none"
    return f"{v // 10000}.{v % 10000 // 100}.{v % 100}" if v >= 10000 else f"{v // 1000}.{v % 1000 // 100}.{v % 100}"


def _load_average():
    """1, 5, 15-minute load averages: other work on the machine shows in the timings."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def torch_context(torch, device, policy, gqa):
    import numpy
    ctx = {
        "executable": "torch_sdpa.py",
        "peer": "pytorch",
        "torch_version": torch.__version__,
        "numpy_version": numpy.__version__,
        "python_version": platform.python_version(),
        "host_name": platform.node(),
        "date": utc_now(),
        "cpu_model": cpuinfo_field("model name"),
        "cpu_cores_online": os.cpu_count(),
        "isa_flags": isa_flags(),
        "threads_used": torch.get_num_threads(),
        "load_average_start": _load_average(),
        "stopping_policy": policy.name + " (hot caches)",
        "flops_rule": FLOPS_NOTE,
        "accuracy_rule": ACCURACY_NOTE,
        "inputs": INPUTS_NOTE,
        "gqa": ("enable_gqa=True (K/V not copied)" if gqa == "native"
                else "K/V heads expanded with repeat_interleave before timing"),
    }
    try:
        ctx["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        pass
    if torch.backends.mkldnn.is_available():
        ctx["torch_mkldnn"] = "available"
    if device == "cpu":
        ctx["device"] = f"cpu: {ctx['cpu_model']}, {ctx['threads_used']} threads"
        ctx["timing"] = ("real_time and cpu_time: wall clock (time.perf_counter) of one scaled_dot_product_attention "
                         "call on the CPU, the call returning with the output computed; no device clock")
        return ctx
    props = torch.cuda.get_device_properties(0)
    ctx.update({
        "device": f"cuda: {props.name}",
        "timing": ("real_time: device time, CUDA events recorded around one scaled_dot_product_attention call; "
                   "cpu_time: end-to-end latency, wall clock from the host call to completion (event synchronize)"),
        "cuda_runtime": str(torch.version.cuda),
        "cudnn_version": _version_string(torch.backends.cudnn.version()),
        "cuda_device": props.name,
        "cuda_compute_capability": f"{props.major}.{props.minor}",
        "cuda_sm_count": props.multi_processor_count,
        "cuda_mem_bytes": props.total_memory,
    })
    if hasattr(props, "L2_cache_size"):
        ctx["cuda_l2_bytes"] = props.L2_cache_size
    try:  # private, but the only place torch reports the driver's CUDA version
        v = torch._C._cuda_getDriverVersion()
        ctx["cuda_driver"] = f"{v // 1000}.{v % 1000 // 10}"
    except (AttributeError, RuntimeError):
        pass
    return ctx


def make_inputs(p):
    """Deterministic N(0,1) float32 inputs (NumPy PCG64 with the problem's seed)."""
    import numpy as np
    rng = np.random.default_rng(p.seed)
    q = rng.standard_normal((p.b, p.hq, p.sq, p.d), dtype=np.float32)
    k = rng.standard_normal((p.b, p.hkv, p.skv, p.d), dtype=np.float32)
    v = rng.standard_normal((p.b, p.hkv, p.skv, p.dv), dtype=np.float32)
    return q, k, v


TORCH_DTYPES = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}


class Case:
    """One problem's inputs (rounded to the dtype, on the CPU) and its fp64 reference."""

    def __init__(self, torch, p, reference_flops):
        dtype = getattr(torch, TORCH_DTYPES[p.dtype])
        q, k, v = make_inputs(p)
        self.torch, self.p = torch, p
        self.q, self.k, self.v = (torch.from_numpy(x).to(dtype) for x in (q, k, v))
        self.stride = reference_row_stride(p, reference_flops)
        self.rows, self.ref, self.abs_pv = reference(
            p, *(t.to(torch.float64).numpy() for t in (self.q, self.k, self.v)), stride=self.stride)

    def check(self, out):
        """Accuracy of a (b, hq, sq, dv) output on the reference's rows."""
        flat = out.detach().to("cpu", self.torch.float64).reshape(-1, self.p.dv).numpy()[self.rows]
        return check_accuracy(self.p.dtype, flat, self.ref, self.abs_pv)


def attention_call(torch, p, q, k, v, gqa):
    """The SDPA call for this problem's mask and GQA. Masks beyond is_causal become what PyTorch
    offers: causal_lower_right for causal_br, a boolean key mask (True: attend) for kvlen."""
    import torch.nn.functional as F
    kwargs = {"scale": p.scale()}
    if p.hq != p.hkv:
        if gqa == "native":
            kwargs["enable_gqa"] = True  # PyTorch >= 2.5; older raises TypeError -> skip
        else:
            k = k.repeat_interleave(p.group(), dim=1)
            v = v.repeat_interleave(p.group(), dim=1)
    if p.mask == "causal":
        kwargs["is_causal"] = True  # top-left, as the spec's causal
    elif p.mask == "causal_br":
        from torch.nn.attention.bias import causal_lower_right
        kwargs["attn_mask"] = causal_lower_right(p.sq, p.skv)
    elif p.mask == "kvlen":
        keys = torch.arange(p.skv, device=q.device)
        lengths = torch.tensor(p.kvlen, device=q.device)
        kwargs["attn_mask"] = (keys[None, :] < lengths[:, None])[:, None, None, :]

    def call():
        with torch.inference_mode():
            return F.scaled_dot_product_attention(q, k, v, **kwargs)
    return call


def sdpa_backends(torch, backend):
    """The SDPBackend list to pin, or None for PyTorch's own choice."""
    from torch.nn.attention import SDPBackend
    return {"cudnn": [SDPBackend.CUDNN_ATTENTION], "flash": [SDPBackend.FLASH_ATTENTION],
            "efficient": [SDPBackend.EFFICIENT_ATTENTION], "math": [SDPBackend.MATH],
            "cpu": None, "cpu_flash": [SDPBackend.FLASH_ATTENTION], "cpu_math": [SDPBackend.MATH]}[backend]


def profile_call(torch, call, device):
    """Runs call once under torch.profiler: (kernel note, peak bytes the call had allocated on the
    device at any moment, from the allocator's memory events)."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities, profile_memory=True) as prof:
        call()
        if device == "cuda":
            torch.cuda.synchronize()
    names, kernels, mem = [], {}, []
    memory_device = "CUDA" if device == "cuda" else "CPU"
    try:
        raw = prof.profiler.kineto_results.events()
    except AttributeError:  # no raw events in this torch: names only
        return kernel_from_profile([e.name for e in prof.events()]), 0
    for e in raw:
        name, where = e.name(), str(e.device_type())
        if name == "[memory]":
            if memory_device in where:
                mem.append((e.start_ns(), e.nbytes()))
        elif device == "cuda" and "CUDA" in where:
            kernels[name] = kernels.get(name, 0) + e.duration_ns()
        else:
            names.append(name)
    return kernel_from_profile(names, list(kernels.items())), memory_peak(mem)


def run_backend(torch, case, backend, device, policy, gqa):
    """One (backend, problem) case: accuracy, kernel, memory, then the timed samples."""
    p = case.p
    q, k, v = (t.to(device) for t in (case.q, case.k, case.v))
    call = attention_call(torch, p, q, k, v, gqa)
    pinned = sdpa_backends(torch, backend)
    from contextlib import nullcontext
    from torch.nn.attention import sdpa_kernel
    out_bytes = p.b * p.hq * p.sq * p.dv * q.element_size()
    with sdpa_kernel(pinned) if pinned else nullcontext():
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        out = call()
        if device == "cuda":
            torch.cuda.synchronize()
            scratch = max(0, torch.cuda.max_memory_allocated() - before - out_bytes)
        acc = case.check(out)
        del out
        kernel, peak = profile_call(torch, call, device)
        if device == "cpu":
            scratch = max(0, peak - out_bytes)
        if device == "cuda":
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

            def sample():
                t0 = time.perf_counter()
                start.record()
                call()
                stop.record()
                stop.synchronize()
                return (time.perf_counter() - t0) * 1e3, start.elapsed_time(stop)
        else:
            def sample():
                t0 = time.perf_counter()
                call()
                return (time.perf_counter() - t0) * 1e3, None
        wall, dev, why = measure(sample, policy)
    notes = {"kernel": kernel,
             "scratch": ("peak bytes allocated by the call beyond its output, from "
                         + ("torch.cuda.max_memory_allocated" if device == "cuda" else
                            "the CPU allocator's events in torch.profiler"))}
    if p.hq != p.hkv:
        notes["gqa"] = "enable_gqa" if gqa == "native" else "repeat_interleave (outside the timed call)"
    extra = {"rows_checked": int(case.rows.size), "rows_total": p.b * p.hq * p.sq}
    return case_entries("torch_" + backend, p, wall, dev, why, acc, scratch, notes, extra), acc, kernel


def skip_reason(p, backend, math_max_scores):
    if backend in ("math", "cpu_math") and p.scores() > math_max_scores:
        return (f"the math backend materialises b*hq*sq*skv = {p.scores()} scores, above the limit of "
                f"{math_max_scores} (--math-max-scores)")
    return None


def _first_line(text):
    text = str(text).strip()
    return text.splitlines()[0] if text else ""


def run(problems, backends, device, policy, out_path, gqa="native", threads=None,
        math_max_scores=MATH_MAX_SCORES, reference_flops=REFERENCE_FLOPS):
    torch = import_torch(device)
    if threads:
        torch.set_num_threads(threads)
    context = torch_context(torch, device, policy, gqa)
    entries = []
    total = len(problems) * len(backends)
    index = 0
    failures = 0
    for p in problems:
        case = None
        for backend in backends:
            index += 1
            name = f"torch_{backend}"
            reason = skip_reason(p, backend, math_max_scores)
            if reason:
                entries += skip_entries(name, p, reason)
                print(f"[{index}/{total}] {name} {p.to_string()}: skip: {reason}", file=sys.stderr)
                continue
            # PyTorch says why a backend declines in warnings; the error itself only says that
            # no kernel was available.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    if case is None:
                        case = Case(torch, p, reference_flops)
                    case_out, acc, kernel = run_backend(torch, case, backend, device, policy, gqa)
                    failure = None
                except (RuntimeError, TypeError, ValueError, MemoryError) as e:
                    failure = e
            if failure is None:
                entries += case_out
                med = case_out[1]
                status = (f"{med['status']}, p50 {med['real_time']:.4g} ms, {med['tflops']:.3g} TFLOP/s, "
                          f"{accuracy_summary(acc)}, {kernel}, {med['stopped_because']}")
                failures += 0 if acc["pass"] else 1
            else:
                text = _first_line(failure) or type(failure).__name__
                oom = isinstance(failure, MemoryError) or "out of memory" in text.lower()
                declined = ("No available kernel" in text or isinstance(failure, TypeError)
                            or "not supported" in text.lower())
                why = [_first_line(w.message) for w in caught]
                if why and declined:
                    text += " (" + "; ".join(dict.fromkeys(why)) + ")"
                kind = "skip" if (declined or oom) else "error"
                failures += kind == "error"
                entries += skip_entries(name, p, text, kind)
                status = f"{kind}: {text}"
                if device == "cuda":
                    torch.cuda.empty_cache()
            print(f"[{index}/{total}] {name} {p.to_string()}: {status}", file=sys.stderr)
    context["load_average_end"] = _load_average()
    context["date_end"] = utc_now()
    doc = results_document(context, entries)
    write_atomically(out_path, doc)
    print(f"wrote {out_path}", file=sys.stderr)
    return failures


def dry_run(problems):
    """What would run and the FLOPs each case is credited: checks parsing without torch."""
    for p in problems:
        print(f"{p.flops():.6e} flops  {p.visible_pairs()} pairs  {p.to_string()}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", help="suite name (harness/suites/<name>.txt) or path")
    parser.add_argument("--problem", action="append", default=[], help="a problem spec line (repeatable)")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="default cuda")
    parser.add_argument("--backend", action="append", choices=CUDA_BACKENDS + CPU_BACKENDS,
                        help=f"repeatable; default: all of {', '.join(CUDA_BACKENDS)} on cuda, cpu on cpu "
                             "(PyTorch's own choice; cpu_flash and cpu_math pin one)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: PyTorch's)")
    parser.add_argument("--policy", default="default", help="stopping policy: default, quick, p99")
    parser.add_argument("--warmup", type=int, help="untimed calls before sampling (default: the policy's)")
    parser.add_argument("--samples", type=int, help="exactly this many timed calls (overrides the policy)")
    parser.add_argument("--gqa", choices=("native", "repeat"), default="native",
                        help="GQA through enable_gqa (native, default) or repeat_interleave of K/V")
    parser.add_argument("--math-max-scores", type=int, default=MATH_MAX_SCORES,
                        help=f"skip the math backend above this many b*hq*sq*skv scores (default {MATH_MAX_SCORES})")
    parser.add_argument("--reference-flops", type=float, default=REFERENCE_FLOPS,
                        help=f"fp64 reference budget; above it a row sample is checked (default {REFERENCE_FLOPS:g})")
    parser.add_argument("--out", default="torch_sdpa.json", help="results file (default torch_sdpa.json)")
    parser.add_argument("--dry-run", action="store_true", help="parse and print FLOPs; needs no torch")
    args = parser.parse_args(argv)
    try:
        policy = stopping_policy(args.policy)
        if args.warmup is not None:
            if args.warmup < 0:
                raise SpecError("--warmup must be >= 0")
            policy.warmup = args.warmup
        if args.samples is not None:
            if args.samples < 1:
                raise SpecError("--samples must be >= 1")
            policy.min_samples = policy.max_samples = args.samples
            policy.case_budget_s = math.inf
        if args.threads is not None and args.threads < 1:
            raise SpecError("--threads must be >= 1")
        backends = args.backend or list(CUDA_BACKENDS if args.device == "cuda" else CPU_BACKENDS[:1])
        wrong = [b for b in backends if (b in CPU_BACKENDS) != (args.device == "cpu")]
        if wrong:
            raise SpecError(f"--backend {wrong[0]} is not a {args.device} backend (cuda: "
                            f"{', '.join(CUDA_BACKENDS)}; cpu: {', '.join(CPU_BACKENDS)})")
        problems = [parse_problem(s) for s in args.problem]
        if args.suite:
            problems += load_suite(args.suite)
    except SpecError as e:
        print(f"torch_sdpa: {e}", file=sys.stderr)
        return 2
    if not problems:
        print("torch_sdpa: nothing to run: give --suite or --problem", file=sys.stderr)
        return 2
    if args.dry_run:
        dry_run(problems)
        return 0
    try:
        failures = run(problems, backends, args.device, policy, args.out, args.gqa, args.threads,
                       args.math_max_scores, args.reference_flops)
    except MissingDependency as e:
        print(f"torch_sdpa: {e}", file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
