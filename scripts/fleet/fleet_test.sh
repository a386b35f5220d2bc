#!/usr/bin/env bash
# The fleet path without Slurm: the array script run as plain bash once per task index (as
# sbatch --array=0-2 would), then merge-and-report; the merged file must hold exactly the cases
# of the unsharded selection (as `check` lists them), and a missing shard must be refused.
# Usage: scripts/fleet/fleet_test.sh BUILD_DIR   (CTest: `ctest -L fleet`)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$(realpath "${1:?usage: fleet_test.sh BUILD_DIR}")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

export SDPA_BENCH="$build/sdpa-bench" SDPA_RESULTS_DIR="$tmp/results" SDPA_MACHINE=test-class SDPA_RUN_ID=42
# The f16 half of the smoke suite keeps three shards quick; merge_test covers the whole suite.
select=(--suite smoke --backend naive --backend blocked_cpu --dtype f16)
for i in 0 1 2; do
  SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=3 bash "$here/slurm-array.sbatch" "${select[@]}" \
    --policy quick --no-calibration > "$tmp/task-$i.log" 2>&1 || { cat "$tmp/task-$i.log"; fail "array task $i"; }
done
shards=("$tmp"/results/test-class/smoke-42.shard-{0,1,2}-of-3.json)
for f in "${shards[@]}"; do [ -e "$f" ] || fail "no $f (got: $(ls -R "$tmp/results"))"; done

"$here/merge-and-report" "${shards[@]}" > "$tmp/report.txt" 2>&1 || { cat "$tmp/report.txt"; fail "merge-and-report"; }
merged="$tmp/results/test-class/smoke-42.json"
grep -qF "## $merged" "$tmp/report.txt" || { cat "$tmp/report.txt"; fail "no report of $merged"; }

"$SDPA_BENCH" check "${select[@]}" --json "$tmp/check.json" > /dev/null
python3 - "$merged" "$tmp/check.json" <<'EOF' || fail "the merged case set differs from the unsharded one"
import json, sys
merged = {e["run_name"] for e in json.load(open(sys.argv[1]))["benchmarks"]}
unsharded = {c["name"] for c in json.load(open(sys.argv[2]))["cases"]}
if merged != unsharded or len(unsharded) < 3:
    print("only merged:", sorted(merged - unsharded), "only unsharded:", sorted(unsharded - merged), file=sys.stderr)
    sys.exit(1)
print(f"fleet_test: {len(merged)} cases from 3 shards, the unsharded set")
EOF

# A lost task: refused (exit 2) with the absent shard named.
status=0
"$here/merge-and-report" "${shards[0]}" "${shards[2]}" --out "$tmp/partial.json" > "$tmp/partial.txt" 2>&1 || status=$?
[ $status = 2 ] || { cat "$tmp/partial.txt"; fail "a missing shard gave exit $status, not 2"; }
grep -qF "shard 1 of 3 absent" "$tmp/partial.txt" || { cat "$tmp/partial.txt"; fail "the absent shard is not named"; }
# A task index outside the array: refused before running anything.
status=0
SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_COUNT=3 bash "$here/slurm-array.sbatch" > "$tmp/bad.txt" 2>&1 || status=$?
[ $status = 2 ] || fail "task 3 of 3 gave exit $status, not 2"
echo "fleet_test: ok"
