"""End to end: `airflow dags test fraud_retrain` for real, against a real MLflow server and the retrain-hook
rolling out on the real node with the real Knative Serving 1.15 (its controller makes every canary revision
and pod), a real Prometheus scraping the pods (dag_fixtures.hook_stack). The MLflow is the stack's, on the
node's bridge address, where the score pods download the versions the DAG registers.

One DAG run per scenario, in order: a first model promoted; a model trained on shuffled labels rejected
with reasons in MLflow tags; a good model whose canary serves errors rolled back; a better model promoted
over the champion; a model retrained on the archive (labelled production traffic holding a fraud pattern the
champion misses) promoted through its canary; a failing run reported to the hook.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from archive_db import ArchivePostgres, archive, spread
from dag_fixtures import (  # noqa: F401 — fixtures are used by name
    HOOK_SECRET,
    VENV_BIN,
    airflow_env,
    alias_version,
    hook_stack,
    mlflow_get,
    version_tags,
)
from fraud_training.synthetic import generate_transactions

TERMINAL = {"promoted", "rejected", "rolled_back"}


@pytest.fixture(scope="module")
def mlflow_server(hook_stack):
    """The stack's MLflow: the DAG logs and registers there, the score pods load models from there."""
    return hook_stack["mlflow_url"]


timings: dict[str, float] = {}


