#!/usr/bin/env python3
"""Reference outputs for mlops-core's fitted transforms (mlops_core::transform), from scikit-learn.

Pinned versions (the fixture was generated with exactly these):
    numpy==2.4.6  scikit-learn==1.9.1  pandas==3.1.1  (CPython 3.11)
Install:
    python3 -m venv /tmp/venv-transform
    /tmp/venv-transform/bin/pip install numpy==2.4.6 scikit-learn==1.9.1 pandas==3.1.1
Run (from the repository root):
    /tmp/venv-transform/bin/python tools/reference/transform_reference.py

Writes mlops-core/tests/data/transform_reference.json, read by mlops-core/tests/transform_sklearn.rs.
Every case records, in its "python" field, the exact scikit-learn call that produced the expected
output, and in "spec" the equivalent mlops-core spec (its serde JSON form). Expected values are
whatever scikit-learn returns; nothing here runs the Rust code.

Conventions of the fixture:
- a frame is {"columns": [{"name": ..., "num": [float|null]} | {"name": ..., "str": [str|null]}]};
  null in a "num" column is NaN (missing), "inf"/"-inf" are infinities, null in a "str" column
  is None (missing);
- "expected" of a single transform is the output frame (column names = get_feature_names_out());
  "expected" of a chain is {"feature_names", "n_rows", "data" (row-major), "unknown_counts"};
- "error": true means scikit-learn raised (its message is in "sklearn_error").
"""
import json
import os
import sys
import warnings

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

warnings.simplefilter("ignore")

PINNED = {"numpy": "2.4.6", "scikit-learn": "1.9.1", "pandas": "3.1.1"}
GOT = {"numpy": np.__version__, "scikit-learn": sklearn.__version__, "pandas": pd.__version__}
if GOT != PINNED:
    sys.exit(f"version mismatch: pinned {PINNED}, installed {GOT}")

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "mlops-core", "tests", "data",
                   "transform_reference.json")


def frame(cols):
    """cols: list of (name, list); a list of str/None is an object column, else float64."""
    data = {}
    for name, values in cols:
        if any(isinstance(v, str) for v in values):
            # Missing strings are np.nan (what pandas.read_csv produces and what SimpleImputer's
            # default missing_values=np.nan matches); mlops-core's `None` stands for this.
            data[name] = pd.Series([np.nan if v is None else v for v in values], dtype=object)
        else:
            data[name] = pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    return pd.DataFrame(data)


def num_json(v):
    """NaN -> null, +-inf -> "inf"/"-inf" (JSON has no infinities), else the float."""
    v = float(v)
    if np.isnan(v):
        return None
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def dump_frame(df):
    out = []
    for name in df.columns:
        col = df[name]
        if col.dtype == object:
            out.append({"name": name, "str": [None if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v) for v in col]})
        else:
            out.append({"name": name, "num": [num_json(v) for v in col]})
    return {"columns": out}


def dump_output(names, arr):
    """A single transform's output as a frame; object columns stay strings, the rest floats."""
    arr = np.asarray(arr)
    cols = []
    for j, name in enumerate(names):
        col = arr[:, j]
        if name.startswith("missingindicator_"):
            cols.append({"name": str(name), "num": [float(bool(v)) for v in col]})
        elif arr.dtype == object and any(isinstance(v, str) for v in col):
            cols.append({"name": str(name), "str": [None if not isinstance(v, str) else v for v in col]})
        else:
            cols.append({"name": str(name), "num": [None if np.isnan(float(v)) else float(v) for v in col]})
    return {"columns": cols}


CASES = []


def single(name, kind, python_ctor, make, spec, fit_df, apply_dfs):
    """Fit `make()` on fit_df, transform each of apply_dfs (a transform error is recorded)."""
    est = make().fit(fit_df)
    names = [str(n) for n in est.get_feature_names_out()]
    applies = []
    for label, df in apply_dfs:
        call = f"{python_ctor}.fit({name}_fit).transform({name}_{label})"
        try:
            out = est.transform(df)
            applies.append({"label": label, "python": call, "input": dump_frame(df),
                            "expected": dump_output(names, out)})
        except ValueError as e:
            applies.append({"label": label, "python": call, "input": dump_frame(df), "error": True,
                            "sklearn_error": str(e)})
    CASES.append({"name": name, "transform": kind, "spec": spec, "python": python_ctor,
                  "fit": dump_frame(fit_df), "applies": applies})


