#!/usr/bin/env python3
"""Reference values for mlops-validate: Great Expectations' results on a generated fixture.

Pinned versions (the values in mlops-validate/tests/ge_equality.rs come from exactly these):
    python==3.11
    great_expectations==1.24.1
    pandas==2.3.3
    numpy==2.4.6
    scipy==1.17.1   (a GE dependency; not used directly)

Run (from the repository root):
    python3 -m venv /tmp/venv-ge
    /tmp/venv-ge/bin/pip install great_expectations==1.24.1 pandas==2.3.3 numpy==2.4.6
    /tmp/venv-ge/bin/python tools/reference/validate_ge.py

It
1. generates a deterministic fixture (seeded numpy, 3,000 rows) and writes it to
   mlops-validate/tests/data/ge_fixture.csv,
2. writes the schema mlops-validate/tests/data/ge_schema.toml (our TOML format) whose
   expectations are the GE expectations run below, one for one,
3. runs GE (pandas engine, fluent API, ephemeral context) on `pd.read_csv(fixture)` with
   pandas' default NA handling (`keep_default_na=True`; `parse_dates=["ts"]` so that the
   timestamp column is a datetime column, as GE's increasing/between need), and prints, per
   expectation, success, unexpected_count, unexpected_percent, element_count, missing_count
   and the first 5 of partial_unexpected_index_list, as Rust rows for the test.

Nothing here computes an expected value itself: every number printed is GE's.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import great_expectations as gx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "mlops-validate" / "tests" / "data"
FIXTURE = DATA / "ge_fixture.csv"
SCHEMA = DATA / "ge_schema.toml"

N = 3000
SEED = 20261203
# "now" for the freshness expectation (the test passes the same to CheckOptions::now_ms).
NOW = "2026-03-01T00:00:00Z"
# freshness max_age = 30d  =>  GE: be_between(ts, min_value = NOW - 30 days)
FRESH_MIN = "2026-01-30 00:00:00"

CITIES = ["Tokyo", "Osaka", "Kyoto", "Sapporo", "Nagoya"]
NAMES = ["Ada", "Grace", "Linus", "José", "Zoë", "李雷", "Ωmega", "Ünal", "O'Brien", "ノリ", "Bob"]
# pandas' default NA strings that are also in our DEFAULT_NULL_VALUES.
NA = ["", "NA", "null", "None", "N/A", "NaN", "NULL", "nan", "n/a", "<NA>"]


def generate() -> list[dict[str, str]]:
    rng = np.random.default_rng(SEED)
    rows: list[dict[str, str]] = [dict() for _ in range(N)]

    def pick(k: int, exclude: set[int] | None = None) -> list[int]:
        pool = np.arange(N) if not exclude else np.array([i for i in range(N) if i not in exclude])
        return sorted(int(i) for i in rng.choice(pool, size=k, replace=False))

    def na() -> str:
        return NA[int(rng.integers(len(NA)))]

    # id: 1..N with repeats: 3 pairs and one triple (9 cells involved).
    ids = list(range(1, N + 1))
    for a, b in [(10, 500), (77, 78), (1200, 2999)]:
        ids[b] = ids[a]
    ids[1500] = ids[2500] = ids[40]
    for i in range(N):
        rows[i]["id"] = str(ids[i])

    # age: ints, ~2.5 % missing (various NA spellings), a few out of [0, 120].
    age = rng.integers(18, 91, size=N)
    missing_age = set(pick(75))
    bad_age = pick(4, missing_age)
    for i in range(N):
        rows[i]["age"] = na() if i in missing_age else str(int(age[i]))
    for i, v in zip(bad_age, ["150", "-1", "121", "999"]):
        rows[i]["age"] = v

    # price: 2-decimal floats in [0, 480), 1 % missing, negatives, > 500, inf, 1e3.
    price = rng.uniform(0.0, 480.0, size=N)
    missing_price = set(pick(30))
    for i in range(N):
        rows[i]["price"] = na() if i in missing_price else f"{price[i]:.2f}"
    bad_price = pick(25, missing_price)
    for k, i in enumerate(bad_price):
        rows[i]["price"] = ["-3.50", "-0.01", "500.01", "712.00", "inf", "-inf", "1e3"][k % 7]
    rows[bad_price[0] + 0]["price"] = "500.00"  # the inclusive bound itself: expected
    rows[3]["price"] = "0"  # lower bound, an integer-looking cell: expected

    # city: no missing; exactly 30 unknown (mostly = 0.99 sits exactly on the boundary).
    city = rng.integers(len(CITIES), size=N)
    for i in range(N):
        rows[i]["city"] = CITIES[int(city[i])]
    for k, i in enumerate(pick(30)):
        rows[i]["city"] = ["Tokio", "osaka", "Zürich", " Tokyo", "東京", "Kyoto "][k % 6]

    # email: user<i>@example.com; 1 % missing, bad shapes, unicode, odd lengths, repeats.
    missing_email = set(pick(30))
    for i in range(N):
        rows[i]["email"] = na() if i in missing_email else f"user{i}@example.com"
    specials = [
        "bad-email",  # no @: regex
        "a@b",  # no dot, length 3: regex and length
        "x@y.z",  # length 5 < 6: length only
        "ユーザー@例え.jp",  # 10 code points (24 bytes): fine
        "ü" * 12 + "@example.com",  # 24 code points, 36 bytes: fine by code points
        "ü" * 20 + "@example.com",  # 32 code points: length
        "two words@example.com",  # whitespace: regex
        "user5@example.com",  # a repeat of row 6's value: unique
        "user6@@example.com",  # two @: regex
    ]
    for k, i in enumerate(pick(36, missing_email | {5, 6})):
        rows[i]["email"] = specials[k % len(specials)]

    # code: AB-1234 shape; a few bad; full-width digits are \d in both Python re and Rust regex.
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    for i in range(N):
        a, b = rng.integers(len(letters), size=2)
        rows[i]["code"] = f"{letters[a]}{letters[b]}-{int(rng.integers(10000)):04d}"
    for k, i in enumerate(pick(14)):
        rows[i]["code"] = ["ab-1234", "AB1234", "AB-12345", "AB-１２３４", "XAB-1234", "AB-123", "ÄB-1234"][
            k % 7
        ]

    # name: unicode text; regex '[A-Za-z]' (unanchored: re.search); length 2..6.
    name = rng.integers(len(NAMES), size=N)
    missing_name = set(pick(15))
    for i in range(N):
        rows[i]["name"] = na() if i in missing_name else NAMES[int(name[i])]

    # ts: mostly increasing by 0..60 min; some ties (allowed, not strict), some decreases,
    # some missing. Starts 2026-01-01.
    t0 = np.datetime64("2026-01-01T00:00:00")
    steps = rng.integers(1, 61, size=N)
    steps[0] = 0
    minutes = np.cumsum(steps)
    for i in pick(6):
        if i > 0:
            minutes[i] = minutes[i - 1]  # tie
    for i in pick(8):
        if i > 0:
            minutes[i] = minutes[i - 1] - int(rng.integers(1, 500))  # decrease
    missing_ts = set(pick(12))
    for i in range(N):
        t = t0 + np.timedelta64(int(minutes[i]), "m")
        rows[i]["ts"] = na() if i in missing_ts else str(t).replace("T", " ")

    # qty: ints in [0, 60] with a few non-numeric / non-integer cells (a type error).
    qty = rng.integers(0, 61, size=N)
    missing_qty = set(pick(20))
    for i in range(N):
        rows[i]["qty"] = na() if i in missing_qty else str(int(qty[i]))
    for k, i in enumerate(pick(7, missing_qty)):
        rows[i]["qty"] = ["abc", "12x", "1.5", "１２", "seven", "1e3", "--3"][k]

    # score: 3-decimal floats (a few natural repeats) and planted repeats of one value in two
    # spellings: pandas reads a float64 column, so GE's unique compares values, not text.
    score = rng.uniform(0.0, 1000.0, size=N)
    missing_score = set(pick(10))
    for i in range(N):
        rows[i]["score"] = na() if i in missing_score else f"{score[i]:.3f}"
    pairs = [("1.5", "1.50"), ("2", "2.0"), ("1e2", "100"), ("-0.0", "0"), ("inf", "Infinity"), ("+4", "4.000")]
    planted = pick(2 * len(pairs), missing_score)
    order = rng.permutation(len(planted))
    for k, (a, b) in enumerate(pairs):
        rows[planted[int(order[2 * k])]]["score"] = a
        rows[planted[int(order[2 * k + 1])]]["score"] = b
    return rows


COLUMNS = ["id", "age", "price", "city", "email", "code", "name", "ts", "qty", "score"]


def write_fixture(rows: list[dict[str, str]]) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    with FIXTURE.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


SCHEMA_TOML = f"""\
# Generated by tools/reference/validate_ge.py: the expectations run there through Great
# Expectations, one for one (see ge_equality.rs). Do not edit by hand.
version = 1