def run_dag(airflow_env, hook_stack, mlflow_server, conf: dict) -> subprocess.CompletedProcess:
    env = {
        **airflow_env,
        "MLFLOW_TRACKING_URI": mlflow_server,
        "FRAUD_RETRAIN_HOOK_URL": hook_stack["hook_url"],
        "FRAUD_RETRAIN_HOOK_SECRET": HOOK_SECRET,
        "FRAUD_RETRAIN_HOOK_ATTEMPTS": "3",
    }
    return subprocess.run(
        [str(VENV_BIN / "airflow"), "dags", "test", "fraud_retrain", "-c", json.dumps(conf)],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def latest_version(url: str) -> str:
    versions = mlflow_get(url, "model-versions/search?filter=name%3D%27fraud-detector%27")["model_versions"]
    return str(max(int(v["version"]) for v in versions))


def wait_decided(url: str, version: str, timeout: float = 420) -> dict[str, str]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        tags = version_tags(url, version)
        if tags.get("rollout.state") in TERMINAL:
            return tags
        time.sleep(0.5)
    pytest.fail(f"version {version} not decided within {timeout} s; tags {version_tags(url, version)}")


def score_service(hook_stack) -> dict:
    out = subprocess.run(
        ["kubectl", "--kubeconfig", hook_stack["kubeconfig"], "get", "services.serving.knative.dev", hook_stack["service"],
         "-n", hook_stack["namespace"], "-o", "json"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return json.loads(out.stdout)


def duration(tags: dict[str, str]) -> float:
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(tags["rollout.finished_at"]) - parse(tags["rollout.started_at"])).total_seconds()


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"airflow dags test failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"


def test_first_model_is_trained_logged_registered_and_promoted(airflow_env, hook_stack, mlflow_server):
    assert_ok(run_dag(airflow_env, hook_stack, mlflow_server, {"rows": 4000, "seed": 42}))
    version = latest_version(mlflow_server)
    assert version == "1"
    tags = wait_decided(mlflow_server, version)
    assert tags["gate.decision"] == "passed", tags
    assert tags["rollout.state"] == "promoted", tags
    timings["promote_first"] = duration(tags)
    assert alias_version(mlflow_server, "champion") == "1"
    assert alias_version(mlflow_server, "challenger") is None
    assert score_service(hook_stack)["spec"]["traffic"] == [{"latestRevision": False, "revisionName": "score-model-v1", "percent": 100}]
    # The artifact contract the scorer relies on (docs/DESIGN.md): files at the logged model's root.
    base = f"{mlflow_server}/model-versions/get-artifact?name=fraud-detector&version=1&path="
    with urllib.request.urlopen(base + "model-card.json") as r:
        card = json.load(r)
    with urllib.request.urlopen(base + "model.onnx") as r:
        onnx_bytes = r.read()
    assert card["version"] == "1"
    assert card["onnx"]["sha256"] == hashlib.sha256(onnx_bytes).hexdigest()
    with urllib.request.urlopen(base + "evaluation-report.json") as r:
        assert json.load(r)["champion"] is None


def test_model_on_shuffled_labels_is_rejected_with_reasons(airflow_env, hook_stack, mlflow_server):
    assert_ok(run_dag(airflow_env, hook_stack, mlflow_server, {"rows": 4000, "seed": 42, "shuffle_labels": True}))
    version = latest_version(mlflow_server)
    assert version == "2"
    tags = wait_decided(mlflow_server, version)
    assert tags["gate.decision"] == "rejected"
    assert tags["rollout.state"] == "rejected"
    reasons = json.loads(tags["gate.reasons"])
    assert any("pr_auc" in r and "below the minimum" in r for r in reasons), reasons
    assert any("against the champion" in r for r in reasons), reasons
    assert alias_version(mlflow_server, "champion") == "1"
    assert score_service(hook_stack)["spec"]["traffic"] == [{"latestRevision": False, "revisionName": "score-model-v1", "percent": 100}]


def test_canary_with_rising_errors_is_rolled_back(airflow_env, hook_stack, mlflow_server):
    # The stack makes version 3's canary answer 503 (CANARY_FAIL_VERSIONS=3: the sink refuses its decisions).
    assert_ok(run_dag(airflow_env, hook_stack, mlflow_server, {"rows": 4000, "seed": 42}))
    version = latest_version(mlflow_server)
    assert version == "3"
    tags = wait_decided(mlflow_server, version)
    assert tags["gate.decision"] == "passed", tags
    assert tags["rollout.state"] == "rolled_back", tags
    assert "canary error rate" in tags["rollout.reasons"]
    assert alias_version(mlflow_server, "champion") == "1"
    assert alias_version(mlflow_server, "challenger") is None
    assert score_service(hook_stack)["spec"]["traffic"] == [{"latestRevision": False, "revisionName": "score-model-v1", "percent": 100}]


def test_better_model_is_promoted_over_the_champion(airflow_env, hook_stack, mlflow_server):
    assert_ok(run_dag(airflow_env, hook_stack, mlflow_server, {"rows": 12000, "seed": 42}))
    version = latest_version(mlflow_server)
    assert version == "4"
    tags = wait_decided(mlflow_server, version)
    assert tags["rollout.state"] == "promoted", tags
    timings["promote_over_champion"] = duration(tags)
    run_id = mlflow_get(mlflow_server, f"model-versions/get?name=fraud-detector&version={version}")["model_version"]["run_id"]
    metrics = {m["key"]: m["value"] for m in mlflow_get(mlflow_server, f"runs/get?run_id={run_id}")["run"]["data"]["metrics"]}
    assert "champion_pr_auc" in metrics, "the champion was scored on the same holdout"
    assert metrics["pr_auc"] >= metrics["champion_pr_auc"] - 0.02
    assert alias_version(mlflow_server, "champion") == "4"
    assert score_service(hook_stack)["spec"]["traffic"] == [{"latestRevision": False, "revisionName": "score-model-v4", "percent": 100}]
    print(f"\ncallback -> 100 % traffic: {timings}")


def test_model_retrained_on_the_archive_passes_its_canary_and_serves(airflow_env, hook_stack, mlflow_server):
    """The learning loop's last leg on the real node: what the archive holds (older traffic, then a newest slice
    with bust_out, labelled) trains the candidate; the gate judges it against the champion on that out-of-time
    slice; the hook runs its canary on Knative (pods downloading it from MLflow, Prometheus judging them) and
    promotes it. The learning drill promotes in MLflow only (no Kubernetes there): this is its canary."""
    as_of = datetime.now(UTC).replace(microsecond=0)
    end = as_of - timedelta(days=7)  # label_maturity
    old = generate_transactions(seed=5, count=6000, fraud_ratio=0.04)
    new = generate_transactions(seed=6, count=3000, fraud_ratio=0.02) + generate_transactions(
        seed=7, count=300, pattern="bust_out", id_prefix="bo"
    )
    np.random.default_rng(0).shuffle(new)
    times = spread(len(old), end - timedelta(days=30), end - timedelta(days=10)) + spread(len(new), end - timedelta(days=10), end)
    pg = ArchivePostgres().start()
    try:
        archive(pg.dsn(), old + new, times)
        conf = {"source": "archive", "archive_conn": pg.dsn(), "as_of": as_of.isoformat(), "label_maturity": "7d", "seed": 42}
        assert_ok(run_dag(airflow_env, hook_stack, mlflow_server, conf))
    finally:
        pg.stop()
    version = latest_version(mlflow_server)
    assert version == "5"
    tags = wait_decided(mlflow_server, version)
    assert tags["gate.decision"] == "passed", tags
    assert tags["rollout.state"] == "promoted", tags
    timings["promote_from_archive"] = duration(tags)
    # Through a canary: the rollout waited for the revision and watched it for the observation window.
    assert tags["rollout.revision"] == "score-model-v5" and tags["rollout.previous_revision"] == "score-model-v4", tags
    run_id = mlflow_get(mlflow_server, f"model-versions/get?name=fraud-detector&version={version}")["model_version"]["run_id"]
    metrics = {m["key"]: m["value"] for m in mlflow_get(mlflow_server, f"runs/get?run_id={run_id}")["run"]["data"]["metrics"]}
    # The champion (v4, never trained on bust_out) was scored on the same newest slice, and lost on it.
    assert metrics["pr_auc"] > metrics["champion_pr_auc"] + 0.05, metrics
    base = f"{mlflow_server}/model-versions/get-artifact?name=fraud-detector&version={version}&path="
    with urllib.request.urlopen(base + "model-card.json") as r:
        dataset = json.load(r)["dataset"]
    assert dataset["source"] == "archive" and dataset["holdout_rows"] > 0, dataset
    assert alias_version(mlflow_server, "champion") == "5"
    assert alias_version(mlflow_server, "challenger") is None
    service = score_service(hook_stack)
    assert service["spec"]["traffic"] == [{"latestRevision": False, "revisionName": "score-model-v5", "percent": 100}]
    # Knative's own view: the revision that serves version 5 is ready and takes all of the traffic.
    assert service["status"]["latestReadyRevisionName"] == "score-model-v5", service["status"]
    assert [t["percent"] for t in service["status"]["traffic"] if t["revisionName"] == "score-model-v5"] == [100], service["status"]


def test_a_failing_run_notifies_the_hook(airflow_env, hook_stack, mlflow_server):
    before = time.time()
    result = run_dag(airflow_env, hook_stack, mlflow_server, {"source": "csv", "path": "/nonexistent/data.csv"})
    assert result.returncode != 0
    with urllib.request.urlopen(f"{hook_stack['hook_url']}/metrics") as r:
        metrics = r.read().decode()
    line = next(x for x in metrics.splitlines() if x.startswith("fraud_retrain_last_training_failure_timestamp_seconds "))
    assert float(line.split()[1]) >= before - 1
    assert latest_version(mlflow_server) == "5", "nothing registered"
