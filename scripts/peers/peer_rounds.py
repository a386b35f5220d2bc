#!/usr/bin/env python3
"""blocked_cpu against each CPU peer (OpenVINO, ONNX Runtime), back to back in alternating rounds
within one run: ratios, not absolute times, on a machine whose speed drifts.

    scripts/peers/peer_rounds.py --threads 2 --rounds 5 --suite cpu_16bit --suite cpu_peak \\
        --out results/<class>/peers-rounds.json > results/<class>/peers-rounds.md

Per problem, each peer variant is built, compiled and checked once with sdpa-bench's accuracy rule
against the fp64 reference (peer_run.Case). A variant that fails the rule is listed as failing,
with its error, and never timed against blocked_cpu. Then, per round, blocked_cpu runs in a child
`sdpa-bench run --backend blocked_cpu --problem P` (its own check, then --samples timed calls,
which it reports) and every accurate variant runs --samples timed calls in this process; the
order flips every round (A B C, C B A, ...), so drift falls on both sides. The ratio of a round is
the peer's median over blocked_cpu's median in that round; the table gives the median ratio over
rounds and its range (the spread). Ratio > 1: blocked_cpu is faster.
Needs the built sdpa-bench (SDPA_BENCH_EXE or build/release/sdpa-bench) and the peers' set-ups.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_run  # noqa: E402
from peer_accuracy import REFERENCE_FLOPS  # noqa: E402
from peer_results import utc_now, write_atomically  # noqa: E402
from report_lib.problem import REPO, SpecError, load_suite, parse_problem  # noqa: E402


def peer_variants(which, precision_hints):
    """(label, prepare) for the chosen peers; OpenVINO once per precision hint."""
    out = []
    if "openvino" in which:
        import openvino_sdpa as ovs
        ovs.import_peer()
        for hint in precision_hints:
            for name, prep in ovs.VARIANTS.items():
                label = name if hint == "dtype" else f"{name}[hint={hint}]"
                out.append((label, prep, {"precision_hint": hint}))
    if "onnxruntime" in which:
        import onnxruntime_sdpa as ors
        ors.import_peer()
        for name, prep in ors.VARIANTS.items():
            out.append((name, prep, {}))
    return out


def blocked_cpu_median(exe, p, threads, samples, out_dir):
    """Median ms of `samples` timed blocked_cpu calls in a child sdpa-bench, and its verdict."""
    out = os.path.join(out_dir, "blocked.json")
    cmd = [exe, "run", "--backend", "blocked_cpu", "--problem", p.to_string(), "--threads", str(threads),
           "--policy", "quick", "--min-samples", str(samples), "--max-time", "0.001", "--no-calibration",
           "--fresh", "--force", "--out", out]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    if r.returncode not in (0, 1) or not os.path.exists(out):
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()[-400:]}")
    with open(out, encoding="utf-8") as f:
        doc = json.load(f)
    for e in doc["benchmarks"]:
        if e.get("aggregate_name") == "median" and e.get("backend") == "blocked_cpu":
            unit = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[e.get("time_unit", "ms")]
            samples_ms = [x * unit for x in e.get("samples_real_time") or [e["real_time"]]]
            return statistics.median(samples_ms), e.get("status"), len(samples_ms), e.get("note_plan") or e.get(
                "note_route") or ""
    raise RuntimeError(f"no blocked_cpu median in {out}: {r.stderr.strip()[-400:]}")


def timed(call, samples):
    call()  # warm-up
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", action="append", default=[], help="suite name or path (repeatable)")
    ap.add_argument("--problem", action="append", default=[], help="a problem spec line (repeatable)")
    ap.add_argument("--peer", action="append", choices=("openvino", "onnxruntime"),
                    help="repeatable; default both")
    ap.add_argument("--openvino-hint", action="append", choices=("dtype", "default", "bf16", "f16", "f32"),
                    help="OpenVINO precision hints to try (repeatable; default: dtype)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--samples", type=int, default=5, help="timed calls per side per round (default 5)")
    ap.add_argument("--out", required=True, help="JSON with every round's medians")
    args = ap.parse_args(argv)
    exe = os.environ.get("SDPA_BENCH_EXE") or os.path.join(REPO, "build", "release", "sdpa-bench")
    try:
        problems = [parse_problem(s) for s in args.problem]
        for s in args.suite:
            problems += load_suite(s)
        if not problems:
            raise SpecError("nothing to run: give --suite or --problem")
        if args.rounds < 1 or args.samples < 1 or args.threads < 1:
            raise SpecError("--rounds, --samples and --threads must be >= 1")
        if not os.access(exe, os.X_OK):
            raise SpecError(f"{exe}: no sdpa-bench binary (build it, or set SDPA_BENCH_EXE)")
        variants = peer_variants(args.peer or ["openvino", "onnxruntime"], args.openvino_hint or ["dtype"])
    except (SpecError, peer_run.MissingDependency) as e:
        print(f"peer_rounds: {e}", file=sys.stderr)
        return 2
    import numpy  # noqa: F401
    base = SimpleNamespace(threads=args.threads, gqa="native", precision_hint="dtype")
    doc = {"date": utc_now(), "threads": args.threads, "rounds": args.rounds, "samples": args.samples,
           "load_average_start": peer_run.load_average(), "cpu": peer_run.cpuinfo_field("model name"),
           "problems": []}
    lines = ["| problem | peer (variant) | verdict | rounds | peer / blocked_cpu, median | spread (min–max) |",
             "|---|---|---|---:|---:|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for p in problems:
            case = peer_run.Case(p, REFERENCE_FLOPS)
            entry = {"problem": p.to_string(), "peers": {}, "blocked_cpu_ms": []}
            ready = []
            for label, prepare, extra in variants:
                opts = SimpleNamespace(**{**vars(base), **extra})
                try:
                    call, notes = prepare(case, opts)
                    acc = case.check(call())
                except peer_run.Unsupported as e:
                    entry["peers"][label] = {"verdict": f"skip: {e}"}
                    continue
                except Exception as e:  # noqa: BLE001
                    entry["peers"][label] = {"verdict": f"error: {type(e).__name__}: {str(e).splitlines()[0][:200]}"}
                    continue
                info = {"verdict": "pass" if acc["pass"] else "fail", "worst_of_bound": acc["worst_of_bound"],
                        "nmse": acc["nmse"], "notes": notes, "ms": []}
                entry["peers"][label] = info
                if acc["pass"]:
                    ready.append((label, call))
                else:  # timed once for the record, never a ratio
                    info["ms_alone"] = timed(call, 2)
            for r in range(args.rounds):
                order = [("blocked_cpu", None)] + ready
                for label, call in (order if r % 2 == 0 else order[::-1]):
                    if call is None:
                        ms, status, n, plan = blocked_cpu_median(exe, p, args.threads, args.samples, tmp)
                        entry["blocked_cpu_ms"].append(ms)
                        entry["blocked_cpu_status"], entry["blocked_cpu_plan"] = status, plan
                    else:
                        entry["peers"][label]["ms"].append(timed(call, args.samples))
                print(f"{p.to_string()}: round {r + 1}/{args.rounds} done", file=sys.stderr)
            for label, info in entry["peers"].items():
                short = f"h={p.hq}{'/' + str(p.hkv) if p.hkv != p.hq else ''} sq={p.sq} skv={p.skv} d={p.d} " \
                        f"{p.dtype}{' ' + p.mask if p.mask != 'none' else ''}"
                if info.get("ms"):
                    ratios = [a / b for a, b in zip(info["ms"], entry["blocked_cpu_ms"])]
                    info["ratios"] = ratios
                    lines.append(f"| {short} | {label} | pass (worst {info['worst_of_bound']:.2g} of bound) | "
                                 f"{len(ratios)} | {statistics.median(ratios):.2f} | "
                                 f"{min(ratios):.2f}–{max(ratios):.2f} |")
                elif info["verdict"] == "fail":
                    lines.append(f"| {short} | {label} | **fails** the rule: worst {info['worst_of_bound']:.3g} of "
                                 f"bound, nmse {info['nmse']:.2g} | – | not compared | "
                                 f"({info['ms_alone']:.1f} ms alone) |")
                else:
                    lines.append(f"| {short} | {label} | {info['verdict'][:160]} | – | – | – |")
            doc["problems"].append(entry)
            write_atomically(args.out, {**doc, "load_average_end": peer_run.load_average()})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