[table]
min_rows = 2500
max_rows = 3500
extra_columns = "error"

[columns.id]
type = "int"
unique = {{}}

[columns.age]
type = "int"
not_null = {{ mostly = 0.97 }}
range = {{ min = 0, max = 120, mostly = 0.999 }}

[columns.price]
type = "float"
not_null = {{ mostly = 0.995 }}
range = {{ min = 0, max = 500, mostly = 0.99 }}

[columns.city]
type = "string"
domain = {{ values = {json.dumps(CITIES, ensure_ascii=False)}, mostly = 0.99 }}

[columns.email]
type = "string"
not_null = {{ mostly = 0.99 }}
unique = {{ mostly = 0.999 }}
length = {{ min = 6, max = 30, mostly = 0.995 }}
regex = {{ pattern = '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$', mostly = 0.995 }}

[columns.code]
type = "string"
regex = {{ pattern = '^[A-Z]{{2}}-\\d{{4}}$', mostly = 0.995 }}

[columns.name]
type = "string"
length = {{ min = 2, max = 6, mostly = 0.9 }}
regex = {{ pattern = '[A-Za-z]', mostly = 0.9 }}

[columns.ts]
type = "timestamp"
not_null = {{ mostly = 0.99 }}
range = {{ min = "2026-01-01 00:00:00", max = "2026-02-28 00:00:00" }}
freshness = {{ max_age = "30d", mostly = 0.5 }}
monotonic = {{ strict = false, mostly = 0.999 }}

