"""ONNX conformance fixtures: real exported models + onnxruntime reference outputs.

Trains small, seeded models and exports them with the exporters users actually run, then
records what onnxruntime (CPUExecutionProvider) returns on a fixed batch of inputs. The Rust
side (mlops-serve, tract-onnx) must reproduce those outputs within 1e-5.

Writes into mlops-serve/tests/fixtures/onnx/, for each model NAME:
  NAME.onnx   the exported graph (weights inline, no external data)
  NAME.json   exporter + versions, opset imports, distinct (domain, op_type) of the nodes,
              graph inputs/outputs as ONNX declares them, the test inputs, the onnxruntime
              outputs and the exact call that produced them (`reference_call`).
and README.md (a table of the models).

Models:
  skl2onnx    skl_logreg                LogisticRegression, 3 classes, default options (ZipMap)
              skl_logreg_nozipmap       the same model, options={id(model): {'zipmap': False}}
              skl_random_forest         RandomForestClassifier(10 trees, max_depth 5), 3 classes
              skl_gradient_boosting     GradientBoostingClassifier(20, depth 3), binary
              skl_pipeline_mixed        Pipeline(ColumnTransformer(StandardScaler on 3 numeric
                                        cols, OneHotEncoder(handle_unknown='ignore') on 2 string
                                        cols), LogisticRegression), string class labels; one
                                        ONNX input per column (StringTensorType for the strings)
  onnxmltools lgbm_classifier           LGBMClassifier(20 rounds, 15 leaves), 3 classes (ZipMap)
              lgbm_classifier_nozipmap  the same model converted with zipmap=False
              lgbm_regressor            LGBMRegressor(20 rounds, 15 leaves)
  torch       torch_mlp                 8 -> 32 ReLU -> 16 ReLU -> 3 softmax
              torch_cnn                 1x8x8 -> Conv2d(1,4,3,pad 1) ReLU MaxPool2d(2) Flatten
                                        Linear(64,3)
              (torch.onnx.export with its default exporter, dynamic batch axis "batch")

Float values in JSON are Python floats from numpy's .tolist(): float32 values become the exact
double of the float32, and json.dumps writes the shortest repr that round-trips, so parsing a
value as f64 and casting to f32 gives back the exact bits onnxruntime produced.

Run:  python3 -m venv /work/.venv-onnx
      /work/.venv-onnx/bin/pip install -r tools/reference/requirements-onnx.txt
      /work/.venv-onnx/bin/python tools/reference/onnx_models.py
Torch is needed only to (re)generate the torch_* fixtures; pass --skip-torch to leave them.
"""
import argparse
import hashlib
import importlib.metadata as md
import json
import os
import platform
import re
import sys

import numpy as np
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "mlops-serve", "tests", "fixtures", "onnx")

SEED = 20240607
N_ROWS = 64
N_FEATURES = 8

REFERENCE_CALL = (
    "onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider']).run(None, feeds)"
)
FEEDS_CALL = (
    "feeds = {i['name']: numpy.array(i['data'], dtype=i['dtype']).reshape(i['shape']) "
    "for i in doc['test_inputs']}  # dtype 'str' -> numpy.array(i['data'], dtype=object)"
)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

def dense_data(rng, n, n_classes):
    """Gaussian blobs in N_FEATURES dims, class k centred at a seeded random point."""
    centres = rng.normal(0.0, 2.0, size=(n_classes, N_FEATURES))
    y = rng.integers(0, n_classes, size=n)
    x = centres[y] + rng.normal(0.0, 1.0, size=(n, N_FEATURES))
    return x.astype(np.float32), y.astype(np.int64)


def edge_rows(n_cols):
    """Rows every dense test batch starts with (documented in the JSON as `edge_rows`)."""
    rows = [
        ("zeros", np.zeros(n_cols)),
        ("all 1e6", np.full(n_cols, 1e6)),
        ("all -1e6", np.full(n_cols, -1e6)),
        ("alternating +-1e6", np.array([1e6 if i % 2 == 0 else -1e6 for i in range(n_cols)])),
        ("all -3.5", np.full(n_cols, -3.5)),
        ("tiny 1e-30", np.full(n_cols, 1e-30)),
        ("mixed", np.array([(-1.0) ** i * (i + 0.25) for i in range(n_cols)])),
    ]
    return [r[0] for r in rows], np.stack([r[1] for r in rows]).astype(np.float32)


def dense_test_batch(rng, n_classes):
    names, edges = edge_rows(N_FEATURES)
    rest, _ = dense_data(rng, N_ROWS - len(edges), n_classes)
    x = np.concatenate([edges, rest]).astype(np.float32)
    return x, {str(i): n for i, n in enumerate(names)}


