#!/usr/bin/env bash
# The bundle as another machine meets it: built from BUILD_DIR, unpacked into an empty folder and
# run with a scrubbed environment (env -i: no LD_LIBRARY_PATH, no CUDA_HOME, no source tree).
# Checks: the archive stays under 60 MiB; `run list` names every library left to the target as
# found or missing; the smoke suite passes on naive and blocked_cpu; a missing oneDNN runtime and
# hidden GPU libraries (a private mount namespace with the folders holding them emptied) are
# named, with the package, while the CPU backends still run from the portable binary.
# Usage: scripts/bundle_test.sh BUILD_DIR   (CTest: `ctest -L fleet`; exit 77 = skipped part)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(realpath "${1:?usage: bundle_test.sh BUILD_DIR}")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() {  # expect TEXT FILE: the output names TEXT
  grep -qF -- "$1" "$2" || { cat "$2" >&2; fail "expected '$1' in the output above"; }
}

"$ROOT/scripts/bundle" "$tmp/sdpa-bench.tar.gz" "$build"
size=$(stat -c %s "$tmp/sdpa-bench.tar.gz")
[ "$size" -lt $((60 * 1024 * 1024)) ] || fail "bundle is $size bytes, over 60 MiB"
mkdir "$tmp/target" "$tmp/home"
tar -xzf "$tmp/sdpa-bench.tar.gz" -C "$tmp/target"
b="$tmp/target/sdpa-bench"
external="$b/lib/external.txt"

# Runs the bundle as a fresh login on another machine would: from an unrelated folder.
scrubbed() { (cd "$tmp/home" && env -i PATH=/usr/bin:/bin HOME="$tmp/home" "$@"); }
# oneDNN is left to the target: this machine's is where scripts/setup-deps put it.
onednn_env=()
if grep -q '^libdnnl' "$external"; then
  prefix="$(ldd "$build/sdpa-bench" | awk '$1 ~ /^libdnnl/ { print $3 }' | xargs dirname | xargs dirname)"
  onednn_env=(ONEDNN_ROOT="$prefix")
fi

scrubbed "${onednn_env[@]}" "$b/run" list > "$tmp/list.txt" 2>&1 || { cat "$tmp/list.txt"; fail "run list"; }
expect "backends built into this binary:" "$tmp/list.txt"
while read -r lib; do
  grep -qE "^  (found|missing|not looked for): $lib " "$tmp/list.txt" || { cat "$tmp/list.txt"; fail "run list does not say whether $lib was found"; }
done < "$external"

scrubbed "${onednn_env[@]}" "$b/run" check --suite smoke --backend naive --backend blocked_cpu > "$tmp/check.txt" 2>&1 \
  || { cat "$tmp/check.txt"; fail "run check --suite smoke on naive and blocked_cpu"; }
expect "pass" "$tmp/check.txt"

# The bundled tools work from the bundle too (NumPy permitting).
if scrubbed python3 -c 'import numpy' 2>/dev/null; then
  scrubbed "$b/run" dump --backend naive --problem sq=16,d=8,dtype=f16 "$tmp/dump" > "$tmp/dump.txt" 2>&1 || { cat "$tmp/dump.txt"; fail "run dump"; }
  scrubbed python3 "$b/scripts/verify_dump.py" "$tmp/dump" > /dev/null || fail "verify_dump.py on the bundle's dump"
fi

if [ "${#onednn_env[@]}" -gt 0 ]; then
  scrubbed "$b/run" list > "$tmp/no-onednn.txt" 2>&1 || { cat "$tmp/no-onednn.txt"; fail "run list without oneDNN"; }
  expect "missing: libdnnl.so.3" "$tmp/no-onednn.txt"
  expect "(oneDNN runtime) - set ONEDNN_ROOT" "$tmp/no-onednn.txt"
  expect "starting bin/sdpa-bench-portable instead" "$tmp/no-onednn.txt"
fi

grep -q '^libcudnn' "$external" || { echo "bundle_test: no cuDNN in $build: the missing-GPU-library check needs a build with cudnn"; exit 77; }
# Hide every folder that holds a GPU library this machine has (the loader's cache points into
# them); never a folder that also holds glibc.
hide=()
for dir in $(scrubbed "${onednn_env[@]}" "$b/run" list 2>/dev/null | awk '/^  found: lib(cud|cublas|nvrtc)/ { print $NF }' | xargs -r -n1 dirname | sort -u); do
  [ -e "$dir/libc.so.6" ] && { echo "bundle_test: GPU libraries sit beside glibc in $dir: cannot hide them"; exit 77; }
  hide+=("$dir")
done
mounts=""
for dir in "${hide[@]}"; do mounts+="mount -t tmpfs none '$dir' && "; done
unshare -rm true 2>/dev/null || { echo "bundle_test: no private mount namespace (unshare -rm): GPU libraries cannot be hidden"; exit 77; }
hidden() { unshare -rm bash -c "${mounts} cd '$tmp/home' && exec env -i PATH=/usr/bin:/bin HOME='$tmp/home' ${onednn_env[*]} \"\$@\"" hidden "$@"; }
hidden "$b/run" list > "$tmp/no-gpu.txt" 2>&1 || { cat "$tmp/no-gpu.txt"; fail "run list with the GPU libraries hidden"; }
expect "missing: libcudnn.so.9 (cuDNN)" "$tmp/no-gpu.txt"
expect "libcudnn.so.9 (cuDNN) - set CUDNN_ROOT, or install PyTorch's nvidia-cudnn wheel" "$tmp/no-gpu.txt"
expect "starting bin/sdpa-bench-portable instead" "$tmp/no-gpu.txt"
expect "cudnn: disabled by SDPA_WITH_CUDNN=OFF" "$tmp/no-gpu.txt"
hidden "$b/run" check --suite smoke --backend naive --backend blocked_cpu > "$tmp/no-gpu-check.txt" 2>&1 \
  || { cat "$tmp/no-gpu-check.txt"; fail "the CPU backends did not run with the GPU libraries hidden"; }
# PyTorch's nvidia-* wheels in a Python's site-packages are found, where such an install exists
# here (a venv that links them in stands for the target's PyTorch).
# (`|| true`: with no such install, ls fails, and pipefail would end the test there.)
nvidia="$(ls -d "$ROOT"/.deps/*/lib/python3*/site-packages/nvidia 2>/dev/null | sed -n 1p || true)"
if [ -n "$nvidia" ] && [ -d "$nvidia/cudnn/lib" ] && python3 -m venv --without-pip "$tmp/venv" 2>/dev/null; then
  ln -s "$nvidia" "$(echo "$tmp"/venv/lib/python3*/site-packages)/nvidia"
  onednn_env+=(SDPA_PYTHON="$tmp/venv/bin/python3")
  hidden "$b/run" list > "$tmp/torch.txt" 2>&1 || { cat "$tmp/torch.txt"; fail "run list with PyTorch's CUDA wheels"; }
  expect "found: libcudnn.so.9 (cuDNN) => $tmp/venv/lib/" "$tmp/torch.txt"
fi
echo "bundle_test: ok ($((size / 1024)) KiB)"
