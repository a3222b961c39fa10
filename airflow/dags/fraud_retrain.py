"""fraud_retrain: retrain the fraud model, log and register it in MLflow, and hand it to the retrain-hook.

extract → fetch champion → validate → train (+ONNX, parity, latency) → evaluate vs champion → log/register
→ notify the hook (signed). Any task failure also notifies the hook (training.failed), so it can alert.
Configuration: DAG params (per run) and environment (per deployment); see airflow/README.md.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

# git-sync checks out the whole repository: make airflow/ (the fraud_training package) importable.
_AIRFLOW_DIR = Path(__file__).resolve().parents[1]
if str(_AIRFLOW_DIR) not in sys.path:
    sys.path.insert(0, str(_AIRFLOW_DIR))
_DAGS_DIR = Path(__file__).resolve().parent
if str(_DAGS_DIR) not in sys.path:
    sys.path.insert(0, str(_DAGS_DIR))

import retrain_steps as steps  # noqa: E402

DAG_ID = "fraud_retrain"


def _work_dir() -> Path:
    run_id = get_current_context()["run_id"]
    return Path(os.environ.get("FRAUD_WORK_DIR", "/tmp/fraud-retrain")) / re.sub(r"[^A-Za-z0-9._-]", "_", run_id)


def _schedule() -> str | None:
    """FRAUD_RETRAIN_SCHEDULE: a cron or preset (default @daily); "none": triggered runs only (alerts, REST API)."""
    value = os.environ.get("FRAUD_RETRAIN_SCHEDULE", "@daily")
    return None if value.strip().lower() == "none" else value


def _config() -> steps.RetrainConfig:
    return steps.RetrainConfig.from_params(dict(get_current_context()["params"]))


def _tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        raise RuntimeError("MLFLOW_TRACKING_URI must be set")
    return uri


def notify_failure(context: dict[str, Any]) -> None:
    """Task failure callback: tell the hook (it sets fraud_retrain_last_training_failure_timestamp_seconds)."""
    url, secret = os.environ.get("FRAUD_RETRAIN_HOOK_URL"), os.environ.get("FRAUD_RETRAIN_HOOK_SECRET")
    if not url or not secret:
        return
    ti = context.get("task_instance") or context.get("ti")
    error = context.get("exception")
    steps.notify_hook(
        url,
        secret,
        {
            "type": "training.failed",
            "dag_id": DAG_ID,
            "dag_run_id": str(context.get("run_id", "")),
            "task_id": getattr(ti, "task_id", "unknown"),
            "error": str(error)[:2000] if error else "task failed",
        },
        attempts=3,
    )


@dag(
    dag_id=DAG_ID,
    schedule=_schedule(),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["fraud", "mlops"],
    default_args={"retries": 0, "on_failure_callback": notify_failure, "execution_timeout": timedelta(hours=2)},
    params={
        # Scheduled runs use the defaults: FRAUD_RETRAIN_SOURCE=archive retrains daily on production data.
        "source": Param(os.environ.get("FRAUD_RETRAIN_SOURCE", "synthetic"), enum=list(steps.SOURCES)),
        "path": Param("", type="string"),
        "url": Param("", type="string"),
        "sql_conn": Param("", type="string"),
        "sql_table": Param("", type="string"),
        "label": Param("is_fraud", type="string"),
        "rows": Param(40_000, type="integer", minimum=100),
        "seed": Param(42, type="integer"),
        "shuffle_labels": Param(False, type="boolean"),
        "min_rows": Param(1_000, type="integer", minimum=1),
        "max_feature_psi": Param(0.25, type="number", minimum=0),
        "archive_conn": Param("", type="string"),
        "window_days": Param(30, type="number", exclusiveMinimum=0),
        "label_maturity": Param("7d", type="string", pattern=r"^\d+(\.\d+)?(s|m|h|d)$"),
        "as_of": Param("", type="string"),
    },
)
def fraud_retrain():
    @task
    def extract() -> dict[str, Any]:
        return steps.extract(_config(), _work_dir())

    @task
    def fetch_champion() -> str | None:
        champion = steps.fetch_champion(_tracking_uri(), _work_dir())
        return str(champion) if champion else None

    @task
    def validate(_extracted: dict[str, Any], champion: str | None) -> dict[str, Any]:
        import json

        profile_file = Path(champion) / steps.PROFILE_FILE if champion else None
        profile = json.loads(profile_file.read_text()) if profile_file and profile_file.exists() else None
        return steps.validate(_config(), _work_dir(), profile)

    @task
    def train(_validation: dict[str, Any]) -> dict[str, Any]:
        return steps.train(_config(), _work_dir())

    @task
    def evaluate(_trained: dict[str, Any], champion: str | None) -> dict[str, Any]:
        return steps.evaluate(_config(), _work_dir(), Path(champion) if champion else None)

    @task
    def register(validation: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
        context = get_current_context()
        return steps.log_and_register(
            _tracking_uri(), _work_dir(), _config(), validation, report, {"dag_id": DAG_ID, "dag_run_id": context["run_id"]}
        )

    @task
    def notify(registered: dict[str, Any]) -> dict[str, Any]:
        url, secret = steps.hook_settings()
        context = get_current_context()
        answer = steps.notify_hook(
            url,
            secret,
            {
                "type": "model_version.registered",
                "model_name": "fraud-detector",
                "version": registered["version"],
                "dag_id": DAG_ID,
                "dag_run_id": context["run_id"],
            },
        )
        return {"version": registered["version"], "hook": answer}

    extracted = extract()
    champion = fetch_champion()
    validation = validate(extracted, champion)
    report = evaluate(train(validation), champion)
    notify(register(validation, report))


fraud_retrain()
