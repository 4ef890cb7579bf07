#!/usr/bin/env python3
"""Reference verdicts for mlops-pipeline's evaluation gate, from MLflow's own validation code.

Pinned versions (two MLflow releases, because they disagree on negative baselines):
    mlflow-skinny==3.18.0  numpy==1.26.4   (main interpreter; `validation._validate`)
    mlflow-skinny==2.17.2                   (second interpreter; `base._validate`, divides by the
                                             signed baseline)
Install:
    python3 -m venv /tmp/venv-gate  && /tmp/venv-gate/bin/pip install mlflow-skinny==2.17.2 numpy==1.26.4
    python3 -m venv /tmp/venv-gate3 && /tmp/venv-gate3/bin/pip install mlflow-skinny==3.18.0 numpy==1.26.4
Run (writes mlops-pipeline/tests/data/gate_mlflow_cases.json):
    MLFLOW_OLD_PYTHON=/tmp/venv-gate/bin/python /tmp/venv-gate3/bin/python tools/reference/gate_reference.py

Every case is run through MLflow's private `_validate(thresholds, candidate_metrics,
baseline_metrics)` -- the function `mlflow.validate_evaluation_results` (3.x) and
`mlflow.evaluate(..., validation_thresholds=...)` (2.x) call -- with
`{"m": MetricThreshold(**spec)}`, `{"m": candidate}` and `{"m": baseline}` (or `{}` when the
baseline is missing). Which criteria failed is read from MLflow's own `_MetricValidationResult`
flags (captured by wrapping the class); `missing_baseline` counts as a failure of every change
criterion that is set. `ours` is OUR documented verdict, written by hand here (never computed by
the Rust code under test); `differs_from` lists the MLflow versions whose verdict differs from
ours, with `why`. Percentile references for the bootstrap come from `numpy.percentile(a, q)`
(default method="linear").

Non-finite floats are written as the strings "NaN", "inf", "-inf" (JSON has no NaN).
"""
import json
import math
import os
import subprocess
import sys

NAN = float("nan")
CHANGE = ("min_absolute_change", "min_relative_change")


def case(name, spec, candidate, baseline, ours_failed, differs=None, why=None):
    """`ours_failed`: criteria our gate fails, in order threshold, absolute, relative."""
    return {
        "name": name,
        "spec": spec,
        "candidate": candidate,
        "baseline": baseline,
        "ours": {"passed": not ours_failed, "failed": list(ours_failed)},
        "differs_from": differs or [],
        "why": why,
    }


G = True
L = False
T, A, R = "threshold", "min_absolute_change", "min_relative_change"
NEG_WHY = ("MLflow 2.17.2 divides the change by the signed baseline, so for a negative baseline "
           "an improvement reads as a negative relative change and a regression as a positive "
           "one; MLflow 3.18.0 and we divide by |baseline|.")
