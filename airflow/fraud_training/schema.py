"""The shared contract files: the transaction JSON Schema and the generator spec (packages/transactions/schema)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

# airflow/fraud_training/schema.py -> repository root is two folders up from this package.
REPO_ROOT = Path(__file__).resolve().parents[2]


def schema_dir() -> Path:
    """FRAUD_SCHEMA_DIR lets an installed copy (e.g. an Airflow image) point at the schema files."""
    override = os.environ.get("FRAUD_SCHEMA_DIR")
    return Path(override) if override else REPO_ROOT / "packages" / "transactions" / "schema"


@cache
def load_transaction_schema() -> dict[str, Any]:
    return json.loads((schema_dir() / "transaction.schema.json").read_text())


@cache
def load_generator_spec() -> dict[str, Any]:
    return json.loads((schema_dir() / "generator.json").read_text())


def schema_features() -> list[dict[str, Any]]:
    """Model features in schema order, shaped as model-card `features` entries (type, bounds, categories)."""
    features: list[dict[str, Any]] = []
    for name, prop in load_transaction_schema()["properties"].items():
        kind = prop.get("x-feature")
        if kind is None:
            continue
        entry: dict[str, Any] = {"name": name, "type": kind}
        if kind == "number":
            entry["minimum"] = prop["minimum"]
            entry["maximum"] = prop["maximum"]
            if prop.get("type") == "integer":
                entry["integer"] = True
        elif kind == "category":
            entry["categories"] = list(prop["enum"])
        elif kind != "boolean":
            raise ValueError(f"schema property {name}: unknown x-feature {kind!r}")
        features.append(entry)
    return features


def encode_value(value: Any, feature: dict[str, Any]) -> float:
    """One raw transaction value as the model sees it: number as is, boolean 0/1, category its index."""
    kind = feature["type"]
    if kind == "boolean":
        return 1.0 if value else 0.0
    if kind == "category":
        return float(feature["categories"].index(value))
    return float(value)
