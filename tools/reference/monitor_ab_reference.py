#!/usr/bin/env python3
"""Reference values for mlops-monitor's windows and A/B tests (scikit-learn, scipy).

Run: /work/.venv-nannyml/bin/python tools/reference/monitor_ab_reference.py
(pins: tools/reference/requirements-monitor.txt)

1. Writes mlops-monitor/tests/data/monitor_windows.csv (fixed seed): three models over three
   hours (binary `churn` with scores, multiclass `iris` with text classes and three scores,
   regression `price`), some rows unlabelled; prints, as Rust table rows for
   mlops-monitor/tests/window.rs, sklearn's metrics per (model, hour) on the labelled rows.
2. Prints the A/B reference values (scipy) pinned in mlops-monitor/tests/ab.rs.
Every printed value carries the exact call that produced it.
"""
import csv
import os
import warnings

import numpy as np
import scipy
import sklearn
from scipy import stats
from sklearn import metrics as M

warnings.simplefilter("ignore")
print(f"// scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}")

BASE = 1_764_547_200_000  # 2025-12-01T00:00:00Z
HOUR = 3_600_000
ROWS = 120
rng = np.random.default_rng(20251201)
IRIS = ["setosa", "versicolor", "virginica"]

rows = []
for h in range(3):
    for i in range(ROWS):
        ts = BASE + h * HOUR + int(rng.integers(0, HOUR))
        # churn: binary, p1 calibrated-ish; label drawn from p1.
        p1 = float(np.round(rng.uniform(0.01, 0.99), 6))
        y = int(rng.uniform() < p1)
        labelled = rng.uniform() < 0.8
        rows.append(dict(model="churn", ts=ts, id=f"c{h}-{i}", pred=str(int(p1 >= 0.5)),
                         s0=repr(1.0 - p1), s1=repr(p1), s2="",
                         label=str(y) if labelled else "",
                         amount=repr(float(np.round(rng.uniform(5, 100), 2)))))
        # iris: multiclass, text classes, three scores.
        p = rng.dirichlet([2.0, 2.0, 2.0])
        p = np.round(p, 6)
        p[2] = 1.0 - p[0] - p[1]
        yc = IRIS[int(rng.choice(3, p=np.clip(p, 0, 1) / np.clip(p, 0, 1).sum()))]
        labelled = rng.uniform() < 0.9
        rows.append(dict(model="iris", ts=ts + 1, id=f"i{h}-{i}", pred=IRIS[int(np.argmax(p))],
                         s0=repr(float(p[0])), s1=repr(float(p[1])), s2=repr(float(p[2])),
                         label=yc if labelled else "", amount=""))
        # price: regression.
        yt = float(np.round(rng.uniform(50, 150), 3))
        yp = float(np.round(yt + rng.normal(0, 10), 3))
        labelled = rng.uniform() < 0.85
        rows.append(dict(model="price", ts=ts + 2, id=f"p{h}-{i}", pred=repr(yp), s0="", s1="", s2="",
                         label=repr(yt) if labelled else "", amount=""))

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "..", "mlops-monitor", "tests", "data", "monitor_windows.csv")
with open(out, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=["model", "ts", "id", "pred", "s0", "s1", "s2", "label", "amount"])
    w.writeheader()
    for r in rows:
        w.writerow(r)
print(f"// wrote mlops-monitor/tests/data/monitor_windows.csv ({len(rows)} rows)")


def emit(model, hour, name, value, call):
    print(f"    // {call}")
    print(f"    ({model!r}, {hour}, {name!r}, {float(value)!r}),".replace("'", '"'))


