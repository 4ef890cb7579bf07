#!/usr/bin/env python3
"""Optuna TPE on Branin and Hartmann-6: best-so-far at 50 and 100 trials over 20 seeds, and the
sampler's overhead per trial over a 1000-trial study with a cheap objective.

Pins: optuna==5.1.0, numpy==2.4.6 (tools/reference/requirements-hpo.txt)
Install: python3 -m venv /tmp/venv-hpo && /tmp/venv-hpo/bin/pip install -r tools/reference/requirements-hpo.txt
Run:     /tmp/venv-hpo/bin/python tools/reference/optuna_bench.py [--seeds 20] [--trials 100] [--overhead-trials 1000]
Prints one JSON object (same shape as `cargo run --release -p mlops-pipeline --example hpo_bench`).

Calls: optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=s))
(Optuna 5 defaults: multivariate=True, constant_liar=True, n_startup_trials=10,
n_ei_candidates=24), study.optimize(objective, n_trials=N) with trial.suggest_float per
dimension; Branin on x1 in [-5, 10], x2 in [0, 15]; Hartmann-6 on [0, 1]^6.
"""
import argparse
import json
import math
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--overhead-trials", type=int, default=1000)
    args = ap.parse_args()
    out = {"tool": "optuna", "version": optuna.__version__, "numpy": np.__version__,
           "seeds": args.seeds, "trials": args.trials, "problems": {}}
    for name, obj, opt in [("branin", branin, BRANIN_MIN), ("hartmann6", hartmann6, HARTMANN6_MIN)]:
        at50, at100 = [], []
        for s in range(args.seeds):
            study = optuna.create_study(direction="minimize",
                                        sampler=optuna.samplers.TPESampler(seed=s))
            study.optimize(obj, n_trials=args.trials)
            vals = [t.value for t in study.trials]
            at50.append(min(vals[: args.trials // 2]) - opt)
            at100.append(min(vals) - opt)
        out["problems"][name] = {
            "tpe": {"regret_at_half": at50, "regret_at_end": at100,
                    "median_regret_at_half": float(np.median(at50)),
                    "median_regret_at_end": float(np.median(at100))}}
    # Overhead: a cheap objective, so the study's time is the sampler's (plus Optuna's storage).
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=0))
    t0 = time.perf_counter()
    study.optimize(branin, n_trials=args.overhead_trials)
    dt = time.perf_counter() - t0
    out["overhead"] = {"problem": "branin", "trials": args.overhead_trials,
                       "seconds_per_trial": dt / args.overhead_trials}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
