#!/bin/sh
# scripts/gpu-check on a machine without a CUDA device must stop at once, before any test or
# benchmark, exit 1 and say "no CUDA device". Usage: gpu_check_test.sh SDPA_BENCH SOURCE_DIR
# Skipped (77) where a device exists, and inside gpu-check's own run (no recursion).
bin="$1"
root="$2"
[ -z "${SDPA_GPU_CHECK_RUNNING:-}" ] || { echo "inside scripts/gpu-check: skipped"; exit 77; }
if "$bin" list 2>/dev/null | grep -q '^  cudnn$'; then
  echo "this machine has a CUDA device: the no-device path cannot be tested here"
  exit 77
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
"$root/scripts/gpu-check" "$work/out" "$(dirname "$bin")" 2>"$work/stderr"
rc=$?
took=$(( $(date +%s) - start ))
cat "$work/stderr"
fail() { echo "FAIL: $*"; exit 1; }
[ "$rc" -eq 1 ] || fail "exit $rc, expected 1"
grep -q "gpu-check: no CUDA device" "$work/stderr" || fail "no 'gpu-check: no CUDA device' message"
[ "$took" -le 30 ] || fail "took ${took}s: it must fail fast"
[ ! -e "$work/out/test-cudnn.log" ] || fail "it went on to the tests"
[ -f "$work/out/list.log" ] || fail "no list.log in the output folder"
echo "ok: exit 1 in ${took}s with the reason"
