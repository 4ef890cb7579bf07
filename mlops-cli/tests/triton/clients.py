"""Drives an mlops-rs server with the official Triton clients, default settings.

Run by mlops-cli/tests/triton_clients.rs with the python of scripts/triton.sh's venv:

    python clients.py --protocol http|grpc --url HOST:PORT --scenario cli|dtypes [--token T]

Scenario `cli`: a real `mlops serve` with model `scorer` (x: FP32 [-1, 2] -> y: FP32 [-1, 1]),
stable v1 (y = x0) and a canary v2 (y = 2 x0) at 50 %, admin token T.
Scenario `dtypes`: an in-process server with one echo model per datatype, named after it in
lower case (`fp16`, `bytes`, ...; x -> y, shape [-1, -1]), and `gated`, whose queue is full.

Prints one line per check and `ok: N checks`; exits non-zero (with the failing check) otherwise.
"""

import argparse
import os
import sys

import numpy as np
from tritonclient.utils import InferenceServerException

CHECKS = 0


def check(cond, what):
    global CHECKS
    if not cond:
        raise AssertionError(what)
    CHECKS += 1
    print(f"  ok  {what}")


def expect_error(status, what, f):
    """`f()` must raise InferenceServerException with `status` (HTTP code or gRPC code name)."""
    try:
        f()
    except InferenceServerException as e:
        check(
            str(e.status()) == status or str(e.status()).endswith("." + status),
            f"{what}: got status {e.status()!r} ({e.message()})",
        )
        return e
    raise AssertionError(f"{what}: no error raised")


class Proto:
    """What differs between tritonclient.http and tritonclient.grpc (default settings)."""

    def __init__(self, protocol, url):
        self.grpc = protocol == "grpc"
        if self.grpc:
            import tritonclient.grpc as client
        else:
            import tritonclient.http as client
        self.m = client
        self.c = client.InferenceServerClient(url=url)
        # Statuses as each protocol names them.
        self.bad_request = "INVALID_ARGUMENT" if self.grpc else "400"
        self.not_found = "NOT_FOUND" if self.grpc else "404"
        self.unavailable = "UNAVAILABLE" if self.grpc else "503"

    def output(self, name, binary=True):
        if self.grpc:
            return self.m.InferRequestedOutput(name)
        return self.m.InferRequestedOutput(name, binary_data=binary)

    def input(self, name, array, datatype, binary=True):
        i = self.m.InferInput(name, list(array.shape), datatype)
        if self.grpc:
            i.set_data_from_numpy(array)
        else:
            i.set_data_from_numpy(array, binary_data=binary)
        return i

    def version_of(self, result):
        r = result.get_response()
        return r.model_version if self.grpc else r["model_version"]

    def extensions(self):
        md = self.c.get_server_metadata()
        return list(md.extensions) if self.grpc else md["extensions"]

    def metadata(self, model):
        md = self.c.get_model_metadata(model)
        if self.grpc:
            return {
                "name": md.name,
                "versions": list(md.versions),
                "inputs": [(t.name, t.datatype, list(t.shape)) for t in md.inputs],
                "outputs": [(t.name, t.datatype, list(t.shape)) for t in md.outputs],
            }
        return {
            "name": md["name"],
            "versions": md["versions"],
            "inputs": [(t["name"], t["datatype"], t["shape"]) for t in md["inputs"]],
            "outputs": [(t["name"], t["datatype"], t["shape"]) for t in md["outputs"]],
        }

    def stats(self, model):
        s = self.c.get_inference_statistics(model)
        if self.grpc:
            return [
                {
                    "version": m.version,
                    "inference_count": m.inference_count,
                    "execution_count": m.execution_count,
                    "success": m.inference_stats.success.count,
                    "success_ns": m.inference_stats.success.ns,
                    "fail": m.inference_stats.fail.count,
                    "last_inference": m.last_inference,
                }
                for m in s.model_stats
            ]
        return [
            {
                "version": m["version"],
                "inference_count": m["inference_count"],
                "execution_count": m["execution_count"],
                "success": m["inference_stats"]["success"]["count"],
                "success_ns": m["inference_stats"]["success"]["ns"],
                "fail": m["inference_stats"]["fail"]["count"],
                "last_inference": m["last_inference"],
            }
            for m in s["model_stats"]
        ]

    def index(self):
        idx = self.c.get_model_repository_index()
        if self.grpc:
            return [(m.name, m.version, m.state, m.reason) for m in idx.models]
        return [
            (m["name"], m.get("version", ""), m["state"], m.get("reason", ""))
            for m in idx
        ]


