"""The DAG's extract with source=archive against a real PostgreSQL holding functions/archive's schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest
from archive_db import ArchivePostgres, archive, spread
from conftest import BUNDLED_MODEL_DIR
from dag_fixtures import DAGS_DIR  # noqa: F401  (puts airflow/dags on sys.path)
from fraud_training.card import read_card
from fraud_training.data import DataError
from fraud_training.evaluate import evaluate_onnx
from fraud_training.synthetic import generate_transactions

import retrain_steps as steps  # noqa: E402

AS_OF = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
MATURITY = timedelta(days=7)
END = AS_OF - MATURITY  # newest occurred_at that may be trained on (exclusive)


@pytest.fixture(scope="module")
def pg():
    server = ArchivePostgres().start()
    yield server
    server.stop()


@pytest.fixture
def db(pg):
    with psycopg.connect(pg.dsn()) as conn:
        conn.execute("TRUNCATE archive.transactions, archive.labels, archive.decisions, archive.label_history")
    return pg


def config(dsn: str, **kw) -> steps.RetrainConfig:
    return steps.RetrainConfig(source="archive", archive_conn=dsn, as_of=AS_OF.isoformat(), label_maturity="7d", **kw)


def test_window_ends_label_maturity_before_as_of_and_unlabelled_rows_count_as_legit(db, tmp_path):
    rows = generate_transactions(seed=3, count=2000, fraud_ratio=0.1)
    # 1800 rows inside the 30-day window, 100 too young for their labels to have matured, 100 too old.
    times = spread(1800, END - timedelta(days=30), END)
    times += spread(100, END, AS_OF)
    times += spread(100, END - timedelta(days=60), END - timedelta(days=30, seconds=1))
    archive(db.dsn(), rows, times)
    # A label whose transaction is not archived (yet) joins nothing.
    with psycopg.connect(db.dsn()) as conn:
        conn.execute(
            "INSERT INTO archive.labels VALUES ('tx-nowhere', 'card-0000001', true, 'analyst', %s)", (END - timedelta(days=1),)
        )
    work = tmp_path / "w"
    summary = steps.extract(config(db.dsn()), work)
    inside = rows[:1800]
    assert summary == {"rows": 1800, "positives": sum(r["is_fraud"] for r in inside), "source": "archive"}
    dataset = steps.load_dataset(work)
    assert dataset.source["window_start"] == (END - timedelta(days=30)).isoformat()
    assert dataset.source["window_end"] == END.isoformat()
    assert dataset.source["label_maturity_seconds"] == 7 * 86400
    assert 0 < dataset.source["labelled_rows"] < 1800  # legit coverage < 1
    # Oldest first, labels right: fraud where the generator said fraud, legit (labelled or not) elsewhere.
    np.testing.assert_array_equal(dataset.y, [r["is_fraud"] for r in inside])
    assert dataset.X[0, 0] == np.float32(inside[0]["amount"])


def test_the_holdout_is_the_newest_slice_and_the_champion_is_judged_on_it(db, tmp_path):
    # Older traffic of the known patterns; the newest days bring bust_out, which the bundled champion misses.
    old = generate_transactions(seed=5, count=6000, fraud_ratio=0.04)
    new = generate_transactions(seed=6, count=3000, fraud_ratio=0.02) + generate_transactions(
        seed=7, count=300, pattern="bust_out", id_prefix="bo"
    )
    np.random.default_rng(0).shuffle(new)
    times = spread(6000, END - timedelta(days=30), END - timedelta(days=10))
    times += spread(len(new), END - timedelta(days=10), END)
    archive(db.dsn(), old + new, times)
    work = tmp_path / "w"
    cfg = config(db.dsn(), holdout_fraction=0.25)
    steps.extract(cfg, work)
    dataset = steps.load_dataset(work)
    holdout = np.load(work / steps.HOLDOUT_FILE)
    n = len(dataset.y)
    assert int(holdout.sum()) == -(-n * 25 // 100) and holdout[-int(holdout.sum()) :].all()
    assert dataset.source["holdout"] == "out_of_time"

    steps.validate(cfg, work, None)
    steps.train(cfg, work)
    report = steps.evaluate(cfg, work, BUNDLED_MODEL_DIR)
    assert report["holdout"] == "out_of_time" and report["holdout_rows"] == int(holdout.sum())
    # The champion's figures are exactly those of the bundled model on the newest slice at its own threshold.
    champion = evaluate_onnx(
        str(BUNDLED_MODEL_DIR / "model.onnx"), dataset.X[holdout], dataset.y[holdout], read_card(BUNDLED_MODEL_DIR)["threshold"]
    )["metrics"]
    assert report["champion"]["recall_at_threshold"] == champion["recall_at_threshold"]
    assert report["champion"]["pr_auc"] == champion["pr_auc"]
    # Trained on the archive (which has bust_out labelled), the candidate beats the champion on that slice.
    assert report["candidate"]["pr_auc"] > report["champion"]["pr_auc"] + 0.05, report
    card = read_card(work / "model")
    assert card["dataset"]["source"] == "archive" and card["dataset"]["holdout_rows"] == int(holdout.sum())


def test_bad_archive_input_fails_extract_with_a_message_naming_it(db, tmp_path):
    with pytest.raises(DataError, match=r"no archived transactions with occurred_at in \[2026-10-26"):
        steps.extract(config(db.dsn()), tmp_path / "empty")
    rows = generate_transactions(seed=8, count=400, fraud_ratio=0.001)
    archive(db.dsn(), rows, spread(400, END - timedelta(days=20), END))
    with pytest.raises(DataError, match=r"training part of the archive window .* has \d fraud"):
        steps.extract(config(db.dsn()), tmp_path / "fewfraud")
    with psycopg.connect(db.dsn()) as conn:
        conn.execute(
            "UPDATE archive.transactions SET payload = payload - 'velocity_1h' WHERE transaction_id = %s",
            (rows[10]["transaction_id"],),
        )
    with pytest.raises(DataError, match=f"{rows[10]['transaction_id']}: payload lacks feature 'velocity_1h'"):
        steps.extract(config(db.dsn()), tmp_path / "nofeature")
    with pytest.raises(DataError, match="label_maturity must be a duration"):
        steps.extract(steps.RetrainConfig(source="archive", archive_conn=db.dsn(), label_maturity="a week"), tmp_path / "x")
    with pytest.raises(DataError, match="as_of must carry a time zone"):
        steps.extract(steps.RetrainConfig(source="archive", archive_conn=db.dsn(), as_of="2026-12-01T00:00:00"), tmp_path / "y")
    with pytest.raises(DataError, match="archive database unreachable"):
        steps.extract(config(f"postgresql://postgres@127.0.0.1:{db.port + 1}/fraud"), tmp_path / "down")
    with pytest.raises(DataError, match="archive schema missing"):
        steps.extract(config(db.dsn("postgres")), tmp_path / "noschema")


def test_archive_needs_a_connection(tmp_path, monkeypatch):
    monkeypatch.delenv("FRAUD_ARCHIVE_DSN", raising=False)
    with pytest.raises(DataError, match="needs archive_conn or the FRAUD_ARCHIVE_DSN"):
        steps.extract(steps.RetrainConfig(source="archive"), tmp_path / "w")
    assert steps.RetrainConfig.from_params({"source": "archive", "label_maturity": "36h"}).label_maturity == "36h"
