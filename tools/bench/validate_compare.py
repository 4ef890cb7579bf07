#!/usr/bin/env python3
"""mlops-validate vs Great Expectations (pandas engine): same data, same expectations.

Pinned (install into /tmp/venv-perf):
    python -m venv /tmp/venv-perf
    /tmp/venv-perf/bin/pip install great_expectations==1.24.1 pandas==3.1.1 numpy==2.4.6 pyarrow==26.0.1
(Python 3.11.7; pyarrow writes the CSV fast and is pandas 3's string backend.)

Build our side:
    PROTOC=/bin/false CARGO_INCREMENTAL=0 CARGO_TARGET_DIR=/work/target-perf \\
        cargo build --release -p mlops-validate --example validate_file

Run:
    /tmp/venv-perf/bin/python tools/bench/validate_compare.py --rows 1000000 \\
        --bin /work/target-perf/release/examples/validate_file [--workdir /tmp/vbench] [--skip-ge]

Steps: (1) generate a seeded CSV of N rows x C columns in chunks (Python memory stays small);
(2) `validate_file infer` it into schema.toml; (3) translate schema.toml into the same GE
expectations (skew is skipped; `freshness` becomes a lower bound on the timestamp column, which
is what it means for a fixed --now); (4) time `validate_file check` (wall, peak RSS via
/usr/bin/time -v) and, in a fresh `nice -n 10` subprocess, GE: pd.read_csv and one
batch.validate(suite), each timed, and its peak RSS; (5) compare the failed expectations on the
clean file, then on a copy with one injected fault (an out-of-range value and a duplicated id)
unless --skip-fault.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import tomllib

NOW = "2026-12-01T00:00:00Z"
NOW_MS = 1_796_083_200_000  # NOW in ms; the data's timestamps end 1 h before it
CATS = [[f"cat{k}_{v}" for v in range(n)] for k, n in enumerate([3, 5, 8, 12, 16, 20])]


def column_names(cols: int) -> list[str]:
    """~60 % floats, 16 % ints, 12 % categoricals, then 2 ids, 2 codes, 1 email, 1 timestamp."""
    fixed = ["id0", "id1", "code0", "code1", "email", "ts"]
    rest = cols - len(fixed)
    n_int = max(1, round(rest * 8 / 44))
    n_cat = max(1, round(rest * 6 / 44))
    n_float = rest - n_int - n_cat
    return ([f"f{i}" for i in range(n_float)] + [f"i{i}" for i in range(n_int)]
            + [f"c{i}" for i in range(n_cat)] + fixed)


def generate(path: str, rows: int, cols: int, seed: int = 7, chunk: int = 250_000) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = column_names(cols)
    rng = np.random.default_rng(seed)
    perm0 = rng.permutation(rows).astype(np.int64) + 1_000_000
    writer = None
    sink = open(path, "w", newline="")
    sink.write(",".join(names) + "\n")
    sink.flush()
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        arrays = []
        for name in names:
            kind = name.rstrip("0123456789")
            k = int(name[len(kind):] or 0)
            mask = None
            if kind == "f":
                x = np.round(rng.normal(10.0 * k, 1.0 + k, n), 4)
                if k % 3 == 0:  # ~1 % missing in every third float column
                    mask = rng.random(n) < 0.01
                arr = pa.array(x, mask=mask)
            elif kind == "i":
                x = rng.integers(-1000 * (k + 1), 1000 * (k + 1), n)
                if k % 4 == 1:
                    mask = rng.random(n) < 0.005
                arr = pa.array(x, mask=mask)
            elif kind == "c":
                values = np.array(CATS[k % len(CATS)])
                x = values[rng.integers(0, len(values), n)]
                if k % 2 == 1:
                    mask = rng.random(n) < 0.002
                arr = pa.array(x, mask=mask)
            elif name == "id0":
                arr = pa.array(perm0[start:start + n])
            elif name == "id1":
                arr = pa.array(np.arange(start, start + n, dtype=np.int64) * 7 + 13)
            elif kind == "code":
                letters = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ"))
                a = letters[rng.integers(0, len(letters), n)]
                b = letters[rng.integers(0, len(letters), n)]
                d = rng.integers(0, 10_000, n)
                arr = pa.array(np.char.add(np.char.add(np.char.add(a, b), "-"),
                                           np.char.zfill(d.astype(str), 4)))
            elif name == "email":
                users = np.char.add("user", rng.integers(0, 10**6, n).astype(str))
                doms = np.array(["example.com", "mail.org", "corp.net"])[rng.integers(0, 3, n)]
                x = np.char.add(np.char.add(users, "@"), doms)
                mask = rng.random(n) < 0.003
                arr = pa.array(x, mask=mask)
            elif name == "ts":
                t0 = NOW_MS - 3_600_000 - rows * 1000  # one row a second, "YYYY-MM-DD HH:MM:SS"
                ms = t0 + (np.arange(start, start + n, dtype=np.int64) * 1000)
                arr = pa.array(ms.astype("datetime64[ms]")).cast(pa.string())
            else:
                raise AssertionError(name)
            arrays.append(arr)
        table = pa.table(arrays, names=names)
        if writer is None:
            writer = pacsv.CSVWriter(sink.buffer, table.schema, write_options=pacsv.WriteOptions(
                include_header=False, quoting_style="none"))
        writer.write_table(table)
    if writer is not None:
        writer.close()
    sink.close()


def inject_fault(src: str, dst: str) -> None:
    """Copy src with row 3's f1 set to 1e9 (out of range) and row 5's id0 = row 4's."""
    with open(src) as fi, open(dst, "w") as fo:
        header = fi.readline()
        fo.write(header)
        names = header.strip().split(",")
        jf, jid = names.index("f1"), names.index("id0")
        prev_id = None
        for i, line in enumerate(fi, start=1):
            if i <= 5:
                cells = line.rstrip("\n").split(",")
                if i == 3:
                    cells[jf] = "1000000000.0"
                if i == 4:
                    prev_id = cells[jid]
                if i == 5:
                    cells[jid] = prev_id
                line = ",".join(cells) + "\n"
            fo.write(line)
            if i > 5:
                shutil.copyfileobj(fi, fo, 1 << 24)
                break


