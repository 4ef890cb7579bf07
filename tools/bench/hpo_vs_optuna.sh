#!/usr/bin/env bash
# Our TPE (mlops-pipeline) against Optuna's TPE on Branin, Hartmann-6 and a small-MLP objective:
# median regret of the best value after half and all of the trials over N seeds (ratio
# ours/optuna, < 1 is better), and the per-trial overhead of a 1000-trial study with a cheap
# objective (ratio ours/optuna).
#
# The MLP objective (validation log loss of our mlops_pipeline::train::mlp on a fixed synthetic
# 2-class problem; see mlops-pipeline/examples/hpo_bench.rs) is evaluated by OUR Rust code for
# both samplers: Optuna's trials call `hpo_bench --serve-mlp` through a pipe. Its optimum is
# unknown, so its regret is taken against the best value found by any run of any sampler (our
# TPE, our random search, Optuna's TPE; seeds x trials each); the table names that value and
# also shows median best values. Before the table, the best params of each sampler are
# re-evaluated through the server and must reproduce the recorded value bit for bit.
#
# Usage: tools/bench/hpo_vs_optuna.sh [--seeds 20] [--trials 100] [--overhead-trials 1000]
#                                     [--problems branin,hartmann6,mlp]
#        (--overhead-trials 0 skips the overhead study)
# Env:   PYTHON (default /tmp/venv-hpo/bin/python, a venv with tools/reference/requirements-hpo.txt)
#        PROFILE (release | dev; default release)
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-/tmp/venv-hpo/bin/python}
PROFILE=${PROFILE:-release}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target} PROTOC=${PROTOC:-/bin/false}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flag=(); dir=debug
[ "$PROFILE" = release ] && flag=(--release) && dir=release
cargo build -q "${flag[@]}" -p mlops-pipeline --example hpo_bench
bin="$CARGO_TARGET_DIR/$dir/examples/hpo_bench"
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
t0=$(date +%s)
"$bin" "$@" > "$out/ours.json"
t1=$(date +%s)
"$PYTHON" tools/reference/optuna_bench.py "$@" --mlp-server "$bin --serve-mlp" > "$out/optuna.json"
t2=$(date +%s)
echo "wall time: ours $((t1 - t0)) s, optuna $((t2 - t1)) s"
"$PYTHON" - "$out/ours.json" "$out/optuna.json" "$bin" <<'PY'
import json, statistics, subprocess, sys
ours, opt = (json.load(open(p)) for p in sys.argv[1:3])
print(f"ours: mlops-pipeline ({ours['profile']}), optuna {opt['version']}; "
      f"{ours['seeds']} seeds x {ours['trials']} trials")
print(f"{'problem':<10} {'at':>5} {'ours tpe':>10} {'optuna':>10} {'ratio':>7} {'ours random':>12}")
for name in ours["problems"]:
    if name == "mlp":
        continue
    for key, label in [("median_regret_at_half", "half"), ("median_regret_at_end", "end")]:
        a = ours["problems"][name]["tpe"][key]
        b = opt["problems"][name]["tpe"][key]
        r = ours["problems"][name]["random"][key]
        print(f"{name:<10} {label:>5} {a:>10.4f} {b:>10.4f} {a / b:>7.2f} {r:>12.4f}")
if "mlp" in ours["problems"]:
    runs = {"ours tpe": ours["problems"]["mlp"]["tpe"],
            "optuna": opt["problems"]["mlp"]["tpe"],
            "ours random": ours["problems"]["mlp"]["random"]}
    # Every sampler's best params, re-evaluated by the server, must give the recorded value.
    server = subprocess.run([sys.argv[3], "--serve-mlp"], text=True, capture_output=True,
                            check=True, input="".join(json.dumps(r["best_params"]) + "\n"
                                                      for r in runs.values()))
    for (label, r), line in zip(runs.items(), server.stdout.splitlines()):
        got = json.loads(line).get("value")
        if got != r["best_value"]:
            sys.exit(f"mlp: {label}'s best params gave {got} on re-evaluation, "
                     f"recorded {r['best_value']}: the objective is not deterministic")
    who = min(runs, key=lambda k: runs[k]["best_value"])
    ref = runs[who]["best_value"]
    n_runs = len(runs) * ours["seeds"]
    for key, label in [("best_at_half", "half"), ("best_at_end", "end")]:
        reg = {k: statistics.median(v - ref for v in r[key]) for k, r in runs.items()}
        a, b = reg["ours tpe"], reg["optuna"]
        ratio = a / b if b > 0 else float("nan")
        print(f"{'mlp':<10} {label:>5} {a:>10.4f} {b:>10.4f} {ratio:>7.2f} {reg['ours random']:>12.4f}")
    print(f"mlp: validation log loss; regret against the best value of all {n_runs} runs "
          f"({ours['trials']} trials each): {ref:.6f} ({who}, {json.dumps(runs[who]['best_params'])}); "
          f"re-evaluated bit for bit")
    for key, label in [("best_at_half", "half"), ("best_at_end", "end")]:
        med = {k: statistics.median(r[key]) for k, r in runs.items()}
        q = {k: statistics.quantiles(r[key], n=4) for k, r in runs.items()}
        # Common-language effect size: P(a random seed of ours beats a random seed of optuna),
        # ties counting half.
        a, b = runs["ours tpe"][key], runs["optuna"][key]
        wins = sum((x < y) + 0.5 * (x == y) for x in a for y in b) / (len(a) * len(b))
        print(f"mlp best value at {label:>4}: median (q25-q75) ours tpe {med['ours tpe']:.4f} "
              f"({q['ours tpe'][0]:.4f}-{q['ours tpe'][2]:.4f}), optuna {med['optuna']:.4f} "
              f"({q['optuna'][0]:.4f}-{q['optuna'][2]:.4f}), ours random "
              f"{med['ours random']:.4f}; P(ours tpe < optuna) = {wins:.2f}")
    print(f"mlp cost per trial: ours {ours['mlp_seconds_per_trial'] * 1e3:.1f} ms (sampler + "
          f"objective), optuna {opt['mlp_seconds_per_call'] * 1e3:.1f} ms per objective call "
          f"through the pipe")
if "overhead" in ours and "overhead" in opt:
    a, b = ours["overhead"]["seconds_per_trial"], opt["overhead"]["seconds_per_trial"]
    print(f"overhead per trial at {ours['overhead']['trials']} trials: ours {a * 1e3:.3f} ms, "
          f"optuna {b * 1e3:.3f} ms, ratio {a / b:.3f}")
PY
