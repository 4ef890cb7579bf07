#!/usr/bin/env python3
"""Optuna TPE on Branin, Hartmann-6 and a small-MLP objective: best-so-far at 50 and 100 trials
over 20 seeds, and the sampler's overhead per trial over a 1000-trial study with a cheap objective.

Pins: optuna==5.1.0, numpy==2.4.6 (tools/reference/requirements-hpo.txt)
Install: python3 -m venv /tmp/venv-hpo && /tmp/venv-hpo/bin/pip install -r tools/reference/requirements-hpo.txt
Run:     /tmp/venv-hpo/bin/python tools/reference/optuna_bench.py [--seeds 20] [--trials 100]
             [--overhead-trials 1000] [--problems branin,hartmann6,mlp]
             [--mlp-server "target/release/examples/hpo_bench --serve-mlp"]
Prints one JSON object (same shape as `cargo run --release -p mlops-pipeline --example hpo_bench`).

The MLP objective is OURS, not a Python re-implementation: `--mlp-server` starts the hpo_bench
example in its `--serve-mlp` mode and every trial sends its params as one JSON line and reads the
validation log loss back, so Optuna and our samplers optimise the identical deterministic
function. Each reply echoes the params as the server parsed them; a mismatch is an error.
Params: trial.suggest_float("lr", 1e-4, 1e-1, log=True),
trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True), trial.suggest_int("hidden", 2, 64,
log=True), trial.suggest_categorical("activation", ["relu", "tanh"]) (the same space as
`MlpObjective::space` in mlops-pipeline/examples/hpo_bench.rs). Its optimum is unknown, so the MLP
entry holds best values, not regret (tools/bench/hpo_vs_optuna.sh computes regret against the
best value any run found).

Calls: optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=s))
(Optuna 5 defaults: multivariate=True, constant_liar=True, n_startup_trials=10,
n_ei_candidates=24), study.optimize(objective, n_trials=N) with trial.suggest_float per
dimension; Branin on x1 in [-5, 10], x2 in [0, 15]; Hartmann-6 on [0, 1]^6.
"""
import argparse
import json
import math
import shlex
import subprocess
import time

import numpy as np
import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)

BRANIN_MIN = 0.397887357729738
HARTMANN6_MIN = -3.32236801141551
ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
              [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]], dtype=float)
P = np.array([[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
              [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
              [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
              [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]])


def branin(trial):
    x1 = trial.suggest_float("x1", -5.0, 10.0)
    x2 = trial.suggest_float("x2", 0.0, 15.0)
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(trial):
    x = np.array([trial.suggest_float(f"x{j}", 0.0, 1.0) for j in range(6)])
    return float(-np.sum(ALPHA * np.exp(-np.sum(A * (x - P) ** 2, axis=1))))


class MlpServer:
    """The Rust MLP objective behind a pipe: one JSON params line out, one JSON reply line in."""

    def __init__(self, command):
        self.proc = subprocess.Popen(shlex.split(command), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.calls = 0
        self.seconds = 0.0

    def evaluate(self, params):
        t0 = time.perf_counter()
        self.proc.stdin.write(json.dumps(params) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        if not line:
            raise RuntimeError(f"the MLP server exited (code {self.proc.poll()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"the MLP server rejected {params}: {reply['error']}")
        if reply["params"] != params or any(type(reply["params"][k]) is not type(v)
                                            for k, v in params.items()):
            raise RuntimeError(f"the MLP server parsed {reply['params']}, sent {params}")
        return float(reply["value"])

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def mlp_objective(server):
    def objective(trial):
        params = {
            "lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True),
            "hidden": trial.suggest_int("hidden", 2, 64, log=True),
            "activation": trial.suggest_categorical("activation", ["relu", "tanh"]),
        }
        return server.evaluate(params)
    return objective


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--overhead-trials", type=int, default=1000)
    ap.add_argument("--problems", default="branin,hartmann6,mlp")
    ap.add_argument("--mlp-server", help="command line of `hpo_bench --serve-mlp`")
    args = ap.parse_args()
    wanted = args.problems.split(",")
    unknown = [w for w in wanted if w not in ("branin", "hartmann6", "mlp")]
    if unknown:
        ap.error(f"unknown problem(s) {unknown} (known: branin, hartmann6, mlp)")
    if "mlp" in wanted and not args.mlp_server:
        ap.error("the mlp problem needs --mlp-server")
    out = {"tool": "optuna", "version": optuna.__version__, "numpy": np.__version__,
           "seeds": args.seeds, "trials": args.trials, "problems": {}}
    server = MlpServer(args.mlp_server) if "mlp" in wanted else None
    problems = [("branin", branin, BRANIN_MIN), ("hartmann6", hartmann6, HARTMANN6_MIN)]
    if server is not None:
        problems.append(("mlp", mlp_objective(server), None))
    for name, obj, opt in problems:
        if name not in wanted:
            continue
        at50, at100, best = [], [], None
        for s in range(args.seeds):
            study = optuna.create_study(direction="minimize",
                                        sampler=optuna.samplers.TPESampler(seed=s))
            study.optimize(obj, n_trials=args.trials)
            vals = [t.value for t in study.trials]
            at50.append(min(vals[: args.trials // 2]))
            at100.append(min(vals))
            if best is None or study.best_value < best.value:
                best = study.best_trial
        if opt is not None:
            at50 = [v - opt for v in at50]
            at100 = [v - opt for v in at100]
            entry = {"regret_at_half": at50, "regret_at_end": at100,
                     "median_regret_at_half": float(np.median(at50)),
                     "median_regret_at_end": float(np.median(at100))}
        else:
            entry = {"best_at_half": at50, "best_at_end": at100,
                     "median_best_at_half": float(np.median(at50)),
                     "median_best_at_end": float(np.median(at100)),
                     "best_value": best.value, "best_params": best.params}
        out["problems"][name] = {"tpe": entry}
    if server is not None:
        out["mlp_seconds_per_call"] = server.seconds / max(server.calls, 1)
        server.close()
    # Overhead: a cheap objective, so the study's time is the sampler's (plus Optuna's storage).
    if args.overhead_trials > 0:
        study = optuna.create_study(direction="minimize",
                                    sampler=optuna.samplers.TPESampler(seed=0))
        t0 = time.perf_counter()
        study.optimize(branin, n_trials=args.overhead_trials)
        dt = time.perf_counter() - t0
        out["overhead"] = {"problem": "branin", "trials": args.overhead_trials,
                           "seconds_per_trial": dt / args.overhead_trials}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