COLORS = ["red", "green", "blue"]
SIZES = ["S", "M", "L", "XL"]
TIERS = np.array(["bronze", "silver", "gold"], dtype=object)


def mixed_data(rng, n):
    num = rng.normal(0.0, 1.0, size=(n, 3)) * np.array([1.0, 10.0, 0.1]) + np.array([0, 50, 0])
    color = rng.choice(COLORS, size=n)
    size = rng.choice(SIZES, size=n)
    score = (num[:, 0] + (num[:, 1] - 50) / 10 - num[:, 2] * 10
             + np.where(color == "red", 1.5, 0) - np.where(size == "XL", 1.5, 0)
             + rng.normal(0, 0.5, size=n))
    y = TIERS[np.digitize(score, [-1.0, 1.0])]
    return num.astype(np.float32), color.astype(object), size.astype(object), y


# --------------------------------------------------------------------------------------------
# ONNX / JSON helpers
# --------------------------------------------------------------------------------------------

def elem_name(t):
    return onnx.helper.tensor_dtype_to_string(t).replace("TensorProto.", "").lower()


def describe_type(tp):
    """The ONNX TypeProto as a JSON object (recursive for sequence/map)."""
    kind = tp.WhichOneof("value")
    if kind == "tensor_type":
        shape = None
        if tp.tensor_type.HasField("shape"):
            shape = []
            for d in tp.tensor_type.shape.dim:
                if d.HasField("dim_value"):
                    shape.append(d.dim_value)
                elif d.HasField("dim_param"):
                    shape.append(d.dim_param)
                else:
                    shape.append(None)
        return {"kind": "tensor", "elem_type": elem_name(tp.tensor_type.elem_type),
                "shape": shape}
    if kind == "sequence_type":
        return {"kind": "sequence", "elem": describe_type(tp.sequence_type.elem_type)}
    if kind == "map_type":
        return {"kind": "map", "key_type": elem_name(tp.map_type.key_type),
                "value": describe_type(tp.map_type.value_type)}
    raise ValueError(f"unhandled TypeProto kind {kind}")


def distinct_ops(graph):
    """Sorted distinct [domain, op_type]; the default domain (stored as "") is written "ai.onnx"."""
    ops = set()

    def walk(g):
        for n in g.node:
            ops.add((n.domain or "ai.onnx", n.op_type))
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)
                for sg in a.graphs:
                    walk(sg)

    walk(graph)
    return [list(o) for o in sorted(ops)]


def attr_summary(graph):
    """Attributes of every non-default-domain node (ai.onnx.ml), long lists summarised."""
    out = []
    for n in graph.node:
        if n.domain in ("", "ai.onnx"):
            continue
        attrs = {}
        for a in n.attribute:
            v = onnx.helper.get_attribute_value(a)
            if isinstance(v, bytes):
                v = v.decode()
            if isinstance(v, list):
                v = [x.decode() if isinstance(x, bytes) else x for x in v]
                if len(v) > 8:
                    distinct = sorted(set(v), key=str)
                    v = {"len": len(v), "distinct": distinct if len(distinct) <= 8
                         else f"{len(distinct)} distinct values"}
            elif isinstance(v, onnx.TensorProto):
                v = {"tensor": elem_name(v.data_type), "dims": list(v.dims)}
            attrs[a.name] = v
        out.append({"op_type": n.op_type, "domain": n.domain, "inputs": list(n.input),
                    "outputs": list(n.output), "attributes": attrs})
    return out


def quirks_of(model, outputs):
    """Things in the exported file that a strict runtime may trip over."""
    q = []
    seen = {}
    for o in model.opset_import:
        seen.setdefault(o.domain, []).append(o.version)
    for dom, vs in seen.items():
        if len(vs) > 1:
            q.append(f"opset_import lists domain {dom!r} {len(vs)} times (versions {vs})")
    for o, v in zip(model.graph.output, outputs):
        if not isinstance(v, np.ndarray) or o.type.WhichOneof("value") != "tensor_type":
            continue
        dims = o.type.tensor_type.shape.dim
        declared = [d.dim_value if d.HasField("dim_value") else None for d in dims]
        if len(declared) != v.ndim or any(d is not None and d != a
                                          for d, a in zip(declared, v.shape)):
            q.append(f"output {o.name!r} declares shape {[d if d is not None else '?' for d in declared]}"
                     f" but onnxruntime returns shape {list(v.shape)} for a {N_ROWS}-row batch")
    return q


