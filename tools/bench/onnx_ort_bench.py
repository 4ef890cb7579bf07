"""Latency of onnxruntime on the ONNX conformance fixtures, with an optional second runner.

Models (default): the LightGBM tree ensemble without ZipMap (lgbm_classifier_nozipmap: plain
label + probability tensors, so no Python dict building is timed) and the PyTorch MLP
(torch_mlp), both from mlops-serve/tests/fixtures/onnx/ (made by tools/reference/onnx_models.py).

For each model and batch size (1 and 64) it times `session.run(None, feeds)` after a warm-up,
once with a single-threaded session (intra_op_num_threads=1, inter_op_num_threads=1) and once
with onnxruntime's default threading, and prints one JSON line per measurement:

  {"runner": "onnxruntime", "model": ..., "batch": 1, "threads": "1", "iters": 2000,
   "median_us": ..., "p99_us": ..., ...}

The input rows are the first `batch` rows of the fixture's test batch (`test_inputs` in
NAME.json): row 0 alone for batch 1, all 64 rows for batch 64.

Second runner (e.g. the Rust/tract benchmark): `--rust-bin PATH` runs, for each model and batch,

    PATH <model.onnx> <batch> <iters>

which must feed the same rows (the first <batch> rows of test_inputs in the .json next to the
.onnx), time its own inference calls, and print a JSON line containing {"median_us": ..,
"p99_us": ..} (the last such line of its stdout is used; other output is ignored). The script
then prints a "ratio" line per onnxruntime threading mode: ort / rust for median and p99 (> 1
means the second runner is faster). More runners can be added by appending to RUNNERS.

Timings are wall clock (time.perf_counter_ns) around each run() call, so the onnxruntime
numbers include the Python binding's per-call overhead (feeds conversion, output allocation).

Run:  /work/.venv-onnx/bin/python tools/bench/onnx_ort_bench.py [--rust-bin PATH]
      (needs onnxruntime and numpy from tools/reference/requirements-onnx.txt)
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.normpath(os.path.join(HERE, "..", "..", "mlops-serve", "tests", "fixtures", "onnx"))
DEFAULT_MODELS = ["lgbm_classifier_nozipmap", "torch_mlp"]


def emit(obj):
    print(json.dumps(obj), flush=True)


def load_feeds(model, batch):
    with open(os.path.join(FIX, f"{model}.json"), encoding="utf-8") as f:
        doc = json.load(f)
    feeds = {}
    for i in doc["test_inputs"]:
        dt = object if i["dtype"] == "str" else i["dtype"]
        arr = np.array(i["data"], dtype=dt).reshape(i["shape"])
        if batch > arr.shape[0]:
            raise SystemExit(f"{model}: batch {batch} > {arr.shape[0]} rows in the fixture")
        feeds[i["name"]] = np.ascontiguousarray(arr[:batch])
    return feeds


def stats(samples_ns):
    us = np.asarray(samples_ns, dtype=np.float64) / 1e3
    return {"median_us": float(np.median(us)), "p99_us": float(np.percentile(us, 99)),
            "mean_us": float(us.mean()), "min_us": float(us.min())}


class OrtRunner:
    """onnxruntime CPUExecutionProvider; threads=1 or None (onnxruntime's default)."""

    def __init__(self, threads):
        self.threads = threads
        self.label = "1" if threads == 1 else "default"

    def measure(self, model, batch, iters, warmup):
        so = ort.SessionOptions()
        if self.threads is not None:
            so.intra_op_num_threads = self.threads
            so.inter_op_num_threads = self.threads
        sess = ort.InferenceSession(os.path.join(FIX, f"{model}.onnx"), so,
                                    providers=["CPUExecutionProvider"])
        feeds = load_feeds(model, batch)
        for _ in range(warmup):
            sess.run(None, feeds)
        samples = []
        run = sess.run
        clock = time.perf_counter_ns
        for _ in range(iters):
            t0 = clock()
            run(None, feeds)
            samples.append(clock() - t0)
        return {"runner": "onnxruntime", "model": model, "batch": batch, "threads": self.label,
                "iters": iters, "warmup": warmup, **stats(samples)}


class CommandRunner:
    """An external benchmark binary: `BIN <model.onnx> <batch> <iters>` -> JSON line."""

    def __init__(self, name, binary, timeout_s):
        self.name = name
        self.binary = binary
        self.timeout_s = timeout_s

    def measure(self, model, batch, iters, warmup):
        cmd = [self.binary, os.path.join(FIX, f"{model}.onnx"), str(batch), str(iters)]
        base = {"runner": self.name, "model": model, "batch": batch, "iters": iters,
                "cmd": " ".join(cmd)}
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s)
        except (OSError, subprocess.TimeoutExpired) as e:
            return {**base, "error": f"{type(e).__name__}: {e}"}
        found = None
        for line in p.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if "median_us" in obj and "p99_us" in obj:
                    found = obj
        if p.returncode != 0 or found is None:
            return {**base, "error": f"exit {p.returncode}, no JSON line with median_us/p99_us",
                    "stderr_tail": p.stderr[-2000:]}
        return {**found, **base, "median_us": float(found["median_us"]),
                "p99_us": float(found["p99_us"])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS),
                    help="comma-separated fixture names (default: %(default)s)")
    ap.add_argument("--batches", default="1,64", help="comma-separated (default: %(default)s)")
    ap.add_argument("--iters-b1", type=int, default=2000, help="iterations at batch 1")
    ap.add_argument("--iters", type=int, default=500, help="iterations at other batch sizes")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--ort-threads", default="1,default",
                    help="onnxruntime threading modes to run: '1', 'default' or both")
    ap.add_argument("--rust-bin", help="second runner: PATH <model.onnx> <batch> <iters>")
    ap.add_argument("--rust-timeout-s", type=float, default=300)
    args = ap.parse_args()

    models = [m for m in args.models.split(",") if m]
    batches = [int(b) for b in args.batches.split(",") if b]
    ort_runners = [OrtRunner(1 if t == "1" else None) for t in args.ort_threads.split(",") if t]
    others = []
    if args.rust_bin:
        others.append(CommandRunner("rust", args.rust_bin, args.rust_timeout_s))

    emit({"kind": "env", "onnxruntime": ort.__version__, "numpy": np.__version__,
          "python": platform.python_version(), "machine": platform.machine(),
          "cpu_count": os.cpu_count(), "fixtures": FIX})
    failed = False
    for model in models:
        for batch in batches:
            iters = args.iters_b1 if batch == 1 else args.iters
            ort_res = []
            for r in ort_runners:
                res = r.measure(model, batch, iters, args.warmup)
                emit(res)
                ort_res.append(res)
            for r in others:
                res = r.measure(model, batch, iters, args.warmup)
                emit(res)
                if "error" in res:
                    failed = True
                    continue
                for o in ort_res:
                    emit({"kind": "ratio", "model": model, "batch": batch,
                          "ort_threads": o["threads"], "other": res["runner"],
                          "ort_median_us": o["median_us"], "other_median_us": res["median_us"],
                          "median_ratio_ort_over_other": o["median_us"] / res["median_us"],
                          "p99_ratio_ort_over_other": o["p99_us"] / res["p99_us"]})
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