[columns.qty]
type = "int"
type_mostly = 0.99
not_null = {{ mostly = 0.99 }}
range = {{ min = 0, max = 50, mostly = 0.8 }}

[columns.score]
type = "float"
unique = {{ mostly = 0.99 }}
"""

# (label, column, GE expectation class, kwargs) in the order printed. `label` names the Rust
# row: "<column>.<our expectation>".
EXPECTATIONS = [
    ("table.row_count", None, "ExpectTableRowCountToBeBetween", dict(min_value=2500, max_value=3500)),
    ("id.unique", "id", "ExpectColumnValuesToBeUnique", dict()),
    ("age.not_null", "age", "ExpectColumnValuesToNotBeNull", dict(mostly=0.97)),
    ("age.range", "age", "ExpectColumnValuesToBeBetween", dict(min_value=0, max_value=120, mostly=0.999)),
    ("price.not_null", "price", "ExpectColumnValuesToNotBeNull", dict(mostly=0.995)),
    ("price.range", "price", "ExpectColumnValuesToBeBetween", dict(min_value=0, max_value=500, mostly=0.99)),
    ("city.domain", "city", "ExpectColumnValuesToBeInSet", dict(value_set=CITIES, mostly=0.99)),
    ("email.not_null", "email", "ExpectColumnValuesToNotBeNull", dict(mostly=0.99)),
    ("email.unique", "email", "ExpectColumnValuesToBeUnique", dict(mostly=0.999)),
    ("email.length", "email", "ExpectColumnValueLengthsToBeBetween", dict(min_value=6, max_value=30, mostly=0.995)),
    (
        "email.regex",
        "email",
        "ExpectColumnValuesToMatchRegex",
        dict(regex=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", mostly=0.995),
    ),
    ("code.regex", "code", "ExpectColumnValuesToMatchRegex", dict(regex=r"^[A-Z]{2}-\d{4}$", mostly=0.995)),
    ("name.length", "name", "ExpectColumnValueLengthsToBeBetween", dict(min_value=2, max_value=6, mostly=0.9)),
    ("name.regex", "name", "ExpectColumnValuesToMatchRegex", dict(regex=r"[A-Za-z]", mostly=0.9)),
    ("ts.not_null", "ts", "ExpectColumnValuesToNotBeNull", dict(mostly=0.99)),
    (
        "ts.range",
        "ts",
        "ExpectColumnValuesToBeBetween",
        dict(min_value="2026-01-01 00:00:00", max_value="2026-02-28 00:00:00"),
    ),
    ("ts.freshness", "ts", "ExpectColumnValuesToBeBetween", dict(min_value=FRESH_MIN, mostly=0.5)),
    ("ts.monotonic", "ts", "ExpectColumnValuesToBeIncreasing", dict(strictly=False, mostly=0.999)),
    ("score.unique", "score", "ExpectColumnValuesToBeUnique", dict(mostly=0.99)),
    ("qty.not_null", "qty", "ExpectColumnValuesToNotBeNull", dict(mostly=0.99)),
    # qty is an object column (pandas could not parse every cell as a number): GE's
    # be_between raises TypeError on the str cells, and in_type_list sees only str values.
    ("qty.range", "qty", "ExpectColumnValuesToBeBetween", dict(min_value=0, max_value=50, mostly=0.8)),
    ("qty.type", "qty", "ExpectColumnValuesToBeInTypeList", dict(type_list=["int", "int64"], mostly=0.99)),
]

# The same type check on a frame whose qty cells were parsed one by one by pandas' own
# scalar parser (pd.to_numeric; a cell it cannot parse stays str): the per-cell reading a
# streaming validator does, while counting and `mostly` are still GE's.
PER_CELL = [
    ("qty.type_per_cell", "qty", "ExpectColumnValuesToBeInTypeList", dict(type_list=["int", "int64"], mostly=0.99)),
    (
        "qty.range_per_cell",
        "qty",
        "ExpectColumnValuesToBeBetween",
        dict(min_value=0, max_value=50, mostly=0.8),
    ),
]
# be_between on qty once the cells that are not integers (per pd.to_numeric) are blanked
# (NaN), so that GE can evaluate it: the range over the well-typed cells.
TYPED = [
    ("qty.range_typed", "qty", "ExpectColumnValuesToBeBetween", dict(min_value=0, max_value=50, mostly=0.8)),
]


def to_number(v):
    if isinstance(v, str):
        try:
            return pd.to_numeric(v)
        except ValueError:
            return v
    return v


def run(df: pd.DataFrame, name: str, expectations) -> list[dict]:
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas(name=f"src_{name}")
    asset = source.add_dataframe_asset(name=f"asset_{name}")
    bd = asset.add_batch_definition_whole_dataframe(f"bd_{name}")
    batch = bd.get_batch(batch_parameters={"dataframe": df})
    out = []
    for label, column, cls, kwargs in expectations:
        args = dict(kwargs)
        if column is not None:
            args["column"] = column
        exp = getattr(gx.expectations, cls)(**args)
        res = batch.validate(exp, result_format={"result_format": "COMPLETE"})
        r = res.result or {}
        # exception_info is either one {"raised_exception", "exception_message", ...} or a
        # dict of them keyed by metric.
        exc = res.exception_info or {}
        infos = [exc] if "raised_exception" in exc else list(exc.values())
        raised_infos = [e for e in infos if isinstance(e, dict) and e.get("raised_exception")]
        raised = bool(raised_infos)
        msg = raised_infos[0].get("exception_message") if raised else None
        out.append(
            dict(
                label=label,
                call=f"{cls}({', '.join(f'{k}={v!r}' for k, v in args.items())})",
                success=bool(res.success),
                raised=raised,
                exception=msg,
                element_count=r.get("element_count"),
                missing_count=r.get("missing_count"),
                unexpected_count=r.get("unexpected_count"),
                unexpected_percent=r.get("unexpected_percent"),
                observed_value=r.get("observed_value"),
                first_index=[int(i) for i in (r.get("partial_unexpected_index_list") or [])[:5]],
                first_values=[str(v) for v in (r.get("partial_unexpected_list") or [])[:5]],
            )
        )
    return out


def rust_f64(x) -> str:
    if x is None:
        return "f64::NAN"
    s = repr(float(x))
    return s if ("." in s or "e" in s) else s + ".0"


def main() -> int:
    rows = generate()
    write_fixture(rows)
    SCHEMA.write_text(SCHEMA_TOML, encoding="utf-8")

    df = pd.read_csv(FIXTURE, parse_dates=["ts"])  # keep_default_na=True (the default)
    print("# dtypes:", {c: str(t) for c, t in df.dtypes.items()}, file=sys.stderr)
    results = run(df, "csv", EXPECTATIONS)

    df2 = df.copy()
    df2["qty"] = df2["qty"].map(to_number).astype(object)
    results += run(df2, "cells", PER_CELL)

    df3 = df2.copy()
    is_int = df3["qty"].map(lambda v: isinstance(v, (int, np.integer)))
    df3["qty"] = df3["qty"].where(is_int, np.nan).astype(float)
    results += run(df3, "typed", TYPED)

    print(json.dumps(results, indent=1, ensure_ascii=False, default=str), file=sys.stderr)
    print(f"// Generated by tools/reference/validate_ge.py (great_expectations=={gx.__version__},")
    print(f"// pandas=={pd.__version__}, numpy=={np.__version__}).")
    print("// (label, success, unexpected_count, unexpected_percent, element_count, missing_count,")
    print("//  first 5 partial_unexpected_index_list)")
    for r in results:
        print(f"// {r['call']}")
        if r["raised"]:
            print(f"//   -> success {str(r['success']).lower()}, raised: {r['exception']}")
            continue
        if r["observed_value"] is not None and r["unexpected_count"] is None:
            print(f"//   -> success {str(r['success']).lower()}, observed_value {r['observed_value']}")
            continue
        pct = r["unexpected_percent"]
        print(
            f'("{r["label"]}", {str(r["success"]).lower()}, {r["unexpected_count"] or 0}, '
            f"{rust_f64(pct if pct is not None and not math.isnan(pct) else 0.0)}, "
            f"{r['element_count'] or 0}, {r['missing_count'] or 0}, &{r['first_index']}),"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