def tied_rows(outputs):
    """Rows whose top probability is tied (label then depends on argmax tie-breaking)."""
    rows = []
    for v in outputs:
        if isinstance(v, list) and v and isinstance(v[0], dict):
            p = np.array([list(m.values()) for m in v])
        elif isinstance(v, np.ndarray) and v.dtype == np.float32 and v.ndim == 2 and v.shape[1] > 1:
            p = v
        else:
            continue
        top = p.max(axis=1, keepdims=True)
        rows = [int(i) for i in np.nonzero((p == top).sum(axis=1) > 1)[0]]
        break
    return rows


def tolerance_doc(outputs):
    """Suggested comparison rule. 1e-5 absolute for ordinary values; outputs that reach large
    magnitudes (raw logits of the 1e6 edge rows) also need a relative term, since one float32
    ulp there is already far above 1e-5."""
    mags = [float(np.max(np.abs(v))) for v in outputs
            if isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.size]
    mags += [abs(x) for v in outputs if isinstance(v, list) for m in v for x in m.values()]
    big = max(mags, default=0.0)
    doc = {"abs": 1e-5, "rel": 1e-6, "rule": "abs(got - ref) <= abs + rel * abs(ref)",
           "max_abs_reference_value": big}
    ulp = float(np.spacing(np.float32(big)))
    if 4 * ulp > doc["abs"]:
        doc["note"] = (f"float outputs reach {big:.6g}, where one float32 ulp is {ulp:.3g}: an "
                       f"absolute 1e-5 alone would allow fewer than 4 ulps there")
    return doc


def np_dtype_name(a):
    if a.dtype == object or a.dtype.kind in "US":
        return "str"
    return str(a.dtype)


def encode_output(name, value, ort_type):
    """Serialise one onnxruntime output exactly."""
    if isinstance(value, np.ndarray):
        dt = np_dtype_name(value)
        data = [str(v) for v in value.ravel()] if dt == "str" else value.ravel().tolist()
        return {"name": name, "kind": "tensor", "ort_type": ort_type, "dtype": dt,
                "shape": list(value.shape), "data": data}
    if isinstance(value, list) and (not value or isinstance(value[0], dict)):
        # ZipMap: seq(map(K, float)). JSON object keys are strings, so record the key type
        # and the keys in their original order as well.
        key_types = {type(k).__name__ for m in value for k in m}
        assert len(key_types) == 1, key_types
        kt = key_types.pop()
        key_type = {"int": "int64", "str": "string"}[kt]
        keys = list(value[0].keys())
        for m in value:
            assert list(m.keys()) == keys
            for v in m.values():
                assert isinstance(v, float), type(v)
        return {"name": name, "kind": "seq(map)", "ort_type": ort_type, "key_type": key_type,
                "value_type": "float32", "keys": keys, "length": len(value),
                "data": [{str(k): v for k, v in m.items()} for m in value]}
    raise TypeError(f"output {name}: unhandled python type {type(value)}")


def encode_input(name, arr):
    dt = np_dtype_name(arr)
    data = [str(v) for v in arr.ravel()] if dt == "str" else arr.ravel().tolist()
    return {"name": name, "dtype": dt, "shape": list(arr.shape), "data": data}


def max_abs_diff(a, b):
    """Max |a-b| over two onnxruntime result lists (tensors or ZipMaps); labels must match."""
    worst = 0.0
    for x, y in zip(a, b):
        if isinstance(x, np.ndarray):
            if x.dtype.kind in "fc":
                worst = max(worst, float(np.max(np.abs(x.astype(np.float64) - y))) if x.size else 0)
            else:
                assert (x == y).all(), "label outputs differ"
        else:
            for mx, my in zip(x, y):
                assert mx.keys() == my.keys()
                worst = max([worst] + [abs(mx[k] - my[k]) for k in mx])
    return worst


def versions(*pkgs):
    return {p: md.version(p) for p in pkgs}


