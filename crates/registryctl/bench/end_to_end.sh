#!/usr/bin/env bash
# End-to-end figure for docs/PERFORMANCE.md: `registryctl build-index` + `registryctl sign`
# over the shared corpus, as separate processes (what CI runs). Reports the median wall time of
# the pair and the median peak RSS of each step over RUNS runs.
#
#   cargo build --release -p registryctl
#   crates/registryctl/bench/end_to_end.sh [RUNS]        # default 21
#
# Env: REGISTRYCTL (binary, default target/release/registryctl), GIGMCP_CORPUS_DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bin="${REGISTRYCTL:-$repo/target/release/registryctl}"
corpus="${GIGMCP_CORPUS_DIR:-$repo/../shared/corpus/gigmcp-registry}"
runs="${1:-21}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$bin" keygen -o "$work/key" >/dev/null
walls=() ; rss_build=() ; rss_sign=()
for _ in $(seq "$runs"); do
  start=$(date +%s%N)
  /usr/bin/time -f '%M' -o "$work/t1" "$bin" build-index "$corpus" --sequence 1 -o "$work/index.json" >/dev/null 2>&1
  /usr/bin/time -f '%M' -o "$work/t2" "$bin" sign --key "$work/key" "$work/index.json" >/dev/null
  end=$(date +%s%N)
  walls+=($(( (end - start) / 1000 )))
  rss_build+=("$(tail -1 "$work/t1")")
  rss_sign+=("$(tail -1 "$work/t2")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "runs=$runs corpus=$corpus"
echo "build-index+sign wall median: $(median "${walls[@]}") us (min $(printf '%s\n' "${walls[@]}" | sort -n | head -1) us)"
echo "build-index peak RSS median: $(median "${rss_build[@]}") KiB"
echo "sign peak RSS median: $(median "${rss_sign[@]}") KiB"
echo "index.json: $(stat -c %s "$work/index.json") bytes"
