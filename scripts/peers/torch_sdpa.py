#!/usr/bin/env python3
"""Runs sdpa-bench problems through PyTorch's scaled_dot_product_attention, once per PyTorch
SDPA backend (cudnn, flash, efficient, math), and writes a results file in sdpa-bench's format
(Google Benchmark JSON: one iteration entry per timed query, then the aggregates).

    scripts/peers/torch_sdpa.py --suite flash_sweep --out results/torch.json
    scripts/peers/torch_sdpa.py --problem b=2,hq=8,sq=1024,d=64,dtype=f16,mask=causal
    scripts/peers/torch_sdpa.py --suite smoke --dry-run      # parse and count FLOPs, no torch

Needs torch with a CUDA device; without one it says so and exits 2. Only the standard library
otherwise. Timings are peers for sdpa-bench's own GPU backends: same problems, same FLOP
count, same statistics. Inputs are torch.randn, not sdpa-bench's generator, so this script
measures time only; correctness is sdpa-bench's job.
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
BACKENDS = ("cudnn", "flash", "efficient", "math")
AGGREGATES = ("mean", "median", "stddev", "min", "max", "p90", "p99")
MAX_DIM = 1 << 24  # as harness/problem.cpp: beyond this a dimension is a typo
FLOPS_NOTE = ("flops = 2*(d+dv) per unmasked (query, key) pair, i.e. 4*b*hq*sq*skv*d for d = dv "
              "and no mask; masked pairs are not counted")


class SpecError(ValueError):
    """A malformed problem spec; the message names the key, the value and the rule."""


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

    def visible_keys(self, bi, i):
        """Keys [0, visible) that query row i of batch item bi sees (harness/problem.cpp)."""
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

    def to_string(self):
        """The canonical spec line, as sdpa-bench writes it (the benchmark names must match)."""
        mask = "kvlen:" + "/".join(str(x) for x in self.kvlen) if self.mask == "kvlen" else self.mask
        scale = "default" if self.scale_value is None else format(self.scale_value, ".17g")
        return (f"b={self.b},hq={self.hq},hkv={self.hkv},sq={self.sq},skv={self.skv},d={self.d},"
                f"dv={self.dv},dtype={self.dtype},mask={mask},scale={scale},seed={self.seed}")


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
    if not re.fullmatch(r"-?[0-9.]+([eE][-+]?[0-9]+)?", value):
        return float("nan")
    try:
        return float(value)
    except ValueError:
        return float("nan")


def _dim(key, value):
    result = _int(key, value, 1)
    if result > MAX_DIM:
        _fail(key, value, f"must be <= {MAX_DIM}")
    return result


def parse_problem(spec):
    """Parses a spec line with the rules of harness/problem.cpp; raises SpecError."""
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
    known = ("b", "h", "hq", "hkv", "sq", "skv", "d", "dv", "dtype", "mask", "scale", "seed")
    for key, value in seen.items():
        if key not in known:
            _fail(key, value, "unknown key; known keys: " + ",".join(known))

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


def percentile(samples, q):
    """Linear interpolation between order statistics (NumPy's default), as harness/stats.cpp."""
    s = sorted(samples)
    pos = min(max(q, 0.0), 100.0) / 100.0 * (len(s) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarize(samples):
    n = len(samples)
    mean = sum(samples) / n
    var = sum((x - mean) ** 2 for x in samples)
    return {"mean": mean, "median": percentile(samples, 50), "min": min(samples), "max": max(samples),
            "p90": percentile(samples, 90), "p99": percentile(samples, 99),
            "stddev": math.sqrt(var / (n - 1)) if n > 1 else 0.0}


def _base_entry(backend, p):
    name = f"torch_{backend}/{p.to_string()}"
    return {"name": name, "run_name": name, "backend": f"torch_{backend}", "problem": p.to_string(),
            "threads": 1, "iterations": 1, "time_unit": "ms"}


def _counters(p, time_ms):
    flops = p.flops()
    return {"flops": flops, "tflops": flops / (time_ms * 1e-3) / 1e12 if time_ms > 0 else 0.0}


def skip_entries(backend, p, reason):
    e = _base_entry(backend, p)
    e.update({"status": "skip", "run_type": "iteration", "repetitions": 0, "repetition_index": 0,
              "real_time": 0, "cpu_time": 0, "error_occurred": True, "error_message": "skip: " + reason})
    return [e]


def case_entries(backend, p, device_ms, wall_ms):
    """One iteration entry per timed query (real_time: CUDA events; cpu_time: wall clock of the
    same query), then the aggregates, named like sdpa-bench's. Status "unchecked": the output is
    not compared with a reference here (sdpa-bench's own backends say pass or fail)."""
    n = len(device_ms)
    out = []
    for i, (dev, wall) in enumerate(zip(device_ms, wall_ms)):
        e = _base_entry(backend, p)
        e.update({"status": "unchecked", "run_type": "iteration", "repetitions": n, "repetition_index": i,
                  "real_time": dev, "cpu_time": wall})
        e.update(_counters(p, dev))
        out.append(e)
    dev_sum, wall_sum = summarize(device_ms), summarize(wall_ms)
    for agg in AGGREGATES:
        e = _base_entry(backend, p)
        e.update({"name": e["run_name"] + "_" + agg, "status": "unchecked", "run_type": "aggregate",
                  "aggregate_name": agg, "aggregate_unit": "time", "repetitions": n,
                  "real_time": dev_sum[agg], "cpu_time": wall_sum[agg], "device_clock": True})
        if agg != "stddev":
            e.update(_counters(p, dev_sum[agg]))
        out.append(e)
    return out


# ---- torch ------------------------------------------------------------------------------

def _import_torch():
    """torch and its CUDA device, or exit 2 with the reason."""
    try:
        import torch  # optional: --dry-run needs no torch
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError as e:
        sys.exit(f"torch_sdpa: PyTorch (with torch.nn.attention, 2.3 or newer) is not installed: {e}")
    if not torch.cuda.is_available():
        sys.exit(f"torch_sdpa: torch {torch.__version__} sees no CUDA device "
                 f"(built for CUDA {torch.version.cuda}); nothing to run")
    return torch


def _version_string(v):
    """cuDNN's integer version as text: 91900 -> 9.19.0 (cuDNN 9), 8902 -> 8.9.2 (cuDNN 8)."""
    if v is None:
        return "none"
    return f"{v // 10000}.{v % 10000 // 100}.{v % 100}" if v >= 10000 else f"{v // 1000}.{v % 1000 // 100}.{v % 100}"


def torch_context(torch):
    props = torch.cuda.get_device_properties(0)
    ctx = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host_name": platform.node(),
        "executable": "scripts/peers/torch_sdpa.py",
        "torch_version": torch.__version__,
        "cuda_runtime": str(torch.version.cuda),
        "cudnn_version": _version_string(torch.backends.cudnn.version()),
        "cuda_device": props.name,
        "cuda_device_index": "0",
        "cuda_compute_capability": f"{props.major}.{props.minor}",
        "cuda_sm_count": str(props.multi_processor_count),
        "cuda_mem_bytes": str(props.total_memory),
        "flops_note": FLOPS_NOTE,
        "inputs": "torch.randn per problem seed (not sdpa-bench's generator): timings only, no accuracy check",
        "timing": "real_time: CUDA events around one scaled_dot_product_attention call; cpu_time: wall clock "
                  "of the same call and a synchronize",
    }
    if hasattr(props, "L2_cache_size"):
        ctx["cuda_l2_bytes"] = str(props.L2_cache_size)
    try:  # private, but the only place torch reports the driver's CUDA version
        v = torch._C._cuda_getDriverVersion()
        ctx["cuda_driver"] = f"{v // 1000}.{v % 1000 // 10}"
    except (AttributeError, RuntimeError):
        pass
    return ctx


def _inputs(torch, p):
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[p.dtype]
    gen = torch.Generator(device="cuda").manual_seed(p.seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, device="cuda", dtype=torch.float32).to(dtype)

    return randn(p.b, p.hq, p.sq, p.d), randn(p.b, p.hkv, p.skv, p.d), randn(p.b, p.hkv, p.skv, p.dv)


def _attention_call(torch, p, q, k, v):
    """The SDPA call for this problem's mask; masks beyond is_causal become what PyTorch offers."""
    import torch.nn.functional as F
    kwargs = {"scale": p.scale()}
    if p.hq != p.hkv:
        kwargs["enable_gqa"] = True  # PyTorch >= 2.5; older raises TypeError -> skip
    if p.mask == "causal":
        kwargs["is_causal"] = True  # top-left, as the spec's causal
    elif p.mask == "causal_br":
        from torch.nn.attention.bias import causal_lower_right
        kwargs["attn_mask"] = causal_lower_right(p.sq, p.skv)
    elif p.mask == "kvlen":
        keys = torch.arange(p.skv, device="cuda")
        lengths = torch.tensor([min(x, p.skv) for x in p.kvlen], device="cuda")
        kwargs["attn_mask"] = (keys[None, :] < lengths[:, None])[:, None, None, :]  # True: attend
    return lambda: F.scaled_dot_product_attention(q, k, v, **kwargs)


def time_case(torch, backend, p, warmup, samples):
    """Per-query device and wall times in ms, or raises with PyTorch's reason."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    kind = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}[backend]
    q, k, v = _inputs(torch, p)
    call = _attention_call(torch, p, q, k, v)
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    device_ms, wall_ms = [], []
    with sdpa_kernel([kind]):
        for _ in range(warmup):
            call()
        torch.cuda.synchronize()
        for _ in range(samples):
            t0 = time.perf_counter()
            start.record()
            call()
            stop.record()
            stop.synchronize()
            wall_ms.append((time.perf_counter() - t0) * 1e3)
            device_ms.append(start.elapsed_time(stop))
    return device_ms, wall_ms


def _first_line(text):
    text = text.strip()
    return text.splitlines()[0] if text else ""


def run(problems, backends, warmup, samples, out_path):
    torch = _import_torch()
    entries = []
    total = len(problems) * len(backends)
    index = 0
    for p in problems:
        for backend in backends:
            index += 1
            # PyTorch says why a backend declines in warnings; the error itself only says that
            # no kernel was available.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    device_ms, wall_ms = time_case(torch, backend, p, warmup, samples)
                    failure = None
                except (RuntimeError, TypeError, ValueError) as e:  # "No available kernel", OOM, old torch
                    failure = e
            if failure is None:
                entries += case_entries(backend, p, device_ms, wall_ms)
                med = summarize(device_ms)["median"]
                status = f"{med:.4f} ms, {_counters(p, med)['tflops']:.1f} TFLOP/s"
            else:
                reason = _first_line(str(failure)) or type(failure).__name__
                why = [_first_line(str(w.message)) for w in caught]
                if why:
                    reason += " (" + "; ".join(dict.fromkeys(why)) + ")"
                entries += skip_entries(backend, p, reason)
                status = "skip: " + reason
                torch.cuda.empty_cache()
            print(f"[{index}/{total}] torch_{backend} {p.to_string()}: {status}", file=sys.stderr)
    doc = {"context": torch_context(torch), "benchmarks": entries}
    tmp = f"{out_path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, out_path)  # a reader never sees half a file
    print(f"wrote {out_path}", file=sys.stderr)


def dry_run(problems):
    """What would run and the FLOPs each case is credited: checks parsing without torch."""
    for p in problems:
        print(f"{p.flops():.6e} flops  {p.visible_pairs()} pairs  {p.to_string()}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", help="suite name (harness/suites/<name>.txt) or path")
    parser.add_argument("--problem", action="append", default=[], help="a problem spec line (repeatable)")
    parser.add_argument("--backend", action="append", choices=BACKENDS,
                        help="PyTorch SDPA backend (repeatable; default: all of " + ", ".join(BACKENDS) + ")")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls before sampling (default 10)")
    parser.add_argument("--samples", type=int, default=64,
                        help="timed calls per case (default 64, the minimum for a p90 claim)")
    parser.add_argument("--out", default="torch_sdpa.json", help="results file (default torch_sdpa.json)")
    parser.add_argument("--dry-run", action="store_true", help="parse and print FLOPs; needs no torch")
    args = parser.parse_args(argv)
    try:
        if args.samples < 1 or args.warmup < 0:
            raise SpecError("--samples must be >= 1 and --warmup >= 0")
        problems = [parse_problem(s) for s in args.problem]
        if args.suite:
            problems += load_suite(args.suite)
    except SpecError as e:
        print(f"torch_sdpa: {e}", file=sys.stderr)
        return 2
    if not problems:
        print("torch_sdpa: nothing to run: give --suite or --problem", file=sys.stderr)
        return 2
    backends = args.backend or list(BACKENDS)
    if args.dry_run:
        dry_run(problems)
        return 0
    try:
        run(problems, backends, args.warmup, args.samples, args.out)
    except SystemExit as e:  # torch or CUDA missing: the message, then exit 2
        print(e.code, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