# ---------------------------------------------------------------- StandardScaler
sc_fit = frame([
    ("x", [1.5, -2.25, 3.125, 10.0, 0.3, 7.77]),
    ("const", [4.2, 4.2, 4.2, 4.2, 4.2, 4.2]),
    ("tiny", [0.1, 0.1, 0.1, 0.1, 0.1, 0.1]),
    ("big", [1e9 + 1.0, 1e9 + 3.0, 1e9 - 7.5, 1e9, 1e9 + 0.25, 1e9 + 2.0]),
])
sc_test = frame([
    ("x", [0.0, 100.0, -3.5]),
    ("const", [4.2, 5.0, 0.0]),
    ("tiny", [0.1, 0.2, -1.0]),
    ("big", [1e9, 2e9, 0.0]),
])
for wm, ws in [(True, True), (False, True), (True, False)]:
    ctor = f"StandardScaler(with_mean={wm}, with_std={ws})"
    single(f"standard_scaler_mean{int(wm)}_std{int(ws)}", "standard_scaler", ctor,
           lambda wm=wm, ws=ws: StandardScaler(with_mean=wm, with_std=ws),
           {"with_mean": wm, "with_std": ws}, sc_fit, [("fit", sc_fit), ("test", sc_test)])

one = frame([("x", [3.7]), ("y", [-1.0])])
single("standard_scaler_one_sample", "standard_scaler", "StandardScaler()", StandardScaler,
       {"with_mean": True, "with_std": True}, one,
       [("fit", one), ("test", frame([("x", [0.0, 3.7]), ("y", [2.0, -1.0])]))])

# ---------------------------------------------------------------- MinMaxScaler
mm_fit = frame([
    ("x", [1.5, -2.25, 3.125, 10.0, 0.3, 7.77]),
    ("const", [4.2, 4.2, 4.2, 4.2, 4.2, 4.2]),
])
mm_test = frame([("x", [-5.0, 0.0, 20.0]), ("const", [4.2, 5.0, 3.0])])
for fr, clip in [((0, 1), False), ((-1, 2), False), ((-1, 2), True)]:
    ctor = f"MinMaxScaler(feature_range={fr}, clip={clip})"
    single(f"minmax_scaler_{fr[0]}_{fr[1]}_clip{int(clip)}".replace("-", "m"), "minmax_scaler", ctor,
           lambda fr=fr, clip=clip: MinMaxScaler(feature_range=fr, clip=clip),
           {"feature_range": [float(fr[0]), float(fr[1])], "clip": clip}, mm_fit,
           [("fit", mm_fit), ("test", mm_test)])
single("minmax_scaler_one_sample", "minmax_scaler", "MinMaxScaler()", MinMaxScaler,
       {"feature_range": [0.0, 1.0], "clip": False}, one,
       [("fit", one), ("test", frame([("x", [0.0, 3.7]), ("y", [2.0, -1.0])]))])

# ---------------------------------------------------------------- SimpleImputer, numeric
im_fit = frame([
    ("a", [1.0, None, 3.0, 3.0, 1.0, None, 2.5]),   # mode tie 1.0 / 3.0 -> 1.0
    ("b", [10.0, 20.0, 30.0, None, 40.0, 50.0, 60.0]),  # even count for the median
    ("c", [0.5, 0.25, 0.125, 1.0, 2.0, 4.0, 8.0]),  # no missing at fit
])
im_test = frame([("a", [None, 7.0]), ("b", [None, None]), ("c", [None, 1.0])])
for strat, fill in [("mean", None), ("median", None), ("most_frequent", None), ("constant", None),
                    ("constant", -1.5)]:
    for ind in [False, True]:
        args = f"strategy={strat!r}" + ("" if fill is None else f", fill_value={fill!r}") + f", add_indicator={ind}"
        ctor = f"SimpleImputer({args})"
        sfx = "" if fill is None else "_fill"
        single(f"impute_num_{strat}{sfx}_ind{int(ind)}", "simple_imputer", ctor,
               lambda strat=strat, fill=fill, ind=ind: SimpleImputer(strategy=strat, fill_value=fill, add_indicator=ind),
               {"strategy": strat, "fill_value": fill, "add_indicator": ind}, im_fit,
               [("fit", im_fit), ("test", im_test)])

single("impute_num_inf", "simple_imputer", "SimpleImputer()", SimpleImputer,
       {"strategy": "mean", "fill_value": None, "add_indicator": False}, im_fit,
       [("inf", frame([("a", [np.inf]), ("b", [1.0]), ("c", [1.0])]))])

