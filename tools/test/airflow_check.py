"""Assertions of scripts/airflow.sh: two `airflow dags test mlops_retrain DS` of one interval.

  airflow_check.py CACHE_DIR DS FIRST.log SECOND.log

CACHE_DIR/runs/ must hold exactly two run reports (the cache keeps one per `mlops pipeline run`):
the first executed every step, the second none (every step `cached`, same keys and outputs);
both record the trigger `schedule:<DS>T00:00:00+00:00`; and each Airflow log carries its own
run's id (the task printed that report: it is the task's output and XCom). Standard library
only. Exits 1 with one plain line on stderr at the first failed assertion; prints one summary
line on success.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

STEPS = {"prepare", "train", "evaluate"}


class CheckFailed(Exception):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    cache, ds, logs = Path(argv[1]), argv[2], [Path(argv[3]), Path(argv[4])]
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
        auc = by_name["train"]["metrics"].get("holdout_roc_auc", 0.0)
        diff = by_name["evaluate"]["metrics"].get("onnx_max_abs_diff", float("nan"))
    except CheckFailed as e:
        print(f"airflow check failed: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError) as e:
        print(f"airflow check failed: unreadable run report ({e!r})", file=sys.stderr)
        return 1
    print(f"dags test {ds}: 3 steps ran (holdout roc_auc {auc:.4f}, onnx vs lightgbm "
          f"{diff:.2g}); second dags test: 0 ran, 3 cached")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