def scenario_cli(p, token):
    c = p.c
    check(c.is_server_live(), "is_server_live")
    check(c.is_server_ready(), "is_server_ready")
    ext = p.extensions()
    for e in ["binary_tensor_data", "model_repository", "statistics"]:
        check(e in ext, f"server metadata lists extension {e} ({ext})")
    md = p.metadata("scorer")
    check(md["name"] == "scorer", "model metadata name")
    check(sorted(md["versions"]) == ["1", "2"], f"both versions loaded ({md['versions']})")
    check(md["inputs"] == [("x", "FP32", [-1, 2])], f"input metadata {md['inputs']}")
    check(md["outputs"] == [("y", "FP32", [-1, 1])], f"output metadata {md['outputs']}")
    check(c.is_model_ready("scorer"), "is_model_ready")
    check(c.is_model_ready("scorer", "1"), "is_model_ready version 1")
    check(not c.is_model_ready("nope"), "an unknown model is not ready")

    x = np.array([[3.5, 9.0], [-1.0, 4.0]], dtype=np.float32)
    want = {"1": x[:, :1], "2": 2 * x[:, :1]}
    # Binary inputs (set_data_from_numpy's default), all outputs (binary_data_output).
    r = c.infer("scorer", [p.input("x", x, "FP32")])
    v = p.version_of(r)
    check(np.array_equal(r.as_numpy("y"), want[v]), f"binary infer answered by v{v}")
    # JSON inputs, outputs asked binary and as JSON.
    for binary_in in [True, False]:
        for binary_out in [True, False]:
            r = c.infer(
                "scorer",
                [p.input("x", x, "FP32", binary=binary_in)],
                outputs=[p.output("y", binary=binary_out)],
                request_id="req-7",
            )
            v = p.version_of(r)
            check(
                np.array_equal(r.as_numpy("y"), want[v]),
                f"infer binary_in={binary_in} binary_out={binary_out} (v{v})",
            )
    # Addressed by version, whatever the canary.
    for version in ["1", "2"]:
        r = c.infer("scorer", [p.input("x", x, "FP32")], model_version=version)
        check(p.version_of(r) == version, f"model_version={version} answers v{version}")
        check(np.array_equal(r.as_numpy("y"), want[version]), f"v{version} values")
    # The canary takes about half the traffic.
    seen = {"1": 0, "2": 0}
    for _ in range(60):
        r = c.infer("scorer", [p.input("x", x, "FP32")])
        v = p.version_of(r)
        seen[v] += 1
        check(np.array_equal(r.as_numpy("y"), want[v]), f"canary split: v{v} values")
    check(seen["1"] > 0 and seen["2"] > 0, f"both arms answered ({seen})")

    # Errors: wrong shape, unknown model, unknown version.
    bad = np.zeros((1, 3), dtype=np.float32)
    e = expect_error(p.bad_request, "wrong shape is a client error", lambda: c.infer("scorer", [p.input("x", bad, "FP32")]))
    check("x" in e.message(), f"the error names the input: {e.message()}")
    expect_error(p.bad_request, "wrong datatype is a client error", lambda: c.infer("scorer", [p.input("x", x.astype(np.float64), "FP64")]))
    expect_error(p.not_found, "unknown model", lambda: c.infer("nope", [p.input("x", x, "FP32")]))
    expect_error(p.not_found, "unknown version", lambda: c.infer("scorer", [p.input("x", x, "FP32")], model_version="9"))

    # Statistics: both versions, counts of what was just served.
    st = p.stats("scorer")
    check([s["version"] for s in st] == ["1", "2"], f"stats for both versions ({st})")
    total = sum(s["success"] for s in st)
    check(total >= 66, f"successes counted ({total})")
    check(all(s["inference_count"] >= s["execution_count"] > 0 for s in st), f"inference/execution counts {st}")
    check(all(s["success_ns"] > 0 and s["last_inference"] > 0 for s in st), "success time and last inference")
    # The wrong shape and the wrong datatype reached a version; unknown names did not.
    check(sum(s["fail"] for s in st) >= 2, f"failures counted ({st})")

    idx = p.index()
    check(("scorer", "1", "READY", "") in idx and ("scorer", "2", "READY", "") in idx, f"repository index {idx}")

    if p.grpc:
        # ModelStreamInfer: answers in order, an error for the bad request, the stream goes on.
        import queue

        got = queue.Queue()
        c.start_stream(callback=lambda result, error: got.put((result, error)))
        for arr in [x, bad, x]:
            c.async_stream_infer("scorer", [p.input("x", arr, "FP32")], request_id="s")
        answers = [got.get(timeout=10) for _ in range(3)]
        c.stop_stream()
        check(answers[0][1] is None and answers[2][1] is None, f"stream answers {answers}")
        for result, _ in (answers[0], answers[2]):
            v = p.version_of(result)
            check(np.array_equal(result.as_numpy("y"), want[v]), f"stream answer v{v}")
        check(answers[1][1] is not None and "x" in str(answers[1][1]), f"stream error {answers[1][1]}")
    else:
        # Load / unload through the admin token; without it, refused.
        auth = {"Authorization": f"Bearer {token}"}
        expect_error("401", "unload without the token", lambda: c.unload_model("scorer"))
        c.unload_model("scorer", headers=auth)
        check(not c.is_model_ready("scorer"), "unloaded model is not ready")
        check(("scorer", "", "UNAVAILABLE", "unloaded") in p.index(), "index lists it unloaded")
        c.load_model("scorer", headers=auth)
        check(c.is_model_ready("scorer"), "loaded again")
        r = c.infer("scorer", [p.input("x", x, "FP32")])
        check(p.version_of(r) in want, "serves after load")
        expect_error("404", "load of an unknown model", lambda: c.load_model("nope", headers=auth))