CASES = [
    # value threshold alone
    case("thr_gib_pass", {"threshold": 0.8, "greater_is_better": G}, 0.85, None, []),
    case("thr_gib_fail", {"threshold": 0.85, "greater_is_better": G}, 0.812, None, [T]),
    case("thr_gib_equal", {"threshold": 0.85, "greater_is_better": G}, 0.85, None, []),
    case("thr_lib_pass", {"threshold": 0.5, "greater_is_better": L}, 0.4, None, []),
    case("thr_lib_fail", {"threshold": 0.3, "greater_is_better": L}, 0.4, None, [T]),
    case("thr_lib_equal", {"threshold": 0.4, "greater_is_better": L}, 0.4, 0.2, []),
    # absolute change alone
    case("abs_gib_pass", {"min_absolute_change": 0.05, "greater_is_better": G}, 0.86, 0.80, []),
    case("abs_gib_fail", {"min_absolute_change": 0.05, "greater_is_better": G}, 0.82, 0.80, [A]),
    # 0.80 + 0.05 == 0.8500000000000001 in f64: both MLflow and we compare candidate >= baseline + change.
    case("abs_gib_equal_rounding", {"min_absolute_change": 0.05, "greater_is_better": G}, 0.85, 0.80, [A]),
    case("abs_gib_equal_exact", {"min_absolute_change": 0.25, "greater_is_better": G}, 0.75, 0.5, []),
    case("abs_lib_pass", {"min_absolute_change": 0.1, "greater_is_better": L}, 0.3, 0.5, []),
    case("abs_lib_fail", {"min_absolute_change": 0.1, "greater_is_better": L}, 0.45, 0.5, [A]),
    case("abs_equal_values", {"min_absolute_change": 0.01, "greater_is_better": G}, 0.8, 0.8, [A]),
    # relative change alone
    case("rel_gib_pass", {"min_relative_change": 0.05, "greater_is_better": G}, 0.9, 0.8, []),
    case("rel_gib_fail", {"min_relative_change": 0.05, "greater_is_better": G}, 0.82, 0.8, [R]),
    case("rel_lib_pass", {"min_relative_change": 0.1, "greater_is_better": L}, 0.4, 0.5, []),
    case("rel_lib_fail", {"min_relative_change": 0.1, "greater_is_better": L}, 0.48, 0.5, [R]),
    case("rel_equal_values", {"min_relative_change": 0.01, "greater_is_better": G}, 0.7, 0.7, [R]),
    # combined
    case("combined_all_pass",
         {"threshold": 0.8, "min_absolute_change": 0.02, "min_relative_change": 0.02, "greater_is_better": G},
         0.9, 0.85, []),
    case("combined_relative_fails",
         {"threshold": 0.8, "min_absolute_change": 0.02, "min_relative_change": 0.1, "greater_is_better": G},
         0.9, 0.85, [R]),
    case("combined_all_fail",
         {"threshold": 0.95, "min_absolute_change": 0.1, "min_relative_change": 0.2, "greater_is_better": G},
         0.9, 0.85, [T, A, R]),
    case("combined_lib_pass",
         {"threshold": 0.5, "min_absolute_change": 0.05, "min_relative_change": 0.1, "greater_is_better": L},
         0.3, 0.4, []),
    # missing baseline (no champion): change criteria fail, as MLflow's missing_baseline
    case("missing_baseline_abs", {"min_absolute_change": 0.05, "greater_is_better": G}, 0.9, None, [A]),
    case("missing_baseline_threshold_only", {"threshold": 0.8, "greater_is_better": G}, 0.9, None, []),
    case("missing_baseline_combined",
         {"threshold": 0.95, "min_relative_change": 0.05, "greater_is_better": G}, 0.9, None, [T, R]),
    # negative baselines (an R² below 0, a log-likelihood)
    case("neg_baseline_rel_gib_improved", {"min_relative_change": 0.1, "greater_is_better": G},
         -0.5, -1.0, [], ["2.17.2"], NEG_WHY),
    case("neg_baseline_rel_gib_worse", {"min_relative_change": 0.1, "greater_is_better": G},
         -1.5, -1.0, [R], ["2.17.2"], NEG_WHY),
    case("neg_baseline_rel_lib_improved", {"min_relative_change": 0.1, "greater_is_better": L},
         -2.0, -1.0, [], ["2.17.2"], NEG_WHY),
    case("neg_baseline_rel_lib_worse", {"min_relative_change": 0.1, "greater_is_better": L},
         -0.5, -1.0, [R], ["2.17.2"], NEG_WHY),
    case("neg_baseline_abs_gib", {"min_absolute_change": 0.1, "greater_is_better": G}, -0.5, -1.0, []),
    # zero baseline: MLflow falls back to candidate better than baseline by 1e-10; we call the
    # relative change +inf / -inf / undefined and pass iff the candidate is strictly better.
    case("zero_baseline_rel_gib_better", {"min_relative_change": 0.05, "greater_is_better": G}, 0.1, 0.0, []),
    case("zero_baseline_rel_gib_equal", {"min_relative_change": 0.05, "greater_is_better": G}, 0.0, 0.0, [R]),
    case("zero_baseline_rel_gib_worse", {"min_relative_change": 0.05, "greater_is_better": G}, -0.1, 0.0, [R]),
    case("zero_baseline_rel_gib_tiny", {"min_relative_change": 0.05, "greater_is_better": G}, 5e-11, 0.0, [],
         ["2.17.2", "3.18.0"],
         "MLflow's zero-baseline fallback needs candidate >= 0 + 1e-10, an absolute margin; we pass any "
         "strictly better candidate (relative change +inf)."),
    case("zero_baseline_rel_lib_better", {"min_relative_change": 0.05, "greater_is_better": L}, -0.1, 0.0, []),
    case("zero_baseline_rel_lib_worse", {"min_relative_change": 0.05, "greater_is_better": L}, 0.1, 0.0, [R]),
    # NaN candidate / baseline: we fail every criterion that involves the NaN, with a reason.
    case("nan_candidate_thr_gib", {"threshold": 0.8, "greater_is_better": G}, NAN, None, [T]),
    case("nan_candidate_thr_lib", {"threshold": 0.5, "greater_is_better": L}, NAN, None, [T]),
    case("nan_candidate_abs", {"min_absolute_change": 0.05, "greater_is_better": G}, NAN, 0.8, [A],
         ["2.17.2", "3.18.0"],
         "MLflow compares Decimal(nan) with >=, which raises decimal.InvalidOperation instead of a verdict."),
    case("nan_candidate_rel", {"min_relative_change": 0.05, "greater_is_better": G}, NAN, 0.8, [R],
         ["2.17.2", "3.18.0"],
         "MLflow fails only if relative_change < min_relative_change, which is False for NaN: a NaN "
         "candidate passes."),
    case("nan_baseline_rel", {"min_relative_change": 0.05, "greater_is_better": G}, 0.9, NAN, [R],
         ["2.17.2", "3.18.0"],
         "MLflow: (0.9 - nan) / nan < 0.05 is False, so a NaN baseline passes the relative check."),
]

