#!/usr/bin/env bash
# Bit-identity check between two builds of blocked_cpu: dumps out.npy from OLD and NEW
# sdpa-bench binaries for every problem of the smoke suite plus a few larger ones (GQA decode
# with key splits in every dtype, f16 with enough rows for bf16 pairs), for the default
# backend (with SDPA_BLOCKED_CPU_TUNE=off in NEW: the rule, which is what OLD ran) and every
# pinned variant this machine runs, and compares the files byte for byte.
#   usage: compare_outputs.sh OLD_BINARY NEW_BINARY [WORK_DIR]
# Pinned amx / avx512bf16 variants now run f16 as pairs at every size; where OLD took the f32
# route there (fewer than 256 query rows per kv head) there is nothing to compare and the case
# is skipped, said so in the output. Exit 1 on any difference.
set -u
old=$1 new=$2 work=${3:-$(mktemp -d)}
root=$(cd "$(dirname "$0")/../../.." && pwd)
mapfile -t problems < <(grep -v '^#' "$root/harness/suites/smoke.txt" | grep -v '^$')
problems+=("b=1,hq=32,hkv=8,sq=1,skv=8192,d=128,dtype=f32"
           "b=1,hq=32,hkv=8,sq=1,skv=8192,d=128,dtype=bf16"
           "b=1,hq=32,hkv=8,sq=1,skv=8192,d=128,dtype=f16"
           "b=1,hq=8,hkv=2,sq=256,skv=600,d=64,dtype=f16,mask=causal"
           "b=2,hq=4,hkv=4,sq=300,skv=700,d=128,dtype=f16,mask=kvlen:700/333")
variants=(blocked_cpu blocked_cpu_amx blocked_cpu_avx512bf16 blocked_cpu_avx512 blocked_cpu_avx2 blocked_cpu_portable)
same=0 differ=0 skipped=0
for ((i = 0; i < ${#problems[@]}; ++i)); do
  p=${problems[$i]}
  for v in "${variants[@]}"; do
    if [[ $v == blocked_cpu_amx || $v == blocked_cpu_avx512bf16 ]] && [[ $p == *dtype=f16* ]]; then
      # rows per kv head = sq * hq / hkv
      sq=$(sed -n 's/.*sq=\([0-9]*\).*/\1/p' <<<"${p/skv=/x=}"); hq=$(sed -n 's/.*hq=\([0-9]*\).*/\1/p' <<<"$p")
      hkv=$(sed -n 's/.*hkv=\([0-9]*\).*/\1/p' <<<"$p"); hkv=${hkv:-$hq}
      if (( sq * hq / hkv < 256 )); then skipped=$((skipped + 1)); echo "skip $v $p (OLD took the f32 route)"; continue; fi
    fi
    a=$work/$i-$v-old b=$work/$i-$v-new
    if ! "$old" dump -b "$v" -p "$p" "$a" >/dev/null 2>&1; then  # a path this CPU does not run
      skipped=$((skipped + 1)); echo "skip $v $p (OLD did not run it)"; continue
    fi
    SDPA_BLOCKED_CPU_TUNE=off "$new" dump -b "$v" -p "$p" "$b" >/dev/null 2>&1 || { echo "NEW failed: $v $p"; differ=$((differ + 1)); continue; }
    if cmp -s "$a/out.npy" "$b/out.npy"; then same=$((same + 1)); else differ=$((differ + 1)); echo "DIFFER $v $p"; fi
    rm -rf "$a" "$b"
  done
done
echo "identical: $same, different: $differ, skipped: $skipped"
[[ $differ == 0 ]]