def samples():
    """One [2, 3] array per datatype, with edge values."""
    ints = lambda t: np.array([[np.iinfo(t).min, 0, 1], [7, np.iinfo(t).max - 1, np.iinfo(t).max]], dtype=t)
    return [
        ("BOOL", np.array([[True, False, True], [False, False, True]])),
        ("UINT8", ints(np.uint8)),
        ("UINT16", ints(np.uint16)),
        ("UINT32", ints(np.uint32)),
        ("UINT64", ints(np.uint64)),
        ("INT8", ints(np.int8)),
        ("INT16", ints(np.int16)),
        ("INT32", ints(np.int32)),
        ("INT64", ints(np.int64)),
        ("FP16", np.array([[0.5, -2.0, 65504.0], [0.099975586, 0.0, -0.0]], dtype=np.float16)),
        ("FP32", np.array([[0.1, -2.5, 3.4e38], [1e-38, 0.0, 7.0]], dtype=np.float32)),
        ("FP64", np.array([[0.1, -2.5, 1e300], [5e-324, 0.0, 7.0]], dtype=np.float64)),
        ("BYTES", np.array([[b"a", b"", "h\u00e9llo".encode()], [b"x" * 300, b"tab\there", b"z"]], dtype=np.object_)),
    ]


def as_bytes(a):
    """BYTES outputs read from JSON come back as str (tritonclient decodes them): compare bytes."""
    if a.dtype != np.object_:
        return a
    return np.vectorize(lambda v: v.encode() if isinstance(v, str) else v, otypes=[np.object_])(a)


def scenario_dtypes(p):
    c = p.c
    for dt, x in samples():
        model = dt.lower()
        md = p.metadata(model)
        check(md["inputs"] == [("x", dt, [-1, -1])], f"{dt}: metadata")
        modes = [(True, True)] if p.grpc else [(True, True), (True, False), (False, True), (False, False)]
        for binary_in, binary_out in modes:
            for outputs in [None, [p.output("y", binary=binary_out)]]:
                r = c.infer(model, [p.input("x", x, dt, binary=binary_in)], outputs=outputs)
                y = as_bytes(r.as_numpy("y"))
                check(
                    y.shape == x.shape and y.dtype == x.dtype and np.array_equal(y, x),
                    f"{dt}: echo binary_in={binary_in} binary_out={binary_out} outputs={'all' if outputs is None else 'y'}",
                )
    # Bytes that are not UTF-8 travel in binary form.
    raw = np.array([[b"\xff\x00", b"\xc3"]], dtype=np.object_)
    r = c.infer("bytes", [p.input("x", raw, "BYTES")])
    check(np.array_equal(r.as_numpy("y"), raw), "BYTES: non-UTF-8 bytes in binary form")
    # A datatype the model does not take, and an element count that does not match the shape.
    expect_error(p.bad_request, "datatype mismatch", lambda: c.infer("fp32", [p.input("x", np.zeros((1, 1), np.float64), "FP64")]))
    # Overload: the gated model's queue is full.
    g = np.zeros((1, 1), dtype=np.float32)
    expect_error(p.unavailable, "a full queue is overload", lambda: c.infer("gated", [p.input("x", g, "FP32")]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", choices=["http", "grpc"], required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--scenario", choices=["cli", "dtypes"], required=True)
    ap.add_argument("--token", default="")
    a = ap.parse_args()
    import tritonclient

    print(f"tritonclient {tritonclient.__version__ if hasattr(tritonclient, '__version__') else '?'} {a.protocol} {a.scenario} at {a.url}")
    p = Proto(a.protocol, a.url)
    if a.scenario == "cli":
        scenario_cli(p, a.token)
    else:
        scenario_dtypes(p)
    print(f"ok: {CHECKS} checks", flush=True)
    sys.stderr.flush()
    # grpcio's Channel.close can wait forever in __del__ at interpreter exit (seen once here,
    # after every check had passed); leave without running finalizers.
    os._exit(0)


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, InferenceServerException) as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
