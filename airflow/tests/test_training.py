"""The trainer on synthetic data, on the shared creditcard sample, and on bad input."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import onnx
import pandas as pd
import pytest
from conftest import AIRFLOW_DIR, BUNDLED_MODEL_DIR, REPO_ROOT, TEST_VECTORS_DIR
from fraud_training.card import REQUIRED_KEYS, library_versions, read_card
from fraud_training.data import DataError, encode_rows, load_csv, synthetic_dataset
from fraud_training.evaluate import SCORE_BUCKETS, evaluate_onnx, split_holdout
from fraud_training.onnx_export import (
    ParityError,
    check_parity,
    export_onnx,
    measure_latency,
    onnx_fraud_probability,
)
from fraud_training.schema import schema_features
from fraud_training.train import DEFAULT_SEED, main, train_model

FORMAT_CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def synthetic_model(tmp_path_factory):
    """The documented default run (`npm run train -- --out DIR`: synthetic, seed 42), trained once."""
    out = tmp_path_factory.mktemp("synthetic-model")
    assert main(["--out", str(out)]) == 0
    return out, read_card(out)


@pytest.fixture(scope="session")
def creditcard_model(tmp_path_factory, creditcard_sample):
    out = tmp_path_factory.mktemp("creditcard-model")
    assert (
        main(["--data", str(creditcard_sample), "--label", "Class", "--out", str(out), "--no-latency"]) == 0
    )
    return out, read_card(out)


CARD_SCHEMA = json.loads(
    (REPO_ROOT / "packages" / "transactions" / "schema" / "model-card.schema.json").read_text()
)


def assert_card_consistent(out: Path, card: dict) -> None:
    jsonschema.validate(card, CARD_SCHEMA, cls=jsonschema.Draft202012Validator, format_checker=FORMAT_CHECKER)
    assert set(REQUIRED_KEYS) <= set(card)
    assert card["schema_version"] == 1 and card["name"] == "fraud-detector"
    assert card["onnx"]["sha256"] == sha256(out / "model.onnx")
    model = onnx.load(out / "model.onnx")
    [graph_input] = model.graph.input
    dims = graph_input.type.tensor_type.shape.dim
    assert graph_input.name == card["input"]["name"] == "input"
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert dims[1].dim_value == len(card["features"]) == card["input"]["shape"][1]
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    opsets = {o.domain or "": o.version for o in model.opset_import}
    assert card["onnx"]["opset"] == opsets[""] and card["onnx"]["target_opset_ml"] == opsets["ai.onnx.ml"]
    assert card["parity"]["passed"] and card["parity"]["max_abs_diff"] < 1e-4 == card["parity"]["tolerance"]
    assert card["parity"]["rows"] == card["dataset"]["holdout_rows"]
    d = card["dataset"]
    assert d["train_rows"] + d["holdout_rows"] == d["rows"]
    base = card["baseline"]
    assert base["score_buckets"] == SCORE_BUCKETS
    cdf = base["score_cumulative_fraction"]
    assert len(cdf) == len(SCORE_BUCKETS) and cdf == sorted(cdf) and cdf[-1] == 1.0
    assert card["libraries"] == library_versions()
    m = card["metrics"]
    for key in [
        "roc_auc",
        "pr_auc",
        "recall_at_90_precision",
        "precision_at_threshold",
        "recall_at_threshold",
    ]:
        assert 0 <= m[key] <= 1, key
    assert 0 < card["threshold"] < 1


def test_synthetic_model_metrics_are_sane(synthetic_model):
    _, card = synthetic_model
    m = card["metrics"]
    assert m["roc_auc"] > 0.98 and m["pr_auc"] > 0.85 and m["recall_at_90_precision"] > 0.6
    assert card["threshold_rule"] == "max recall at precision >= 0.90"
    assert m["precision_at_threshold"] >= 0.9
    assert m["recall_at_threshold"] == pytest.approx(m["recall_at_90_precision"])
    assert abs(m["holdout_prevalence"] - 0.02) < 0.005


def test_synthetic_card_matches_the_onnx_file_and_schema(synthetic_model):
    out, card = synthetic_model
    assert_card_consistent(out, card)
    assert card["features"] == schema_features()
    assert card["label"]["column"] == "is_fraud"
    d = card["dataset"]
    assert d["source"] == "synthetic" and d["seed"] == DEFAULT_SEED and d["rows"] == 100_000
    assert card["training"]["seed"] == DEFAULT_SEED
    lat = card["latency"]
    assert lat["per_row"]["p50_ms"] > 0 and lat["batch_256"]["rows_per_s"] > 0
    # Small enough to ship inside the function image.
    assert (out / "model.onnx").stat().st_size < 300 * 1024


def test_decisions_follow_the_card_threshold_on_the_holdout(synthetic_model):
    out, card = synthetic_model
    data = synthetic_dataset(seed=DEFAULT_SEED, rows=card["dataset"]["rows"])
    _, X_hold, _, y_hold = split_holdout(data.X, data.y, DEFAULT_SEED)
    scores = onnx_fraud_probability(out / "model.onnx", X_hold)
    flagged = scores >= card["threshold"]
    assert flagged.mean() == pytest.approx(card["baseline"]["fraud_rate_at_threshold"], abs=1e-6)
    assert y_hold[flagged].mean() == pytest.approx(card["metrics"]["precision_at_threshold"])
    # evaluate_onnx (the DAG's champion check) reproduces the card from the same holdout.
    again = evaluate_onnx(str(out / "model.onnx"), X_hold, y_hold, threshold=card["threshold"])
    assert again["metrics"] == pytest.approx(card["metrics"])


def test_onnx_scores_the_shared_test_vector_rows(synthetic_model):
    """Rows written by the TypeScript generator, encoded in Python, score like their labels say."""
    out, card = synthetic_model
    rows = [
        json.loads(line) for line in (TEST_VECTORS_DIR / "seed-7-fraud-0.5.jsonl").read_text().splitlines()
    ]
    scores = onnx_fraud_probability(out / "model.onnx", encode_rows(rows, card["features"]))
    labels = np.array([r["is_fraud"] for r in rows])
    assert scores[labels == 1].mean() > 0.7 > 0.1 > scores[labels == 0].mean()


def test_bundled_model_is_reproduced_by_the_documented_command(synthetic_model):
    """functions/score/model was written by `npm run train -- --out functions/score/model` (seed 42)."""
    out, card = synthetic_model
    bundled = read_card(BUNDLED_MODEL_DIR)
    assert bundled["version"] == "bundled"
    assert bundled["onnx"]["sha256"] == sha256(BUNDLED_MODEL_DIR / "model.onnx")
    assert_card_consistent(BUNDLED_MODEL_DIR, bundled)
    # Bit for bit with the pinned libraries; the card says which versions made it.
    assert bundled["libraries"] == card["libraries"]
    assert bundled["onnx"]["sha256"] == card["onnx"]["sha256"]
    assert bundled["dataset"]["sha256"] == card["dataset"]["sha256"]
    assert bundled["threshold"] == card["threshold"]


def test_creditcard_sample_trains_with_the_index_column_dropped(creditcard_model, creditcard_sample):
    out, card = creditcard_model
    assert_card_consistent(out, card)
    frame = pd.read_csv(creditcard_sample)
    expected = [c for c in frame.columns if c not in ("Class",) and not c.startswith("Unnamed")]
    assert [f["name"] for f in card["features"]] == expected
    assert len(expected) == 30
    for f in card["features"]:
        assert f["type"] == "number"
        assert f["minimum"] == pytest.approx(frame[f["name"]].min(), rel=1e-6)
        assert f["maximum"] == pytest.approx(frame[f["name"]].max(), rel=1e-6)
    d = card["dataset"]
    assert d["source"] == "csv" and d["sha256"] == sha256(creditcard_sample)
    assert d["rows"] == len(frame) and d["positives"] == int(frame["Class"].sum())
    assert card["label"]["column"] == "Class"
    m = card["metrics"]
    assert m["roc_auc"] > 0.95 and m["pr_auc"] > 0.9
    assert abs(m["holdout_prevalence"] - frame["Class"].mean()) < 0.01


def test_parity_failure_is_reported(tmp_path):
    data = synthetic_dataset(seed=1, rows=3000)
    model, _ = train_model(data.X, data.y, seed=1)
    export_onnx(model, data.X.shape[1], tmp_path / "model.onnx")
    assert check_parity(model, tmp_path / "model.onnx", data.X)["passed"]
    # A model trained on flipped labels cannot match this ONNX file.
    other, _ = train_model(data.X, 1 - data.y, seed=1)
    with pytest.raises(ParityError, match="ONNX and scikit-learn disagree"):
        check_parity(other, tmp_path / "model.onnx", data.X)


def test_latency_measurement_reports_percentiles(synthetic_model):
    out, _ = synthetic_model
    X = np.zeros((10, 9), dtype=np.float32)
    lat = measure_latency(out / "model.onnx", X, batch_size=32, rounds=20)
    assert 0 < lat["per_row"]["p50_ms"] <= lat["per_row"]["p95_ms"]
    assert lat["batch_32"]["rows_per_s"] > 0


# --- bad input: a clear message on stderr, exit status 1, nothing written -----------------------------------


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD_ROWS = "".join(f"{i},{i % 7}.5,{i % 2}\n" for i in range(40))


@pytest.mark.parametrize(
    ("csv", "args", "message"),
    [
        ("a,b,label\n" + GOOD_ROWS, ["--label", "Class"], "label column 'Class' not found; columns are: a, b, label"),
        ("a,b,label\n" + GOOD_ROWS + "x,1.0,0\n", ["--label", "label"], "feature column 'a' is not numeric"),
        ("a,b,label\n" + "".join(f"{i},1.0,0\n" for i in range(40)), ["--label", "label"], "has a single class (0)"),
        ("", ["--label", "label"], "the file is empty"),
        ("a,b,label\n", ["--label", "label"], "has a header but no data rows"),
        ("a,b,label\n" + GOOD_ROWS, ["--label", "label", "--features", "a,zz"], "unknown column(s) zz"),
        ("a,b,label\n" + GOOD_ROWS, ["--label", "label", "--drop", "qq"], "unknown column(s) qq"),
        ("a,b,label\n" + GOOD_ROWS + "3,,1\n", ["--label", "label"], "feature column 'b' has 1 missing, NaN"),
        ("a,b,label\n" + GOOD_ROWS + "3,nan,1\n", ["--label", "label"], "feature column 'b' has 1 missing, NaN"),
        ("a,b,label\n" + GOOD_ROWS + "3,inf,1\n", ["--label", "label"], "feature column 'b' has 1 missing, NaN"),
        ("a,b,label\n" + GOOD_ROWS + "3,1e300,1\n", ["--label", "label"], "beyond the float32 range"),
        ("a,b,label\n" + GOOD_ROWS + "3,1.0,2\n", ["--label", "label"], "must hold 0 (legit) and 1 (fraud)"),
        ("a,b,label\n" + GOOD_ROWS + "3,1.0,\n", ["--label", "label"], "label column 'label' has missing values"),
        ("a,b,label\n" + GOOD_ROWS, ["--label", "label", "--features", "label"], "cannot also be a feature"),
        ("a,label\n1,0\n2,1\n3,0\n", ["--label", "label"], "need at least 4 rows of each class"),
        ("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20)), ["--label", "label", "--drop", "a"], "no feature columns left"),
    ],
    ids=[
        "missing-label", "non-numeric", "single-class", "empty-file", "header-only", "unknown-features",
        "unknown-drop", "empty-cell", "nan", "inf", "float32-overflow", "non-binary-label", "missing-label-value",
        "label-as-feature", "too-few-rows", "nothing-left",
    ],
)  # fmt: skip
def test_bad_csv_gives_clear_error_and_exit_1(tmp_path, capsys, csv, args, message):
    data = write(tmp_path, csv)
    out = tmp_path / "out"
    assert main(["--data", str(data), *args, "--out", str(out), "--no-latency"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    assert not (out / "model.onnx").exists() and not (out / "model-card.json").exists()


def test_missing_file_is_named(tmp_path, capsys):
    assert main(["--data", str(tmp_path / "nope.csv"), "--label", "y", "--out", str(tmp_path)]) == 1
    assert f"data file not found: {tmp_path / 'nope.csv'}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "x.csv"], "--data needs --label"),
        (["--label", "Class"], "apply to --data only"),
        (["--holdout", "1.5"], "--holdout must be between 0 and 1"),
        (["--seed", "-4"], "--seed must be in"),
        (["--rows", "10"], "--rows must be at least 100"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, capsys, args, message):
    try:
        code = main([*args, "--out", str(tmp_path / "out")])
    except SystemExit as exit_:  # argparse errors exit 2
        code = exit_.code
    assert code in (1, 2)
    assert message in capsys.readouterr().err


def test_cli_entry_point_exits_non_zero_with_the_message(tmp_path):
    """The real `python -m fraud_training.train` process, as npm run train and the DAG run it."""
    data = write(tmp_path, "a,label\n1,0\n")
    env = {**os.environ, "PYTHONPATH": str(AIRFLOW_DIR)}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "fraud_training.train",
            "--data",
            str(data),
            "--label",
            "label",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert run.returncode == 1
    assert "error: " in run.stderr and "single class" in run.stderr


def test_load_csv_never_crashes_on_arbitrary_text(tmp_path):
    """Fuzz: whatever bytes a CSV holds, loading either succeeds or raises DataError (never anything else)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    cell = st.one_of(
        st.integers(-5, 5).map(str), st.sampled_from(["", "nan", "x", "1e999", "0.5", '"', "inf"])
    )
    line = st.lists(cell, min_size=1, max_size=4).map(",".join)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(line, min_size=0, max_size=12), st.sampled_from(["label", "a", "1"]))
    def check(lines, label):
        path = tmp_path / "fuzz.csv"
        path.write_text("\n".join(["a,b,label", *lines]))
        try:
            data = load_csv(path, label)
        except DataError:
            return
        assert data.X.dtype == np.float32 and np.isfinite(data.X).all()
        assert set(np.unique(data.y)) == {0, 1}

    check()


def test_unwritable_out_is_an_error_not_a_crash(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["--rows", "2000", "--no-latency", "--out", str(blocker / "model")]) == 1
    assert f"error: cannot write the model to {blocker / 'model'}" in capsys.readouterr().err