print("// --- per-window sklearn values: (model, hour, metric, value) ---")
for model in ["churn", "iris", "price"]:
    for h in range(3):
        sel = [r for r in rows if r["model"] == model and r["label"] != ""
               and BASE + h * HOUR <= r["ts"] < BASE + (h + 1) * HOUR]
        sel.sort(key=lambda r: r["ts"])
        w = f"rows of model {model}, hour {h}, labelled"
        if model == "churn":
            yt = [int(r["label"]) for r in sel]
            yp = [int(r["pred"]) for r in sel]
            s = [float(r["s1"]) for r in sel]
            emit(model, h, "accuracy", M.accuracy_score(yt, yp), f"accuracy_score(y_true, y_pred) [{w}]")
            for avg in ["macro", "weighted"]:
                pr, rc, f1, _ = M.precision_recall_fscore_support(yt, yp, average=avg, zero_division=0)
                c = f"precision_recall_fscore_support(y_true, y_pred, average={avg!r}, zero_division=0)"
                emit(model, h, f"precision_{avg}", pr, c)
                emit(model, h, f"recall_{avg}", rc, c)
                emit(model, h, f"f1_{avg}", f1, c)
            pr, rc, f1, _ = M.precision_recall_fscore_support(yt, yp, average="binary", pos_label=1, zero_division=0)
            c = "precision_recall_fscore_support(y_true, y_pred, average='binary', pos_label=1, zero_division=0)"
            emit(model, h, "precision", pr, c)
            emit(model, h, "recall", rc, c)
            emit(model, h, "f1", f1, c)
            pr, rc, f1, sup = M.precision_recall_fscore_support(yt, yp, average=None, labels=[0, 1], zero_division=0)
            c = "precision_recall_fscore_support(y_true, y_pred, average=None, labels=[0, 1], zero_division=0)"
            for k in range(2):
                emit(model, h, f"class.{k}.precision", pr[k], c)
                emit(model, h, f"class.{k}.recall", rc[k], c)
                emit(model, h, f"class.{k}.f1", f1[k], c)
                emit(model, h, f"class.{k}.support", sup[k], c)
            emit(model, h, "roc_auc", M.roc_auc_score(yt, s), "roc_auc_score(y_true, p1)")
            emit(model, h, "log_loss", M.log_loss(yt, s, labels=[0, 1]), "log_loss(y_true, p1, labels=[0, 1])")
            # value matrix [tp, fp, fn, tn] = [10, -2, -5, 0]
            tn, fp, fn, tp = M.confusion_matrix(yt, yp, labels=[0, 1]).ravel()
            emit(model, h, "value.realised", 10 * tp - 2 * fp - 5 * fn + 0 * tn,
                 "tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel(); 10*tp - 2*fp - 5*fn")
            alls = [r for r in rows if r["model"] == model and BASE + h * HOUR <= r["ts"] < BASE + (h + 1) * HOUR]
            alls.sort(key=lambda r: r["ts"])
            amt = [float(r["amount"]) for r in alls]
            emit(model, h, "kpi.amount.sum", sum(amt), "sum(amount) over all rows of the hour, in time order (Python float sum)")
            emit(model, h, "kpi.amount.mean", sum(amt) / len(amt), "sum(amount) / len(amount)")
            emit(model, h, "label_coverage", len(sel) / len(alls), "n_labelled / n_predictions")
        elif model == "iris":
            yt = [r["label"] for r in sel]
            yp = [r["pred"] for r in sel]
            P = np.array([[float(r["s0"]), float(r["s1"]), float(r["s2"])] for r in sel])
            emit(model, h, "accuracy", M.accuracy_score(yt, yp), f"accuracy_score(y_true, y_pred) [{w}]")
            for avg in ["macro", "weighted"]:
                pr, rc, f1, _ = M.precision_recall_fscore_support(yt, yp, average=avg, zero_division=0)
                c = f"precision_recall_fscore_support(y_true, y_pred, average={avg!r}, zero_division=0)"
                emit(model, h, f"precision_{avg}", pr, c)
                emit(model, h, f"recall_{avg}", rc, c)
                emit(model, h, f"f1_{avg}", f1, c)
            pr, rc, f1, sup = M.precision_recall_fscore_support(yt, yp, average=None, labels=IRIS, zero_division=0)
            c = "precision_recall_fscore_support(y_true, y_pred, average=None, labels=IRIS, zero_division=0)"
            for k, name in enumerate(IRIS):
                emit(model, h, f"class.{name}.precision", pr[k], c)
                emit(model, h, f"class.{name}.recall", rc[k], c)
                emit(model, h, f"class.{name}.f1", f1[k], c)
                emit(model, h, f"class.{name}.support", sup[k], c)
            emit(model, h, "roc_auc", M.roc_auc_score(yt, P, multi_class="ovr", labels=IRIS),
                 "roc_auc_score(y_true, proba, multi_class='ovr', labels=IRIS)")
            emit(model, h, "log_loss", M.log_loss(yt, P, labels=IRIS), "log_loss(y_true, proba, labels=IRIS)")
        else:
            yt = [float(r["label"]) for r in sel]
            yp = [float(r["pred"]) for r in sel]
            emit(model, h, "mae", M.mean_absolute_error(yt, yp), f"mean_absolute_error(y_true, y_pred) [{w}]")
            emit(model, h, "rmse", M.root_mean_squared_error(yt, yp), "root_mean_squared_error(y_true, y_pred)")
            emit(model, h, "r2", M.r2_score(yt, yp), "r2_score(y_true, y_pred)")
            emit(model, h, "mape", M.mean_absolute_percentage_error(yt, yp), "mean_absolute_percentage_error(y_true, y_pred)")

