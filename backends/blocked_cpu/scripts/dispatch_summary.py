#!/usr/bin/env python3
"""Summarises a blocked_cpu_dispatch_table output (markdown) for the dispatch README.

For each row it names the route the fastest pinned variant ran (pinned amx / avx512bf16 run
f32 on the AVX-512 table, bf16 natively and f16 as pairs; avx512 / avx2 run everything
through f32; all take the key split's rule) and whether the default ran that same route: then
a ratio away from 1 is the machine's noise, not a wrong choice.
  usage: dispatch_summary.py TABLE.md [--limit 1.03]
"""
import re
import sys


def pinned_route(variant, dtype):
    isa = variant.removeprefix("blocked_cpu_")
    if isa in ("amx", "avx512bf16"):
        if dtype == "f32":
            return "avx512 f32"
        return f"{isa} {'f16 as bf16 pairs' if dtype == 'f16' else 'bf16'}"
    return f"{isa} f32"


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: dispatch_summary.py TABLE.md [--limit 1.03]")
    limit = 1.03
    if "--limit" in args:
        limit = float(args[args.index("--limit") + 1])
    rows = []
    for line in open(args[0]):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 8 or not re.match(r"^[\d.]+$", cells[-1]):
            continue
        suite, problem, plan, trial, dflt, fastest, ftime, ratio = cells
        dtype = re.search(r"dtype=(\w+)", problem).group(1)
        route = plan.split(",")[0]
        same = route == pinned_route(fastest, dtype)
        rows.append((suite, problem, plan, trial, float(ratio), fastest, same))
    within = sum(r[4] <= limit for r in rows)
    print(f"{within} of {len(rows)} problems within {limit:.2f}x of the fastest pinned variant.")
    print()
    print("| suite | problem | default's plan | trial (ms) | default / fastest pinned | fastest pinned | same route |")
    print("|---|---|---|---:|---:|---|---|")
    for suite, problem, plan, trial, ratio, fastest, same in rows:
        short = re.sub(r",(scale=default|seed=1|mask=none|dv=\d+)", "", problem)
        print(f"| {suite} | {short} | {plan} | {trial} | {ratio:.3f} | {fastest} | {'yes' if same else 'no'} |")


if __name__ == "__main__":
    main()
