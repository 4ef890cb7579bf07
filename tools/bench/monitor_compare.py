#!/usr/bin/env python3
"""Monitoring benchmark: `mlops monitor report` against NannyML and Evidently, same data,
same machine, same run.

    python3 tools/bench/monitor_compare.py [--rows 1000000] [--reference-rows 250000] \
        [--mlops-bin target/release/mlops] [--ingest-bin target/release/monitor_ingest] \
        [--skip-ours] [--skip-nannyml] [--skip-evidently] [--json OUT] [--keep]
    python3 tools/bench/monitor_compare.py --rows 20000 --reference-rows 5000   # quick mode

What it does (see tools/bench/README-monitor.md):
  1. makes a virtualenv (--venv, default /tmp/mlops-monitor-bench-venv) with
     tools/bench/requirements-monitor-bench.txt when nannyml/evidently are not importable
     there, and re-runs itself with that interpreter;
  2. generates (numpy, fixed seed) a binary classifier's log: a reference day (2026-01-01 UTC)
     and an analysis day (2026-01-02 UTC) with features f0..f3, y_pred_proba, y_pred, y_true;
     in hours 12-23 of the analysis day f0 and f1 are logged shifted by +0.8 (covariate
     shift the model never saw: it gets worse and its probabilities are mis-calibrated).
     Written once as reference.csv, analysis.csv and labels.csv (id,label) in a work dir;
  3. ours: `monitor_ingest` (timed separately, printed) then `mlops monitor report` (timed);
  4. NannyML 0.13.1: CBPE + PerformanceCalculator + UnivariateDriftCalculator (KS), hourly
     chunks, CSV reading inside the timed process;
  5. Evidently 0.7.23: one Report (DataDriftPreset over f0..f3 + ClassificationPreset) per
     analysis hour against the reference, CSV reading inside the timed process;
  6. every tool is its own subprocess, timed with os.wait4 (wall clock; peak RSS from its
     rusage ru_maxrss), then the script cross-checks the numbers the tools share and prints
     the table with the ratios and the goal lines (>= 50x faster, <= 1/5 memory).

Exit status: 0 full run (whether or not the goal is met; the table says); 1 a tool failed or
its output could not be read (one-line reason on stderr); 4 the tools disagree beyond the
tolerances printed.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
REQUIREMENTS = os.path.join(HERE, "requirements-monitor-bench.txt")
REEXEC_MARK = "MLOPS_MONITOR_BENCH_IN_VENV"

SEED = 20260101
FEATURES = ["f0", "f1", "f2", "f3"]
DAY0_MS = 1767225600000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
SHIFT = 0.8  # added to f0 and f1 in hours SHIFT_FROM_HOUR.. of the analysis day
SHIFT_FROM_HOUR = 12
# The fixed logistic "model" (and, on unshifted features, the true process).
W = [1.2, -0.9, 0.6, 0.3]
B = -0.25
METRICS = ["roc_auc", "f1", "accuracy", "precision", "recall"]
REFERENCE_UNTIL = "2026-01-02T00:00:00Z"

# Tolerances of the cross-check (absolute differences).
TOL_REALISED = 1e-9  # accuracy / ROC AUC from the same labels and scores: only summation order
TOL_KS = 1e-9  # KS statistic: a ratio of counts, exact in either definition (see check_ks)
TOL_CBPE = 1e-6  # CBPE estimate: same calibration and expectation; float order, isotonic ties
GOAL_SPEED = 50.0
GOAL_MEMORY = 5.0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="analysis-day rows (day 1)")
    p.add_argument("--reference-rows", type=int, default=250_000, help="reference-day rows (day 0)")
    p.add_argument("--mlops-bin", default=os.path.join(ROOT, "target", "release", "mlops"),
                   help="the `mlops` binary (release)")
    p.add_argument("--ingest-bin", default=os.path.join(ROOT, "target", "release", "monitor_ingest"),
                   help="the ingest binary that turns the CSVs into a prediction log")
    p.add_argument("--ingest-cmd", metavar="TEMPLATE",
                   help="override the whole ingest command; {log} {reference} {analysis} {labels} "
                   "{ingest_bin} are substituted, split on spaces")
    p.add_argument("--report-cmd", metavar="TEMPLATE",
                   help="override the whole report command; {log} {mlops_bin} {reference_until} "
                   "are substituted, split on spaces")
    p.add_argument("--venv", default="/tmp/mlops-monitor-bench-venv", help="anchors' virtualenv")
    p.add_argument("--workdir", help="use this directory for the data (default: a temporary one)")
    p.add_argument("--json", metavar="OUT", help="write every number to this JSON file")
    p.add_argument("--check-hour", type=int, default=15,
                   help="analysis hour (0-23) used for the cross-check; the KS check uses it "
                   "too, so keep it in the shifted half (>= 12)")
    p.add_argument("--evidently-drift-method", default="ks",
                   help="Evidently num_method for DataDriftPreset (default ks, the test the other "
                   "two run; 'default' keeps Evidently's own choice, Wasserstein for n > 1000)")
    p.add_argument("--timeout-s", type=float, default=3600.0, help="per-tool time limit")
    p.add_argument("--skip-ours", action="store_true", help="anchors only (our binaries not built)")
    p.add_argument("--skip-nannyml", action="store_true")
    p.add_argument("--skip-evidently", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--worker", choices=["nannyml", "evidently"], help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.rows < 24 * 50 or a.reference_rows < 24 * 50:
        p.error("--rows and --reference-rows: at least 1200 each (50 per hourly window)")
    if not 0 <= a.check_hour <= 23:
        p.error("--check-hour: 0..23")
    return a


# ---------------------------------------------------------------------------------------------
# Stage 1 (any python3): the virtualenv, then re-exec inside it.


def venv_python(venv):
    return os.path.join(venv, "bin", "python")


PROBE = ("import nannyml, evidently, pandas, numpy, scipy, sklearn; "
         "from evidently import Report, Dataset, DataDefinition, BinaryClassification")


def ensure_venv_and_reexec():
    if os.environ.get(REEXEC_MARK) == "1":
        return
    args = parse_args()
    py = venv_python(args.venv)
    if not os.path.exists(py):
        print(f"creating virtualenv {args.venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", args.venv], check=True)
    if subprocess.run([py, "-c", PROBE], capture_output=True).returncode != 0:
        print(f"installing {REQUIREMENTS} into {args.venv} (a few minutes)", flush=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "-r", REQUIREMENTS], check=True)
        r = subprocess.run([py, "-c", PROBE], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"{args.venv}: the anchors do not import after installing: "
                 f"{r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    env = dict(os.environ, **{REEXEC_MARK: "1"})
    sys.stdout.flush()
    os.execve(py, [py, os.path.abspath(__file__)] + sys.argv[1:], env)


def fail(msg, code=1):
    print(f"monitor_compare: {msg}", file=sys.stderr, flush=True)
    raise SystemExit(code)


# ---------------------------------------------------------------------------------------------
# Data.


def sigmoid(z):
    import numpy as np

    return 1.0 / (1.0 + np.exp(-z))


def make_day(rng, n, day, first_id):
    """One day of logged predictions, sorted by timestamp."""
    import numpy as np
    import pandas as pd

    start = DAY0_MS + day * DAY_MS
    ts = np.sort(rng.integers(start, start + DAY_MS, size=n, dtype=np.int64))
    z = rng.standard_normal((n, len(FEATURES)))  # what the world is
    x = z.copy()  # what is logged and what the model sees
    if day == 1:
        shifted = (ts - start) >= SHIFT_FROM_HOUR * HOUR_MS
        x[shifted, 0] += SHIFT
        x[shifted, 1] += SHIFT
    w = np.asarray(W)
    proba = sigmoid(x @ w + B)  # the model: fitted on unshifted data, applied to what it sees
    y_true = (rng.random(n) < sigmoid(z @ w + B)).astype(np.int64)  # the true process
    df = pd.DataFrame({"id": [f"p{i:07d}" for i in range(first_id, first_id + n)],
                       "timestamp_ms": ts})
    for j, f in enumerate(FEATURES):
        df[f] = x[:, j]
    df["y_pred_proba"] = proba
    df["y_pred"] = (proba >= 0.5).astype(np.int64)
    df["y_true"] = y_true
    return df


def write_data(workdir, n_ref, n_ana):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    ref = make_day(rng, n_ref, 0, 0)
    ana = make_day(rng, n_ana, 1, n_ref)
    paths = {k: os.path.join(workdir, f"{k}.csv") for k in ("reference", "analysis", "labels")}
    # float_format=None: pandas writes repr(), which round-trips, so every tool parses the
    # very same doubles.
    ref.to_csv(paths["reference"], index=False)
    ana.to_csv(paths["analysis"], index=False)
    labels = pd.concat([ref[["id", "y_true"]], ana[["id", "y_true"]]], ignore_index=True)
    labels.rename(columns={"y_true": "label"}).to_csv(paths["labels"], index=False)
    return paths, ref, ana


# ---------------------------------------------------------------------------------------------
# Workers (each a subprocess of its own: its peak RSS is its own).


def worker_nannyml(args):
    t0 = time.perf_counter()
    import nannyml as nml
    import pandas as pd

    t_import = time.perf_counter() - t0
    w = args.workdir

    def load(path):
        df = pd.read_csv(path)
        # Naive UTC datetimes: NannyML's hourly chunker (dt.to_period) drops a time zone anyway.
        df["timestamp"] = pd.to_datetime(df["timestamp_ms"], unit="ms")
        return df

    ref = load(os.path.join(w, "reference.csv"))
    ana = load(os.path.join(w, "analysis.csv"))
    t_read = time.perf_counter() - t0 - t_import
    common = dict(y_pred_proba="y_pred_proba", y_pred="y_pred", y_true="y_true",
                  timestamp_column_name="timestamp", metrics=METRICS, chunk_period="h",
                  problem_type="classification_binary")
    cbpe = nml.CBPE(**common).fit(ref)
    est = cbpe.estimate(ana.drop(columns=["y_true"]))
    perf = nml.PerformanceCalculator(**common).fit(ref)
    real = perf.calculate(ana)
    drift = nml.UnivariateDriftCalculator(column_names=FEATURES, timestamp_column_name="timestamp",
                                          continuous_methods=["kolmogorov_smirnov"],
                                          chunk_period="h").fit(ref)
    dres = drift.calculate(ana)
    # Materialise the results the way a user would read them.
    est_df, real_df, drift_df = est.to_df(), real.to_df(), dres.to_df()
    t_compute = time.perf_counter() - t0 - t_import - t_read

    def chunk_hours(df):
        """Analysis hour (0..23) of each chunk row; reference chunks come out negative."""
        key = [c for c in df.columns if c[0] == "chunk" and c[-1] == "start_date"][0]
        starts = pd.to_datetime(df[key])
        return [int((s.value // 1_000_000 - DAY0_MS - DAY_MS) // HOUR_MS) for s in starts]

    out = {"phases_s": {"import": t_import, "read_csv": t_read, "compute": t_compute},
           "n_chunks": {"estimated": len(est_df), "realised": len(real_df), "drift": len(drift_df)},
           "hours": {}}
    for df, kind in ((est_df, "estimated"), (real_df, "realised")):
        for i, h in enumerate(chunk_hours(df)):
            if not 0 <= h <= 23:
                continue
            row = out["hours"].setdefault(str(h), {})
            for m in METRICS:
                row[f"{kind}_{m}"] = float(df[(m, "value")].iloc[i])
                if kind == "estimated":
                    row[f"estimated_{m}_sampling_error"] = float(df[(m, "sampling_error")].iloc[i])
    for i, h in enumerate(chunk_hours(drift_df)):
        if not 0 <= h <= 23:
            continue
        row = out["hours"].setdefault(str(h), {})
        for f in FEATURES:
            row[f"ks_{f}"] = float(drift_df[(f, "kolmogorov_smirnov", "value")].iloc[i])
    out["rows"] = {"reference": len(ref), "analysis": len(ana)}
    # Whether CBPE decided to calibrate (isotonic) the reference probabilities: ours must make
    # the same decision for the estimates to agree.
    out["cbpe_needs_calibration"] = bool(getattr(cbpe, "needs_calibration", False))
    with open(args.worker_out, "w") as fh:
        json.dump(out, fh)


def worker_evidently(args):
    t0 = time.perf_counter()
    import pandas as pd
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset

    t_import = time.perf_counter() - t0
    w = args.workdir
    ref = pd.read_csv(os.path.join(w, "reference.csv"))
    ana = pd.read_csv(os.path.join(w, "analysis.csv"))
    t_read = time.perf_counter() - t0 - t_import
    cols = FEATURES + ["y_pred_proba", "y_pred", "y_true"]
    definition = DataDefinition(
        numerical_columns=FEATURES,
        classification=[BinaryClassification(target="y_true", prediction_labels="y_pred",
                                              prediction_probas="y_pred_proba", pos_label=1)])
    ref_ds = Dataset.from_pandas(ref[cols], data_definition=definition)
    drift_kw = {"columns": FEATURES}
    if args.evidently_drift_method != "default":
        drift_kw["num_method"] = args.evidently_drift_method
    hour = (ana["timestamp_ms"].to_numpy() - DAY0_MS - DAY_MS) // HOUR_MS
    out = {"hours": {}}
    for h in range(24):
        cur = ana.loc[hour == h, cols].reset_index(drop=True)
        if cur.empty:
            continue
        cur_ds = Dataset.from_pandas(cur, data_definition=definition)
        report = Report([DataDriftPreset(**drift_kw), ClassificationPreset()])
        snap = report.run(cur_ds, ref_ds)
        out["hours"][str(h)] = evidently_values(snap.dict())
    t_compute = time.perf_counter() - t0 - t_import - t_read
    out["phases_s"] = {"import": t_import, "read_csv": t_read, "compute": t_compute}
    out["rows"] = {"reference": len(ref), "analysis": len(ana)}
    with open(args.worker_out, "w") as fh:
        json.dump(out, fh)


def evidently_values(d):
    """Pick the single-value metrics of one Evidently snapshot, keyed by metric name."""
    vals = {}
    for m in d.get("metrics", []):
        name = str(m.get("metric_name", ""))
        v = m.get("value")
        if isinstance(v, (int, float)):
            vals[name] = float(v)
    return vals


def evidently_pick(vals, prefix, column=None):
    """The value whose metric id starts with `prefix` (and names `column`, when given)."""
    for k, v in vals.items():
        if k.startswith(prefix + "(") and (column is None or f"column={column}," in k):
            return v
    return None


# ---------------------------------------------------------------------------------------------
# Measured subprocesses.


def run_measured(label, cmd, workdir, env=None, timeout_s=3600.0):
    """Run `cmd`, return (wall_s, peak_rss_kib, stdout_path). Fails on a non-zero exit."""
    out_path = os.path.join(workdir, f"{label}.stdout")
    err_path = os.path.join(workdir, f"{label}.stderr")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=workdir)
        except OSError as e:
            fail(f"{label}: cannot start {cmd[0]}: {e}")
        deadline = t + timeout_s
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                fail(f"{label}: still running after {timeout_s:.0f} s, killed")
            time.sleep(0.005)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        with open(err_path, "rb") as f:
            tail = f.read().decode(errors="replace").strip().splitlines()
        fail(f"{label} exited {proc.returncode}: {tail[-1] if tail else '(no stderr)'} "
             f"(full stderr: {err_path})")
    return wall, ru.ru_maxrss, out_path


def fill(template, **kw):
    return [part.format(**kw) for part in template.split()]


def run_ours(args, paths, workdir):
    log = os.path.join(workdir, "log")
    shutil.rmtree(log, ignore_errors=True)
    kw = dict(log=log, reference=paths["reference"], analysis=paths["analysis"],
              labels=paths["labels"], ingest_bin=args.ingest_bin, mlops_bin=args.mlops_bin,
              reference_until=REFERENCE_UNTIL)
    if args.ingest_cmd:
        ingest = fill(args.ingest_cmd, **kw)
    else:
        ingest = [args.ingest_bin, "--log", log, "--csv", paths["reference"],
                  "--csv", paths["analysis"], "--labels", paths["labels"]]
    if args.report_cmd:
        report = fill(args.report_cmd, **kw)
    else:
        report = [args.mlops_bin, "monitor", "report", "--log", log, "--window", "1h",
                  "--reference-until", REFERENCE_UNTIL, "--drift-test", "ks", "--format", "json"]
    for exe in (ingest[0], report[0]):
        if shutil.which(exe) is None and not os.access(exe, os.X_OK):
            fail(f"{exe}: not found or not executable (build it, pass --mlops-bin/--ingest-bin, "
                 "or --skip-ours)")
    print("  ours: ingest:  " + " ".join(ingest), flush=True)
    ing_wall, ing_rss, _ = run_measured("ours-ingest", ingest, workdir, timeout_s=args.timeout_s)
    print("  ours: report:  " + " ".join(report), flush=True)
    wall, rss, out_path = run_measured("ours-report", report, workdir, timeout_s=args.timeout_s)
    try:
        with open(out_path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"ours: `monitor report` did not print one JSON document ({e}); see {out_path}")
    windows = doc.get("windows") if isinstance(doc, dict) else None
    if not isinstance(windows, list):
        fail(f"ours: no `windows` list in the report; see {out_path}")
    hours = {}
    for win in windows:
        start = parse_time_ms(win.get("start"))
        if start is None:
            fail(f"ours: window without a readable `start`: {json.dumps(win)[:200]}")
        h = (start - DAY0_MS - DAY_MS) // HOUR_MS
        if 0 <= h <= 23 and (start - DAY0_MS) % HOUR_MS == 0:
            hours[str(h)] = win
    return {"ingest": {"wall_s": ing_wall, "peak_rss_kib": ing_rss, "cmd": ingest},
            "report": {"wall_s": wall, "peak_rss_kib": rss, "cmd": report},
            "n_windows": len(windows), "hours": hours}


def parse_time_ms(v):
    """A window bound as epoch ms (int), epoch s (float) or RFC 3339 text."""
    from datetime import datetime

    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v if v > 10**11 else v * 1000
    if isinstance(v, float):
        return int(round(v * 1000)) if v < 10**11 else int(v)
    if isinstance(v, str):
        try:
            return int(round(datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() * 1000))
        except ValueError:
            return None
    return None


def run_anchor(args, name, workdir):
    out = os.path.join(workdir, f"{name}.json")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--worker-out", out,
           "--workdir", workdir, "--evidently-drift-method", args.evidently_drift_method]
    wall, rss, _ = run_measured(name, cmd, workdir, timeout_s=args.timeout_s)
    try:
        with open(out) as f:
            res = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{name}: worker wrote no result ({e})")
    res.update(wall_s=wall, peak_rss_kib=rss)
    return res


# ---------------------------------------------------------------------------------------------
# Cross-check.


def get_path(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else None


def exact_reference_values(ref, ana, hour):
    """What the shared numbers are, straight from numpy/scipy/sklearn (not timed)."""
    import numpy as np
    from scipy.stats import ks_2samp
    from sklearn.metrics import accuracy_score, roc_auc_score

    h = (ana["timestamp_ms"].to_numpy() - DAY0_MS - DAY_MS) // HOUR_MS
    cur = ana[h == hour]
    ks = ks_2samp(ref["f0"].to_numpy(), cur["f0"].to_numpy())
    return {"accuracy": float(accuracy_score(cur["y_true"], cur["y_pred"])),
            "roc_auc": float(roc_auc_score(cur["y_true"], cur["y_pred_proba"])),
            "ks_f0_exact": float(ks.statistic), "ks_f0_p_value": float(ks.pvalue),
            "n": int(len(cur)), "mean_f0": float(np.mean(cur["f0"]))}


def cross_check(args, results, ref, ana):
    hour = str(args.check_hour)
    exact = exact_reference_values(ref, ana, args.check_hour)
    ours = results.get("ours", {}).get("hours", {}).get(hour)
    nml = results.get("nannyml", {}).get("hours", {}).get(hour)
    ev = results.get("evidently", {}).get("hours", {}).get(hour)
    rows, problems = [], []

    def line(what, values, tol, ref_name, note=""):
        present = {k: v for k, v in values.items() if v is not None}
        base = present.get(ref_name)
        cells = []
        for k, v in values.items():
            if v is None:
                cells.append(f"{k} -")
                continue
            cells.append(f"{k} {v:.12f}")
        diffs = {k: abs(v - base) for k, v in present.items() if base is not None and k != ref_name}
        worst = max(diffs.values()) if diffs else None
        rows.append({"what": what, "values": values, "max_abs_diff_vs_" + ref_name: worst,
                     "tolerance": tol, "note": note})
        dtxt = f"max |diff| vs {ref_name} {worst:.2e}" if worst is not None else "nothing to compare"
        print(f"  {what:<34} " + "  ".join(cells) + f"  -> {dtxt} (tol {tol:g}){note}")
        return worst

    print(f"\ncross-check, analysis hour {args.check_hour} "
          f"({exact['n']} rows, mean f0 {exact['mean_f0']:+.3f}):")
    ev_acc = evidently_pick(ev, "Accuracy") if ev else None
    ev_auc = evidently_pick(ev, "RocAuc") if ev else None
    for metric, ev_v in (("accuracy", ev_acc), ("roc_auc", ev_auc)):
        worst = line(f"realised {metric}", {
            "sklearn": exact[metric],
            "ours": get_path(ours, "metrics", metric) if ours else None,
            "nannyml": nml.get(f"realised_{metric}") if nml else None,
            "evidently": ev_v}, TOL_REALISED, "sklearn")
        if worst is not None and worst > TOL_REALISED:
            problems.append(f"realised {metric} differs by {worst:.3g}")
    # KS: NannyML, with a reference of >= 10 000 rows, does not run scipy's ks_2samp: it bins the
    # reference into 10 000 equal-width bins and takes the largest gap of the two cumulative
    # frequencies at the bin edges (nannyml/drift/univariate/methods.py). So there are two
    # definitions; ours must match one of them exactly.
    ours_ks = get_path(ours, "drift", "drift.f0.statistic") if ours else None
    nml_ks = nml.get("ks_f0") if nml else None
    ks_vals = {"scipy": exact["ks_f0_exact"], "nannyml": nml_ks, "ours": ours_ks}
    cells = "  ".join(f"{k} {'-' if v is None else f'{v:.12f}'}" for k, v in ks_vals.items())
    d_exact = abs(ours_ks - exact["ks_f0_exact"]) if ours_ks is not None else None
    d_nml = abs(ours_ks - nml_ks) if ours_ks is not None and nml_ks is not None else None
    fmt = lambda d: "-" if d is None else f"{d:.2e}"  # noqa: E731
    nml_gap = abs(nml_ks - exact["ks_f0_exact"]) if nml_ks is not None else None
    print(f"  {'KS statistic f0':<34} {cells}  -> ours vs scipy {fmt(d_exact)}, ours vs nannyml "
          f"{fmt(d_nml)} (tol {TOL_KS:g} to either); nannyml vs scipy {fmt(nml_gap)}"
          + ("  [nannyml bins a reference of >= 10 000 rows into 10 000 bins]"
             if len(ref) >= 10_000 else ""))
    rows.append({"what": "KS statistic f0", "values": ks_vals, "ours_vs_scipy": d_exact,
                 "ours_vs_nannyml": d_nml, "nannyml_vs_scipy": nml_gap, "tolerance": TOL_KS})
    if ours_ks is not None and min(d_exact, d_nml if d_nml is not None else float("inf")) > TOL_KS:
        problems.append(f"KS f0: ours {ours_ks} matches neither scipy's exact statistic "
                        f"({d_exact:.3g}) nor NannyML's binned one ({fmt(d_nml)})")
    # Evidently's ValueDrift(method=ks) reports scipy's p-value, not the statistic: shown for
    # information (p-values this small are asymptotic approximations; no tolerance applied).
    ev_p = evidently_pick(ev, "ValueDrift", "f0") if ev else None
    ours_p = get_path(ours, "drift", "drift.f0.p_value") if ours else None
    print(f"  {'KS p-value f0 (information)':<34} scipy {exact['ks_f0_p_value']:.6g}  ours "
          f"{'-' if ours_p is None else f'{ours_p:.6g}'}  evidently "
          f"{'-' if ev_p is None else f'{ev_p:.6g}'}")
    ours_cbpe = get_path(ours, "estimated", "estimated.roc_auc") if ours else None
    nml_cbpe = nml.get("estimated_roc_auc") if nml else None
    worst = line("CBPE estimated roc_auc", {"nannyml": nml_cbpe, "ours": ours_cbpe}, TOL_CBPE,
                 "nannyml", "  [Evidently does not estimate without labels]")
    if worst is not None and worst > TOL_CBPE:
        problems.append(f"CBPE estimated roc_auc differs from NannyML by {worst:.3g} "
                        f"(> {TOL_CBPE:g})")
    if nml_cbpe is not None:
        print(f"  {'(realised roc_auc that hour)':<34} {exact['roc_auc']:.12f}: NannyML's CBPE is off by "
              f"{nml_cbpe - exact['roc_auc']:+.4f}: CBPE trusts the (reference-calibrated) "
              "probabilities, which the shift has made wrong")
    return {"hour": args.check_hour, "exact": exact, "rows": rows, "problems": problems}


# ---------------------------------------------------------------------------------------------
# Main.


def mib(kib):
    return kib / 1024.0


def main(args):
    import platform

    t_start = time.time()
    tmp = args.workdir or tempfile.mkdtemp(prefix="mlops-monitor-bench-")
    os.makedirs(tmp, exist_ok=True)
    results = {}
    if not args.skip_ours:  # fail before spending a minute on the data
        for flag, exe, override in (("--ingest-bin", args.ingest_bin, args.ingest_cmd),
                                    ("--mlops-bin", args.mlops_bin, args.report_cmd)):
            if not override and not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
                fail(f"{exe}: not found or not executable (build it, pass {flag}, or --skip-ours)")
    try:
        print(f"data: {args.reference_rows} reference rows (2026-01-01), {args.rows} analysis rows "
              f"(2026-01-02, f0/f1 +{SHIFT} from {SHIFT_FROM_HOUR}:00) in {tmp}", flush=True)
        t = time.perf_counter()
        paths, ref, ana = write_data(tmp, args.reference_rows, args.rows)
        sizes = {k: os.path.getsize(v) for k, v in paths.items()}
        print(f"  written in {time.perf_counter() - t:.1f} s: "
              + ", ".join(f"{k}.csv {v / 2**20:.0f} MiB" for k, v in sizes.items()), flush=True)

        if not args.skip_ours:
            print("ours", flush=True)
            results["ours"] = run_ours(args, paths, tmp)
            o = results["ours"]
            print(f"  ingest {o['ingest']['wall_s']:.2f} s, {mib(o['ingest']['peak_rss_kib']):.0f} MiB;"
                  f" report {o['report']['wall_s']:.2f} s, {mib(o['report']['peak_rss_kib']):.0f} MiB;"
                  f" {o['n_windows']} windows", flush=True)
            if o["n_windows"] != 48:
                print(f"  warning: expected 48 hourly windows (24 reference + 24 analysis), "
                      f"got {o['n_windows']}", flush=True)
        for name, skip in (("nannyml", args.skip_nannyml), ("evidently", args.skip_evidently)):
            if skip:
                continue
            print(name, flush=True)
            r = run_anchor(args, name, tmp)
            results[name] = r
            ph = r["phases_s"]
            print(f"  {r['wall_s']:.2f} s (import {ph['import']:.1f}, read_csv {ph['read_csv']:.1f}, "
                  f"compute {ph['compute']:.1f}), peak RSS {mib(r['peak_rss_kib']):.0f} MiB; "
                  f"{len(r['hours'])} analysis hours", flush=True)
            if "cbpe_needs_calibration" in r:
                print(f"  CBPE calibrates the probabilities (isotonic): {r['cbpe_needs_calibration']}",
                      flush=True)
            if len(r["hours"]) != 24:
                fail(f"{name}: {len(r['hours'])} hourly analysis results, expected 24")

        check = cross_check(args, results, ref, ana)

        print("\nwhat each tool computed:")
        if "ours" in results:
            print("  ours       monitor report: realised metrics, CBPE estimates, KS drift f0..f3, "
                  "KPIs, 48 hourly windows (reference + analysis)")
        if "nannyml" in results:
            print("  nannyml    CBPE (5 metrics) + PerformanceCalculator (5 metrics) + "
                  "UnivariateDriftCalculator (KS, f0..f3); hourly chunks, reference + analysis")
        if "evidently" in results:
            print(f"  evidently  24 Reports (DataDriftPreset f0..f3, num_method="
                  f"{args.evidently_drift_method}; ClassificationPreset with probabilities) on the "
                  "analysis hours; no estimate without labels (Evidently has no CBPE)")

        print(f"\n{'tool':<22}{'wall s':>10}{'peak RSS MiB':>14}{'time / ours':>13}{'RSS / ours':>12}")
        table = []
        ours_t = results["ours"]["report"]["wall_s"] if "ours" in results else None
        ours_m = results["ours"]["report"]["peak_rss_kib"] if "ours" in results else None
        entries = []
        if "ours" in results:
            o = results["ours"]
            entries.append(("ours (report)", o["report"]["wall_s"], o["report"]["peak_rss_kib"]))
            entries.append(("ours (ingest, apart)", o["ingest"]["wall_s"], o["ingest"]["peak_rss_kib"]))
        for name in ("nannyml", "evidently"):
            if name in results:
                entries.append((name, results[name]["wall_s"], results[name]["peak_rss_kib"]))
        for name, wall, rss in entries:
            apart = name.startswith("ours (ingest")
            rt = f"{wall / ours_t:.1f}x" if ours_t and not apart else "-"
            rm = f"{rss / ours_m:.1f}x" if ours_m and not apart else "-"
            print(f"{name:<22}{wall:>10.2f}{mib(rss):>14.0f}{rt:>13}{rm:>12}")
            table.append({"tool": name, "wall_s": wall, "peak_rss_mib": mib(rss),
                          "time_ratio_vs_ours": wall / ours_t if ours_t else None,
                          "rss_ratio_vs_ours": rss / ours_m if ours_m else None})
        goals = []
        if ours_t:
            for name in ("nannyml", "evidently"):
                if name not in results:
                    continue
                sp = results[name]["wall_s"] / ours_t
                mem = results[name]["peak_rss_kib"] / ours_m
                g = {"anchor": name, "speedup": sp, "memory_ratio": mem,
                     "speed_goal_met": sp >= GOAL_SPEED, "memory_goal_met": mem >= GOAL_MEMORY}
                goals.append(g)
                print(f"goal vs {name:<9}: >= {GOAL_SPEED:.0f}x faster: {sp:.1f}x "
                      f"[{'met' if g['speed_goal_met'] else 'NOT met'}];  memory <= 1/{GOAL_MEMORY:.0f}: "
                      f"1/{mem:.1f} [{'met' if g['memory_goal_met'] else 'NOT met'}]")
                ing = results["ours"]["ingest"]["wall_s"]
                print(f"{'':<20}  (counting our ingest too: {results[name]['wall_s'] / (ours_t + ing):.1f}x)")
        else:
            print(f"goal: >= {GOAL_SPEED:.0f}x faster, <= 1/{GOAL_MEMORY:.0f} memory "
                  "(not evaluated: --skip-ours)")

        if args.json:
            doc = {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_start)),
                   "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]),
                   "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                               "python": platform.python_version()},
                   "rows": {"reference": args.reference_rows, "analysis": args.rows},
                   "csv_bytes": sizes, "table": table, "goals": goals, "cross_check": check,
                   "tools": {k: {kk: vv for kk, vv in v.items() if kk != "hours"}
                             for k, v in results.items()},
                   "per_hour": {k: v.get("hours") for k, v in results.items()}}
            with open(args.json, "w") as f:
                json.dump(doc, f, indent=1, default=str)
            print(f"wrote {args.json}")
        if check["problems"]:
            fail("the tools disagree: " + "; ".join(check["problems"]), code=4)
    finally:
        if args.keep or args.workdir:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if "--worker" not in sys.argv:
        ensure_venv_and_reexec()
    a = parse_args()
    if a.worker == "nannyml":
        worker_nannyml(a)
    elif a.worker == "evidently":
        worker_evidently(a)
    else:
        main(a)
