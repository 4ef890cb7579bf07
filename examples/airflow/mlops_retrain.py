"""Apache Airflow DAG: run an mlops-rs training pipeline once per data interval.

The task is idempotent per interval:
- the pipeline's inputs are the interval's partition (``data/<ds>/``), and every step is cached
  by the content digest of its inputs, its params, its version and the seed, so re-running an
  interval (a retry, ``airflow tasks clear``, a backfill) re-executes 0 steps when the data did
  not change and exactly the steps downstream of a changed file when it did;
- one run at a time per pipeline is enforced by the pipeline's own lock (a second run fails
  fast with "locked"), so ``max_active_runs=1`` is belt and braces;
- the trigger (``schedule:<interval>``) is recorded in the run's report, which the task also
  pushes as its XCom (one line of JSON), for a downstream task to read. (The gate and
  registration are not wired into ``mlops pipeline run`` yet: issue 12 is in progress.)

Checked under Airflow 3.3.2 by ``scripts/airflow.sh`` (``airflow dags test mlops_retrain
2026-12-01`` twice, on ``examples/airflow/pipeline.toml``: the first run executes every step, the
second 0). Set in the worker's environment:

``MLOPS_BIN``       the ``mlops`` binary (default ``mlops`` on PATH)
``MLOPS_PIPELINE``  the ``pipeline.toml`` (its ``${MLOPS_DATA_INTERVAL}`` is the run's ``ds``)
``MLOPS_STORE``     the registry (passed as ``--store``)
``MLOPS_CACHE``     the step cache directory
``MLOPS_RETRIES``   task retries (default 2; ``airflow dags test`` waits out the retry delay, so
                    tests set 0)

On Airflow 3 the default ``@daily`` timetable is a cron trigger: ``ds`` is the day the run is
for (its logical date), and ``data_interval_start`` equals it.
"""

from __future__ import annotations

import os
import shlex
from datetime import datetime, timedelta

from airflow import DAG

try:  # Airflow 3 (and 2.x with apache-airflow-providers-standard)
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2 without the standard provider
    from airflow.operators.bash import BashOperator

MLOPS_BIN = os.environ.get("MLOPS_BIN", "mlops")
PIPELINE = os.environ.get("MLOPS_PIPELINE", "/opt/mlops/pipeline.toml")
STORE = os.environ.get("MLOPS_STORE", "file:///var/lib/mlops/registry")
CACHE = os.environ.get("MLOPS_CACHE", "/var/lib/mlops/cache")
RETRIES = int(os.environ.get("MLOPS_RETRIES", "2"))

with DAG(
    dag_id="mlops_retrain",
    description="Retrain, gate and register a model for each day's data",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": RETRIES, "retry_delay": timedelta(minutes=5)},
    tags=["mlops-rs"],
) as dag:
    BashOperator(
        task_id="pipeline_run",
        # `--trigger` records the data interval in the lineage; `MLOPS_DATA_INTERVAL` is what
        # the pipeline's input paths refer to (`data/${MLOPS_DATA_INTERVAL}/…`). The report is
        # pretty-printed JSON; joining its lines keeps it valid JSON (strings carry no raw
        # newlines) and makes the whole report the task's XCom (BashOperator pushes the last
        # line). `pipefail`: a failed run fails the task.
        bash_command=(
            "set -o pipefail; "
            f"{shlex.quote(MLOPS_BIN)} pipeline run {shlex.quote(PIPELINE)} "
            f"--store {shlex.quote(STORE)} --cache {shlex.quote(CACHE)} "
            "--trigger schedule:{{ data_interval_start | ts }} --format json | tr -d '\\n'"
        ),
        env={"MLOPS_DATA_INTERVAL": "{{ ds }}"},
        append_env=True,
    )
