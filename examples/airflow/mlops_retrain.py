"""Apache Airflow DAG: run an mlops-rs training pipeline once per data interval.

The task is idempotent per interval:
- the pipeline's inputs are the interval's partition (``data/<ds>/``), and every step is cached
  by the content digest of its inputs, its params, its version and the seed, so re-running an
  interval (a retry, ``airflow tasks clear``, a backfill) re-executes 0 steps when the data did
  not change and exactly the steps downstream of a changed file when it did;
- one run at a time per pipeline is enforced by the pipeline's own lock (a second run fails
  fast with "locked"), so ``max_active_runs=1`` is belt and braces;
- the trigger (``schedule:<interval>``) is recorded in the run's report. (The gate and
  registration are not wired into ``mlops pipeline run`` yet: issue 12 is in progress.)

Not yet run under Airflow (``airflow dags test mlops_retrain 2026-12-01`` is the intended check;
issue 12's note says where that stands). Set
``MLOPS_BIN``, ``MLOPS_PIPELINE``, ``MLOPS_STORE`` and ``MLOPS_CACHE`` in the worker's environment.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

MLOPS_BIN = os.environ.get("MLOPS_BIN", "mlops")
PIPELINE = os.environ.get("MLOPS_PIPELINE", "/opt/mlops/pipeline.toml")
STORE = os.environ.get("MLOPS_STORE", "file:///var/lib/mlops/registry")
CACHE = os.environ.get("MLOPS_CACHE", "/var/lib/mlops/cache")

with DAG(
    dag_id="mlops_retrain",
    description="Retrain, gate and register a model for each day's data",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["mlops-rs"],
) as dag:
    BashOperator(
        task_id="pipeline_run",
        # `--trigger` records the data interval in the lineage; `MLOPS_DATA_INTERVAL` is what
        # the pipeline's input paths refer to (`data/${MLOPS_DATA_INTERVAL}/…`).
        bash_command=(
            f"{MLOPS_BIN} pipeline run {PIPELINE} --store {STORE} --cache {CACHE} "
            "--trigger schedule:{{ data_interval_start | ts }} --format json"
        ),
        env={"MLOPS_DATA_INTERVAL": "{{ ds }}"},
        append_env=True,
    )
