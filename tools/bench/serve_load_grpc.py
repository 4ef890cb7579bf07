#!/usr/bin/env python3
"""Load benchmark over gRPC: Open Inference Protocol `ModelInfer` on `mlops serve --grpc-addr`
against MLServer's gRPC server, same model, same machine, same run; plus both servers' REST
`infer` in the same run, so that our gRPC can be read against our HTTP.

    cargo build --release -p mlops-cli
    cargo build --release -p mlops-benches --bin oip_load
    PROTOC=/bin/false cargo build --release -p mlops-benches --features grpc --bin oip_grpc_load
    python3 tools/bench/serve_load_grpc.py --mlops-bin target/release/mlops \
        --loadgen target/release/oip_load --grpc-loadgen target/release/oip_grpc_load \
        [--duration-s 10] [--concurrency 1,16,64] [--no-http]

The model, the registry, MLServer's configuration (two variants: without and with adaptive
batching, parallel_workers=0) and the virtualenv are serve_load.py's (imported from this
directory); see tools/bench/README-serve-load.md. Each server gets a REST port and a gRPC port.
Before the load, one request per server and protocol is compared with the numpy forward pass.
Then, per concurrency level, `oip_grpc_load` runs against every server's gRPC port and (unless
--no-http) `oip_load` against every server's REST port, the order reversing per level.

Exit status: 0 full run; 4 when a server's probabilities disagree; 1 on any other failure.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import serve_load as sl  # noqa: E402  (the model, the servers, the HTTP load runs)

REEXEC_MARK = "MLOPS_SERVE_LOAD_GRPC_IN_VENV"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mlops-bin", required=True, help="the `mlops` binary (release)")
    p.add_argument("--loadgen", required=True, help="the `oip_load` binary (HTTP, release)")
    p.add_argument("--grpc-loadgen", required=True,
                   help="the `oip_grpc_load` binary of mlops-benches (release)")
    p.add_argument("--duration-s", type=float, default=10.0, help="measured seconds per run")
    p.add_argument("--warmup-s", type=float, default=2.0, help="warm-up seconds per run")
    p.add_argument("--concurrency", default="1,16,64", help="comma-separated levels")
    p.add_argument("--venv", default="/tmp/mlops-mlserver-venv", help="MLServer virtualenv")
    p.add_argument("--json", metavar="OUT", help="write every number to this JSON file")
    p.add_argument("--mlserver-workers", type=int, default=sl.DEFAULT_MLSERVER_WORKERS,
                   help="MLServer parallel_workers (0: inference in the server process)")
    p.add_argument("--mlserver-batch", default="0,64",
                   help="MLServer variants by adaptive-batching max_batch_size (0: off)")
    p.add_argument("--mlserver-batch-ms", type=float, default=1.0,
                   help="MLServer max_batch_time in ms")
    p.add_argument("--max-batch", type=int, default=64, help="`mlops serve --max-batch`")
    p.add_argument("--max-delay-ms", type=float, default=0.0, help="`mlops serve --max-delay-ms`")
    p.add_argument("--no-http", action="store_true", help="gRPC only (no REST runs)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = p.parse_args()
    try:
        a.levels = [int(c) for c in a.concurrency.split(",") if c.strip()]
        a.batches = list(dict.fromkeys(int(b) for b in a.mlserver_batch.split(",") if b.strip()))
    except ValueError:
        p.error("--concurrency / --mlserver-batch: comma-separated integers expected")
    if not a.levels or min(a.levels) < 1 or not a.batches or min(a.batches) < 0:
        p.error("--concurrency: levels >= 1; --mlserver-batch: sizes >= 0")
    return a


def ensure_venv_and_reexec(args):
    if os.environ.get(REEXEC_MARK) == "1":
        return
    # serve_load.py's stage 1 creates/fills the virtualenv but re-executes *itself*; do the
    # same checks here and re-execute this script.
    py = sl.venv_python(args.venv)
    probe = "import mlserver, mlserver_sklearn, sklearn, numpy, safetensors, joblib, grpc"
    if not os.path.exists(py):
        print(f"creating virtualenv {args.venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", args.venv], check=True)
    if subprocess.run([py, "-c", probe], capture_output=True).returncode != 0:
        print(f"installing {sl.REQUIREMENTS} into {args.venv} (a few minutes)", flush=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "-r", sl.REQUIREMENTS], check=True)
        subprocess.run([py, "-c", probe], check=True)
    env = dict(os.environ, **{REEXEC_MARK: "1"})
    sys.stdout.flush()
    os.execve(py, [py, os.path.abspath(__file__)] + sys.argv[1:], env)


fail = sl.fail


def start_mlserver(args, tmp, batch):
    """serve_load.start_mlserver, keeping the gRPC port."""
    workers = args.mlserver_workers
    repo = os.path.join(tmp, f"mlserver-w{workers}-b{batch}")
    model_dir = os.path.join(repo, sl.MODEL_NAME)
    shutil.copytree(os.path.join(tmp, "mlserver-model"), model_dir)
    settings_path = os.path.join(model_dir, "model-settings.json")
    with open(settings_path) as f:
        ms = json.load(f)
    if batch:
        ms["max_batch_size"] = batch
        ms["max_batch_time"] = args.mlserver_batch_ms / 1e3
    with open(settings_path, "w") as f:
        json.dump(ms, f, indent=2)
    port, grpc_port = sl.free_port(), sl.free_port()
    settings = sl.write_mlserver_settings(repo, port, grpc_port, workers)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop(REEXEC_MARK, None)
    env.pop(sl.REEXEC_MARK, None)
    label = f"mlserver-ab{batch}" if batch else "mlserver"
    server = sl.Server(label, [os.path.join(args.venv, "bin", "mlserver"), "start", repo],
                       repo, os.path.join(tmp, f"{label}.log"), port, env)
    server.grpc_port = grpc_port
    err = server.wait_ready(120)
    if err:
        server.stop()
        fail(f"MLServer did not start: {err}")
    return server, settings


def grpc_check(args, server, body_path, want, out_name):
    """One ModelInfer through the load generator's --print-response; retried while the gRPC
    listener comes up."""
    cmd = [args.grpc_loadgen, "--addr", f"127.0.0.1:{server.grpc_port}", "--model",
           sl.MODEL_NAME, "--body", body_path, "--print-response"]
    deadline = time.monotonic() + 30
    while True:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    if r.returncode != 0:
        fail(f"{server.label} gRPC check failed (status {r.returncode}): {r.stderr.strip()}\n"
             f"{server.log_tail()}")
    resp = json.loads(r.stdout.strip().splitlines()[-1])
    outs = resp["outputs"]
    o = next((o for o in outs if o["name"] == out_name), outs[0])
    got = [float(v) for v in o["data"]]
    if len(got) != sl.N_OUT:
        fail(f"{server.label} gRPC: output {o['name']!r} has {len(got)} values: {o}")
    diff = max(abs(a - b) for a, b in zip(got, want))
    print(f"  {server.label:<14} gRPC output {o['name']!r} {o['datatype']} {o['shape']}: "
          f"{[round(v, 7) for v in got]}  max |diff| vs numpy {diff:.2e}", flush=True)
    return got, diff


def run_grpc_load(args, server, body_path, c):
    cmd = [args.grpc_loadgen, "--addr", f"127.0.0.1:{server.grpc_port}", "--model",
           sl.MODEL_NAME, "--body", body_path, "--concurrency", str(c),
           "--duration-s", str(args.duration_s), "--warmup-s", str(args.warmup_s), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=args.duration_s + args.warmup_s + 120)
    line = next((ln for ln in reversed(r.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        fail(f"oip_grpc_load printed no result (status {r.returncode}): {r.stderr.strip()}")
    if r.stderr.strip():
        print(f"    ({server.label} gRPC: {r.stderr.strip()})", flush=True)
    res = json.loads(line)
    res["server"], res["proto"] = server.label, "grpc"
    return res


def main(args):
    import numpy as np
    import mlserver
    import sklearn

    for attr in ("mlops_bin", "loadgen", "grpc_loadgen"):
        path = os.path.abspath(getattr(args, attr))
        setattr(args, attr, path)
        if not os.access(path, os.X_OK):
            fail(f"--{attr.replace('_', '-')} {path} is not an executable file")

    tmp = tempfile.mkdtemp(prefix="mlops-serve-load-grpc-")
    servers = []
    try:
        w, rows = sl.make_weights()
        sk_diff = sl.write_sklearn_model(w, rows, os.path.join(tmp, "mlserver-model"))
        spec_path, weights_path = sl.write_feedforward_model(w, os.path.join(tmp, "feedforward"))
        store = os.path.join(tmp, "registry")
        version = sl.register(args.mlops_bin, store, spec_path, weights_path)
        print(f"model: MLP {sl.N_IN}->{sl.N_HIDDEN} relu->{sl.N_OUT} softmax, float32; sklearn "
              f"vs numpy {sk_diff:.1e}; {sl.MODEL_NAME}/{version} as {sl.MODEL_NAME}@production",
              flush=True)
        row = rows[0]
        want = sl.forward(w, row[None, :])[0].tolist()
        ml_body_path = os.path.join(tmp, "body-mlserver.json")
        our_body_path = os.path.join(tmp, "body-mlops.json")
        with open(ml_body_path, "w") as f:
            f.write(sl.infer_body(row, "predict_proba"))
        with open(our_body_path, "w") as f:
            f.write(sl.infer_body(row))

        mls = []
        for batch in args.batches:
            ml, ml_settings = start_mlserver(args, tmp, batch)
            servers.append(ml)
            mls.append(ml)
            print(f"{ml.label}: MLServer {mlserver.__version__} REST :{ml.port} gRPC "
                  f":{ml.grpc_port}, parallel_workers={args.mlserver_workers}, "
                  + (f"adaptive batching {batch} / {args.mlserver_batch_ms:g} ms" if batch
                     else "no adaptive batching"), flush=True)

        our_port, our_grpc = sl.free_port(), sl.free_port()
        ours = sl.Server("mlops", [args.mlops_bin, "serve", "--store", store, "--model",
                                   f"{sl.MODEL_NAME}@production",
                                   "--addr", f"127.0.0.1:{our_port}",
                                   "--grpc-addr", f"127.0.0.1:{our_grpc}",
                                   "--max-batch", str(args.max_batch),
                                   "--max-delay-ms", f"{args.max_delay_ms:g}"],
                         tmp, os.path.join(tmp, "mlops-serve.log"), our_port)
        ours.grpc_port = our_grpc
        err = ours.wait_ready(60)
        if err:
            ours.stop()
            fail(f"mlops serve did not start: {err}")
        servers.append(ours)
        print(f"mlops: mlops serve REST :{our_port} gRPC :{our_grpc}, --max-batch "
              f"{args.max_batch} --max-delay-ms {args.max_delay_ms:g}", flush=True)

        print("check: one request per server and protocol vs the numpy forward pass", flush=True)
        targets = [(ml, ml_body_path, "predict_proba") for ml in mls]
        targets.append((ours, our_body_path, sl.OUTPUT_NAME))
        for server, body_path, out_name in targets:
            for name, (_, diff) in (
                ("REST", sl.check_server(server, open(body_path).read(), want, out_name)),
                ("gRPC", grpc_check(args, server, body_path, want, out_name)),
            ):
                if diff > sl.TOLERANCE:
                    fail(f"{server.label} {name}: probabilities differ from numpy by "
                         f"{diff:.3g}", 4)

        protos = ["grpc"] + ([] if args.no_http else ["http"])
        print(f"load: {args.warmup_s:g} s warm-up + {args.duration_s:g} s per run; "
              f"{' and '.join(protos)}; order reverses per level", flush=True)
        results = []
        for i, c in enumerate(args.levels):
            order = [(s, b, p) for p in protos for s, b, _ in targets]
            if i % 2 == 1:
                order.reverse()
            for server, body_path, proto in order:
                if proto == "grpc":
                    res = run_grpc_load(args, server, body_path, c)
                else:
                    res = sl.run_load(args.loadgen, server, body_path, c, args)
                    res["proto"] = "http"
                results.append(res)
                print(f"  c={c:<3} {server.label:<14} {proto:<4} {res['rps']:>10.1f} req/s  "
                      f"p50 {res['p50_ms']:.3f} ms  p99 {res['p99_ms']:.3f} ms  "
                      f"errors {res['errors']}", flush=True)
                time.sleep(0.5)

        table = summarize(results, args.levels)
        if args.json:
            report = {
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version()},
                "duration_s": args.duration_s, "warmup_s": args.warmup_s,
                "mlserver": {"version": mlserver.__version__, "scikit_learn": sklearn.__version__,
                             "numpy": np.__version__, "settings": ml_settings,
                             "parallel_workers": args.mlserver_workers,
                             "variants": {ml.label: args.batches[k] for k, ml in enumerate(mls)}},
                "mlops": {"max_batch": args.max_batch, "max_delay_ms": args.max_delay_ms},
                "results": results,
                "summary": table,
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
    return 0


def summarize(results, levels):
    def pick(c, proto, ours):
        rs = [r for r in results if r["concurrency"] == c and r["proto"] == proto
              and (r["server"] == "mlops") == ours]
        return max(rs, key=lambda r: r["rps"]) if rs else None

    def fmt(r):
        return (f"{r['rps']:>9.0f} ({r['p50_ms']:.2f}/{r['p99_ms']:.2f})" if r else "-").ljust(23) + " "

    out = {}
    print()
    print("req/s (p50/p99 ms); MLServer = its best variant at that level")
    print(f"{'conc':>4}  {'ours gRPC':<24}{'ours HTTP':<24}{'MLServer gRPC':<24}"
          f"{'MLServer HTTP':<24}gRPC ours/MLServer  ours gRPC/HTTP")
    for c in levels:
        og, oh = pick(c, "grpc", True), pick(c, "http", True)
        mg, mh = pick(c, "grpc", False), pick(c, "http", False)
        vs_ml = og["rps"] / mg["rps"] if og and mg and mg["rps"] else None
        vs_http = og["rps"] / oh["rps"] if og and oh and oh["rps"] else None
        out[str(c)] = {"ours_grpc": og and og["rps"], "ours_http": oh and oh["rps"],
                       "mlserver_grpc": mg and mg["rps"], "mlserver_grpc_variant": mg and mg["server"],
                       "mlserver_http": mh and mh["rps"], "grpc_ours_over_mlserver": vs_ml,
                       "ours_grpc_over_http": vs_http}
        r_ml = f"{vs_ml:.1f}x (vs {mg['server']})" if vs_ml else "-"
        r_http = f"{vs_http:.2f}x" if vs_http else "-"
        print(f"{c:>4}  {fmt(og)}{fmt(oh)}{fmt(mg)}{fmt(mh)}{r_ml:<20}{r_http}")
    return out


if __name__ == "__main__":
    ARGS = parse_args()
    ensure_venv_and_reexec(ARGS)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        sys.exit(main(ARGS))
    except KeyboardInterrupt:
        print("serve_load_grpc: interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
