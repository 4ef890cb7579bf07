"""Assertions of scripts/lightgbm.sh on the LightGBM example (examples/lightgbm).

  lightgbm_check.py pipeline FIRST.json SECOND.json EXAMPLE_DIR
      FIRST.json, SECOND.json: `mlops pipeline run --format json` of a fresh and of an unchanged
      rerun. Asserts every step ran, then every step was cached with the same outputs; reloads
      LightGBM's own model (work/booster.txt) and scores the holdout with it, and scores it with
      onnxruntime on work/model.onnx: the probabilities must agree to 1e-6 (the ONNX model is
      float32), and the predict_proba CSV the train step wrote must be LightGBM's.
  lightgbm_check.py serve URL MODEL EXAMPLE_DIR
      One Open Inference Protocol v2 request (`POST URL/v2/models/MODEL/infer`, the whole
      holdout as FP32 "x") against `mlops serve`: the probabilities must agree with LightGBM's
      to 1e-5, the labels exactly.

Exits 1 with one plain line on stderr at the first failed assertion; prints nothing on success
except one summary line.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import lightgbm as lgb
import numpy as np
import onnxruntime as ort

STEPS = ["prepare", "train", "evaluate"]
ONNX_TOL = 1e-6
SERVE_TOL = 1e-5


class CheckFailed(Exception):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


def load_report(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CheckFailed(f"{path}: not a pipeline run report ({e})") from e


def holdout(example: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(example / "work/holdout.csv", delimiter=",", skiprows=1, ndmin=2)
    return data[:, :-1], data[:, -1].astype(np.int64)


def lightgbm_proba(example: Path, x: np.ndarray) -> np.ndarray:
    """P(class 1) from LightGBM's own saved model, recomputed here."""
    booster = lgb.Booster(model_file=str(example / "work/booster.txt"))
    return np.asarray(booster.predict(x), dtype=np.float64)


def check_pipeline(first_path: str, second_path: str, example: Path) -> str:
    first, second = load_report(first_path), load_report(second_path)
    for name, rep in (("first", first), ("second", second)):
        got = [s.get("name") for s in rep.get("steps", [])]
        check(sorted(got) == sorted(STEPS), f"{name} run: steps {got}, expected {STEPS}")
    st1 = {s["name"]: s for s in first["steps"]}
    st2 = {s["name"]: s for s in second["steps"]}
    for n in STEPS:
        check(st1[n]["status"] == "ran",
              f"first run: step {n} is {st1[n]['status']!r}, not 'ran' "
              f"({st1[n].get('reason', '')})")
        check(st2[n]["status"] == "cached",
              f"second run: step {n} is {st2[n]['status']!r}, not 'cached' "
              f"({st2[n].get('reason', '')})")
        check(st1[n]["key"] == st2[n]["key"], f"step {n}: cache key changed between runs")
        check(st1[n]["outputs"] == st2[n]["outputs"], f"step {n}: outputs changed between runs")
        check(st1[n].get("metrics") == st2[n].get("metrics"),
              f"step {n}: the cached metrics differ from the first run's")
    check(first["run_id"] != second["run_id"], "both runs report the same run_id")

    x, y = holdout(example)
    check(len(y) > 0 and len(np.unique(y)) == 2, "the holdout needs rows of both classes")
    p1 = lightgbm_proba(example, x)
    # Not a degenerate model: the comparisons below would pass trivially on a constant one.
    auc = float(st1["train"]["metrics"]["holdout_roc_auc"])
    check(auc > 0.8, f"holdout roc_auc {auc:.3f} <= 0.8: the model did not learn")
    check(float(np.std(p1)) > 0.1, f"LightGBM's probabilities barely vary (std {np.std(p1):.3g})")

    written = np.loadtxt(example / "work/holdout_proba_lightgbm.csv", delimiter=",",
                         skiprows=1, ndmin=2)
    check(written.shape == (len(y), 2), f"holdout_proba_lightgbm.csv has shape {written.shape}")
    d_written = float(max(np.max(np.abs(written[:, 1] - p1)),
                          np.max(np.abs(written[:, 0] - (1.0 - p1)))))
    check(d_written <= 1e-12,
          f"train's predict_proba CSV differs from the saved booster by {d_written:.3g}")

    sess = ort.InferenceSession(str(example / "work/model.onnx"),
                                providers=["CPUExecutionProvider"])
    ins = sess.get_inputs()
    check(len(ins) == 1 and ins[0].name == "x" and ins[0].type == "tensor(float)",
          f"model.onnx inputs: {[(i.name, i.type, i.shape) for i in ins]}, "
          "expected one float tensor 'x'")
    check(ins[0].shape[1] == x.shape[1], f"model.onnx input shape {ins[0].shape}")
    label, proba = sess.run(["label", "probabilities"], {"x": x.astype(np.float32)})
    proba = np.asarray(proba, dtype=np.float64)
    d1 = float(np.max(np.abs(proba[:, 1] - p1)))
    d0 = float(np.max(np.abs(proba[:, 0] - (1.0 - p1))))
    check(d1 <= ONNX_TOL and d0 <= ONNX_TOL,
          f"onnxruntime vs LightGBM predict_proba: max |diff| {max(d0, d1):.3g} > {ONNX_TOL:g}")
    want_label = (p1 > 0.5).astype(np.int64)
    bad = int(np.sum(np.asarray(label) != want_label))
    check(bad == 0, f"onnxruntime labels differ from LightGBM's on {bad} rows")
    return (f"pipeline: 3 steps ran, rerun 3 cached; onnxruntime vs LightGBM on "
            f"{len(y)} rows: max |diff| {max(d0, d1):.2g} (tol {ONNX_TOL:g}); "
            f"holdout roc_auc {auc:.4f}")


