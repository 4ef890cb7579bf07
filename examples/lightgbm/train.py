"""`train` step: LightGBM `LGBMClassifier` on the train CSV, exported to ONNX with onnxmltools.

Run by `mlops pipeline run` (see pipeline.toml). Reads:
  $MLOPS_PARAMS_FILE      LGBMClassifier keyword arguments (n_estimators, num_leaves, ...)
  $MLOPS_SEED             random_state
  $MLOPS_INPUT_TRAIN / $MLOPS_INPUT_HOLDOUT   the CSVs `prepare` wrote (last column `label`)
Writes:
  $MLOPS_OUTPUT_MODEL     model.onnx: `convert_lightgbm` with one float32 input "x" of shape
                          [None, k] and zipmap=False, so its outputs are `label` (int64 [N])
                          and `probabilities` (float32 [N, 2]) for N rows
  $MLOPS_OUTPUT_BOOSTER   LightGBM's own text model (Booster.save_model), for checks
  $MLOPS_OUTPUT_PROBA     the holdout's predict_proba (columns p0,p1; float64 repr)
  $MLOPS_METRICS_FILE     holdout roc_auc and log_loss (sklearn.metrics)
"""

from __future__ import annotations

import json
import os
import sys

import lightgbm as lgb
import numpy as np
import onnx
from onnxmltools import convert_lightgbm
from onnxmltools.convert.common.data_types import FloatTensorType
from sklearn.metrics import log_loss, roc_auc_score


def fail(msg: str) -> None:
    print(f"train: {msg}", file=sys.stderr)
    sys.exit(1)


def load(path: str) -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    if data.shape[0] == 0 or data.shape[1] < 2:
        fail(f"{path}: no rows or no feature columns")
    return data[:, :-1], data[:, -1].astype(np.int64)


def main() -> None:
    with open(os.environ["MLOPS_PARAMS_FILE"], encoding="utf-8") as f:
        params = json.load(f)
    seed = int(os.environ["MLOPS_SEED"])
    x_tr, y_tr = load(os.environ["MLOPS_INPUT_TRAIN"])
    x_ho, y_ho = load(os.environ["MLOPS_INPUT_HOLDOUT"])
    if x_tr.shape[1] != x_ho.shape[1]:
        fail(f"train has {x_tr.shape[1]} features, holdout {x_ho.shape[1]}")
    if len(np.unique(y_tr)) != 2 or len(np.unique(y_ho)) != 2:
        fail("the train and holdout splits both need rows of each class (0 and 1)")
    # Single-threaded and deterministic: the same inputs, params and seed give the same bytes,
    # which is what makes the pipeline's cache and reruns meaningful.
    kwargs = {"n_jobs": 1, "deterministic": True, "force_col_wise": True, "verbose": -1}
    kwargs.update(params)
    clf = lgb.LGBMClassifier(random_state=seed, **kwargs)
    clf.fit(x_tr, y_tr)

    proba = clf.predict_proba(x_ho)
    metrics = {
        "holdout_roc_auc": float(roc_auc_score(y_ho, proba[:, 1])),
        "holdout_log_loss": float(log_loss(y_ho, proba)),
        "n_trees": int(clf.booster_.num_trees()),
    }

    k = x_tr.shape[1]
    onx = convert_lightgbm(clf, initial_types=[("x", FloatTensorType([None, k]))],
                           zipmap=False)
    # onnxmltools 1.16 declares `label` as shape [1] although it has one value per row
    # (onnxruntime warns "Expected shape from model of {1} does not match actual shape");
    # declare the batch dimension of both outputs as the symbolic N, which is what they are.
    for out in onx.graph.output:
        dim = out.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_param = "N"
    onnx.checker.check_model(onx, full_check=True)
    out_model = os.environ["MLOPS_OUTPUT_MODEL"]
    os.makedirs(os.path.dirname(out_model) or ".", exist_ok=True)
    with open(out_model, "wb") as f:
        f.write(onx.SerializeToString())
    clf.booster_.save_model(os.environ["MLOPS_OUTPUT_BOOSTER"])
    with open(os.environ["MLOPS_OUTPUT_PROBA"], "w", encoding="utf-8") as f:
        f.write("p0,p1\n")
        for p0, p1 in proba:
            f.write(f"{float(p0)!r},{float(p1)!r}\n")
    with open(os.environ["MLOPS_METRICS_FILE"], "w", encoding="utf-8") as f:
        json.dump(metrics, f)


if __name__ == "__main__":
    main()