def save_fixture(name, model_proto, feeds, exporter, exporter_versions, notes,
                 edge_rows_doc=None, native_check=None):
    """Write NAME.onnx and NAME.json; returns a summary row for the README."""
    path = os.path.join(OUT, f"{name}.onnx")
    # skl2onnx and onnxmltools name the graph with a random uuid4 hex: the one change made to
    # the exported proto, so that re-running the script gives byte-identical files.
    renamed = bool(re.fullmatch(r"[0-9a-f]{32}", model_proto.graph.name))
    if renamed:
        model_proto.graph.name = name
    onnx.checker.check_model(model_proto)
    data = model_proto.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    model = onnx.load(path)  # round-trip from disk, exactly what the Rust side will read

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    outputs = sess.run(None, feeds)
    # Stability checks: a second run, and a single-threaded session, must agree.
    again = sess.run(None, feeds)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    single = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, feeds)
    rerun_diff = max_abs_diff(outputs, again)
    single_diff = max_abs_diff(outputs, single)

    ort_outs = sess.get_outputs()
    doc = {
        "name": name,
        "file": f"{name}.onnx",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "exporter": exporter,
        "versions": exporter_versions,
        "python": platform.python_version(),
        "producer": {"name": model.producer_name, "version": model.producer_version},
        "ir_version": model.ir_version,
        # domain exactly as stored in the file ("" is the default ai.onnx domain)
        "opset_import": [{"domain": o.domain, "version": o.version}
                         for o in model.opset_import],
        "ops": distinct_ops(model.graph),
        "n_nodes": len(model.graph.node),
        "ml_nodes": attr_summary(model.graph),
        "quirks": quirks_of(model, outputs),
        "inputs": [{"name": i.name, "type": describe_type(i.type),
                    "ort_type": s.type, "ort_shape": s.shape}
                   for i, s in zip(model.graph.input, sess.get_inputs())],
        "outputs": [{"name": o.name, "type": describe_type(o.type),
                     "ort_type": s.type, "ort_shape": s.shape}
                    for o, s in zip(model.graph.output, ort_outs)],
        "notes": notes,
        "graph_name": model.graph.name,
        "graph_name_note": ("exporter wrote a random uuid4 hex graph name; replaced by the "
                            "fixture name (no other change to the exported proto)") if renamed
                           else "as exported",
        "test_inputs": [encode_input(k, v) for k, v in feeds.items()],
        "edge_rows": edge_rows_doc or {},
        "reference_call": REFERENCE_CALL,
        "feeds_call": FEEDS_CALL,
        "reference_outputs": [encode_output(o.name, v, o.type) for o, v in zip(ort_outs, outputs)],
        "checks": {
            "ort_default_threads_cpu_count": os.cpu_count(),
            "rows_with_tied_top_probability": tied_rows(outputs),
            "ort_rerun_max_abs_diff": rerun_diff,
            "ort_single_thread_max_abs_diff": single_diff,
        },
        "tolerance": tolerance_doc(outputs),
    }
    if native_check is not None:
        doc["checks"].update(native_check(outputs))
    text = json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False)
    with open(os.path.join(OUT, f"{name}.json"), "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(f"{name}: {len(data)} bytes onnx, ops={[tuple(o) for o in doc['ops']]}, "
          f"checks={doc['checks']}")
    return doc


def io_summary(doc):
    def t(x):
        ty = x["type"]
        if ty["kind"] == "tensor":
            return f"`{x['name']}` {ty['elem_type']}{ty['shape']}"
        return f"`{x['name']}` {x['ort_type']}"
    return "<br>".join(t(i) for i in doc["inputs"]), "<br>".join(t(o) for o in doc["outputs"])


# --------------------------------------------------------------------------------------------
# Exporters
# --------------------------------------------------------------------------------------------

SKL_VERSIONS = ("skl2onnx", "scikit-learn", "onnx", "onnxruntime", "numpy")


