#!/usr/bin/env bash
# The LightGBM example end to end (examples/lightgbm): `mlops pipeline run` trains LightGBM and
# exports it with onnxmltools; an unchanged rerun must execute 0 steps; onnxruntime on the
# exported model.onnx must match LightGBM's predict_proba to 1e-6; and the same model.onnx,
# registered and served by `mlops serve`, must answer one OIP v2 inference within 1e-5 of
# LightGBM (tools/test/lightgbm_check.py holds the assertions).
#
#   scripts/lightgbm.sh target/debug/mlops      # or: MLOPS_BIN=target/debug/mlops scripts/lightgbm.sh
#
# The Python venv lives under ${XDG_CACHE_HOME:-$HOME/.cache}/mlops-rs/venv-lightgbm and is
# reinstalled only when examples/lightgbm/requirements.txt changes (its SHA-256 is kept beside
# it; a fresh install takes ~25 s). The example is copied into a temporary directory, so the
# repository is not written to. Prints one summary line on success; exits non-zero with one
# error message otherwise.
set -euo pipefail

die() { echo "lightgbm.sh: $*" >&2; exit 1; }

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-${MLOPS_BIN:-}}"
[ -n "$bin" ] || die "usage: scripts/lightgbm.sh PATH/TO/mlops (or set MLOPS_BIN)"
case "$bin" in
    */*) [ -x "$bin" ] || die "$bin is not an executable"
         bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")" ;;
    *) bin="$(command -v "$bin")" || die "no executable named ${1:-$MLOPS_BIN} on PATH" ;;
esac

req="$root/examples/lightgbm/requirements.txt"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/mlops-rs/venv-lightgbm"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    mkdir -p "$(dirname "$venv")"
    python3 -m venv --clear "$venv" >/dev/null || die "python3 -m venv $venv failed"
    pip_log="$(mktemp)"
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" \
        >"$pip_log" 2>&1; then
        cat "$pip_log" >&2; rm -f "$pip_log"
        die "pip install -r $req failed"
    fi
    rm -f "$pip_log"
    echo "$want" >"$stamp"
fi
py="$venv/bin/python"

tmp="$(mktemp -d -t mlops-lightgbm.XXXXXX)"
serve_pid=""
cleanup() {
    if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

ex="$tmp/example"
mkdir -p "$ex"
cp "$root"/examples/lightgbm/{pipeline.toml,prepare.py,train.py,evaluate.py} "$ex/"
export MLOPS_PYTHON="$py"

run_pipeline() { # $1: report file
    if ! "$bin" pipeline run "$ex/pipeline.toml" --cache "$tmp/cache" --format json \
        >"$1" 2>"$1.err"; then
        # The failed steps' errors (with their logs' last lines), else whatever it printed.
        "$py" - "$1" <<'PY' >&2 2>/dev/null || cat "$1.err" "$1" >&2
import json, sys
rep = json.load(open(sys.argv[1], encoding="utf-8"))
errs = [s["error"] for s in rep["steps"] if s.get("error")]
if not errs:
    sys.exit(1)
print("\n".join(errs))
PY
        die "mlops pipeline run $ex/pipeline.toml failed"
    fi
}
run_pipeline "$tmp/first.json"
run_pipeline "$tmp/second.json"
summary="$("$py" "$root/tools/test/lightgbm_check.py" pipeline "$tmp/first.json" "$tmp/second.json" "$ex")" \
    || exit 1

# Serve the exported model through the registry.
store="$tmp/registry"
"$bin" registry register lightgbm --store "$store" --artifact "$ex/work/model.onnx" --format onnx \
    >"$tmp/register.out" 2>&1 || { cat "$tmp/register.out" >&2; die "mlops registry register failed"; }
version="$(tr -d '[:space:]' <"$tmp/register.out")"
"$bin" registry alias set lightgbm production "$version" --store "$store" >"$tmp/alias.out" 2>&1 \
    || { cat "$tmp/alias.out" >&2; die "mlops registry alias set failed"; }
"$bin" serve --store "$store" --model lightgbm@production --addr 127.0.0.1:0 --max-batch 1024 \
    >"$tmp/serve.out" 2>"$tmp/serve.err" &
serve_pid=$!
url=""
for _ in $(seq 1 300); do
    url="$(sed -n 's|^serving .* on \(http://[0-9.:]*\).*|\1|p' "$tmp/serve.out" | head -n 1)"
    [ -n "$url" ] && break
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$url" ]; then
    cat "$tmp/serve.out" "$tmp/serve.err" >&2
    die "mlops serve did not print its address"
fi
serve_summary="$("$py" "$root/tools/test/lightgbm_check.py" serve "$url" lightgbm "$ex")" || exit 1

echo "lightgbm.sh: ok: $summary; $serve_summary"
