"""Reference fits for mlops-pipeline's built-in logistic regression (src/train/logreg.rs).

Pinned versions (the fixture was written with exactly these):

    scikit-learn==1.6.1  numpy==2.2.3  scipy==1.15.2   (Python 3.11)

Install and run from the repository root:

    python3 -m venv /tmp/venv-logreg
    /tmp/venv-logreg/bin/pip install scikit-learn==1.6.1 numpy==2.2.3 scipy==1.15.2
    /tmp/venv-logreg/bin/python tools/reference/logreg_reference.py

Writes mlops-pipeline/tests/data/logreg_sklearn.json and lbfgs_scipy.json, read by
mlops-pipeline/tests/train_sklearn.rs. lbfgs_scipy.json pins scipy's L-BFGS-B on the Rosenbrock
function (scipy.optimize.rosen / rosen_der) with default options, for src/train/lbfgs.rs.
Each case records the exact Python call that produced it (`call`), the standardised data it was
fitted on (`x`, row-major, exactly as StandardScaler returned it; `y`), and sklearn's `coef_`,
`intercept_`, `n_iter_`, `classes_` and `predict_proba` on the first rows.

Objective minimised by sklearn 1.6.1 for solver='lbfgs' (sklearn/linear_model/_logistic.py,
_linear_loss.py): mean(half-binomial or half-multinomial loss) + 1/(2*C*n_samples) * ||W||^2, the
intercept unpenalised, through scipy.optimize.minimize(method='L-BFGS-B', maxiter=max_iter,
maxls=50, gtol=tol, ftol=64*eps); multinomial for 3+ classes.
"""
import json
import os
import sys

import numpy as np
import scipy
import sklearn
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

PINS = {"scikit-learn": "1.6.1", "numpy": "2.2.3", "scipy": "1.15.2"}
got = {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "scipy": scipy.__version__}
if got != PINS:
    sys.exit(f"version mismatch: want {PINS}, have {got}")

N_PROBA_ROWS = 10

datasets = {}
for name, loader in (("breast_cancer", load_breast_cancer), ("iris", load_iris)):
    X, y = loader(return_X_y=True)
    Xs = StandardScaler().fit_transform(X)
    datasets[name] = (Xs, y)

CASES = [
    # (case name, dataset, LogisticRegression kwargs)
    ("breast_cancer_c1", "breast_cancer", {}),
    ("breast_cancer_c0.1", "breast_cancer", {"C": 0.1}),
    ("breast_cancer_c10", "breast_cancer", {"C": 10.0}),
    ("breast_cancer_no_intercept", "breast_cancer", {"fit_intercept": False}),
    ("iris_c1", "iris", {}),
    ("iris_c0.1", "iris", {"C": 0.1}),
    ("iris_c10", "iris", {"C": 10.0}),
    ("iris_no_intercept", "iris", {"fit_intercept": False}),
]

out = {
    "versions": PINS,
    "datasets": {},
    "cases": [],
}
for name, (Xs, y) in datasets.items():
    out["datasets"][name] = {
        "call": f"StandardScaler().fit_transform(sklearn.datasets.load_{name}(return_X_y=True)[0])",
        "n_samples": int(Xs.shape[0]),
        "n_features": int(Xs.shape[1]),
        "x": [float(v) for v in Xs.ravel(order="C")],
        "y": [int(v) for v in y],
    }

for case, ds, kwargs in CASES:
    Xs, y = datasets[ds]
    kw = {"solver": "lbfgs", **kwargs}
    call = "LogisticRegression(" + ", ".join(f"{k}={v!r}" for k, v in kw.items()) + ").fit(X, y)"
    m = LogisticRegression(**kw).fit(Xs, y)
    out["cases"].append(
        {
            "name": case,
            "dataset": ds,
            "call": call,
            "c": float(kw.get("C", 1.0)),
            "fit_intercept": bool(kw.get("fit_intercept", True)),
            "max_iter": 100,
            "tol": 1e-4,
            "classes": [int(c) for c in m.classes_],
            "coef": [[float(v) for v in row] for row in m.coef_],
            "intercept": [float(v) for v in m.intercept_],
            "n_iter": int(m.n_iter_[0]),
            "predict_proba_call": f"model.predict_proba(X[:{N_PROBA_ROWS}])",
            "predict_proba": [[float(v) for v in row] for row in m.predict_proba(Xs[:N_PROBA_ROWS])],
        }
    )
    print(f"{case}: n_iter={m.n_iter_[0]} coef[0][:3]={m.coef_[0][:3]} intercept={m.intercept_}")

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
path = os.path.join(root, "mlops-pipeline", "tests", "data", "logreg_sklearn.json")
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w") as f:
    json.dump(out, f, indent=None, separators=(",", ":"))
    f.write("\n")
print("wrote", path)

from scipy.optimize import minimize, rosen, rosen_der

lb = {"versions": PINS, "cases": []}
for x0 in ([-1.2, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0], [1.3, 0.7, 0.8, 1.9, 1.2]):
    r = minimize(rosen, np.array(x0), jac=rosen_der, method="L-BFGS-B")
    lb["cases"].append(
        {
            "call": f"scipy.optimize.minimize(rosen, np.array({x0}), jac=rosen_der, method='L-BFGS-B')",
            "x0": x0,
            "x": [float(v) for v in r.x],
            "fun": float(r.fun),
            "nit": int(r.nit),
            "nfev": int(r.nfev),
            "success": bool(r.success),
            "message": str(r.message),
        }
    )
    print(lb["cases"][-1]["call"], r.nit, r.nfev, r.message)
lpath = os.path.join(os.path.dirname(path), "lbfgs_scipy.json")
with open(lpath, "w") as f:
    json.dump(lb, f, indent=1)
    f.write("\n")
print("wrote", lpath)
