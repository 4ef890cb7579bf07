#!/usr/bin/env python3
"""Reference values for mlops-pipeline's TPE internals: Optuna's Parzen estimator log-density
and its truncated-normal quantile function.

Pins: optuna==5.1.0, numpy==2.4.6 (tools/reference/requirements-hpo.txt)
Install: python3 -m venv /tmp/venv-hpo && /tmp/venv-hpo/bin/pip install -r tools/reference/requirements-hpo.txt
Run:     /tmp/venv-hpo/bin/python tools/reference/optuna_tpe_reference.py
Writes:  mlops-pipeline/tests/data/hpo_tpe_parzen.json

Calls (private Optuna API, stable across 4.x-5.1):
  optuna.samplers._tpe.parzen_estimator._ParzenEstimator(observations, search_space,
      _ParzenEstimatorParameters(prior_weight=1.0, consider_magic_clip=True,
      consider_endpoints=False, weights=optuna.samplers._tpe.sampler.default_weights,
      multivariate=True)).log_pdf(points)
  optuna.samplers._tpe._truncnorm.ppf(q, a, b)
"""
import json
import os

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers._tpe import _truncnorm
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator, _ParzenEstimatorParameters
from optuna.samplers._tpe.sampler import default_weights

rng = np.random.default_rng(11)
space = {
    "x": FloatDistribution(-3.0, 2.0),
    "lr": FloatDistribution(1e-5, 1.0, log=True),
    "frac": FloatDistribution(0.1, 0.9, step=0.1),
    "width": IntDistribution(16, 256, step=16),
    "batch": IntDistribution(1, 1024, log=True),
    "model": CategoricalDistribution(["linear", "tree", "mlp"]),
}
spec = {  # the same space in mlops-pipeline's serde form
    "x": {"type": "float", "low": -3.0, "high": 2.0},
    "lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
    "frac": {"type": "float", "low": 0.1, "high": 0.9, "step": 0.1},
    "width": {"type": "int", "low": 16, "high": 256, "step": 16},
    "batch": {"type": "int", "low": 1, "high": 1024, "log": True},
    "model": {"type": "categorical", "choices": ["linear", "tree", "mlp"]},
}


def draw(n):
    return {
        "x": rng.uniform(-3, 2, n),
        "lr": np.exp(rng.uniform(np.log(1e-5), 0, n)),
        "frac": np.round(rng.integers(1, 10, n) * 0.1, 10),
        "width": rng.integers(1, 17, n) * 16.0,
        "batch": np.round(np.exp(rng.uniform(0, np.log(1024), n))).clip(1, 1024),
        "model": rng.integers(0, 3, n).astype(float),
    }


params = _ParzenEstimatorParameters(prior_weight=1.0, consider_magic_clip=True,
                                    consider_endpoints=False, weights=default_weights,
                                    multivariate=True)
cases = []
for n_obs in [0, 1, 2, 5, 40]:
    obs = draw(n_obs)
    pe = _ParzenEstimator({k: np.asarray(v) for k, v in obs.items()}, space, params)
    pts = draw(15)
    lp = pe.log_pdf(pts)
    cases.append({
        "observations": {k: v.tolist() for k, v in obs.items()},
        "points": {k: v.tolist() for k, v in pts.items()},
        "log_pdf": lp.tolist(),
    })

ppf_cases = []
for a, b in [(-2.0, 1.5), (-30.0, -25.0), (0.5, 3.0), (-0.1, 0.2), (5.0, 40.0), (-1e3, 1e3)]:
    for q in [1e-9, 0.01, 0.3, 0.5, 0.77, 0.999]:
        ppf_cases.append({"q": q, "a": a, "b": b,
                          "ppf": float(_truncnorm.ppf(np.array([q]), a, b)[0])})

out = {"generator": "tools/reference/optuna_tpe_reference.py", "optuna": optuna.__version__,
       "numpy": np.__version__, "order": list(space), "space": spec, "cases": cases,
       "ppf": ppf_cases}
path = os.path.join(os.path.dirname(__file__), "..", "..", "mlops-pipeline", "tests", "data",
                    "hpo_tpe_parzen.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1, allow_nan=False)
print("wrote", os.path.normpath(path))
