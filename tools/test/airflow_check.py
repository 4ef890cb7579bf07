"""Assertions of scripts/airflow.sh: two `airflow dags test mlops_retrain DS` of one interval.

  airflow_check.py CACHE_DIR DS FIRST.log SECOND.log AIRFLOW_DB

CACHE_DIR/runs/ must hold exactly two run reports (the cache keeps one per `mlops pipeline run`):
the first executed every step, the second none (every step `cached`, same keys and outputs);
both record the trigger `schedule:<DS>T00:00:00+00:00`; each Airflow log carries its own
run's id (the task printed that report); and the task's XCom in AIRFLOW_DB (Airflow's SQLite
database; `airflow dags test` replaces the earlier run of the same logical date) is the second
run's whole report, as JSON. Standard library only. Exits 1 with one plain line on stderr at the first failed assertion; prints one summary
line on success.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

STEPS = {"prepare", "train", "evaluate"}


class CheckFailed(Exception):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


def xcom_values(db: str) -> list:
    """The `return_value` XComs of mlops_retrain.pipeline_run, decoded."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT value FROM xcom WHERE dag_id = 'mlops_retrain' "
            "AND task_id = 'pipeline_run' AND key = 'return_value'").fetchall()
    finally:
        con.close()
    out = []
    for (raw,) in rows:
        v = json.loads(raw)
        # BashOperator pushes the report's one line as a string; the column holds it as JSON.
        out.append(json.loads(v) if isinstance(v, str) else v)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    cache, ds, logs = Path(argv[1]), argv[2], [Path(argv[3]), Path(argv[4])]
    db = argv[5]
    try:
        files = sorted((cache / "runs").glob("*.json"))
        check(len(files) == 2, f"{cache}/runs holds {len(files)} run reports, expected 2")
        runs = sorted((json.loads(f.read_text(encoding="utf-8")) for f in files),
                      key=lambda r: r["started_at"])
        want_trigger = {"kind": "schedule", "interval": f"{ds}T00:00:00+00:00"}
        for i, (run, log) in enumerate(zip(runs, logs), 1):
            check(run.get("trigger") == want_trigger,
                  f"run {i}: trigger {run.get('trigger')}, expected {want_trigger}")
            names = {s["name"] for s in run["steps"]}
            check(names == STEPS, f"run {i}: steps {sorted(names)}, expected {sorted(STEPS)}")
            text = log.read_text(encoding="utf-8", errors="replace")
            check(run["run_id"] in text,
                  f"{log} does not mention run {run['run_id']}: that run was not this task's")
        first, second = runs
        for s in first["steps"]:
            check(s["status"] == "ran",
                  f"first dags test: step {s['name']} is {s['status']!r}, not 'ran'")
        by_name = {s["name"]: s for s in first["steps"]}
        for s in second["steps"]:
            check(s["status"] == "cached",
                  f"second dags test: step {s['name']} is {s['status']!r}, not 'cached' "
                  f"({s.get('reason', '')})")
            check(s["key"] == by_name[s["name"]]["key"]
                  and s["outputs"] == by_name[s["name"]]["outputs"],
                  f"second dags test: step {s['name']}'s key or outputs changed")
        xcoms = xcom_values(db)
        check(len(xcoms) == 1, f"{db}: {len(xcoms)} return_value XComs of mlops_retrain."
                               "pipeline_run, expected 1 (the second dags test's)")
        report = xcoms[0]
        check(isinstance(report, dict) and report.get("run_id") == second["run_id"],
              f"the task's XCom is not the second run's report: {str(report)[:200]!r}")
        check([s["status"] for s in report["steps"]] == [s["status"] for s in second["steps"]],
              "the XCom's step statuses differ from the cached run report's")
        auc = by_name["train"]["metrics"].get("holdout_roc_auc", 0.0)
        diff = by_name["evaluate"]["metrics"].get("onnx_max_abs_diff", float("nan"))
    except CheckFailed as e:
        print(f"airflow check failed: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError, sqlite3.Error) as e:
        print(f"airflow check failed: unreadable run report ({e!r})", file=sys.stderr)
        return 1
    print(f"dags test {ds}: 3 steps ran (holdout roc_auc {auc:.4f}, onnx vs lightgbm "
          f"{diff:.2g}); second dags test: 0 ran, 3 cached")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
