"""`prepare` step: a seeded synthetic binary dataset, split into train and holdout CSVs.

Run by `mlops pipeline run` (see pipeline.toml): the params come from $MLOPS_PARAMS_FILE, the
seed from $MLOPS_SEED, the output paths from $MLOPS_OUTPUT_TRAIN / $MLOPS_OUTPUT_HOLDOUT.

With an input named `raw` (a CSV with a header, feature columns and a last column `label`
of 0/1), that file is split instead of generating data.

Feature values are rounded to float32 before they are written, so LightGBM (which reads them
as float64) and the ONNX model (whose input is float32) see exactly the same numbers.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split


def fail(msg: str) -> None:
    print(f"prepare: {msg}", file=sys.stderr)
    sys.exit(1)


def load_raw(path: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    with open(path, encoding="utf-8") as f:
        header = f.readline().strip().split(",")
    if len(header) < 2 or header[-1] != "label":
        fail(f"{path}: the header must end with a column named 'label', got {header}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": reported below
            data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except ValueError as e:
        fail(f"{path}: not a numeric CSV ({e})")
    if data.size == 0:
        fail(f"{path}: no data rows")
    if data.shape[1] != len(header):
        fail(f"{path}: {data.shape[1]} columns per row, {len(header)} in the header")
    if data.shape[0] < 4:
        fail(f"{path}: {data.shape[0]} rows; at least 4 are needed")
    if not np.all(np.isfinite(data[:, :-1])):
        fail(f"{path}: a feature value is NaN or infinite")
    y = data[:, -1]
    if not np.all((y == 0) | (y == 1)):
        fail(f"{path}: 'label' must be 0 or 1")
    counts = np.bincount(y.astype(np.int64), minlength=2)
    if counts.min() < 2:
        fail(f"{path}: each class needs at least 2 rows (label counts {counts.tolist()})")
    return data[:, :-1], y.astype(np.int64), header[:-1]


def write_csv(path: str, x: np.ndarray, y: np.ndarray, names: list[str]) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(names + ["label"]) + "\n")
        for row, label in zip(x, y):
            # repr of a float32 widened to float64 round-trips exactly.
            f.write(",".join(repr(float(v)) for v in row) + f",{int(label)}\n")


def main() -> None:
    with open(os.environ["MLOPS_PARAMS_FILE"], encoding="utf-8") as f:
        params = json.load(f)
    seed = int(os.environ["MLOPS_SEED"])
    holdout = float(params.get("holdout_fraction", 0.25))
    if not 0.0 < holdout < 1.0:
        fail(f"holdout_fraction must lie in (0, 1), got {holdout}")
    raw = os.environ.get("MLOPS_INPUT_RAW")
    if raw:
        x, y, names = load_raw(raw)
    else:
        x, y = make_classification(
            n_samples=int(params.get("n_samples", 2000)),
            n_features=int(params.get("n_features", 8)),
            n_informative=int(params.get("n_informative", 5)),
            n_redundant=int(params.get("n_redundant", 1)),
            flip_y=float(params.get("flip_y", 0.05)),
            random_state=seed,
        )
        names = [f"f{i}" for i in range(x.shape[1])]
    x = x.astype(np.float32).astype(np.float64)
    try:
        x_tr, x_ho, y_tr, y_ho = train_test_split(
            x, y, test_size=holdout, random_state=seed, stratify=y
        )
    except ValueError as e:  # too few rows for a stratified split of this size
        fail(f"cannot split {len(y)} rows with holdout_fraction {holdout}: {e}")
    write_csv(os.environ["MLOPS_OUTPUT_TRAIN"], x_tr, y_tr, names)
    write_csv(os.environ["MLOPS_OUTPUT_HOLDOUT"], x_ho, y_ho, names)
    with open(os.environ["MLOPS_METRICS_FILE"], "w", encoding="utf-8") as f:
        json.dump({"train_rows": len(y_tr), "holdout_rows": len(y_ho),
                   "features": x.shape[1]}, f)


if __name__ == "__main__":
    main()
