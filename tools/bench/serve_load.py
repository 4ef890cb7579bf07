#!/usr/bin/env python3
"""Load benchmark: Open Inference Protocol v2 `infer` on `mlops serve` against MLServer,
same model, same machine, same run, same load generator.

    cargo build --release -p mlops-cli
    cargo build --release -p mlops-benches --bin oip_load
    python3 tools/bench/serve_load.py --mlops-bin target/release/mlops \
        --loadgen target/release/oip_load [--duration-s 10] [--concurrency 1,16,64]

What it does (see tools/bench/README-serve-load.md):
  1. makes a virtualenv (--venv, default /tmp/mlops-mlserver-venv) with
     tools/bench/requirements-mlserver.txt when `mlserver` is not importable there, and
     re-runs itself with that interpreter (numpy, scikit-learn and safetensors come from it);
  2. builds one MLP with a fixed seed, 16 -> 32 (relu) -> 3 (softmax), float32, and writes it
     (a) as a scikit-learn MLPClassifier with exactly these weights (joblib) for MLServer's
     sklearn runtime and (b) as mlops-serve's feed-forward JSON spec + safetensors, registered
     with `mlops registry register` in a fresh file registry and aliased `production`;
  3. starts MLServer (two variants by default: without and with adaptive batching, both
     parallel_workers=0; see --mlserver-batch) and `mlops serve`, checks that one response
     from each matches the numpy forward pass (abs diff <= 1e-5), then runs `oip_load` against
     each server at each concurrency, alternating the order per level, and prints req/s, p50,
     p99, errors and the ratio ours / the best MLServer variant at that level.

Exit status: 0 full run; 3 when `mlops serve` could not start (MLServer alone was measured);
4 when the servers' probabilities disagree; 1 on any other failure.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
REQUIREMENTS = os.path.join(HERE, "requirements-mlserver.txt")
REEXEC_MARK = "MLOPS_SERVE_LOAD_IN_VENV"

N_IN, N_HIDDEN, N_OUT = 16, 32, 3
SEED = 20240611
MODEL_NAME = "mlp"
INPUT_NAME, OUTPUT_NAME = "x", "probs"
TOLERANCE = 1e-5
# The MLServer configuration that gave it its best throughput on a 2-core machine with the
# load generator on the same cores (see README-serve-load.md): inference in the server process.
DEFAULT_MLSERVER_WORKERS = 0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mlops-bin", required=True, help="the `mlops` binary (release)")
    p.add_argument("--loadgen", required=True, help="the `oip_load` binary (release)")
    p.add_argument("--duration-s", type=float, default=10.0, help="measured seconds per run")
    p.add_argument("--warmup-s", type=float, default=2.0, help="warm-up seconds per run")
    p.add_argument("--concurrency", default="1,16,64", help="comma-separated levels")
    p.add_argument("--venv", default="/tmp/mlops-mlserver-venv", help="MLServer virtualenv")
    p.add_argument("--json", metavar="OUT", help="write every number to this JSON file")
    p.add_argument(
        "--mlserver-workers",
        type=int,
        default=DEFAULT_MLSERVER_WORKERS,
        help="MLServer parallel_workers (0: inference in the server process)",
    )
    p.add_argument(
        "--mlserver-batch",
        default="0,64",
        help="MLServer variants by adaptive-batching max_batch_size, comma-separated (0: off); "
        "each level's ratio is taken against the best variant at that level",
    )
    p.add_argument(
        "--mlserver-batch-ms", type=float, default=1.0, help="MLServer max_batch_time in ms"
    )
    p.add_argument(
        "--tune-mlserver",
        action="store_true",
        help="first probe parallel_workers 0, 1, 2 (3 s at the highest concurrency) and use the best",
    )
    p.add_argument("--max-batch", type=int, default=64, help="`mlops serve --max-batch`")
    p.add_argument("--max-delay-ms", type=float, default=0.0, help="`mlops serve --max-delay-ms` (its default, 0)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = p.parse_args()
    try:
        a.levels = [int(c) for c in a.concurrency.split(",") if c.strip()]
    except ValueError:
        p.error(f"--concurrency {a.concurrency!r}: comma-separated integers expected")
    if not a.levels or min(a.levels) < 1:
        p.error("--concurrency: at least one level, each >= 1")
    try:
        a.batches = list(dict.fromkeys(int(b) for b in a.mlserver_batch.split(",") if b.strip()))
    except ValueError:
        p.error(f"--mlserver-batch {a.mlserver_batch!r}: comma-separated integers expected")
    if not a.batches or min(a.batches) < 0:
        p.error("--mlserver-batch: at least one size, each >= 0")
    return a


# ---------------------------------------------------------------------------------------------
# Stage 1 (any python3): the virtualenv, then re-exec inside it.


def venv_python(venv):
    return os.path.join(venv, "bin", "python")


def ensure_venv_and_reexec(args):
    if os.environ.get(REEXEC_MARK) == "1":
        return
    py = venv_python(args.venv)
    probe = "import mlserver, mlserver_sklearn, sklearn, numpy, safetensors, joblib"
    if not os.path.exists(py):
        print(f"creating virtualenv {args.venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", args.venv], check=True)
    if subprocess.run([py, "-c", probe], capture_output=True).returncode != 0:
        print(f"installing {REQUIREMENTS} into {args.venv} (a few minutes)", flush=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "-r", REQUIREMENTS], check=True)
        subprocess.run([py, "-c", probe], check=True)
    env = dict(os.environ, **{REEXEC_MARK: "1"})
    sys.stdout.flush()
    os.execve(py, [py, os.path.abspath(__file__)] + sys.argv[1:], env)


# ---------------------------------------------------------------------------------------------
# Stage 2 (inside the virtualenv).


def fail(msg, code=1):
    print(f"serve_load: {msg}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def make_weights():
    import numpy as np

    rng = np.random.default_rng(SEED)
    # PyTorch layout [out, in], scaled like a trained layer so that the softmax is not flat.
    w1 = (rng.standard_normal((N_HIDDEN, N_IN)) / np.sqrt(N_IN)).astype(np.float32)
    b1 = (0.1 * rng.standard_normal(N_HIDDEN)).astype(np.float32)
    w2 = (rng.standard_normal((N_OUT, N_HIDDEN)) / np.sqrt(N_HIDDEN)).astype(np.float32)
    b2 = (0.1 * rng.standard_normal(N_OUT)).astype(np.float32)
    rows = rng.standard_normal((8, N_IN)).astype(np.float32)
    return {"w1": w1, "b1": b1, "w2": w2, "b2": b2}, rows


def forward(w, x):
    """The numpy reference, in float64 from the float32 weights."""
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    h = np.maximum(x @ w["w1"].T.astype(np.float64) + w["b1"], 0.0)
    z = h @ w["w2"].T.astype(np.float64) + w["b2"]
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def write_sklearn_model(w, rows, model_dir):
    """MLPClassifier with exactly `w`, plus MLServer's model-settings.json."""
    import warnings

    import joblib
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(SEED + 1)
    x_dummy = rng.standard_normal((30, N_IN)).astype(np.float32)
    y_dummy = np.arange(30) % N_OUT  # three classes -> softmax output layer
    clf = MLPClassifier(hidden_layer_sizes=(N_HIDDEN,), activation="relu", max_iter=1,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_dummy, y_dummy)
    if clf.out_activation_ != "softmax" or clf.n_outputs_ != N_OUT:
        fail(f"sklearn set up {clf.out_activation_!r} with {clf.n_outputs_} outputs, "
             f"expected softmax with {N_OUT}")
    if [c.shape for c in clf.coefs_] != [(N_IN, N_HIDDEN), (N_HIDDEN, N_OUT)]:
        fail(f"unexpected sklearn coefficient shapes {[c.shape for c in clf.coefs_]}")
    clf.coefs_ = [np.ascontiguousarray(w["w1"].T), np.ascontiguousarray(w["w2"].T)]
    clf.intercepts_ = [w["b1"].copy(), w["b2"].copy()]
    got = clf.predict_proba(rows)
    want = forward(w, rows)
    diff = float(np.abs(got - want).max())
    if diff > TOLERANCE:
        fail(f"sklearn predict_proba differs from the numpy forward pass by {diff:.3g}")
    os.makedirs(model_dir, exist_ok=True)
    joblib.dump(clf, os.path.join(model_dir, "model.joblib"))
    settings = {
        "name": MODEL_NAME,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "v1"},
    }
    with open(os.path.join(model_dir, "model-settings.json"), "w") as f:
        json.dump(settings, f, indent=2)
    return diff