# ---------------------------------------------------------------- SimpleImputer, strings
ims_fit = frame([
    ("color", ["red", None, "blue", "red", "blue", "green", None]),  # tie red/blue -> blue
    ("size", ["S", "M", "L", "M", "S", "XL", "M"]),                    # no missing at fit
])
ims_test = frame([("color", [None, "pink"]), ("size", [None, "S"])])
for strat, fill in [("most_frequent", None), ("constant", None), ("constant", "?")]:
    for ind in [False, True]:
        args = f"strategy={strat!r}" + ("" if fill is None else f", fill_value={fill!r}") + f", add_indicator={ind}"
        ctor = f"SimpleImputer({args})"
        sfx = "" if fill is None else "_fill"
        single(f"impute_str_{strat}{sfx}_ind{int(ind)}", "simple_imputer", ctor,
               lambda strat=strat, fill=fill, ind=ind: SimpleImputer(strategy=strat, fill_value=fill, add_indicator=ind),
               {"strategy": strat, "fill_value": fill, "add_indicator": ind}, ims_fit,
               [("fit", ims_fit), ("test", ims_test)])

# ---------------------------------------------------------------- OneHotEncoder
oh_fit = frame([
    ("color", ["red", "blue", "red", "green", "blue", "red", "violet", None, "blue", "red"]),
    ("shape", ["sq", "ci", "ci", "tr", "sq", "ci", "sq", "ci", "ci", "sq"]),
])
oh_test = frame([
    ("color", ["red", "pink", None, "violet", "green"]),
    ("shape", ["hex", "ci", "tr", "sq", "hex"]),
])
oh_known = frame([("color", ["green", None, "blue"]), ("shape", ["tr", "sq", "ci"])])
for hu in ["error", "ignore", "infrequent_if_exist"]:
    for mf in [None, 2, 0.25, 100]:
        args = f"handle_unknown={hu!r}, min_frequency={mf!r}, sparse_output=False"
        ctor = f"OneHotEncoder({args})"
        mname = {None: "none", 2: "2", 0.25: "0p25", 100: "all"}[mf]
        single(f"onehot_{hu}_minfreq_{mname}", "onehot_encoder", ctor,
               lambda hu=hu, mf=mf: OneHotEncoder(handle_unknown=hu, min_frequency=mf, sparse_output=False),
               {"handle_unknown": hu, "min_frequency": mf}, oh_fit,
               [("fit", oh_fit), ("known", oh_known), ("test", oh_test)])


# ---------------------------------------------------------------- ColumnTransformer chains
def chain_case(name, make_ct, python, spec, fit_df, apply_dfs, onehot_cols):
    ct = make_ct().fit(fit_df)
    names = [str(n) for n in ct.get_feature_names_out()]
    applies = []
    for label, df in apply_dfs:
        call = f"({python}).fit({name}_fit).transform({name}_{label})"
        try:
            out = np.asarray(ct.transform(df), dtype=np.float64)
        except ValueError as e:
            applies.append({"label": label, "python": call, "input": dump_frame(df), "error": True,
                            "sklearn_error": str(e)})
            continue
        # Unknown counts: values of each one-hot input column (after the group's imputer) that
        # are not in the fitted encoder's categories_; computed from the fitted sklearn objects.
        unknown = []
        for group, col in onehot_cols:
            pipe = ct.named_transformers_[group]
            sub = df[[c for c in ct.transformers_ if c[0] == group][0][2]]
            steps = pipe.steps if isinstance(pipe, Pipeline) else [("onehot", pipe)]
            for _, step in steps[:-1]:
                sub = pd.DataFrame(step.transform(sub), columns=step.get_feature_names_out())
            enc = steps[-1][1]
            j = list(sub.columns).index(col)
            cats = enc.categories_[j]
            known = set(c for c in cats if isinstance(c, str))
            has_nan = any(not isinstance(c, str) for c in cats)
            n = 0
            for v in sub[col]:
                if isinstance(v, str):
                    n += v not in known
                else:
                    n += not has_nan
            unknown.append({"group": group, "column": col, "count": n})
        applies.append({"label": label, "python": call, "input": dump_frame(df), "expected": {
            "feature_names": names, "n_rows": int(out.shape[0]),
            "data": [float(v) for v in out.reshape(-1)], "unknown_counts": unknown}})
    CASES.append({"name": name, "transform": "chain", "spec": spec, "python": python,
                  "fit": dump_frame(fit_df), "applies": applies})


