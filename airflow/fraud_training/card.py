"""model-card.json (schema_version 1, docs/DESIGN.md): everything the scorer and the gate read about a model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from .data import sha256_file

MODEL_NAME = "fraud-detector"
CARD_FILE = "model-card.json"
ONNX_FILE = "model.onnx"
LIBRARIES = ["scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy"]

REQUIRED_KEYS = [
    "schema_version", "name", "version", "created_at", "task", "label", "input", "outputs", "features",
    "threshold", "threshold_rule", "metrics", "baseline", "dataset", "training", "parity", "onnx", "libraries",
]  # fmt: skip


def library_versions() -> dict[str, str]:
    return {name: version(name) for name in LIBRARIES}


def build_card(
    *,
    model_version: str,
    label: str,
    features: list[dict[str, Any]],
    evaluation: dict[str, Any],
    dataset: dict[str, Any],
    training: dict[str, Any],
    parity: dict[str, Any],
    onnx_info: dict[str, Any],
    onnx_path: str | Path,
    latency: dict[str, Any] | None = None,
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "schema_version": 1,
        "name": MODEL_NAME,
        "version": model_version,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "task": "binary-classification",
        "label": {"column": label, "positive_value": 1, "meaning": {"0": "legit", "1": "fraud"}},
        "input": {"name": "input", "dtype": "float32", "shape": [None, len(features)]},
        "outputs": {"label": "label", "probabilities": "probabilities", "positive_index": 1},
        "features": features,
        "threshold": evaluation["threshold"],
        "threshold_rule": evaluation["threshold_rule"],
        "metrics": evaluation["metrics"],
        "baseline": evaluation["baseline"],
        "dataset": dataset,
        "training": training,
        "parity": parity,
        "onnx": {"file": ONNX_FILE, "sha256": sha256_file(onnx_path), **onnx_info},
        "libraries": library_versions(),
    }
    if latency is not None:
        card["latency"] = latency
    return card


def write_card(card: dict[str, Any], out_dir: str | Path) -> Path:
    path = Path(out_dir) / CARD_FILE
    path.write_text(json.dumps(card, indent=2) + "\n")
    return path


def read_card(out_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(out_dir) / CARD_FILE).read_text())