def write_mlserver_settings(repo_dir, http_port, grpc_port, workers):
    # mlserver.settings.Settings: gRPC cannot be switched off (it gets its own port and stays
    # idle); metrics_endpoint=None disables the metrics server; debug=False turns off the
    # per-request access log; gzip off, as ours does not compress either.
    settings = {
        "debug": False,
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_endpoint": None,
        "parallel_workers": workers,
        "gzip_enabled": False,
        "load_models_at_startup": True,
    }
    with open(os.path.join(repo_dir, "settings.json"), "w") as f:
        json.dump(settings, f, indent=2)
    return settings


def write_feedforward_model(w, out_dir):
    from safetensors.numpy import save_file

    os.makedirs(out_dir, exist_ok=True)
    spec = {
        "input": INPUT_NAME,
        "output": OUTPUT_NAME,
        "layers": [
            {"weight": "l0.weight", "bias": "l0.bias", "activation": "relu"},
            {"weight": "l1.weight", "bias": "l1.bias", "activation": "softmax"},
        ],
    }
    spec_path = os.path.join(out_dir, "mlp.json")
    weights_path = os.path.join(out_dir, "mlp.safetensors")
    with open(spec_path, "w") as f:
        json.dump(spec, f, indent=2)
    save_file(
        {"l0.weight": w["w1"], "l0.bias": w["b1"], "l1.weight": w["w2"], "l1.bias": w["b2"]},
        weights_path,
    )
    return spec_path, weights_path


