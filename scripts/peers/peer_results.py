"""Results files in sdpa-bench's format (version 2): Google Benchmark JSON with a format name
and version, one group of aggregates per (backend, problem) with every sample on the median,
one entry per skipped case, finite numbers only, written atomically. Standard library only."""

import datetime
import json
import math
import os

from peer_measure import AGGREGATES, summarize

FORMAT = "sdpa-bench-results"
FORMAT_VERSION = 2
FLOPS_NOTE = ("flops = 2*(d+dv) per unmasked (query, key) pair, summed over batch and heads (= 4*b*hq*sq*skv*d "
              "for d=dv and no mask); masked pairs are not counted")


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
