"""The steps of the fraud_retrain DAG as plain functions (testable without Airflow).

Each step reads and writes files in a per-run work dir and returns a small JSON-able dict (the XCom).
On Kubernetes the work dir must be a volume shared by the task pods (see airflow/helm/values.yaml).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from fraud_training.archive import ArchiveWindow, archive_dataset, parse_as_of, parse_duration
from fraud_training.card import CARD_FILE, MODEL_NAME, ONNX_FILE, build_card, read_card, write_card
from fraud_training.data import DataError, Dataset, load_csv, synthetic_dataset
from fraud_training.evaluate import TARGET_PRECISION, evaluate_onnx, evaluate_scores, split_holdout
from fraud_training.onnx_export import check_parity, export_onnx, measure_latency, onnx_fraud_probability
from fraud_training.train import train_model

PROFILE_FILE = "training-profile.json"
REPORT_FILE = "evaluation-report.json"
PROFILE_QUANTILES = [i / 10 for i in range(11)]
SOURCES = ("synthetic", "csv", "url", "sql", "archive")
HOLDOUT_FILE = "holdout.npy"  # written only for an out-of-time holdout (source=archive)


@dataclass
class RetrainConfig:
    """DAG params (docs in airflow/README.md, "Airflow DAG")."""

    source: str = "synthetic"  # synthetic | csv | url | sql | archive
    path: str = ""  # csv
    url: str = ""  # url (http/https CSV)
    sql_conn: str = ""  # SQLAlchemy URL for source=sql
    sql_table: str = ""
    label: str = "is_fraud"
    rows: int = 40_000  # synthetic
    seed: int = 42
    fraud_ratio: float | None = None  # synthetic; None = generator.json's
    shuffle_labels: bool = False  # drills: train a deliberately useless model to exercise the gate
    holdout_fraction: float = 0.25
    min_rows: int = 1_000
    min_fraud_ratio: float = 0.001
    max_fraud_ratio: float = 0.5
    max_feature_psi: float = 0.25
    # source=archive (fraud_training.archive): a connection string (default: env FRAUD_ARCHIVE_DSN, a Secret),
    # window_days of matured data ending label_maturity before as_of (RFC 3339; "" = now)
    archive_conn: str = ""
    window_days: float = 30.0
    label_maturity: str = "7d"
    as_of: str = ""

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RetrainConfig:
        known = {k: v for k, v in params.items() if k in cls.__dataclass_fields__}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(f"unknown DAG params: {', '.join(unknown)}")
        config = cls(**known)
        if config.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)} (got {config.source!r})")
        return config


# ---------------------------------------------------------------- extract


def _save_dataset(dataset: Dataset, work: Path) -> dict[str, Any]:
    np.savez(work / "dataset.npz", X=dataset.X, y=dataset.y)
    meta = {"features": dataset.features, "label": dataset.label, "source": dataset.source, "notes": dataset.notes}
    (work / "dataset.json").write_text(json.dumps(meta))
    return {"rows": int(len(dataset.y)), "positives": int(dataset.y.sum()), "source": dataset.source["source"]}


def split(config: RetrainConfig, work: Path, dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X_train, X_hold, y_train, y_hold: the extract's out-of-time holdout if it made one, else the seeded
    stratified split. train and evaluate both call this, so the champion is judged on the same slice."""
    mask_file = work / HOLDOUT_FILE
    if mask_file.exists():
        holdout = np.load(mask_file)
        return dataset.X[~holdout], dataset.X[holdout], dataset.y[~holdout], dataset.y[holdout]
    return split_holdout(dataset.X, dataset.y, config.seed, config.holdout_fraction)


