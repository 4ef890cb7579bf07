#!/usr/bin/env bash
# The Airflow DAG (examples/airflow/mlops_retrain.py) under a real Apache Airflow:
# `airflow dags test mlops_retrain 2026-12-01` runs examples/airflow/pipeline.toml (the LightGBM
# example on that day's data) through the DAG's BashOperator; a second `dags test` of the same
# interval must execute 0 steps (tools/test/airflow_check.py reads the cache's run reports, the
# Airflow logs and the task's XCom in Airflow's SQLite database).
#
#   scripts/airflow.sh target/debug/mlops      # or: MLOPS_BIN=target/debug/mlops scripts/airflow.sh
#
# Two venvs under ${XDG_CACHE_HOME:-$HOME/.cache}/mlops-rs/: venv-airflow
# (examples/airflow/requirements.txt, Airflow 3.3.2 fully pinned; ~1 min to install) and
# venv-lightgbm (examples/lightgbm/requirements.txt, shared with scripts/lightgbm.sh), each
# reinstalled only when its pins change. AIRFLOW_HOME (SQLite), the DAG folder, the data, the
# cache and the registry live in a temporary directory. Prints one summary line on success;
# exits non-zero with one error message otherwise.
set -euo pipefail

die() { echo "airflow.sh: $*" >&2; exit 1; }

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-${MLOPS_BIN:-}}"
[ -n "$bin" ] || die "usage: scripts/airflow.sh PATH/TO/mlops (or set MLOPS_BIN)"
case "$bin" in
    */*) [ -x "$bin" ] || die "$bin is not an executable"
         bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")" ;;
    *) bin="$(command -v "$bin")" || die "no executable named ${1:-$MLOPS_BIN} on PATH" ;;
esac

venvs="${XDG_CACHE_HOME:-$HOME/.cache}/mlops-rs"
ensure_venv() { # $1: venv dir, $2: requirements file
    local venv="$1" req="$2" want log
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    mkdir -p "$(dirname "$venv")"
    python3 -m venv --clear "$venv" >/dev/null || die "python3 -m venv $venv failed"
    log="$(mktemp)"
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"
        die "pip install -r $req failed"
    fi
    rm -f "$log"
    echo "$want" >"$venv/.requirements.sha256"
}
ensure_venv "$venvs/venv-airflow" "$root/examples/airflow/requirements.txt"
ensure_venv "$venvs/venv-lightgbm" "$root/examples/lightgbm/requirements.txt"
airflow="$venvs/venv-airflow/bin/airflow"
py="$venvs/venv-lightgbm/bin/python"

tmp="$(mktemp -d -t mlops-airflow.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
ds="2026-12-01"
mkdir -p "$tmp/dags" "$tmp/examples/airflow/data/$ds" "$tmp/examples/lightgbm"
cp "$root/examples/airflow/mlops_retrain.py" "$tmp/dags/"
cp "$root/examples/airflow/pipeline.toml" "$tmp/examples/airflow/"
cp "$root"/examples/lightgbm/{prepare.py,train.py,evaluate.py} "$tmp/examples/lightgbm/"
# That day's data: a seeded synthetic binary dataset, float32 values, last column `label`.
"$py" - "$tmp/examples/airflow/data/$ds/raw.csv" <<'PY'
import sys
import numpy as np
from sklearn.datasets import make_classification
x, y = make_classification(n_samples=1200, n_features=6, n_informative=4, n_redundant=1,
                           flip_y=0.05, random_state=20261201)
x = x.astype(np.float32)
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write(",".join([f"f{i}" for i in range(x.shape[1])] + ["label"]) + "\n")
    for row, label in zip(x, y):
        f.write(",".join(repr(float(v)) for v in row) + f",{label}\n")
PY

export AIRFLOW_HOME="$tmp/airflow-home"
export AIRFLOW__CORE__DAGS_FOLDER="$tmp/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export MLOPS_BIN="$bin"
export MLOPS_PIPELINE="$tmp/examples/airflow/pipeline.toml"
export MLOPS_STORE="$tmp/registry"
export MLOPS_CACHE="$tmp/cache"
export MLOPS_RETRIES=0
export MLOPS_PYTHON="$py"

"$airflow" db migrate >"$tmp/migrate.log" 2>&1 || { tail -n 30 "$tmp/migrate.log" >&2; die "airflow db migrate failed"; }
dags_test() { # $1: log file
    if ! "$airflow" dags test mlops_retrain "$ds" >"$1" 2>&1; then
        # What the task's command printed, and Airflow's verdict; else the log's end.
        { sed -n 's/^[^]]*\] \(.*[^ ]\) *\[airflow\.task\.hooks\.[^]]*SubprocessHook\] loc=subprocess\.py:106$/\1/p' "$1"
          grep -E 'AirflowException|DagRun failed' "$1"; } >&2 || tail -n 40 "$1" >&2
        die "airflow dags test mlops_retrain $ds failed (log above)"
    fi
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(now_ms)
dags_test "$tmp/first.log"
t1=$(now_ms)
dags_test "$tmp/second.log"
t2=$(now_ms)
summary="$("$py" "$root/tools/test/airflow_check.py" "$MLOPS_CACHE" "$ds" "$tmp/first.log" "$tmp/second.log" "$AIRFLOW_HOME/airflow.db")" \
    || exit 1
version="$("$venvs/venv-airflow/bin/python" -c 'import importlib.metadata as m; print(m.version("apache-airflow"))')"
echo "airflow.sh: ok: Airflow $version, $summary (dags test $(( (t1 - t0) / 1000 )).$(( (t1 - t0) % 1000 / 100 )) s, then $(( (t2 - t1) / 1000 )).$(( (t2 - t1) % 1000 / 100 )) s)"