def register(mlops_bin, store, spec_path, weights_path):
    cmd = [mlops_bin, "registry", "--store", store, "register", MODEL_NAME,
           "--artifact", spec_path, "--artifact", weights_path, "--format", "feedforward",
           "--description", "serve_load.py benchmark MLP 16-32-3"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{' '.join(cmd)} failed:\n{r.stderr}")
    words = r.stdout.split()
    version = next((t for t in reversed(words) if t.isdigit()), None)
    if version is None:
        fail(f"cannot read the version number from {r.stdout!r}")
    cmd = [mlops_bin, "registry", "--store", store, "alias", "set", MODEL_NAME, "production",
           version, "--reason", "serve_load benchmark"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return int(version)


def infer_body(row, output_name=None):
    body = {
        "inputs": [{
            "name": INPUT_NAME,
            "shape": [1, N_IN],
            "datatype": "FP32",
            # str(np.float32) is the shortest decimal that reads back as the same float32.
            "data": [float(str(v)) for v in row],
        }]
    }
    if output_name:
        body["outputs"] = [{"name": output_name}]
    return json.dumps(body, separators=(",", ":"))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A child process in its own process group, with its output in a log file."""

    def __init__(self, label, cmd, cwd, log_path, port, env=None):
        self.label, self.cmd, self.port, self.log_path = label, cmd, port, log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     env=env)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-n:].strip()
        except OSError:
            return ""

    def _ok(self, path):
        try:
            with urllib.request.urlopen(self.url(path), timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout_s):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"exited with status {self.proc.returncode}: {self.log_tail()}"
            # The server, then the model: MLServer answers health/ready before a parallel
            # worker that fails to load the model has taken the server down.
            if all(self._ok(p) for p in ("/v2/health/ready", f"/v2/models/{MODEL_NAME}/ready")):
                return None
            time.sleep(0.2)
        return f"not ready after {timeout_s:.0f} s: {self.log_tail()}"

    def stop(self):
        if self.proc.poll() is None:
            for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        else:
            # The leader is gone; children (MLServer's workers) may not be.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.log.close()


def post_json(url, body, timeout=10):
    req = urllib.request.Request(url, data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        fail(f"POST {url} -> HTTP {e.code}: {e.read().decode('utf-8', 'replace')[:2000]}")


def probabilities(resp, want_name, label):
    outputs = resp.get("outputs") or []
    chosen = [o for o in outputs if o.get("name") == want_name] or outputs[:1]
    if not chosen:
        fail(f"{label}: no outputs in {json.dumps(resp)[:500]}")
    o = chosen[0]
    data = o.get("data")
    if isinstance(data, dict):  # some servers nest typed data
        data = next(iter(data.values()), None)
    flat = []

    def walk(v):
        if isinstance(v, list):
            for x in v:
                walk(x)
        else:
            flat.append(float(v))

    walk(data)
    if len(flat) != N_OUT:
        fail(f"{label}: output {o.get('name')!r} has {len(flat)} values, expected {N_OUT}: "
             f"{json.dumps(o)[:500]}")
    return flat, o.get("name"), o.get("datatype"), o.get("shape")


def check_server(server, body, want, out_name):
    resp = post_json(server.url(f"/v2/models/{MODEL_NAME}/infer"), body)
    got, name, dtype, shape = probabilities(resp, out_name, server.label)
    diff = max(abs(a - b) for a, b in zip(got, want))
    print(f"  {server.label:<14} output {name!r} {dtype} {shape}: "
          f"{[round(v, 7) for v in got]}  max |diff| vs numpy {diff:.2e}", flush=True)
    return got, diff


def run_load(loadgen, server, body_path, c, args):
    cmd = [loadgen, "--url", server.url(f"/v2/models/{MODEL_NAME}/infer"), "--body", body_path,
           "--concurrency", str(c), "--duration-s", str(args.duration_s),
           "--warmup-s", str(args.warmup_s), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=args.duration_s + args.warmup_s + 120)
    line = next((ln for ln in reversed(r.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        fail(f"oip_load printed no result (status {r.returncode}): {r.stderr.strip()}")
    res = json.loads(line)
    res["server"] = server.label
    return res


def start_mlserver(args, tmp, workers, batch):
    repo = os.path.join(tmp, f"mlserver-w{workers}-b{batch}")
    model_dir = os.path.join(repo, MODEL_NAME)
    if not os.path.isdir(model_dir):
        shutil.copytree(os.path.join(tmp, "mlserver-model"), model_dir)
    settings_path = os.path.join(model_dir, "model-settings.json")
    with open(settings_path) as f:
        ms = json.load(f)
    ms.pop("max_batch_size", None)
    ms.pop("max_batch_time", None)
    if batch:
        ms["max_batch_size"] = batch
        ms["max_batch_time"] = args.mlserver_batch_ms / 1e3
    with open(settings_path, "w") as f:
        json.dump(ms, f, indent=2)
    port = free_port()
    settings = write_mlserver_settings(repo, port, free_port(), workers)
    # One BLAS thread per process: a 1x16 matmul gains nothing from threads, and on 2 cores
    # extra threads only compete with the event loop and the load generator.
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop(REEXEC_MARK, None)
    label = f"mlserver-ab{batch}" if batch else "mlserver"
    server = Server(label, [os.path.join(args.venv, "bin", "mlserver"), "start", repo],
                    repo, os.path.join(tmp, f"mlserver-w{workers}-b{batch}.log"), port, env)
    err = server.wait_ready(120)
    if err:
        server.stop()
        fail(f"MLServer did not start: {err}")
    return server, settings


def tune_mlserver(args, tmp, loadgen, body_path):
    c = max(args.levels)
    probe = argparse.Namespace(**vars(args))
    probe.duration_s, probe.warmup_s = 3.0, 1.0
    best = None
    print(f"tuning MLServer parallel_workers at c={c}, max_batch_size {args.batches[0]} "
          f"(3 s each):", flush=True)
    for workers in (0, 1, 2):
        server, _ = start_mlserver(args, tmp, workers, args.batches[0])
        try:
            res = run_load(loadgen, server, body_path, c, probe)
        finally:
            server.stop()
        print(f"  parallel_workers={workers}: {res['rps']:.0f} req/s, "
              f"p99 {res['p99_ms']:.2f} ms, errors {res['errors']}", flush=True)
        if res["errors"] == 0 and (best is None or res["rps"] > best[1]):
            best = (workers, res["rps"])
    if best is None:
        fail("every MLServer configuration had errors while tuning")
    return best[0]


def main(args):
    import numpy as np
    import mlserver
    import sklearn

    mlops_bin = os.path.abspath(args.mlops_bin)
    loadgen = os.path.abspath(args.loadgen)
    for path, what in ((mlops_bin, "--mlops-bin"), (loadgen, "--loadgen")):
        if not os.access(path, os.X_OK):
            fail(f"{what} {path} is not an executable file (build it with cargo --release)")

    tmp = tempfile.mkdtemp(prefix="mlops-serve-load-")
    servers = []
    exit_code = 0
    try:
        w, rows = make_weights()
        sk_diff = write_sklearn_model(w, rows, os.path.join(tmp, "mlserver-model"))
        spec_path, weights_path = write_feedforward_model(w, os.path.join(tmp, "feedforward"))
        store = os.path.join(tmp, "registry")
        version = register(mlops_bin, store, spec_path, weights_path)
        print(f"model: MLP {N_IN}->{N_HIDDEN} relu->{N_OUT} softmax, float32, seed {SEED}; "
              f"sklearn predict_proba vs numpy max |diff| {sk_diff:.1e}; "
              f"registered {MODEL_NAME}/{version} as {MODEL_NAME}@production in {store}",
              flush=True)

        row = rows[0]
        want = forward(w, row[None, :])[0].tolist()
        ml_body_path = os.path.join(tmp, "body-mlserver.json")
        our_body_path = os.path.join(tmp, "body-mlops.json")
        with open(ml_body_path, "w") as f:
            f.write(infer_body(row, "predict_proba"))
        with open(our_body_path, "w") as f:
            f.write(infer_body(row))

        workers = args.mlserver_workers
        if args.tune_mlserver:
            workers = tune_mlserver(args, tmp, loadgen, ml_body_path)
        mls = []
        for batch in args.batches:
            ml, ml_settings = start_mlserver(args, tmp, workers, batch)
            servers.append(ml)
            mls.append(ml)
            batching = (f"adaptive batching max_batch_size={batch} "
                        f"max_batch_time={args.mlserver_batch_ms:g} ms" if batch
                        else "no adaptive batching")
            print(f"{ml.label}: MLServer {mlserver.__version__} (scikit-learn "
                  f"{sklearn.__version__}) on :{ml.port}, parallel_workers={workers}, {batching}",
                  flush=True)

        our_port = free_port()
        ours = Server("mlops", [mlops_bin, "serve", "--store", store, "--model",
                                f"{MODEL_NAME}@production", "--addr", f"127.0.0.1:{our_port}",
                                "--max-batch", str(args.max_batch),
                                "--max-delay-ms", f"{args.max_delay_ms:g}"],
                      tmp, os.path.join(tmp, "mlops-serve.log"), our_port)
        err = ours.wait_ready(60)
        if err:
            ours.stop()
            print(f"\nmlops serve unavailable: {err}\n"
                  f"benchmarking MLServer alone; exit status 3 (not a full run)\n", flush=True)
            ours = None
            exit_code = 3
        else:
            servers.append(ours)
            print(f"mlops: mlops serve on :{ours.port}, --max-batch {args.max_batch} "
                  f"--max-delay-ms {args.max_delay_ms:g}", flush=True)

        print("check: one request to each server, compared with the numpy forward pass", flush=True)
        ml_body = open(ml_body_path).read()
        ml_probs = None
        for ml in mls:
            probs, diff = check_server(ml, ml_body, want, "predict_proba")
            if diff > TOLERANCE:
                fail(f"{ml.label}'s probabilities differ from the reference by {diff:.3g}", 4)
            ml_probs = ml_probs or probs
        if ours is not None:
            our_probs, our_diff = check_server(ours, open(our_body_path).read(), want,
                                               OUTPUT_NAME)
            cross = max(abs(a - b) for a, b in zip(ml_probs, our_probs))
            if our_diff > TOLERANCE or cross > TOLERANCE:
                fail(f"the servers disagree: mlops vs numpy {our_diff:.3g}, "
                     f"mlops vs MLServer {cross:.3g} (tolerance {TOLERANCE})", 4)

        print(f"load: oip_load, {args.warmup_s:g} s warm-up + {args.duration_s:g} s per run; "
              f"server order alternates per level", flush=True)
        results = []
        for i, c in enumerate(args.levels):
            order = [(ml, ml_body_path) for ml in mls]
            if ours is not None:
                order.append((ours, our_body_path))
            if i % 2 == 1:
                order.reverse()
            for server, body in order:
                res = run_load(loadgen, server, body, c, args)
                results.append(res)
                print(f"  c={c:<3} {server.label:<14} {res['rps']:>10.1f} req/s  "
                      f"p50 {res['p50_ms']:.3f} ms  p99 {res['p99_ms']:.3f} ms  "
                      f"errors {res['errors']}", flush=True)
                time.sleep(0.5)

        print_table(results, args.levels)
        if args.json:
            report = {
                "model": {"layers": [N_IN, N_HIDDEN, N_OUT], "seed": SEED, "dtype": "float32"},
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version()},
                "duration_s": args.duration_s,
                "warmup_s": args.warmup_s,
                "mlserver": {"version": mlserver.__version__,
                             "scikit_learn": sklearn.__version__,
                             "numpy": np.__version__,
                             "parallel_workers": workers,
                             "variants": {ml.label: (args.batches[k], args.mlserver_batch_ms
                                                     if args.batches[k] else 0)
                                          for k, ml in enumerate(mls)},
                             "variant_fields": ["max_batch_size", "max_batch_time_ms"],
                             "settings": ml_settings},
                "mlops": None if ours is None else {"max_batch": args.max_batch,
                                                    "max_delay_ms": args.max_delay_ms},
                "mlops_available": ours is not None,
                "results": results,
                "ratios": ratios(results, args.levels),
            }
            with open(args.json, "w") as f:
                json.dump(report, f, indent=2)
            print(f"wrote {args.json}")
    finally:
        for s in servers:
            s.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return exit_code


def ratios(results, levels):
    """Per level: ours / the best MLServer variant at that level."""
    out = {}
    for c in levels:
        here = [r for r in results if r["concurrency"] == c]
        ours = [r for r in here if r["server"] == "mlops"]
        theirs = [r for r in here if r["server"].startswith("mlserver")]
        if ours and theirs:
            best = max(theirs, key=lambda r: r["rps"])
            if best["rps"] > 0:
                out[str(c)] = {"ratio": ours[0]["rps"] / best["rps"], "vs": best["server"]}
    return out


def print_table(results, levels):
    r = ratios(results, levels)
    print()
    print(f"{'conc':>4}  {'server':<14} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
          f"  ours / best MLServer")
    for c in levels:
        for res in sorted((x for x in results if x["concurrency"] == c),
                          key=lambda x: (x["server"] != "mlops", x["server"])):
            ratio = ""
            if res["server"] == "mlops" and str(c) in r:
                ratio = f"{r[str(c)]['ratio']:.1f}x (vs {r[str(c)]['vs']})"
            print(f"{c:>4}  {res['server']:<14} {res['rps']:>10.1f} {res['p50_ms']:>8.3f} "
                  f"{res['p99_ms']:>8.3f} {res['errors']:>7}  {ratio}")


if __name__ == "__main__":
    ARGS = parse_args()
    ensure_venv_and_reexec(ARGS)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt  # unwinds through main's finally, which stops the servers

    signal.signal(signal.SIGTERM, on_signal)
    try:
        sys.exit(main(ARGS))
    except KeyboardInterrupt:
        print("serve_load: interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
