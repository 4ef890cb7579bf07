"""`evaluate` step: the exported ONNX model under onnxruntime, on the holdout.

Run by `mlops pipeline run` (see pipeline.toml). Scores $MLOPS_INPUT_HOLDOUT with
$MLOPS_INPUT_MODEL (float32 input "x"), compares the probabilities with LightGBM's
($MLOPS_INPUT_PROBA, written by `train`), and fails when they differ by more than the param
`max_abs_diff`. Writes the ONNX probabilities to $MLOPS_OUTPUT_PROBA and the ONNX holdout
roc_auc / log_loss plus the observed max |onnx - lightgbm| to $MLOPS_METRICS_FILE.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnxruntime as ort
from sklearn.metrics import log_loss, roc_auc_score


def main() -> None:
    with open(os.environ["MLOPS_PARAMS_FILE"], encoding="utf-8") as f:
        params = json.load(f)
    tol = float(params.get("max_abs_diff", 1e-6))
    data = np.loadtxt(os.environ["MLOPS_INPUT_HOLDOUT"], delimiter=",", skiprows=1, ndmin=2)
    x, y = data[:, :-1].astype(np.float32), data[:, -1].astype(np.int64)
    lgbm = np.loadtxt(os.environ["MLOPS_INPUT_PROBA"], delimiter=",", skiprows=1, ndmin=2)
    sess = ort.InferenceSession(os.environ["MLOPS_INPUT_MODEL"],
                                providers=["CPUExecutionProvider"])
    label, proba = sess.run(["label", "probabilities"], {"x": x})
    if proba.shape != lgbm.shape:
        print(f"evaluate: onnx probabilities {proba.shape}, lightgbm {lgbm.shape}",
              file=sys.stderr)
        sys.exit(1)
    diff = float(np.max(np.abs(proba.astype(np.float64) - lgbm)))
    with open(os.environ["MLOPS_OUTPUT_PROBA"], "w", encoding="utf-8") as f:
        f.write("p0,p1\n")
        for p0, p1 in proba:
            f.write(f"{float(p0)!r},{float(p1)!r}\n")
    with open(os.environ["MLOPS_METRICS_FILE"], "w", encoding="utf-8") as f:
        json.dump({
            "onnx_roc_auc": float(roc_auc_score(y, proba[:, 1])),
            "onnx_log_loss": float(log_loss(y, proba.astype(np.float64))),
            "onnx_max_abs_diff": diff,
            "onnx_label_mismatches": int(np.sum(label != np.argmax(lgbm, axis=1))),
        }, f)
    if not diff <= tol:
        print(f"evaluate: onnx probabilities differ from LightGBM's by {diff:.3g} > {tol:g}",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