def timed(cmd: list[str], nice: bool = False) -> tuple[float, float, str]:
    """(wall s, peak RSS MiB, stdout) of a fresh subprocess."""
    pre = ["nice", "-n", "10"] if nice else []
    if os.path.exists("/usr/bin/time"):
        t = time.perf_counter()
        p = subprocess.run(pre + ["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if p.returncode != 0:
            sys.exit(f"{cmd[0]} failed ({p.returncode}):\n{p.stderr[-4000:]}")
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
        cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", p.stderr))
        print(f"  [{os.path.basename(cmd[0])} {os.path.basename(cmd[1])}] user+sys CPU {cpu:.1f} s",
              flush=True)
        return wall, (int(m.group(1)) / 1024 if m else float("nan")), p.stdout
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    p = subprocess.run(pre + cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}):\n{p.stderr[-4000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, (after / 1024 if after > before else float("nan")), p.stdout


# ---- translation of schema.toml into GE expectations (JSON specs, built in the GE child) ----

def ge_specs(schema: dict, now_iso: str) -> tuple[list[dict], list[str]]:
    """[{type, kwargs}] for GE, and the timestamp columns (parsed as datetimes by read_csv)."""
    from datetime import datetime, timedelta, timezone
    specs: list[dict] = []
    ts_cols: list[str] = []
    table = schema.get("table", {})
    if "min_rows" in table or "max_rows" in table:
        specs.append({"type": "ExpectTableRowCountToBeBetween",
                      "kwargs": {"min_value": table.get("min_rows"), "max_value": table.get("max_rows")}})
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    for col, c in schema.get("columns", {}).items():
        t = c["type"]
        if t == "timestamp":
            ts_cols.append(col)

        def add(kind, **kw):
            specs.append({"type": kind, "kwargs": {"column": col, **kw}})

        def mostly(e):
            return e.get("mostly", 1.0)

        if "not_null" in c:
            add("ExpectColumnValuesToNotBeNull", mostly=mostly(c["not_null"]))
        if "range" in c:
            r = c["range"]
            lo, hi = r.get("min"), r.get("max")
            if t == "timestamp":  # pandas Timestamps compare with Timestamps
                lo = lo and {"__ts__": lo}
                hi = hi and {"__ts__": hi}
            add("ExpectColumnValuesToBeBetween", min_value=lo, max_value=hi, mostly=mostly(r))
        if "non_negative" in c:
            add("ExpectColumnValuesToBeBetween", min_value=0, max_value=None,
                mostly=mostly(c["non_negative"]))
        if "freshness" in c:
            f = c["freshness"]
            m = re.fullmatch(r"(\d+)([smhdw])", f["max_age"])
            now = datetime.fromisoformat(now_iso.replace("Z", "+00:00"))
            oldest = now - timedelta(seconds=int(m.group(1)) * units[m.group(2)])
            add("ExpectColumnValuesToBeBetween",
                min_value={"__ts__": oldest.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")},
                max_value=None, mostly=mostly(f))
        if "domain" in c:
            add("ExpectColumnValuesToBeInSet", value_set=c["domain"]["values"], mostly=mostly(c["domain"]))
        if "unique" in c:
            add("ExpectColumnValuesToBeUnique", mostly=mostly(c["unique"]))
        if "length" in c:
            ln = c["length"]
            add("ExpectColumnValueLengthsToBeBetween", min_value=ln.get("min"), max_value=ln.get("max"),
                mostly=mostly(ln))
        if "regex" in c:
            add("ExpectColumnValuesToMatchRegex", regex=c["regex"]["pattern"], mostly=mostly(c["regex"]))
        if "monotonic" in c:
            add("ExpectColumnValuesToBeIncreasing", strictly=bool(c["monotonic"].get("strict", False)),
                mostly=mostly(c["monotonic"]))
    return specs, ts_cols


GE_CHILD = r'''
import json, sys, time
spec = json.load(open(sys.argv[1]))
import pandas as pd
t = time.perf_counter()
df = pd.read_csv(spec["data"], na_values=spec["null_values"], keep_default_na=False,
                 parse_dates=spec["ts_cols"], dtype={c: str for c in spec["str_cols"]})
read_s = time.perf_counter() - t
import great_expectations as gx
import great_expectations.expectations as gxe
ctx = gx.get_context(mode="ephemeral")
batch = (ctx.data_sources.add_pandas("pandas").add_dataframe_asset(name="data")
         .add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": df}))
def conv(v):
    return pd.Timestamp(v["__ts__"]) if isinstance(v, dict) else v
suite = ctx.suites.add(gx.ExpectationSuite(name="bench"))
for e in spec["expectations"]:
    suite.add_expectation(getattr(gxe, e["type"])(**{k: conv(v) for k, v in e["kwargs"].items()}))
t = time.perf_counter()
res = batch.validate(suite, result_format="BASIC")
validate_s = time.perf_counter() - t
failed = [[r.expectation_config.kwargs.get("column"), r.expectation_config.type,
           (r.result or {}).get("unexpected_count")] for r in res.results if not r.success]
errors = [str(r.exception_info)[:300] for r in res.results
          if (r.exception_info or {}).get("raised_exception")]
print(json.dumps({"rows": len(df), "read_s": read_s, "validate_s": validate_s,
                  "expectations": len(res.results), "failed": failed, "errors": errors}))
'''


def run_ge(workdir: str, data: str, schema: dict, py: str) -> tuple[dict, float, float]:
    specs, ts_cols = ge_specs(schema, NOW)
    str_cols = [c for c, s in schema["columns"].items() if s["type"] == "string"]
    spec = {"data": data, "expectations": specs, "ts_cols": ts_cols, "str_cols": str_cols,
            "null_values": schema.get("table", {}).get("null_values", [""])}
    spec_path = os.path.join(workdir, "ge_spec.json")
    child = os.path.join(workdir, "ge_child.py")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    with open(child, "w") as f:
        f.write(GE_CHILD)
    wall, rss, out = timed([py, child, spec_path], nice=True)
    return json.loads(out.strip().splitlines()[-1]), wall, rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--cols", type=int, default=50)
    ap.add_argument("--workdir", default="/tmp/vbench")
    ap.add_argument("--bin", default=os.environ.get("VALIDATE_BIN",
                                                    "/work/target-perf/release/examples/validate_file"))
    ap.add_argument("--skip-ge", action="store_true")
    ap.add_argument("--skip-fault", action="store_true")
    ap.add_argument("--regenerate", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    data = os.path.join(a.workdir, f"data_{a.rows}x{a.cols}.csv")
    if a.regenerate or not os.path.exists(data):
        t = time.perf_counter()
        generate(data + ".tmp", a.rows, a.cols)
        os.replace(data + ".tmp", data)
        print(f"generated {data} ({os.path.getsize(data) / 2**30:.2f} GiB) in {time.perf_counter() - t:.1f} s",
              flush=True)
    schema_path = os.path.join(a.workdir, f"schema_{a.rows}x{a.cols}.toml")
    wall, rss, out = timed([a.bin, "infer", data, schema_path])
    print(f"infer: {out.strip()}  wall {wall:.2f} s, peak RSS {rss:.0f} MiB", flush=True)
    with open(schema_path, "rb") as f:
        schema = tomllib.load(f)

    def ours(path):
        wall, rss, out = timed([a.bin, "check", schema_path, path, "--now", NOW])
        return json.loads(out), wall, rss

    o, o_wall, o_rss = ours(data)
    print(f"ours: {json.dumps(o)}  wall {o_wall:.2f} s, peak RSS {o_rss:.0f} MiB", flush=True)
    n_ge = len(ge_specs(schema, NOW)[0])
    summary = {"rows": o["rows"], "columns": len(schema["columns"]),
               "ours_expectations": o["expectations"], "ge_expectations": n_ge,
               "ours_s": round(o_wall, 3), "ours_rss_mib": round(o_rss), "ours_failed": o["anomalies"]}
    if not a.skip_ge:
        g, g_wall, g_rss = run_ge(a.workdir, data, schema, sys.executable)
        print(f"ge: {json.dumps(g)}  wall {g_wall:.2f} s, peak RSS {g_rss:.0f} MiB", flush=True)
        total = g["read_s"] + g["validate_s"]
        summary.update({"ge_read_s": round(g["read_s"], 3), "ge_validate_s": round(g["validate_s"], 3),
                        "ge_total_s": round(total, 3), "ge_process_wall_s": round(g_wall, 3),
                        "ge_rss_mib": round(g_rss), "ge_failed": len(g["failed"]),
                        "ratio_total": round(total / o_wall, 1),
                        "ratio_validate": round(g["validate_s"] / o_wall, 1),
                        "same_failures_clean": len(g["failed"]) == o["anomalies"]})
    if not a.skip_fault:
        faulty = os.path.join(a.workdir, f"fault_{a.rows}x{a.cols}.csv")
        inject_fault(data, faulty)
        of, _, _ = ours(faulty)
        summary["ours_fault_failed"] = of["failed"]
        if not a.skip_ge:
            gf, _, _ = run_ge(a.workdir, faulty, schema, sys.executable)
            summary["ge_fault_failed"] = gf["failed"]
        os.remove(faulty)
    print("SUMMARY " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
