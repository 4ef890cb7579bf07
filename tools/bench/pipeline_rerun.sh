#!/usr/bin/env bash
# Unchanged 5-step rerun of `mlops pipeline run` vs `sha256sum` of the same files, same run.
# A chain of five `cp` steps over a random file (SIZE_MB, default 200); prints both times and
# the ratio. Usage: tools/bench/pipeline_rerun.sh [path/to/mlops]
set -euo pipefail
MLOPS="${1:-target/release/mlops}"
MLOPS="$(realpath "$MLOPS")"
SIZE_MB="${SIZE_MB:-200}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/data"
head -c "$((SIZE_MB * 1000000))" /dev/urandom > "$dir/data/raw.bin"
{
  echo 'name = "bench5"'
  prev='x = "data/raw.bin"'
  for i in 1 2 3 4 5; do
    printf '[[steps]]\nname = "s%s"\ncommand = ["cp", "${inputs.x}", "${outputs.o}"]\ninputs = { %s }\noutputs = { o = "work/%s.bin" }\n' "$i" "$prev" "$i"
    prev="x = \"@s$i.o\""
  done
} > "$dir/pipeline.toml"
cd "$dir"
"$MLOPS" pipeline run pipeline.toml > /dev/null
for round in 1 2 3; do
  t0=$(date +%s.%N); "$MLOPS" pipeline run pipeline.toml > /dev/null; t1=$(date +%s.%N)
  sha256sum data/raw.bin work/*.bin > /dev/null; t2=$(date +%s.%N)
  python3 -c "m=$t1-$t0; s=$t2-$t1; print(f'round $round: mlops rerun {m:.2f} s, sha256sum {s:.2f} s, ratio {m/s:.2f}')"
done