def _archive_extract(config: RetrainConfig, work: Path) -> Dataset:
    conninfo = config.archive_conn or os.environ.get("FRAUD_ARCHIVE_DSN", "")
    if not conninfo:
        raise DataError("source=archive needs archive_conn or the FRAUD_ARCHIVE_DSN environment variable")
    if not config.window_days > 0:
        raise DataError(f"window_days must be > 0 (got {config.window_days})")
    window = ArchiveWindow.ending(
        parse_as_of(config.as_of),
        timedelta(days=config.window_days),
        parse_duration(config.label_maturity, "label_maturity"),
    )
    dataset, holdout = archive_dataset(conninfo, window, config.holdout_fraction)
    np.save(work / HOLDOUT_FILE, holdout)
    return dataset


def load_dataset(work: Path) -> Dataset:
    arrays = np.load(work / "dataset.npz")
    meta = json.loads((work / "dataset.json").read_text())
    return Dataset(X=arrays["X"], y=arrays["y"], features=meta["features"], label=meta["label"], source=meta["source"], notes=meta["notes"])


def extract(config: RetrainConfig, work: Path) -> dict[str, Any]:
    """Loads the training data from the configured source into the work dir."""
    work.mkdir(parents=True, exist_ok=True)
    (work / HOLDOUT_FILE).unlink(missing_ok=True)  # a retried task must not reuse an earlier extract's split
    if config.source == "archive":
        dataset = _archive_extract(config, work)
    elif config.source == "synthetic":
        dataset = synthetic_dataset(seed=config.seed, rows=config.rows, fraud_ratio=config.fraud_ratio)
    elif config.source == "csv":
        dataset = load_csv(config.path, config.label)
    elif config.source == "url":
        if urllib.parse.urlparse(config.url).scheme not in {"http", "https"}:
            raise DataError(f"url must be http(s): {config.url!r}")
        target = work / "download.csv"
        with urllib.request.urlopen(config.url, timeout=60) as response, target.open("wb") as out:  # noqa: S310
            shutil.copyfileobj(response, out)
        dataset = load_csv(target, config.label)
        dataset.source["path"] = config.url
    else:
        import pandas as pd
        import sqlalchemy

        if not config.sql_conn or not config.sql_table:
            raise DataError("source=sql needs sql_conn and sql_table")
        engine = sqlalchemy.create_engine(config.sql_conn)
        frame = pd.read_sql_table(config.sql_table, engine)
        target = work / "table.csv"
        frame.to_csv(target, index=False)
        dataset = load_csv(target, config.label)
        dataset.source["path"] = f"sql:{config.sql_table}"
    return _save_dataset(dataset, work)


# ---------------------------------------------------------------- validate


def _bins(edges: list[float], values: np.ndarray) -> np.ndarray:
    """Fraction of `values` in each bin split by the inner edges (below the 2nd edge, ..., above the last-but-one)."""
    inner = np.asarray(edges[1:-1], dtype=np.float64)
    counts = np.bincount(np.searchsorted(inner, values, side="right"), minlength=len(inner) + 1)
    return counts / max(len(values), 1)


def feature_profile(dataset: Dataset) -> dict[str, Any]:
    """Per feature: decile edges of the training data and the share of rows between them (discrete features
    collapse to fewer bins). Logged with every model; the next run measures drift against the champion's."""
    features = []
    for i, f in enumerate(dataset.features):
        column = dataset.X[:, i].astype(np.float64)
        edges = np.unique(np.quantile(column, PROFILE_QUANTILES)).tolist()
        features.append({"name": f["name"], "edges": edges, "fractions": _bins(edges, column).tolist()})
    return {"features": features, "rows": int(len(dataset.y)), "fraud_ratio": float(dataset.y.mean())}