# MetricThreshold constructor checks. `ours_ok`: whether our MetricThreshold::validate accepts it;
# `differs_from`: MLflow versions whose constructor decides otherwise.
SPEC_CASES = [
    {"name": "abs_zero", "spec": {"min_absolute_change": 0.0, "greater_is_better": G}, "ours_ok": False},
    {"name": "abs_negative", "spec": {"min_absolute_change": -0.1, "greater_is_better": G}, "ours_ok": False},
    {"name": "rel_zero", "spec": {"min_relative_change": 0.0, "greater_is_better": G}, "ours_ok": False,
     "differs_from": ["2.17.2", "3.18.0"],
     "why": "MLflow accepts 0.0 but its missing-baseline test (`min_relative_change or ...`) then treats "
            "0.0 as unset; a change of at least 0 is no criterion, so we refuse it."},
    {"name": "rel_one", "spec": {"min_relative_change": 1.0, "greater_is_better": G}, "ours_ok": True},
    {"name": "rel_above_one", "spec": {"min_relative_change": 1.5, "greater_is_better": G}, "ours_ok": False},
    {"name": "rel_negative", "spec": {"min_relative_change": -0.1, "greater_is_better": G}, "ours_ok": False},
    {"name": "nothing_set", "spec": {"greater_is_better": G}, "ours_ok": False},
    {"name": "threshold_only", "spec": {"threshold": 0.0, "greater_is_better": L}, "ours_ok": True},
]

# numpy.percentile(a, q) (method="linear"), for bootstrap.rs's percentile.
PERCENTILE_ARRAYS = {
    "small": [3.0, 1.0, 2.0],
    "mixed": [0.5, -1.25, 3.75, 2.0, 0.0, -0.5, 10.0, 7.25, 1.0, 4.5],
    "ties": [1.0, 1.0, 1.0, 2.0, 2.0, 5.0],
    "single": [0.25],
}
PERCENTILE_QS = [0.0, 2.5, 5.0, 25.0, 50.0, 75.0, 95.0, 97.5, 100.0]


