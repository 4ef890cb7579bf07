#!/usr/bin/env python3
"""Reference pruning decisions for mlops-pipeline's MedianPruner and SuccessiveHalvingPruner.

Pins: optuna==5.1.0, numpy==2.4.6 (tools/reference/requirements-hpo.txt)
Install: python3 -m venv /tmp/venv-hpo && /tmp/venv-hpo/bin/pip install -r tools/reference/requirements-hpo.txt
Run:     /tmp/venv-hpo/bin/python tools/reference/optuna_pruners_reference.py
Writes:  mlops-pipeline/tests/data/hpo_pruners.json

Each scenario runs a sequential in-memory study (optuna.create_study(direction=..., pruner=...,
sampler=optuna.samplers.RandomSampler(seed=0))). Trial i reports the fixed curve curves[i] one
step at a time with trial.report(value, step) and records trial.should_prune() after every
report; on True it raises optuna.TrialPruned. The fixture keeps, per trial, the reported steps,
values (NaN written as null) and Optuna's decision after each report, so the Rust test replays
the same history and must reach the same decisions.
"""
import json
import math
import os

import numpy as np
import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def curves_random(seed, n_trials, n_steps, nan_prob=0.0, step_stride=1):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_trials):
        level = rng.uniform(0.5, 2.0)
        rate = rng.uniform(0.001, 0.05)
        noise = rng.uniform(0.0, 0.2)
        steps = list(range(0, n_steps, step_stride))
        vals = []
        for s in steps:
            v = level * math.exp(-rate * s) + noise * rng.standard_normal()
            if nan_prob > 0 and rng.uniform() < nan_prob:
                v = float("nan")
            vals.append(round(v, 6))
        out.append((steps, vals))
    return out


def run(name, direction, pruner, pruner_call, curves):
    study = optuna.create_study(
        direction=direction, pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0)
    )
    trials = []

    for steps, vals in curves:
        rec = {"steps": [], "values": [], "decisions": []}

        def objective(trial):
            for s, v in zip(steps, vals):
                trial.report(v, s)
                d = trial.should_prune()
                rec["steps"].append(s)
                rec["values"].append(None if math.isnan(v) else v)
                rec["decisions"].append(bool(d))
                if d:
                    raise optuna.TrialPruned()
            return vals[-1] if not math.isnan(vals[-1]) else 0.0

        study.optimize(objective, n_trials=1)
        ft = study.trials[-1]
        rec["state"] = ft.state.name.lower()
        rec["value"] = ft.value
        trials.append(rec)
    n_pruned = sum(t["state"] == "pruned" for t in trials)
    print(f"{name}: {len(trials)} trials, {n_pruned} pruned")
    return {
        "name": name,
        "direction": direction,
        "pruner": pruner_call,
        "trials": trials,
    }


scenarios = [
    run(
        "median_default_min",
        "minimize",
        optuna.pruners.MedianPruner(),
        "optuna.pruners.MedianPruner()",
        curves_random(1, 30, 20),
    ),
    run(
        "median_default_max",
        "maximize",
        optuna.pruners.MedianPruner(),
        "optuna.pruners.MedianPruner()",
        curves_random(2, 30, 20),
    ),
    run(
        "median_warmup_interval_nan",
        "minimize",
        optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=4, interval_steps=3,
                                    n_min_trials=2),
        "optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=4, interval_steps=3, n_min_trials=2)",
        curves_random(3, 30, 20, nan_prob=0.05),
    ),
    run(
        "median_even_counts_ties",
        "minimize",
        optuna.pruners.MedianPruner(n_startup_trials=2),
        "optuna.pruners.MedianPruner(n_startup_trials=2)",
        # Values on a coarse grid so that medians of even counts and ties occur.
        [(list(range(6)), [float(x) for x in row])
         for row in np.random.default_rng(4).integers(0, 4, size=(16, 6))],
    ),
    run(
        "sh_default_min",
        "minimize",
        optuna.pruners.SuccessiveHalvingPruner(),
        "optuna.pruners.SuccessiveHalvingPruner()",
        curves_random(5, 40, 400),
    ),
    run(
        "sh_default_max",
        "maximize",
        optuna.pruners.SuccessiveHalvingPruner(),
        "optuna.pruners.SuccessiveHalvingPruner()",
        curves_random(6, 40, 250),
    ),
    run(
        "sh_fixed_rf2_rate1_nan",
        "minimize",
        optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=2,
                                               min_early_stopping_rate=1),
        "optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=2, min_early_stopping_rate=1)",
        curves_random(7, 30, 40, nan_prob=0.02),
    ),
]

out = {
    "generator": "tools/reference/optuna_pruners_reference.py",
    "optuna": optuna.__version__,
    "numpy": np.__version__,
    "scenarios": scenarios,
}
path = os.path.join(os.path.dirname(__file__), "..", "..", "mlops-pipeline", "tests", "data",
                    "hpo_pruners.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1, allow_nan=False)
print("wrote", os.path.normpath(path))