def sklearn_models(rng):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    docs = []
    vers = versions(*SKL_VERSIONS)
    float_in = [("input", FloatTensorType([None, N_FEATURES]))]

    def proba_check(model, x):
        def check(outs):
            p = model.predict_proba(x.astype(np.float64))
            labels = model.predict(x.astype(np.float64))
            probs = outs[1]
            if isinstance(probs, list):
                probs = np.array([[m[c] for c in model.classes_] for m in probs])
            return {"sklearn_predict_proba_max_abs_diff": float(np.max(np.abs(p - probs))),
                    "sklearn_label_mismatches": int(np.sum(labels != outs[0]))}
        return check

    # --- LogisticRegression, 3 classes ---
    x, y = dense_data(rng, 600, 3)
    lr = LogisticRegression(max_iter=500, random_state=SEED).fit(x, y)
    xt, edges = dense_test_batch(rng, 3)
    call = "skl2onnx.convert_sklearn(model, initial_types=[('input', FloatTensorType([None, 8]))])"
    onx = convert_sklearn(lr, initial_types=float_in)
    docs.append(save_fixture("skl_logreg", onx, {"input": xt}, {"tool": "skl2onnx", "call": call},
                             vers, "LogisticRegression(max_iter=500), classes [0,1,2]; default "
                             "options (ZipMap on)", edges, proba_check(lr, xt)))
    call_nz = ("skl2onnx.convert_sklearn(model, initial_types=[('input', FloatTensorType([None, 8]))],"
               " options={id(model): {'zipmap': False}})")
    onx = convert_sklearn(lr, initial_types=float_in, options={id(lr): {"zipmap": False}})
    docs.append(save_fixture("skl_logreg_nozipmap", onx, {"input": xt},
                             {"tool": "skl2onnx", "call": call_nz}, vers,
                             "same model as skl_logreg, ZipMap disabled (probabilities as a "
                             "float tensor)", edges, proba_check(lr, xt)))

    # --- RandomForestClassifier, 3 classes ---
    x, y = dense_data(rng, 600, 3)
    rf = RandomForestClassifier(n_estimators=10, max_depth=5, random_state=SEED).fit(x, y)
    xt, edges = dense_test_batch(rng, 3)
    onx = convert_sklearn(rf, initial_types=float_in)
    docs.append(save_fixture("skl_random_forest", onx, {"input": xt},
                             {"tool": "skl2onnx", "call": call}, vers,
                             "RandomForestClassifier(n_estimators=10, max_depth=5), classes "
                             "[0,1,2]; default options (ZipMap on)", edges, proba_check(rf, xt)))

    # --- GradientBoostingClassifier, binary ---
    x, y = dense_data(rng, 600, 2)
    gb = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=SEED).fit(x, y)
    xt, edges = dense_test_batch(rng, 2)
    onx = convert_sklearn(gb, initial_types=float_in)
    docs.append(save_fixture("skl_gradient_boosting", onx, {"input": xt},
                             {"tool": "skl2onnx", "call": call}, vers,
                             "GradientBoostingClassifier(n_estimators=20, max_depth=3), classes "
                             "[0,1]; default options (ZipMap on)", edges, proba_check(gb, xt)))

    # --- Pipeline(ColumnTransformer(StandardScaler, OneHotEncoder), LogisticRegression) ---
    import pandas as pd
    num, color, size, yt = mixed_data(rng, 800)
    df = pd.DataFrame({"num_a": num[:, 0], "num_b": num[:, 1], "num_c": num[:, 2],
                       "color": color, "size": size})
    pipe = Pipeline([
        ("pre", ColumnTransformer([
            ("num", StandardScaler(), ["num_a", "num_b", "num_c"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["color", "size"]),
        ])),
        ("clf", LogisticRegression(max_iter=500, random_state=SEED)),
    ]).fit(df, yt)
    init = [("num_a", FloatTensorType([None, 1])), ("num_b", FloatTensorType([None, 1])),
            ("num_c", FloatTensorType([None, 1])), ("color", StringTensorType([None, 1])),
            ("size", StringTensorType([None, 1]))]
    onx = convert_sklearn(pipe, initial_types=init)
    tn, tc, ts, _ = mixed_data(rng, N_ROWS)
    # Edge rows: zeros, large magnitudes, negative values, unseen categories, unicode, empty.
    special = [
        ("zeros, known categories", [0, 0, 0], "red", "M"),
        ("1e6, unseen color 'purple'", [1e6, 1e6, 1e6], "purple", "S"),
        ("-1e6, unicode color 'café ☕'", [-1e6, -1e6, -1e6], "café ☕", "L"),
        ("negative, unseen size 'XXL'", [-2.5, -40.0, -0.3], "blue", "XXL"),
        ("both unseen: '' and unicode 'größe'", [0.5, 50.0, 0.0], "", "größe"),
        ("case differs 'Red'/'m' (unseen)", [1.0, 55.0, -0.1], "Red", "m"),
    ]
    for i, (_, v, c, s) in enumerate(special):
        tn[i] = v
        tc[i] = c
        ts[i] = s
    feeds = {"num_a": tn[:, 0:1].copy(), "num_b": tn[:, 1:2].copy(), "num_c": tn[:, 2:3].copy(),
             "color": tc.reshape(-1, 1), "size": ts.reshape(-1, 1)}
    tdf = pd.DataFrame({"num_a": tn[:, 0], "num_b": tn[:, 1], "num_c": tn[:, 2],
                        "color": tc, "size": ts})
    call_p = ("skl2onnx.convert_sklearn(pipe, initial_types=[('num_a', FloatTensorType([None, 1])),"
              " ('num_b', FloatTensorType([None, 1])), ('num_c', FloatTensorType([None, 1])),"
              " ('color', StringTensorType([None, 1])), ('size', StringTensorType([None, 1]))])")
    docs.append(save_fixture(
        "skl_pipeline_mixed", onx, feeds, {"tool": "skl2onnx", "call": call_p},
        versions(*SKL_VERSIONS, "pandas"),
        "Pipeline(ColumnTransformer([StandardScaler on num_a,num_b,num_c; "
        "OneHotEncoder(handle_unknown='ignore') on color,size]), LogisticRegression(max_iter=500)),"
        " fit on a pandas DataFrame; string class labels " + str(list(pipe.classes_)) +
        "; default options (ZipMap on). Unseen categories encode as all-zero one-hot.",
        {str(i): d[0] for i, d in enumerate(special)}, proba_check_df(pipe, tdf)))
    return docs


def proba_check_df(pipe, tdf):
    def check(outs):
        p = pipe.predict_proba(tdf)
        probs = np.array([[m[c] for c in pipe.classes_] for m in outs[1]])
        return {"sklearn_predict_proba_max_abs_diff": float(np.max(np.abs(p - probs))),
                "sklearn_label_mismatches": int(np.sum(pipe.predict(tdf) != outs[0]))}
    return check


def lightgbm_models(rng):
    import lightgbm as lgb
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    vers = versions("onnxmltools", "lightgbm", "onnx", "onnxruntime", "numpy")
    init = [("input", FloatTensorType([None, N_FEATURES]))]
    params = dict(n_estimators=20, num_leaves=15, learning_rate=0.2, random_state=SEED,
                  deterministic=True, force_row_wise=True, n_jobs=1, verbose=-1)
    docs = []

    x, y = dense_data(rng, 800, 3)
    clf = lgb.LGBMClassifier(**params).fit(x, y)
    xt, edges = dense_test_batch(rng, 3)

    def check(outs):
        p = clf.predict_proba(xt)
        probs = outs[1]
        if isinstance(probs, list):
            probs = np.array([[m[c] for c in clf.classes_] for m in probs])
        return {"lightgbm_predict_proba_max_abs_diff": float(np.max(np.abs(p - probs))),
                "lightgbm_label_mismatches": int(np.sum(clf.predict(xt) != outs[0]))}

    call = "onnxmltools.convert_lightgbm(model, initial_types=[('input', FloatTensorType([None, 8]))])"
    onx = convert_lightgbm(clf, initial_types=init)
    desc = ("LGBMClassifier(n_estimators=20, num_leaves=15, learning_rate=0.2), classes [0,1,2] "
            "(multiclass softmax, 60 trees)")
    docs.append(save_fixture("lgbm_classifier", onx, {"input": xt},
                             {"tool": "onnxmltools", "call": call}, vers,
                             desc + "; default options (ZipMap on)", edges, check))
    call_nz = ("onnxmltools.convert_lightgbm(model, initial_types=[('input', FloatTensorType([None, 8]))],"
               " zipmap=False)")
    onx = convert_lightgbm(clf, initial_types=init, zipmap=False)
    docs.append(save_fixture("lgbm_classifier_nozipmap", onx, {"input": xt},
                             {"tool": "onnxmltools", "call": call_nz}, vers,
                             "same model as lgbm_classifier, zipmap=False (probabilities as a "
                             "float tensor)", edges, check))

    x, _ = dense_data(rng, 800, 3)
    yr = (np.sin(x[:, 0]) * 3 + x[:, 1] * x[:, 2] - 0.5 * x[:, 3]
          + rng.normal(0, 0.1, size=len(x))).astype(np.float64)
    reg = lgb.LGBMRegressor(**params).fit(x, yr)
    xt, edges = dense_test_batch(rng, 3)

    def rcheck(outs):
        return {"lightgbm_predict_max_abs_diff":
                float(np.max(np.abs(reg.predict(xt) - outs[0].ravel())))}

    onx = convert_lightgbm(reg, initial_types=init)
    docs.append(save_fixture("lgbm_regressor", onx, {"input": xt},
                             {"tool": "onnxmltools", "call": call}, vers,
                             "LGBMRegressor(n_estimators=20, num_leaves=15, learning_rate=0.2)",
                             edges, rcheck))
    return docs


def torch_models(rng):
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    vers = versions("torch", "onnxscript", "onnx", "onnxruntime", "numpy")
    docs = []

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(),
                                     nn.Linear(16, 3))

        def forward(self, x):
            return torch.softmax(self.net(x), dim=-1)

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(1, 4, kernel_size=3, padding=1), nn.ReLU(),
                                     nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))

        def forward(self, x):
            return self.net(x)

    def train(model, x, y, steps, logits_fn):
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        xt = torch.from_numpy(x)
        yt = torch.from_numpy(y)
        for _ in range(steps):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(logits_fn(xt), yt)
            loss.backward()
            opt.step()
        model.eval()
        return loss.item()

    def export(model, example, name, desc, feeds, edges):
        batch = torch.export.Dim("batch", min=1, max=4096)
        prog = torch.onnx.export(model, (example,), input_names=["input"],
                                 output_names=["output"],
                                 dynamic_shapes={"x": {0: batch}}, external_data=False)
        call = ("torch.onnx.export(model, (example,), input_names=['input'], "
                "output_names=['output'], dynamic_shapes={'x': {0: torch.export.Dim('batch', "
                "min=1, max=4096)}}, external_data=False).model_proto  # default exporter "
                "(dynamo=True)")
        proto = prog.model_proto

        def check(outs):
            with torch.no_grad():
                ref = model(torch.from_numpy(feeds["input"])).numpy()
            return {"torch_max_abs_diff": float(np.max(np.abs(ref.astype(np.float64) - outs[0])))}

        return save_fixture(name, proto, feeds, {"tool": "torch.onnx.export", "call": call},
                            vers, desc, edges, check)

    # MLP on the dense blobs.
    mlp = MLP()
    x, y = dense_data(rng, 600, 3)
    loss = train(mlp, x, y, 200, lambda t: mlp.net(t))
    xt, edges = dense_test_batch(rng, 3)
    docs.append(export(mlp, torch.from_numpy(xt[:2]), "torch_mlp",
                       f"nn.Sequential(Linear(8,32), ReLU, Linear(32,16), ReLU, Linear(16,3)) then "
                       f"softmax(dim=-1); Adam 200 steps, final train loss {loss:.4f}",
                       {"input": xt}, edges))

    # CNN on 8x8 images: class = which of three stripe patterns (+ noise).
    def images(n):
        yy = rng.integers(0, 3, size=n)
        img = rng.normal(0, 0.5, size=(n, 1, 8, 8))
        for i, k in enumerate(yy):
            if k == 0:
                img[i, 0, :, 2:4] += 2.0
            elif k == 1:
                img[i, 0, 5:7, :] += 2.0
            else:
                img[i, 0, np.arange(8), np.arange(8)] += 2.0
        return img.astype(np.float32), yy.astype(np.int64)

    cnn = CNN()
    x, y = images(600)
    loss = train(cnn, x, y, 150, lambda t: cnn(t))
    xt, _ = images(N_ROWS)
    cnn_edges = {"0": "zeros", "1": "all 1e6", "2": "all -1e6", "3": "checkerboard +-1e6",
                 "4": "all -3.5", "5": "tiny 1e-30", "6": "ramp -31.5..31.5"}
    xt[0] = 0.0
    xt[1] = 1e6
    xt[2] = -1e6
    xt[3] = np.where((np.add.outer(np.arange(8), np.arange(8)) % 2) == 0, 1e6, -1e6)
    xt[4] = -3.5
    xt[5] = 1e-30
    xt[6] = (np.arange(64).reshape(8, 8) - 31.5)
    docs.append(export(cnn, torch.from_numpy(xt[:2]), "torch_cnn",
                       "nn.Sequential(Conv2d(1,4,3,padding=1), ReLU, MaxPool2d(2), Flatten, "
                       f"Linear(64,3)) -> logits (no softmax); Adam 150 steps, final train loss "
                       f"{loss:.4f}", {"input": xt}, cnn_edges))
    return docs


