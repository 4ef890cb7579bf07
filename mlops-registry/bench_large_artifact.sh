#!/usr/bin/env bash
# 1 GiB artifact: register + download through the file backend (fsync on) vs `cp` (+ sync),
# with peak RSS from /usr/bin/time -v. Run from the workspace root:
#   bash mlops-registry/bench_large_artifact.sh [SIZE_MIB]
set -euo pipefail
SIZE_MIB=${1:-1024}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p mlops-registry --example large_artifact
BIN="$TARGET/release/examples/large_artifact"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlops-large.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$WORK/model.bin"
rss() { grep 'Maximum resident' "$1" | awk '{print $6}'; }
secs() { grep 'Elapsed (wall' "$1" | awk '{print $8}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }'; }
run() { # label, command...
    local label=$1; shift
    sync
    /usr/bin/time -v "$@" > "$WORK/$label.out" 2> "$WORK/$label.time"
    echo "$label: $(secs "$WORK/$label.time") s, peak RSS $(( $(rss "$WORK/$label.time") / 1024 )) MiB"
}
run cp_copy cp "$WORK/model.bin" "$WORK/copy1.bin"
run cp_copy_sync sh -c "cp '$WORK/model.bin' '$WORK/copy2.bin' && sync '$WORK/copy2.bin'"
run register "$BIN" register "$WORK/model.bin" "$WORK/store"
run download "$BIN" download "$WORK/store" "$WORK/out"
run register_nofsync env LARGE_NO_FSYNC=1 "$BIN" register "$WORK/model.bin" "$WORK/store2"
run download_nofsync env LARGE_NO_FSYNC=1 "$BIN" download "$WORK/store2" "$WORK/out2"
cmp "$WORK/model.bin" "$WORK/out/model.bin" && echo "download identical"
python3 - "$WORK" <<'PY'
import sys, re
w = sys.argv[1]
def secs(label):
    t = open(f"{w}/{label}.time").read()
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1).split(":")
    return sum(float(x) * 60 ** i for i, x in enumerate(reversed(m)))
for ours, anchor in (("register", "cp_copy_sync"), ("download", "cp_copy_sync"),
                    ("register_nofsync", "cp_copy"), ("download_nofsync", "cp_copy")):
    print(f"{ours} throughput / {anchor} throughput = {secs(anchor) / secs(ours):.2f}")
PY
