#!/usr/bin/env python3
"""What prediction logging costs a server: `mlops serve` with logging off and with
`--log-predictions DIR` (every request logged), same model, same load, same run.

    cargo build --release -p mlops-cli
    cargo build --release -p mlops-benches --bin oip_load
    python3 tools/bench/serve_logging.py --mlops-bin target/release/mlops \
        --loadgen target/release/oip_load [--concurrency 64] [--duration-s 10] [--rounds 3]

The model is serve_load.py's MLP (16 -> 32 relu -> 3 softmax, float32, fixed seed), registered
in a fresh file registry. Each round starts both servers one after the other (order alternating
per round) and runs `oip_load` against each at each concurrency; the table prints the median
over rounds of req/s and p99 and the ratios logging-on / logging-off. The issue's goal at
c=64: >= 0.95x the requests/s and <= 1.1x the p99. After the run it reads the log back with
`mlops monitor report` to check that the logged rows equal the served requests minus the
dropped ones (the dropped count comes from /metrics).

numpy and safetensors come from a virtualenv (--venv, default /tmp/mlops-serve-logging-venv)
made with tools/bench/requirements-serve-logging.txt.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIREMENTS = os.path.join(HERE, "requirements-serve-logging.txt")
REEXEC_MARK = "MLOPS_SERVE_LOGGING_IN_VENV"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mlops-bin", required=True)
    p.add_argument("--loadgen", required=True)
    p.add_argument("--duration-s", type=float, default=10.0)
    p.add_argument("--warmup-s", type=float, default=2.0)
    p.add_argument("--concurrency", default="64")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--venv", default="/tmp/mlops-serve-logging-venv")
    p.add_argument("--json", metavar="OUT")
    a = p.parse_args()
    a.levels = [int(c) for c in a.concurrency.split(",") if c.strip()]
    return a


def ensure_venv_and_reexec(args):
    if os.environ.get(REEXEC_MARK) == "1":
        return
    py = os.path.join(args.venv, "bin", "python")
    probe = "import numpy, safetensors"
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", args.venv], check=True)
    if subprocess.run([py, "-c", probe], capture_output=True).returncode != 0:
        subprocess.run([py, "-m", "pip", "install", "-q", "-r", REQUIREMENTS], check=True)
    env = dict(os.environ, **{REEXEC_MARK: "1"})
    sys.stdout.flush()
    os.execve(py, [py, os.path.abspath(__file__)] + sys.argv[1:], env)


def metric_sum(url, name):
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main(args):
    sys.path.insert(0, HERE)
    import serve_load as sl  # the model, the server wrapper and the load runner

    mlops_bin = os.path.abspath(args.mlops_bin)
    loadgen = os.path.abspath(args.loadgen)
    tmp = tempfile.mkdtemp(prefix="mlops-serve-logging-")
    w, rows = sl.make_weights()
    spec, weights = sl.write_feedforward_model(w, os.path.join(tmp, "model"))
    store = os.path.join(tmp, "registry")
    sl.register(mlops_bin, store, spec, weights)
    body_path = os.path.join(tmp, "body.json")
    with open(body_path, "w") as f:
        f.write(sl.infer_body(rows[0]))
    results = {"off": {c: [] for c in args.levels}, "on": {c: [] for c in args.levels}}
    logged_dirs = []
    served_on = 0.0
    dropped_on = 0.0
    for r in range(args.rounds):
        order = ["off", "on"] if r % 2 == 0 else ["on", "off"]
        for mode in order:
            port = sl.free_port()
            cmd = [mlops_bin, "serve", "--store", store, "--model", f"{sl.MODEL_NAME}@production",
                   "--addr", f"127.0.0.1:{port}"]
            if mode == "on":
                log_dir = os.path.join(tmp, f"log-{r}")
                logged_dirs.append(log_dir)
                cmd += ["--log-predictions", log_dir]
            srv = sl.Server(f"logging-{mode}", cmd, tmp, os.path.join(tmp, f"serve-{mode}-{r}.log"), port)
            err = srv.wait_ready(60)
            if err:
                srv.stop()
                sl.fail(f"mlops serve ({mode}) did not start: {err}")
            try:
                for c in args.levels:
                    res = sl.run_load(loadgen, srv, body_path, c, args)
                    results[mode][c].append(res)
                    print(f"round {r} c={c:<3} logging {mode:<3} {res['rps']:>9.1f} req/s  "
                          f"p50 {res['p50_ms']:.3f} ms  p99 {res['p99_ms']:.3f} ms  errors {res['errors']}",
                          flush=True)
                if mode == "on":
                    m = srv.url("/metrics")
                    served_on += metric_sum(m, "mlops_serve_prediction_log_queued_total")
                    dropped_on += metric_sum(m, "mlops_serve_prediction_log_dropped_total")
            finally:
                srv.stop()
            time.sleep(0.5)
    print("\nmedian over rounds        req/s        p99 ms")
    summary = {}
    for c in args.levels:
        off_rps = statistics.median(x["rps"] for x in results["off"][c])
        on_rps = statistics.median(x["rps"] for x in results["on"][c])
        off_p99 = statistics.median(x["p99_ms"] for x in results["off"][c])
        on_p99 = statistics.median(x["p99_ms"] for x in results["on"][c])
        summary[c] = {"off_rps": off_rps, "on_rps": on_rps, "off_p99_ms": off_p99,
                      "on_p99_ms": on_p99, "rps_ratio": on_rps / off_rps,
                      "p99_ratio": on_p99 / off_p99}
        print(f"c={c:<3} logging off      {off_rps:>9.1f}     {off_p99:.3f}")
        print(f"c={c:<3} logging on       {on_rps:>9.1f}     {on_p99:.3f}")
        print(f"c={c:<3} ratio on/off     {on_rps / off_rps:>9.3f}x    {on_p99 / off_p99:.3f}x "
              f"(goal >= 0.95x req/s, <= 1.1x p99)")
    logged = 0
    for d in logged_dirs:
        out = subprocess.run([mlops_bin, "monitor", "report", "--log", d, "--window-rows",
                              "100000000", "--format", "json"], capture_output=True, text=True)
        if out.returncode != 0:
            sl.fail(f"mlops monitor report --log {d} failed: {out.stderr}")
        rep = json.loads(out.stdout)
        logged += sum(wd["n_predictions"] for wd in rep["windows"])
    print(f"\nlogged rows read back: {logged}; queued (served and logged) per /metrics: {served_on:.0f}; "
          f"dropped: {dropped_on:.0f}")
    if abs(logged - served_on) > 0.5:
        sl.fail(f"the log holds {logged} rows but the servers queued {served_on:.0f}", 4)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "results": results, "logged": logged,
                       "dropped": dropped_on}, f, indent=2)


if __name__ == "__main__":
    a = parse_args()
    ensure_venv_and_reexec(a)
    main(a)