def psi(reference: dict[str, Any], values: np.ndarray) -> float:
    """Population stability index of `values` against a profiled feature."""
    expected = np.clip(np.asarray(reference["fractions"]), 1e-4, None)
    actual = np.clip(_bins(reference["edges"], values.astype(np.float64)), 1e-4, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def validate(config: RetrainConfig, work: Path, champion_profile: dict[str, Any] | None) -> dict[str, Any]:
    """Schema, row count, class balance and drift against the champion's training data.

    Problems do not stop the run: they are reported (validation_passed=0) so the gate rejects the version
    with the reason in MLflow. Data that cannot be trained on at all already failed in extract.
    """
    dataset = load_dataset(work)
    problems: list[str] = []
    notes: list[str] = list(dataset.notes)
    rows = len(dataset.y)
    if rows < config.min_rows:
        problems.append(f"{rows} rows, fewer than the minimum {config.min_rows}")
    ratio = float(dataset.y.mean())
    if not config.min_fraud_ratio <= ratio <= config.max_fraud_ratio:
        problems.append(f"fraud ratio {ratio:.4f} outside [{config.min_fraud_ratio}, {config.max_fraud_ratio}]")
    if not np.isfinite(dataset.X).all():
        problems.append("non-finite feature values")
    drift: dict[str, float] = {}
    if champion_profile is None:
        notes.append("no champion training profile: drift not checked")
    else:
        names = [f["name"] for f in dataset.features]
        reference = champion_profile["features"]
        if names != [f["name"] for f in reference]:
            problems.append(f"features {names} differ from the champion's {[f['name'] for f in reference]}")
        else:
            for i, name in enumerate(names):
                drift[name] = round(psi(reference[i], dataset.X[:, i]), 4)
            drifted = {k: v for k, v in drift.items() if v > config.max_feature_psi}
            if drifted:
                problems.append(f"feature drift (PSI > {config.max_feature_psi}): {drifted}")
    report = {"passed": not problems, "problems": problems, "notes": notes, "rows": rows, "fraud_ratio": ratio, "psi": drift}
    (work / "validation.json").write_text(json.dumps(report, indent=2))
    (work / PROFILE_FILE).write_text(json.dumps(feature_profile(dataset)))
    return report


# ---------------------------------------------------------------- train, evaluate


def train(config: RetrainConfig, work: Path) -> dict[str, Any]:
    """Trains on the training split, exports ONNX, checks parity, measures latency and writes the card.

    The same steps as fraud_training.run_training, spelled out so that shuffle_labels can scramble the
    training labels only: the holdout keeps the true labels, so the useless model is measured honestly.
    """
    dataset = load_dataset(work)
    out = work / "model"
    out.mkdir(parents=True, exist_ok=True)
    X_train, X_hold, y_train, y_hold = split(config, work, dataset)
    if config.shuffle_labels:
        y_train = np.random.default_rng(config.seed).permutation(y_train)
    started = time.perf_counter()
    model, training = train_model(X_train, y_train, config.seed)
    training["fit_seconds"] = round(time.perf_counter() - started, 3)
    if config.shuffle_labels:
        training["note"] = "training labels shuffled on purpose (shuffle_labels=true)"
    onnx_path = out / ONNX_FILE
    onnx_info = export_onnx(model, dataset.X.shape[1], onnx_path)
    parity = check_parity(model, onnx_path, X_hold)  # raises ParityError: the task fails, the hook hears of it
    evaluation = evaluate_scores(y_hold, onnx_fraud_probability(onnx_path, X_hold))
    card = build_card(
        model_version="pending",
        label=dataset.label,
        features=dataset.features,
        evaluation=evaluation,
        dataset={**dataset.source, "train_rows": int(len(y_train)), "holdout_rows": int(len(y_hold)),
                 "positives": int(dataset.y.sum()), "holdout_fraction": config.holdout_fraction, "split_seed": config.seed},
        training=training,
        parity=parity,
        onnx_info=onnx_info,
        onnx_path=onnx_path,
        latency=measure_latency(onnx_path, X_hold),
    )  # fmt: skip
    write_card(card, out)
    return {"metrics": card["metrics"], "threshold": card["threshold"], "parity": parity["passed"]}


def evaluate(config: RetrainConfig, work: Path, champion_dir: Path | None) -> dict[str, Any]:
    """Candidate and champion scored on the same holdout (same data, same seed, same split)."""
    dataset = load_dataset(work)
    _, X_hold, _, y_hold = split(config, work, dataset)
    card = read_card(work / "model")
    report: dict[str, Any] = {
        "holdout_rows": int(len(y_hold)),
        "holdout": "out_of_time" if (work / HOLDOUT_FILE).exists() else "stratified_random",
        "target_precision": TARGET_PRECISION,
        "candidate": evaluate_onnx(str(work / "model" / ONNX_FILE), X_hold, y_hold, card["threshold"])["metrics"],
        "champion": None,
        "latency": card.get("latency"),
    }
    if champion_dir is not None:
        champion_card = read_card(champion_dir)
        if [f["name"] for f in champion_card["features"]] == [f["name"] for f in card["features"]]:
            champion = evaluate_onnx(str(champion_dir / ONNX_FILE), X_hold, y_hold, champion_card["threshold"])
            report["champion"] = {"version": champion_card.get("version"), **champion["metrics"]}
        else:
            report["champion_note"] = "champion has different features: not comparable on this holdout"
    (work / REPORT_FILE).write_text(json.dumps(report, indent=2))
    return report


def gate_metrics(report: dict[str, Any], validation: dict[str, Any], parity_passed: bool) -> dict[str, float]:
    """The run metrics the retrain-hook's gate reads (docs/DESIGN.md, "Gate inputs")."""
    metrics = {
        "pr_auc": report["candidate"]["pr_auc"],
        "roc_auc": report["candidate"]["roc_auc"],
        "recall_at_target_precision": report["candidate"]["recall_at_90_precision"],
        "parity_passed": 1.0 if parity_passed else 0.0,
        "validation_passed": 1.0 if validation["passed"] else 0.0,
    }
    latency = (report.get("latency") or {}).get("per_row", {}).get("p95_ms")
    if latency is not None:
        metrics["onnx_latency_p95_ms"] = float(latency)
    if report.get("champion"):
        metrics["champion_pr_auc"] = report["champion"]["pr_auc"]
        metrics["champion_recall_at_target_precision"] = report["champion"]["recall_at_90_precision"]
    return metrics


# ---------------------------------------------------------------- MLflow


def fetch_champion(tracking_uri: str, work: Path) -> Path | None:
    """Downloads the champion's files through the same route the scorer uses; None when there is no champion."""
    base = tracking_uri.rstrip("/")
    query = urllib.parse.urlencode({"name": MODEL_NAME, "alias": "champion"})
    try:
        with urllib.request.urlopen(f"{base}/api/2.0/mlflow/registered-models/alias?{query}", timeout=30) as r:  # noqa: S310
            version = json.load(r)["model_version"]["version"]
    except urllib.error.HTTPError as err:
        if err.code in (400, 404):
            return None
        raise
    target = work / "champion"
    target.mkdir(parents=True, exist_ok=True)
    for name in (ONNX_FILE, CARD_FILE, PROFILE_FILE):
        query = urllib.parse.urlencode({"name": MODEL_NAME, "version": version, "path": name})
        try:
            with urllib.request.urlopen(f"{base}/model-versions/get-artifact?{query}", timeout=60) as r:  # noqa: S310
                (target / name).write_bytes(r.read())
        except urllib.error.HTTPError as err:
            if name == PROFILE_FILE and err.code == 404:
                continue  # e.g. a champion registered by hand: no drift reference
            raise
    return target


def log_and_register(
    tracking_uri: str, work: Path, config: RetrainConfig, validation: dict[str, Any], report: dict[str, Any], context: dict[str, str]
) -> dict[str, Any]:
    """One MLflow run: params, gate metrics, the ONNX model (with a signature) and its card, report and
    training profile at the logged model's root; then registers it as a new version of fraud-detector."""
    from importlib.metadata import version as _version

    import mlflow
    import onnx
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("fraud-retrain")
    client = MlflowClient()
    card = read_card(work / "model")
    metrics = gate_metrics(report, validation, bool(card["parity"]["passed"]))
    dataset = load_dataset(work)
    sample = dataset.X[:5].astype(np.float32)
    with mlflow.start_run(run_name=context.get("dag_run_id")) as run:
        mlflow.log_params({k: v for k, v in vars(config).items() if v not in ("", None)})
        mlflow.log_params({"algorithm": card["training"]["algorithm"], "threshold": card["threshold"]})
        mlflow.log_metrics(metrics)
        mlflow.set_tags({f"airflow.{k}": v for k, v in context.items()})
        mlflow.log_artifact(str(work / "validation.json"))
        model_info = mlflow.onnx.log_model(
            onnx.load(str(work / "model" / ONNX_FILE)),
            name="model",
            signature=infer_signature(sample, np.zeros((len(sample), 2), dtype=np.float32)),
            save_as_external_data=False,
            # Pinned from the running environment; skips MLflow's slow requirement inference.
            pip_requirements=[f"onnx=={onnx.__version__}", f"onnxruntime=={_version('onnxruntime')}"],
        )
        # The card names its registry version; predict it, and correct it if someone registered meanwhile.
        try:
            existing = client.search_model_versions(f"name='{MODEL_NAME}'")
        except Exception:  # noqa: BLE001 — first run: the registered model does not exist yet
            existing = []
        predicted = str(max((int(v.version) for v in existing), default=0) + 1)
        card["version"] = predicted
        write_card(card, work / "model")
        for name in (work / "model" / CARD_FILE, work / REPORT_FILE, work / PROFILE_FILE):
            client.log_model_artifact(model_info.model_id, str(name))
        registered = mlflow.register_model(model_info.model_uri, MODEL_NAME)
        if str(registered.version) != predicted:
            card["version"] = str(registered.version)
            write_card(card, work / "model")
            client.log_model_artifact(model_info.model_id, str(work / "model" / CARD_FILE))
    return {"version": str(registered.version), "run_id": run.info.run_id, "metrics": metrics}


# ---------------------------------------------------------------- the retrain-hook


def sign(secret: str, timestamp: str, body: str) -> str:
    return "v1=" + hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def notify_hook(url: str, secret: str, event: dict[str, Any], attempts: int | None = None, base_delay: float = 1.0) -> dict[str, Any]:
    """POSTs a signed event; retries 429/5xx/connection errors with backoff (re-signing each time).

    429 means another version's rollout is in progress: the default 10 attempts wait up to ~8 minutes.
    """
    if attempts is None:
        attempts = int(os.environ.get("FRAUD_RETRAIN_HOOK_ATTEMPTS", "10"))
    event = {"event_id": str(uuid.uuid4()), **event}
    body = json.dumps(event, separators=(",", ":"))
    last: str = ""
    for attempt in range(attempts):
        timestamp = str(int(time.time()))
        request = urllib.request.Request(
            f"{url.rstrip('/')}/airflow/events",
            data=body.encode(),
            method="POST",
            headers={"content-type": "application/json", "x-fraud-timestamp": timestamp, "x-fraud-signature": sign(secret, timestamp, body)},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return {"status": response.status, **json.load(response)}
        except urllib.error.HTTPError as err:
            last = f"{err.code} {err.read().decode(errors='replace')[:300]}"
            if err.code != 429 and err.code < 500:
                raise RuntimeError(f"retrain-hook refused the event: {last}") from err
        except (urllib.error.URLError, OSError) as err:
            last = str(err)
        time.sleep(min(base_delay * 2**attempt, 60))
    raise RuntimeError(f"retrain-hook unreachable after {attempts} attempts: {last}")


def hook_settings() -> tuple[str, str]:
    url = os.environ.get("FRAUD_RETRAIN_HOOK_URL", "")
    secret = os.environ.get("FRAUD_RETRAIN_HOOK_SECRET", "")
    if not url or not secret:
        raise RuntimeError("FRAUD_RETRAIN_HOOK_URL and FRAUD_RETRAIN_HOOK_SECRET must be set (from a Secret)")
    return url, secret
