#!/usr/bin/env bash
# Our TPE (mlops-pipeline) against Optuna's TPE on Branin and Hartmann-6: median regret of the
# best value after half and all of the trials over N seeds (ratio ours/optuna, < 1 is better),
# and the per-trial overhead of a 1000-trial study with a cheap objective (ratio ours/optuna).
#
# Usage: tools/bench/hpo_vs_optuna.sh [--seeds 20] [--trials 100] [--overhead-trials 1000]
# Env:   PYTHON (default /tmp/venv-hpo/bin/python, a venv with tools/reference/requirements-hpo.txt)
#        PROFILE (release | dev; default release)
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-/tmp/venv-hpo/bin/python}
PROFILE=${PROFILE:-release}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target} PROTOC=${PROTOC:-/bin/false}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flag=(); [ "$PROFILE" = release ] && flag=(--release)
cargo run -q "${flag[@]}" -p mlops-pipeline --example hpo_bench -- "$@" > "$out/ours.json"
"$PYTHON" tools/reference/optuna_bench.py "$@" > "$out/optuna.json"
"$PYTHON" - "$out/ours.json" "$out/optuna.json" <<'PY'
import json, sys
ours, opt = (json.load(open(p)) for p in sys.argv[1:3])
print(f"ours: mlops-pipeline ({ours['profile']}), optuna {opt['version']}; "
      f"{ours['seeds']} seeds x {ours['trials']} trials")
print(f"{'problem':<10} {'at':>5} {'ours tpe':>10} {'optuna':>10} {'ratio':>7} {'ours random':>12}")
for name in ours["problems"]:
    for key, label in [("median_regret_at_half", "half"), ("median_regret_at_end", "end")]:
        a = ours["problems"][name]["tpe"][key]
        b = opt["problems"][name]["tpe"][key]
        r = ours["problems"][name]["random"][key]
        print(f"{name:<10} {label:>5} {a:>10.4f} {b:>10.4f} {a / b:>7.2f} {r:>12.4f}")
a, b = ours["overhead"]["seconds_per_trial"], opt["overhead"]["seconds_per_trial"]
print(f"overhead per trial at {ours['overhead']['trials']} trials: ours {a * 1e3:.3f} ms, "
      f"optuna {b * 1e3:.3f} ms, ratio {a / b:.3f}")
PY