# --------------------------------------------------------------------------------------------

def write_readme(docs):
    lines = [
        "# ONNX conformance fixtures",
        "",
        "Generated by `tools/reference/onnx_models.py` (pinned environment: "
        "`tools/reference/requirements-onnx.txt`); do not edit by hand. Each `NAME.onnx` has a "
        "`NAME.json` with the exporter versions, opset imports, the distinct `(domain, op_type)` "
        "of its nodes, the graph inputs/outputs as ONNX declares them, a 64-row test batch "
        "(edge rows listed under `edge_rows`) and onnxruntime's outputs on it "
        "(`reference_outputs`, produced by `reference_call`). Floats are JSON doubles that are "
        "exactly the float32 values onnxruntime returned. ZipMap outputs (`kind: \"seq(map)\"`) "
        "are a list of `{label: prob}` objects; `key_type` says whether the labels are int64 or "
        "string (JSON keys are always strings) and `keys` gives them in order.",
        "",
        "| model | exporter | ops (domain:op_type) | inputs | outputs |",
        "| --- | --- | --- | --- | --- |",
    ]
    quirks = []
    for d in docs:
        ops = ", ".join(("ml:" if dom == "ai.onnx.ml" else "") + op for dom, op in d["ops"])
        ins, outs = io_summary(d)
        ex = d["exporter"]["tool"] + " " + d["versions"][
            {"skl2onnx": "skl2onnx", "onnxmltools": "onnxmltools",
             "torch.onnx.export": "torch"}[d["exporter"]["tool"]]]
        opsets = ", ".join(f"{o['domain'] or 'ai.onnx'} {o['version']}" for o in d["opset_import"])
        lines.append(f"| `{d['name']}` | {ex} (opsets: {opsets}) | {ops} | {ins} | {outs} |")
        quirks += [f"- `{d['name']}`: {q}" for q in d.get("quirks", [])]
    if quirks:
        lines += ["", "Exporter quirks kept as exported (see `quirks` in each JSON):", ""] + quirks
    diffs = [f"`{d['name']}` {d['checks']['ort_single_thread_max_abs_diff']:.3g}" for d in docs
             if d["checks"].get("ort_single_thread_max_abs_diff")]
    if diffs:
        lines += ["", "onnxruntime's own outputs depend on its thread count for tree ensembles "
                  "(summation order): max |default threads - intra_op_num_threads=1| = "
                  + ", ".join(diffs) + "; all others 0. The reference is the default-threads run "
                  "on the generating machine (`checks.ort_default_threads_cpu_count`)."]
        ties = [f"`{d['name']}` rows {d['checks']['rows_with_tied_top_probability']}" for d in docs
                if d["checks"].get("rows_with_tied_top_probability")]
        if ties:
            lines += ["", "Rows whose top class probability is tied (label = first maximum in "
                      "onnxruntime): " + ", ".join(ties) + "."]
    lines += ["", "Reference outputs: onnxruntime " + ort.__version__ +
              ", `" + REFERENCE_CALL + "`. Suggested comparison "
              "(`tolerance` in each JSON): `abs(got - ref) <= 1e-5 + 1e-6 * abs(ref)`, i.e. 1e-5 "
              "absolute for ordinary values; the relative term only matters where outputs are "
              "large (torch_cnn's raw logits for its +-1e6 edge rows reach ~4.5e6, where one "
              "float32 ulp is 0.5). Labels and strings must match exactly.", ""]
    with open(os.path.join(OUT, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def verify():
    """Re-run onnxruntime on every committed fixture from its JSON alone; outputs must be
    bit-identical (labels equal, floats equal as float32). Returns the number of failures."""
    import glob
    bad = 0
    for jp in sorted(glob.glob(os.path.join(OUT, "*.json"))):
        with open(jp, encoding="utf-8") as f:
            doc = json.load(f)
        path = os.path.join(OUT, doc["file"])
        with open(path, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != doc["sha256"]:
                print(f"{doc['name']}: sha256 mismatch"); bad += 1; continue
        feeds = {}
        for i in doc["test_inputs"]:
            dt = object if i["dtype"] == "str" else i["dtype"]
            feeds[i["name"]] = np.array(i["data"], dtype=dt).reshape(i["shape"])
        outs = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)
        worst = 0.0
        for ref, got in zip(doc["reference_outputs"], outs):
            if ref["kind"] == "tensor":
                assert list(got.shape) == ref["shape"], (ref["name"], got.shape)
                if ref["dtype"] == "str":
                    ok = [str(v) for v in got.ravel()] == ref["data"]
                elif ref["dtype"].startswith("float"):
                    want = np.array(ref["data"], dtype=np.float64).astype(ref["dtype"])
                    d = np.abs(want.astype(np.float64) - got.ravel())
                    worst = max(worst, float(d.max()))
                    # float64 -> float32 must be exact (no rounding): the JSON holds f32 values
                    ok = np.array_equal(np.array(ref["data"]), want.astype(np.float64))
                else:
                    ok = got.ravel().tolist() == ref["data"]
            else:
                cast = int if ref["key_type"] == "int64" else str
                ok = len(got) == ref["length"] and list(got[0].keys()) == [cast(k) for k in ref["keys"]]
                for m, r in zip(got, ref["data"]):
                    for k, v in m.items():
                        worst = max(worst, abs(v - r[str(k)]))
                        ok = ok and np.float32(r[str(k)]) == r[str(k)]
            if not ok:
                print(f"{doc['name']}: output {ref['name']} mismatch"); bad += 1
        print(f"{doc['name']}: max |ort - json| = {worst:.3g}")
    return bad


def main():
    # skl2onnx/onnxmltools build opset_import from a set of domain strings: fix the hash seed so
    # its order (and so the file bytes) is the same on every run.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable] + sys.argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-torch", action="store_true",
                    help="do not (re)generate the torch_* fixtures")
    ap.add_argument("--verify", action="store_true",
                    help="only re-run onnxruntime on the committed fixtures and compare")
    args = ap.parse_args()
    if args.verify:
        sys.exit(1 if verify() else 0)
    os.makedirs(OUT, exist_ok=True)
    np.random.seed(SEED)
    docs = []
    docs += sklearn_models(np.random.default_rng(SEED))
    docs += lightgbm_models(np.random.default_rng(SEED + 1))
    if not args.skip_torch:
        docs += torch_models(np.random.default_rng(SEED + 2))
    else:
        for name in ("torch_mlp", "torch_cnn"):
            p = os.path.join(OUT, f"{name}.json")
            if os.path.exists(p):
                with open(p, encoding="utf-8") as f:
                    docs.append(json.load(f))
    write_readme(docs)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(docs)} models to {OUT}; total {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