def enc(x):
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def mlflow_verdicts():
    import mlflow
    from mlflow.models import MetricThreshold
    from mlflow.models.evaluation import validation

    try:
        _validate = validation._validate
    except AttributeError:  # 2.x keeps it in base.py
        from mlflow.models.evaluation import base
        _validate = base._validate
    g = _validate.__globals__
    Orig = g["_MetricValidationResult"]
    captured = []

    class Capture(Orig):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            captured.append(self)

    g["_MetricValidationResult"] = Capture
    out = {"version": mlflow.__version__, "cases": {}, "spec_cases": {}}
    for c in CASES:
        captured.clear()
        spec = {k: v for k, v in c["spec"].items()}
        th = {"m": MetricThreshold(**spec)}
        cand = {"m": c["candidate"]}
        base = {} if c["baseline"] is None else {"m": c["baseline"]}
        call = f"_validate({{'m': MetricThreshold(**{spec!r})}}, {cand!r}, {base!r})"
        verdict = {"call": call, "passed": None, "failed": [], "error": None}
        try:
            _validate(th, cand, base)
            verdict["passed"] = True
        except Exception as e:  # noqa: BLE001 - we record what MLflow does
            if type(e).__name__ == "ModelValidationFailedException":
                verdict["passed"] = False
            else:
                verdict["error"] = f"{type(e).__module__}.{type(e).__name__}: {e}"
        if verdict["error"] is None and captured:
            r = captured[0]
            failed = []
            if r.threshold_failed:
                failed.append(T)
            for crit, flag in ((A, r.min_absolute_change_failed), (R, r.min_relative_change_failed)):
                if flag or (r.missing_baseline and c["spec"].get(crit) is not None):
                    failed.append(crit)
            verdict["failed"] = failed
        out["cases"][c["name"]] = verdict
    for s in SPEC_CASES:
        try:
            MetricThreshold(**s["spec"])
            out["spec_cases"][s["name"]] = {"ok": True, "error": None,
                                             "call": f"MetricThreshold(**{s['spec']!r})"}
        except Exception as e:  # noqa: BLE001
            out["spec_cases"][s["name"]] = {"ok": False, "error": str(e),
                                             "call": f"MetricThreshold(**{s['spec']!r})"}
    return out


def main():
    if "--verdicts-only" in sys.argv:
        json.dump(mlflow_verdicts(), sys.stdout)
        return
    import numpy as np

    runs = [mlflow_verdicts()]
    old = os.environ.get("MLFLOW_OLD_PYTHON")
    if not old:
        sys.exit("set MLFLOW_OLD_PYTHON to the interpreter that has mlflow-skinny==2.17.2")
    runs.append(json.loads(subprocess.check_output([old, __file__, "--verdicts-only"])))
    versions = sorted(r["version"] for r in runs)
    assert versions == ["2.17.2", "3.18.0"], versions

    cases = []
    for c in CASES:
        row = dict(c)
        row["candidate"] = enc(c["candidate"])
        row["baseline"] = enc(c["baseline"])
        row["mlflow"] = {r["version"]: r["cases"][c["name"]] for r in runs}
        cases.append(row)
    spec_cases = []
    for s in SPEC_CASES:
        row = dict(s)
        row.setdefault("differs_from", [])
        row["mlflow"] = {r["version"]: r["spec_cases"][s["name"]] for r in runs}
        spec_cases.append(row)
    percentiles = []
    for name, arr in PERCENTILE_ARRAYS.items():
        for q in PERCENTILE_QS:
            percentiles.append({
                "array": name, "values": arr, "q": q,
                "expected": float(np.percentile(np.array(arr), q)),
                "call": f"numpy.percentile({arr!r}, {q!r})",
            })
    fixture = {
        "generated_by": "tools/reference/gate_reference.py",
        "versions": {"mlflow-skinny": versions, "numpy": np.__version__,
                     "python": sys.version.split()[0]},
        "criteria_order": [T, A, R],
        "cases": cases,
        "spec_cases": spec_cases,
        "percentiles": percentiles,
    }
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "mlops-pipeline", "tests", "data", "gate_mlflow_cases.json")
    with open(path, "w") as f:
        json.dump(fixture, f, indent=1, allow_nan=False)
        f.write("\n")
    print(f"wrote {os.path.normpath(path)}: {len(cases)} cases, {len(spec_cases)} spec cases, "
          f"{len(percentiles)} percentiles; mlflow {versions}, numpy {np.__version__}")


if __name__ == "__main__":
    main()