ch_fit = frame([
    ("age", [25.0, 32.0, None, 51.0, 46.0, 38.0, None, 29.0, 62.0, 41.0]),
    ("income", [40e3, 52.5e3, 61e3, None, 88e3, 47.25e3, 39e3, 71e3, 95.5e3, 58e3]),
    ("id", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]),  # not listed: dropped
    ("color", ["red", "blue", None, "red", "green", "blue", "red", "violet", "blue", None]),
    ("city", ["ny", "sf", "ny", None, "la", "sf", "ny", "la", "ny", "sf"]),
    ("score", [0.5, 0.75, 0.25, 1.0, 0.0, 0.5, 0.125, 0.875, 0.625, 0.375]),
])
ch_test = frame([
    ("age", [None, 30.0, 99.0]),
    ("income", [50e3, None, 1e6]),
    ("id", [11.0, 12.0, 13.0]),
    ("color", ["red", "pink", None]),
    ("city", ["boston", None, "ny"]),
    ("score", [0.5, 2.0, -1.0]),
])
CH_PY = ("ColumnTransformer([('num', Pipeline([('impute', SimpleImputer(strategy='median', add_indicator=True)), "
         "('scale', StandardScaler())]), ['age', 'income']), "
         "('cat', Pipeline([('impute', SimpleImputer(strategy='most_frequent')), "
         "('onehot', OneHotEncoder(handle_unknown='infrequent_if_exist', min_frequency=2, sparse_output=False))]), ['color']), "
         "('city', OneHotEncoder(handle_unknown='ignore', sparse_output=False), ['city']), "
         "('score', MinMaxScaler(feature_range=(-1, 1)), ['score'])], "
         "remainder='drop', verbose_feature_names_out={verbose})")


def make_ch(verbose):
    return lambda: ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)),
                          ("scale", StandardScaler())]), ["age", "income"]),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                          ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=2,
                                                   sparse_output=False))]), ["color"]),
        ("city", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["city"]),
        ("score", MinMaxScaler(feature_range=(-1, 1)), ["score"]),
    ], remainder="drop", verbose_feature_names_out=verbose)


def ch_spec(verbose):
    return {
        "groups": [
            {"name": "num", "columns": ["age", "income"], "steps": [
                {"step": "simple_imputer", "strategy": "median", "fill_value": None, "add_indicator": True},
                {"step": "standard_scaler", "with_mean": True, "with_std": True}]},
            {"name": "cat", "columns": ["color"], "steps": [
                {"step": "simple_imputer", "strategy": "most_frequent", "fill_value": None, "add_indicator": False},
                {"step": "onehot_encoder", "handle_unknown": "infrequent_if_exist", "min_frequency": 2}]},
            {"name": "city", "columns": ["city"], "steps": [
                {"step": "onehot_encoder", "handle_unknown": "ignore", "min_frequency": None}]},
            {"name": "score", "columns": ["score"], "steps": [
                {"step": "minmax_scaler", "feature_range": [-1.0, 1.0], "clip": False}]},
        ],
        "verbose_feature_names": verbose,
    }


for verbose in [False, True]:
    chain_case(f"chain_verbose{int(verbose)}", make_ch(verbose), CH_PY.format(verbose=verbose),
               ch_spec(verbose), ch_fit, [("fit", ch_fit), ("test", ch_test)],
               [("cat", "color"), ("city", "city")])

# A chain whose categorical group errors on an unknown value.
CH_ERR_PY = ("ColumnTransformer([('cat', OneHotEncoder(handle_unknown='error', sparse_output=False), ['color', 'city'])], "
             "remainder='drop', verbose_feature_names_out=False)")
chain_case("chain_unknown_error",
           lambda: ColumnTransformer([("cat", OneHotEncoder(handle_unknown="error", sparse_output=False),
                                       ["color", "city"])], remainder="drop", verbose_feature_names_out=False),
           CH_ERR_PY,
           {"groups": [{"name": "cat", "columns": ["color", "city"], "steps": [
               {"step": "onehot_encoder", "handle_unknown": "error", "min_frequency": None}]}],
            "verbose_feature_names": False},
           ch_fit, [("fit", ch_fit), ("test", ch_test)], [("cat", "color"), ("cat", "city")])

doc = {
    "generator": "tools/reference/transform_reference.py",
    "versions": GOT,
    "cases": CASES,
}
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump(doc, f, indent=1, allow_nan=False)
    f.write("\n")
print(f"wrote {len(CASES)} cases to {os.path.normpath(OUT)}")