def post_json(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise CheckFailed(f"POST {url}: HTTP {e.code}: {e.read()[:500]!r}") from e
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise CheckFailed(f"POST {url}: {e}") from e


def wait_ready(url: str, model: str) -> None:
    deadline = time.monotonic() + 30
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/v2/models/{model}/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError) as e:
            last = str(e)
        time.sleep(0.1)
    raise CheckFailed(f"{url}: model {model} not ready after 30 s ({last})")


def check_serve(url: str, model: str, example: Path) -> str:
    x, _ = holdout(example)
    p1 = lightgbm_proba(example, x)
    wait_ready(url, model)
    x32 = x.astype(np.float32)
    body = {"inputs": [{"name": "x", "shape": list(x32.shape), "datatype": "FP32",
                        "data": [float(v) for v in x32.ravel()]}]}
    resp = post_json(f"{url}/v2/models/{model}/infer", body)
    outs = {o.get("name"): o for o in resp.get("outputs", [])}
    check("probabilities" in outs and "label" in outs,
          f"infer response outputs {sorted(outs)}, expected label and probabilities")
    pr = outs["probabilities"]
    check(pr.get("shape") == [len(x), 2], f"probabilities shape {pr.get('shape')}")
    proba = np.asarray(pr["data"], dtype=np.float64).reshape(len(x), 2)
    d = float(max(np.max(np.abs(proba[:, 1] - p1)), np.max(np.abs(proba[:, 0] - (1 - p1)))))
    check(d <= SERVE_TOL, f"mlops serve vs LightGBM predict_proba: max |diff| {d:.3g} > "
                          f"{SERVE_TOL:g}")
    label = np.asarray(outs["label"]["data"], dtype=np.int64)
    bad = int(np.sum(label != (p1 > 0.5).astype(np.int64)))
    check(bad == 0, f"mlops serve labels differ from LightGBM's on {bad} rows")
    return (f"serve: one OIP v2 infer of {len(x)} rows vs LightGBM: max |diff| {d:.2g} "
            f"(tol {SERVE_TOL:g})")


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 5 and argv[1] == "pipeline":
            print(check_pipeline(argv[2], argv[3], Path(argv[4])))
        elif len(argv) == 5 and argv[1] == "serve":
            print(check_serve(argv[2], argv[3], Path(argv[4])))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except CheckFailed as e:
        print(f"lightgbm check failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
