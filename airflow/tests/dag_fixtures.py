"""Fixtures for the DAG tests: the retrain-hook stack (with its real MLflow), and an Airflow home.

Imported by test_dag*.py / test_e2e*.py (kept out of conftest.py, which belongs to the training tests).
Each service is started for real and its absence fails the test with a message naming it.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_DIR = REPO_ROOT / "airflow"
DAGS_DIR = AIRFLOW_DIR / "dags"
VENV_BIN = Path(sys.executable).parent
HOOK_SECRET = secrets.token_hex(24)  # random per run: the stack and the DAG get it from here

for extra in (AIRFLOW_DIR, DAGS_DIR):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))


def _tool(name: str) -> str:
    path = VENV_BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the project venv (airflow/requirements.lock.txt, `npm run setup`) must provide {name}")
    return str(path)


@pytest.fixture(scope="module")
def hook_stack(tmp_path_factory):
    """The real node with real Knative Serving, MLflow on the node's address, Prometheus and the retrain-hook.

    functions/retrain-hook/scripts/e2e-stack.mts; it starts the node, so the caller holds
    /tmp/fraud-node-dev.lock. Version 3's canary is made to fail (its decisions are refused by the decision
    sink, so its pods answer 503), so the test can see a rollback. Its MLflow is the one the DAG logs to:
    the score pods must reach it, and they reach only the node's bridge address.
    """
    logdir = tmp_path_factory.mktemp("stack")
    env = {**os.environ, "AIRFLOW_HMAC_SECRET": HOOK_SECRET, "CANARY_FAIL_VERSIONS": "3"}
    err = (logdir / "stack.log").open("w")
    proc = subprocess.Popen(
        ["npx", "tsx", "functions/retrain-hook/scripts/e2e-stack.mts"],
        cwd=REPO_ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, start_new_session=True, text=True,
    )  # fmt: skip
    deadline = time.time() + 1800  # a node, Knative Serving and the first pod; images build first if missing
    line = ""
    while not line:
        ready, _, _ = select.select([proc.stdout], [], [], 5)
        if ready:
            line = proc.stdout.readline()
        if (not line and proc.poll() is not None) or time.time() > deadline:
            proc.kill()
            pytest.fail(f"retrain-hook stack did not start; log {logdir / 'stack.log'}:\n{(logdir / 'stack.log').read_text()[-3000:]}")
    info = json.loads(line)
    info["log"] = str(logdir / "stack.log")
    yield info
    proc.stdin.close()
    try:
        proc.wait(240)  # stopping the node undoes its host changes: let it finish
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    """An AIRFLOW_HOME in a temp dir with a migrated SQLite database and this repository's DAGs."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "FRAUD_WORK_DIR": str(home / "work"),
        "PYTHONPATH": os.pathsep.join([str(AIRFLOW_DIR), str(DAGS_DIR)]),
    }
    result = subprocess.run([_tool("airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return env


def mlflow_get(url: str, path: str) -> dict:
    with urllib.request.urlopen(f"{url}/api/2.0/mlflow/{path}", timeout=30) as r:
        return json.load(r)


def version_tags(url: str, version: str) -> dict[str, str]:
    mv = mlflow_get(url, f"model-versions/get?name=fraud-detector&version={version}")["model_version"]
    return {t["key"]: t["value"] for t in mv.get("tags", [])}


def alias_version(url: str, alias: str) -> str | None:
    try:
        return mlflow_get(url, f"registered-models/alias?name=fraud-detector&alias={alias}")["model_version"]["version"]
    except urllib.error.HTTPError:
        return None
