#!/usr/bin/env python3
"""blocked_cpu's f32 attention against the same run's library sgemm (issue: >= 95% at d=128,
>= 90% at d=64).

Runs `sdpa-bench run -b blocked_cpu -b onednn` on the three f32 problems, several times, and
sets the attention's median rate against the oneDNN f32 matmul calibrated at the start and at
the end of the same run (two readings per run). With several binaries (--bin, repeatable) the
runs alternate between them round by round, so a before/after sees the same machine. Without
--rounds it only summarises the results files already in --out.

  f32_vs_sgemm.py --bin build/release/sdpa-bench --rounds 4 --out /tmp/f32
  f32_vs_sgemm.py --bin old=/path/old/sdpa-bench --bin new=build/release/sdpa-bench --rounds 3 --out /tmp/f32
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys

PROBLEMS = {
    "h8 n4096 d128": "b=1,hq=8,sq=4096,d=128",
    "h16 n2048 d64": "b=1,hq=16,sq=2048,d=64",
    "h8 n4096 d64": "b=1,hq=8,sq=4096,d=64",
}
GOAL = {"h8 n4096 d128": 0.95, "h16 n2048 d64": 0.90, "h8 n4096 d64": 0.90}


def label_of(name):
    """The PROBLEMS label of a benchmark name ("blocked_cpu/b=1,hq=8,hkv=8,sq=4096,..."), or None."""
    fields = dict(kv.split("=", 1) for kv in name.split("/", 1)[-1].split(",") if "=" in kv)
    for label, spec in PROBLEMS.items():
        if all(fields.get(k) == v for k, v in (kv.split("=") for kv in spec.split(","))):
            return label
    return None


def readings(path):
    """{problem label: (attention TFLOP/s, [sgemm start, sgemm end])} of one results file."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{path}: skipped: {e}", file=sys.stderr)
        return {}
    if not isinstance(doc, dict) or doc.get("format") != "sdpa-bench-results":
        print(f"{path}: skipped: not an sdpa-bench results file", file=sys.stderr)
        return {}
    ctx = doc["context"]
    sgemm = [ctx.get("calibration_cpu_f32_tflops"), ctx.get("calibration_end_cpu_f32_tflops")]
    out = {}
    for b in doc["benchmarks"]:
        if b.get("backend") != "blocked_cpu" or b.get("aggregate_name") != "median":
            continue
        label = label_of(b["name"])
        if label:
            out[label] = (b["tflops"], [s for s in sgemm if s])
    return out


def summarise(out_dir):
    files = sorted(glob.glob(os.path.join(out_dir, "*.json")))
    by_bin = {}
    for path in files:
        name = os.path.basename(path).rsplit("-", 1)[0]
        if r := readings(path):
            by_bin.setdefault(name, []).append(r)
    for name, runs in by_bin.items():
        print(f"\n{name}: {len(runs)} runs")
        print("| problem | attention TFLOP/s | sgemm start/end | attention / sgemm, every reading | median | goal |")
        print("|---|---|---|---|---:|---:|")
        for label in PROBLEMS:
            rows = [r[label] for r in runs if label in r]
            if not rows:
                continue
            ratios = [a / s for a, sg in rows for s in sg]
            print(f"| {label} | {', '.join(f'{a:.3f}' for a, _ in rows)} "
                  f"| {', '.join('/'.join(f'{s:.3f}' for s in sg) for _, sg in rows)} "
                  f"| {', '.join(f'{100 * r:.1f}' for r in ratios)}% "
                  f"| {100 * statistics.median(ratios):.1f}% | {100 * GOAL[label]:.0f}% |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", default=[], help="[NAME=]path of an sdpa-bench (repeatable)")
    ap.add_argument("--rounds", type=int, default=0, help="runs per binary (0: only summarise --out)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    ap.add_argument("--max-time", type=float, default=3.0, help="seconds of sampling per case")
    ap.add_argument("--out", required=True, help="folder of the results files")
    args = ap.parse_args()
    if args.rounds < 0 or (args.rounds and not args.bin):
        ap.error("--rounds needs at least one --bin")
    os.makedirs(args.out, exist_ok=True)
    bins = []
    for b in args.bin:
        name, _, path = b.rpartition("=")
        if not os.access(path, os.X_OK):
            ap.error(f"--bin {b}: not an executable")
        bins.append((name or "run", path))
    for i in range(args.rounds):
        for name, path in bins:
            out = os.path.join(args.out, f"{name}-{i + 1}.json")
            cmd = [path, "run", "-b", "blocked_cpu", "-b", "onednn", "--max-time", str(args.max_time), "--fresh",
                   "-o", out]
            for spec in PROBLEMS.values():
                cmd += ["-p", spec]
            if args.threads:
                cmd += ["-t", str(args.threads)]
            print(f"round {i + 1}: {name}", file=sys.stderr, flush=True)
            if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode != 0:
                print(f"{name}: run failed: {' '.join(cmd)}", file=sys.stderr)
                return 1
    summarise(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
