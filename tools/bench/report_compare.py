#!/usr/bin/env python3
"""HTML drift report: `mlops drift --format html` vs its own JSON report vs Evidently's HTML
`Report([DataDriftPreset()])`, on the same CSV files, in the same run.

Pinned (install into /work/venv-evid):
    python3 -m venv /work/venv-evid
    /work/venv-evid/bin/pip install evidently==0.7.14 pandas==2.2.3
(Python 3.11.7; resolves numpy 2.4.6, scipy 1.17.1, plotly 5.24.1. pandas 3 breaks evidently
0.7.14's import of `infer_dtype_from_object`, hence the pin.)

Build our side:
    PROTOC=/bin/false cargo build --release -p mlops-cli

Run:
    /work/venv-evid/bin/python tools/bench/report_compare.py --rows 1000000 --cols 100 \\
        --bin target/release/mlops [--workdir /tmp/rbench] [--skip-evidently]

Data: a reference and a current CSV of N rows x C columns (80 % numeric, 20 % categorical with
8 levels), seeded; in the current file a quarter of the columns are shifted, so the report has
both verdicts. Timings are wall clock of one whole command each: for us `mlops drift ... -o`
(read both CSVs, profile, compare, write), best of --repeat; for Evidently, pd.read_csv of
both files + Report.run + save_html in a fresh subprocess, once (its `run` alone is printed
too). Both read the same files and write one HTML file; sizes are those files' sizes.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

CATS = [f"cat_{i}" for i in range(8)]


def write_csv(path: str, rows: int, cols: int, shift: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_cat = cols // 5
    n_num = cols - n_cat
    header = [f"x{i}" for i in range(n_num)] + [f"c{i}" for i in range(n_cat)]
    chunk = 100_000
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for start in range(0, rows, chunk):
            m = min(chunk, rows - start)
            num = rng.normal(0.0, 1.0, size=(m, n_num))
            if shift:
                num[:, : n_num // 4] += 0.3
            p = np.full(8, 1 / 8)
            cat = rng.choice(8, size=(m, n_cat), p=p)
            if shift:
                cat[:, : n_cat // 4] = rng.choice(8, size=(m, n_cat // 4), p=np.array([0.3] + [0.1] * 7))
            lines = []
            numf = np.char.mod("%.6g", num)
            for i in range(m):
                lines.append(",".join(numf[i]) + "," + ",".join(CATS[k] for k in cat[i]))
            f.write("\n".join(lines) + "\n")


EVIDENTLY = r'''
import sys, time
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref_path, cur_path, out = sys.argv[1:4]
t0 = time.perf_counter()
ref = pd.read_csv(ref_path); cur = pd.read_csv(cur_path)
t1 = time.perf_counter()
snap = Report([DataDriftPreset()]).run(reference_data=ref, current_data=cur)
t2 = time.perf_counter()
snap.save_html(out)
t3 = time.perf_counter()
print(f"{t1-t0:.3f} {t2-t1:.3f} {t3-t2:.3f}")
'''


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=100)
    ap.add_argument("--bin", default="target/release/mlops")
    ap.add_argument("--workdir", default="/tmp/rbench")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-evidently", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    ref = os.path.join(a.workdir, f"ref-{a.rows}x{a.cols}.csv")
    cur = os.path.join(a.workdir, f"cur-{a.rows}x{a.cols}.csv")
    for path, shift, seed in ((ref, False, 1), (cur, True, 2)):
        if not os.path.exists(path):
            t = time.perf_counter()
            write_csv(path + ".tmp", a.rows, a.cols, shift, seed)
            os.replace(path + ".tmp", path)
            print(f"wrote {path} ({os.path.getsize(path) / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s", file=sys.stderr)

    out_json = os.path.join(a.workdir, "ours.json")
    out_html = os.path.join(a.workdir, "ours.html")
    base = [a.bin, "drift", "--reference", ref, "--current", cur]
    t_json = min(timed(base + ["--format", "json", "-o", out_json]) for _ in range(a.repeat))
    t_html = min(timed(base + ["--format", "html", "-o", out_html]) for _ in range(a.repeat))
    s_html = os.path.getsize(out_html)
    print(f"data: {a.rows} rows x {a.cols} columns, reference and current")
    print(f"ours JSON report: {t_json:8.2f} s  {os.path.getsize(out_json) / 1e6:6.2f} MB")
    print(f"ours HTML report: {t_html:8.2f} s  {s_html / 1e6:6.2f} MB  (html/json time {t_html / t_json:.3f}x; goal <= 1.5x and < 3 MB)")
    if a.skip_evidently:
        return 0
    out_ev = os.path.join(a.workdir, "evidently.html")
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", EVIDENTLY, ref, cur, out_ev], check=True, capture_output=True, text=True)
    t_ev = time.perf_counter() - t
    read, run, save = (float(x) for x in r.stdout.split())
    s_ev = os.path.getsize(out_ev)
    print(f"Evidently HTML:   {t_ev:8.2f} s  {s_ev / 1e6:6.2f} MB  (read {read:.1f} s, run {run:.1f} s, save_html {save:.1f} s)")
    work = read + run + save
    print(f"ratio time Evidently/ours(html): {t_ev / t_html:.1f}x whole process, {work / t_html:.1f}x read+run+save only; size Evidently/ours: {s_ev / s_html:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
