"""The DAG's steps (airflow/dags/retrain_steps.py) one by one, and the DAG file itself."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
from dag_fixtures import AIRFLOW_DIR, DAGS_DIR, VENV_BIN  # first: puts airflow/dags on sys.path
from fraud_training.data import DataError

import retrain_steps as steps  # noqa: E402  (isort: keep after dag_fixtures)

ROWS = 3000


@pytest.fixture
def work(tmp_path):
    return tmp_path / "work"


def test_params_are_checked():
    with pytest.raises(ValueError, match="unknown DAG params: colour"):
        steps.RetrainConfig.from_params({"colour": "red"})
    with pytest.raises(ValueError, match="source must be"):
        steps.RetrainConfig.from_params({"source": "ftp"})
    assert steps.RetrainConfig.from_params({"rows": 500}).rows == 500


def test_extract_sources_and_their_errors(work, tmp_path):
    summary = steps.extract(steps.RetrainConfig(rows=ROWS), work)
    assert summary["rows"] == ROWS and 0 < summary["positives"] < ROWS
    with pytest.raises(DataError, match="data file not found: /nope.csv"):
        steps.extract(steps.RetrainConfig(source="csv", path="/nope.csv"), tmp_path / "w2")
    with pytest.raises(DataError, match="url must be http"):
        steps.extract(steps.RetrainConfig(source="url", url="file:///etc/passwd"), tmp_path / "w3")
    with pytest.raises(DataError, match="needs sql_conn and sql_table"):
        steps.extract(steps.RetrainConfig(source="sql"), tmp_path / "w4")


def test_extract_from_a_sql_table(work, tmp_path):
    import pandas as pd
    import sqlalchemy

    steps.extract(steps.RetrainConfig(rows=ROWS), work)
    dataset = steps.load_dataset(work)
    frame = pd.DataFrame(dataset.X, columns=[f["name"] for f in dataset.features])
    frame["is_fraud"] = dataset.y
    url = f"sqlite:///{tmp_path / 'tx.db'}"
    frame.to_sql("transactions", sqlalchemy.create_engine(url), index=False)
    summary = steps.extract(steps.RetrainConfig(source="sql", sql_conn=url, sql_table="transactions"), tmp_path / "sql")
    assert summary == {"rows": ROWS, "positives": int(dataset.y.sum()), "source": "csv"}
    np.testing.assert_array_equal(steps.load_dataset(tmp_path / "sql").y, dataset.y)


def test_validation_reports_size_balance_and_drift(work, tmp_path):
    config = steps.RetrainConfig(rows=ROWS)
    steps.extract(config, work)
    first = steps.validate(config, work, None)
    assert first["passed"] and "drift not checked" in " ".join(first["notes"])
    profile = json.loads((work / steps.PROFILE_FILE).read_text())
    same = steps.validate(config, work, profile)
    assert same["passed"] and max(same["psi"].values()) < 0.01

    strict = steps.RetrainConfig(rows=ROWS, min_rows=ROWS + 1, max_fraud_ratio=0.001)
    report = steps.validate(strict, work, None)
    assert not report["passed"]
    assert any("fewer than the minimum" in p for p in report["problems"])
    assert any("fraud ratio" in p for p in report["problems"])

    # Shift one feature: drift is found and named.
    shifted = steps.load_dataset(work)
    amount = [f["name"] for f in shifted.features].index("amount")
    shifted.X[:, amount] *= 5
    (tmp_path / "shifted").mkdir()
    steps._save_dataset(shifted, tmp_path / "shifted")
    drifted = steps.validate(config, tmp_path / "shifted", profile)
    assert not drifted["passed"]
    assert "amount" in drifted["problems"][0] and drifted["psi"]["amount"] > config.max_feature_psi


def test_shuffled_labels_train_a_worse_model_on_the_same_true_holdout(work, tmp_path):
    config = steps.RetrainConfig(rows=ROWS)
    steps.extract(config, work)
    good = steps.train(config, work)
    bad_work = tmp_path / "bad"
    bad = steps.RetrainConfig(rows=ROWS, shuffle_labels=True)
    steps.extract(bad, bad_work)
    worse = steps.train(bad, bad_work)
    assert good["parity"] and worse["parity"]
    assert worse["metrics"]["pr_auc"] < good["metrics"]["pr_auc"] - 0.3
    assert worse["metrics"]["holdout_prevalence"] == good["metrics"]["holdout_prevalence"]

    report = steps.evaluate(bad, bad_work, work / "model")
    assert report["champion"]["pr_auc"] == pytest.approx(good["metrics"]["pr_auc"])
    metrics = steps.gate_metrics(report, {"passed": True}, True)
    # The names the retrain-hook's gate reads (functions/retrain-hook/src/gate.ts, GATE_METRICS).
    assert {"pr_auc", "recall_at_target_precision", "onnx_latency_p95_ms", "parity_passed", "validation_passed",
            "champion_pr_auc", "champion_recall_at_target_precision"} <= set(metrics)  # fmt: skip
    assert metrics["champion_pr_auc"] > metrics["pr_auc"]


class _Hook(BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["content-length"])).decode()
        ts = self.headers["x-fraud-timestamp"]
        expected = "v1=" + hmac.new(b"secret-for-tests", f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
        status = _Hook.answers.pop(0) if _Hook.answers else 202
        if self.headers["x-fraud-signature"] != expected:
            status = 401
        _Hook.received.append({"status": status, "event": json.loads(body)})
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"status": status}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_receiver():
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.answers, _Hook.received = [], []
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_notify_signs_retries_busy_and_stops_on_refusal(fake_receiver):
    _Hook.answers = [429, 503]
    answer = steps.notify_hook(fake_receiver, "secret-for-tests", {"type": "training.failed", "dag_id": "d"}, attempts=3, base_delay=0.01)
    assert answer["status"] == 202
    assert [r["status"] for r in _Hook.received] == [429, 503, 202]
    assert len({r["event"]["event_id"] for r in _Hook.received}) == 1, "retries keep the event id (dedupe)"
    with pytest.raises(RuntimeError, match="refused the event: 401"):
        steps.notify_hook(fake_receiver, "wrong-secret", {"type": "training.failed", "dag_id": "d"}, attempts=3, base_delay=0.01)
    with pytest.raises(RuntimeError, match="unreachable after 2 attempts"):
        steps.notify_hook("http://127.0.0.1:1", "s", {"type": "x"}, attempts=2, base_delay=0.01)


def _parse_dag(tmp_path, dag_file, dag_id, schedule, task_fields="", expected_schedule=None):
    """Parses a DAG file with Airflow's DagBag in a fresh interpreter; returns its errors, tasks and schedule."""
    code = (
        "from airflow.models import DagBag; import json;"
        f"b = DagBag(dag_folder={str(dag_file)!r});"
        f"d = b.dags[{dag_id!r}];"
        "out = {'errors': {k: str(v) for k, v in b.import_errors.items()},"
        " 'tasks': sorted(t.task_id for t in d.tasks), 'schedule': str(d.schedule)};"
        f"{task_fields}"
        "print(json.dumps(out))"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "FRAUD_RETRAIN_SCHEDULE": schedule, "PYTHONPATH": f"{AIRFLOW_DIR}{os.pathsep}{DAGS_DIR}"}  # fmt: skip
    result = subprocess.run([str(VENV_BIN / "python"), "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    assert parsed["schedule"] == (expected_schedule or schedule)
    return parsed


def test_the_dag_parses_with_its_tasks_and_configurable_schedule(tmp_path):
    parsed = _parse_dag(tmp_path, DAGS_DIR, "fraud_retrain", "0 3 * * 1")
    assert parsed["tasks"] == ["evaluate", "extract", "fetch_champion", "notify", "register", "train", "validate"]


def test_schedule_none_leaves_only_triggered_runs(tmp_path):
    # The learning drill runs Airflow's scheduler: an @daily DAG would start a scheduled run beside the alert's.
    parsed = _parse_dag(tmp_path, DAGS_DIR, "fraud_retrain", "none", expected_schedule="None")
    assert "extract" in parsed["tasks"]


def test_the_kubernetes_pod_operator_variant_parses_and_runs_the_same_steps(tmp_path):
    # The Pod it renders is checked against a real apiserver by `npm run test:cluster`; here, the DAG itself.
    task_fields = (
        "t = d.get_task('retrain_in_training_image');"
        "out.update(operator=type(t).__name__, script=t.arguments[0], namespace=t.namespace);"
    )
    kpo = AIRFLOW_DIR / "k8s" / "fraud_retrain_kpo.py"
    parsed = _parse_dag(tmp_path, kpo, "fraud_retrain_kpo", "0 4 * * *", task_fields)
    assert parsed["tasks"] == ["retrain_in_training_image"]
    assert parsed["operator"] == "KubernetesPodOperator"
    assert parsed["namespace"] == "airflow"
    for step in ("s.extract(", "s.validate(", "s.train(", "s.evaluate(", "s.log_and_register(", "s.notify_hook("):
        assert step in parsed["script"]
        assert hasattr(steps, step[2:-1])
