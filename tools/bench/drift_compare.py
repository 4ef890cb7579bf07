#!/usr/bin/env python3
"""Times scipy / Evidently and mlops-drift on the same generated data in one run and
prints the ratios.

    python3 tools/bench/drift_compare.py [--n-ks 1000000] [--n-big 10000000] [--repeats 3]

Our side runs the release example `mlops-drift/examples/drift_timing.rs` (built here
with cargo unless DRIFT_TIMING_BIN points at a binary) on the very same bytes.

Evidently: its functions are imported from a Python that has `evidently`
(EVIDENTLY_PYTHON, default: the current interpreter). Evidently 0.7 needs pandas < 3;
a separate virtualenv works (see requirements-drift.txt). If Evidently cannot be
imported, the script says so and times a faithful numpy re-implementation of its
PSI/KL/JS code path instead, labelled "evidently-reimpl".

What is compared (n values per side, standard normal vs shifted normal):
  * scipy.stats.ks_2samp(a, b)            vs ks_2samp(&a, &b, Auto)   (includes sorting)
  * scipy.stats.wasserstein_distance(a,b) vs wasserstein(&a, &b)
  * Evidently psi/kl_div/jensenshannon stattests (default n_bins=30, binning both
    samples each call) vs PSI+KL+JS of the current sample against a fitted
    ReferenceProfile (the profile is fitted once, outside the timing — that reuse is
    the point of a profile).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy
import scipy.stats as st

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))


def best(f, repeats):
    t = float("inf")
    for _ in range(repeats):
        s = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - s)
    return t


EVIDENTLY_SNIPPET = r"""
import sys, time, json, numpy as np, pandas as pd
from evidently.legacy.calculations.stattests.psi import _psi
from evidently.legacy.calculations.stattests.kl_div import _kl_div
from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
from evidently.legacy.core import ColumnType
a = pd.Series(np.fromfile(sys.argv[1], dtype='<f8')); b = pd.Series(np.fromfile(sys.argv[2], dtype='<f8'))
reps = int(sys.argv[3]); out = {}
for name, f in [('psi', _psi), ('kl', _kl_div), ('js', _jensenshannon)]:
    t = float('inf')
    for _ in range(reps):
        s = time.perf_counter(); v = f(a, b, ColumnType.Numerical, 0.1); t = min(t, time.perf_counter() - s)
    out[name] = t; out[name + '_value'] = float(v[0])
import evidently; out['version'] = evidently.__version__
print(json.dumps(out))
"""


def evidently_reimpl(a, b, reps):
    """Evidently 0.7 `get_binned_data` + psi/kl/js for numeric columns, in numpy:
    Sturges-free: np.histogram_bin_edges over the combined data with n_bins=30,
    proportions with zeros replaced by 1e-4, then the three formulas."""
    def binned():
        bins = np.histogram_bin_edges(np.concatenate([a, b]), bins=30)
        r = np.histogram(a, bins)[0] / len(a)
        c = np.histogram(b, bins)[0] / len(b)
        r[r == 0] = 0.0001
        c[c == 0] = 0.0001
        return r, c
    out = {}
    def psi():
        r, c = binned(); return np.sum((r - c) * np.log(r / c))
    def kl():
        r, c = binned(); return st.entropy(r, c)
    def js():
        r, c = binned(); return scipy.spatial.distance.jensenshannon(r, c)
    for name, f in [("psi", psi), ("kl", kl), ("js", js)]:
        out[name] = best(f, reps)
        out[name + "_value"] = float(f())
    out["version"] = "reimpl"
    return out


def our_binary():
    b = os.environ.get("DRIFT_TIMING_BIN")
    if b:
        return b
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "mlops-drift", "--example", "drift_timing"],
                   cwd=ROOT, check=True)
    return os.path.join(target, "release", "examples", "drift_timing")


def ours(binary, fa, fb, reps):
    r = subprocess.run([binary, fa, fb, str(reps)], check=True, capture_output=True, text=True)
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-ks", type=int, default=1_000_000)
    ap.add_argument("--n-big", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-big-scipy", action="store_true", help="skip scipy KS/Wasserstein at n-big")
    args = ap.parse_args()
    binary = our_binary()
    rng = np.random.default_rng(42)
    print(f"numpy {np.__version__}, scipy {scipy.__version__}; {os.cpu_count()} CPUs")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for n in sorted({args.n_ks, args.n_big}):
            a = rng.standard_normal(n)
            b = rng.standard_normal(n) + 0.01
            fa, fb = os.path.join(d, f"a{n}.f64"), os.path.join(d, f"b{n}.f64")
            a.astype("<f8").tofile(fa)
            b.astype("<f8").tofile(fb)
            o = ours(binary, fa, fb, args.repeats)
            rows.append((n, "sort both (ours, baseline)", None, o["sort_both_s"]))
            if n == args.n_ks or not args.skip_big_scipy:
                reps = args.repeats if n <= 1_000_000 else 1
                t_ks = best(lambda: st.ks_2samp(a, b), reps)
                res = st.ks_2samp(a, b)
                assert abs(res.statistic - o["ks"]) <= 1e-12, (res.statistic, o["ks"])
                assert abs(res.pvalue - o["ks_p"]) <= 1e-6 * max(res.pvalue, 1e-300), (res.pvalue, o["ks_p"])
                rows.append((n, "KS  scipy.ks_2samp", t_ks, o["ks_s"]))
                t_w = best(lambda: st.wasserstein_distance(a, b), reps)
                w = st.wasserstein_distance(a, b)
                assert abs(w - o["wasserstein"]) <= 1e-9 * w, (w, o["wasserstein"])
                rows.append((n, "Wasserstein scipy", t_w, o["wasserstein_s"]))
            if n == args.n_big:
                py = os.environ.get("EVIDENTLY_PYTHON", sys.executable)
                try:
                    r = subprocess.run([py, "-c", EVIDENTLY_SNIPPET, fa, fb, "1"], check=True,
                                       capture_output=True, text=True)
                    ev = json.loads(r.stdout.strip().splitlines()[-1])
                    label = f"Evidently {ev['version']}"
                except (subprocess.CalledProcessError, json.JSONDecodeError, IndexError) as e:
                    print(f"Evidently not importable with {py} ({type(e).__name__}); "
                          "timing the numpy re-implementation of its code path instead", file=sys.stderr)
                    ev = evidently_reimpl(a, b, 1)
                    label = "evidently-reimpl"
                for name in ["psi", "kl", "js"]:
                    rows.append((n, f"{name.upper()} {label} vs ours (PSI+KL+JS together, vs profile)",
                                 ev[name], o["psi_kl_js_vs_profile_s"]))
                gbs = 8 * n / o["histogram_s"] / 1e9
                print(f"binning throughput (ours, n={n}): {gbs:.2f} GB/s of f64 on this run")
            ks_over_sort = o["ks_s"] / o["sort_both_s"]
            print(f"n={n}: our KS / time to sort both samples = {ks_over_sort:.2f}")
    print()
    print(f"{'n':>10}  {'operation':<70} {'theirs s':>10} {'ours s':>10} {'ratio':>8}")
    for n, name, theirs, our in rows:
        ratio = f"{theirs / our:8.1f}x" if theirs else ""
        th = f"{theirs:10.4f}" if theirs else " " * 10
        print(f"{n:>10}  {name:<70} {th} {our:10.4f} {ratio}")


if __name__ == "__main__":
    main()
