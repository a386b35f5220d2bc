#!/usr/bin/env bash
# Interleaved A/B speed of two sdpa-bench binaries on the same pinned backend and problems:
# ROUNDS rounds, each running OLD then NEW (NEW then OLD in odd rounds) once per problem with
# the quick policy, one thread; prints each problem's median over rounds of NEW p50 / OLD p50.
#   usage: ab_speed.sh OLD_BINARY NEW_BINARY ROUNDS BACKEND PROBLEM...
set -eu
old=$1 new=$2 rounds=$3 backend=$4; shift 4
work=$(mktemp -d)
p50() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print([b['real_time'] for b in d['benchmarks'] if b.get('aggregate_name')=='median'][0])" "$1"; }
for p in "$@"; do
  ratios=()
  for ((r = 0; r < rounds; ++r)); do
    order=(old new); ((r % 2)) && order=(new old)
    for which in "${order[@]}"; do
      bin=$old; [[ $which == new ]] && bin=$new
      SDPA_BLOCKED_CPU_TUNE=off "$bin" run -b "$backend" -p "$p" --policy quick --no-calibration -t 1 \
        -o "$work/$which.json" --force >/dev/null 2>&1
    done
    ratios+=("$(python3 -c "print($(p50 "$work/new.json") / $(p50 "$work/old.json"))")")
  done
  python3 -c "import statistics,sys; r=[float(x) for x in sys.argv[2:]]; print(f'{sys.argv[1]}: new/old median {statistics.median(r):.3f} (rounds: ' + ' '.join(f'{x:.3f}' for x in r) + ')')" "$backend $p" "${ratios[@]}"
done
rm -rf "$work"