print("// --- A/B ---")
# Samples exact in binary floating point, rebuilt identically in the Rust test:
# a_i = (i*7 % 13)/4 + 0.5*i for i in 0..25, b_i = (i*5 % 11)/8 + 0.45*i + 1 for i in 0..40.
a = np.array([(i * 7 % 13) / 4 + 0.5 * i for i in range(25)])
b = np.array([(i * 5 % 11) / 8 + 0.45 * i + 1 for i in range(40)])
res = stats.ttest_ind(a, b, equal_var=False)
print(f"// stats.ttest_ind(a, b, equal_var=False): statistic, pvalue, df")
print(f"const WELCH: (f64, f64, f64) = ({float(res.statistic)!r}, {float(res.pvalue)!r}, {float(res.df)!r});")
ci = res.confidence_interval(confidence_level=0.95)
print(f"// stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)")
print(f"const WELCH_CI: (f64, f64) = ({float(ci.low)!r}, {float(ci.high)!r});")
a2 = np.array([1.0, 2.0])
b2 = np.array([2.0, 4.5, 7.0])
res = stats.ttest_ind(a2, b2, equal_var=False)
print(f"// stats.ttest_ind([1, 2], [2, 4.5, 7], equal_var=False): statistic, pvalue, df")
print(f"const WELCH_SMALL: (f64, f64, f64) = ({float(res.statistic)!r}, {float(res.pvalue)!r}, {float(res.df)!r});")
m, v, n = a.mean(), a.var(ddof=1), len(a)
lo, hi = stats.t.interval(0.95, n - 1, loc=m, scale=np.sqrt(v / n))
print(f"// stats.t.interval(0.95, len(a)-1, loc=a.mean(), scale=sqrt(a.var(ddof=1)/len(a)))")
print(f"const MEAN_CI: (f64, f64) = ({float(lo)!r}, {float(hi)!r});")
for name, (x1, n1, x2, n2) in {"Z1": (45, 100, 30, 100), "Z2": (480, 1000, 520, 1000),
                               "Z3": (1, 1, 0, 1), "Z4": (3, 7, 590, 1000)}.items():
    p1, p2 = x1 / n1, x2 / n2
    p = (x1 + x2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    pv = 2 * stats.norm.sf(abs(z))
    print(f"// z = (p1-p2)/sqrt(p(1-p)(1/n1+1/n2)), p = 2*stats.norm.sf(abs(z)) for ({x1}, {n1}, {x2}, {n2})")
    print(f"const {name}: (f64, f64) = ({float(z)!r}, {float(pv)!r});")
for name, (x, n) in {"W1": (45, 100), "W2": (0, 20), "W3": (1, 1)}.items():
    zc = stats.norm.ppf(0.975)
    ph = x / n
    den = 1 + zc**2 / n
    c = (ph + zc**2 / (2 * n)) / den
    hw = zc * np.sqrt(ph * (1 - ph) / n + zc**2 / (4 * n * n)) / den
    print(f"// Wilson: z = stats.norm.ppf(0.975); (p + z²/2n)/(1+z²/n) ± z·sqrt(p(1-p)/n + z²/4n²)/(1+z²/n) for ({x}, {n})")
    print(f"const {name}: (f64, f64) = ({float(max(c - hw, 0.0))!r}, {float(min(c + hw, 1.0))!r});")
