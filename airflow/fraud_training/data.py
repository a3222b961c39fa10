"""Loading and validating training data: a CSV with a configurable label, or the synthetic generator."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .schema import REPO_ROOT, encode_value, load_generator_spec, schema_dir, schema_features
from .synthetic import generate_transactions

SYNTHETIC_LABEL = "is_fraud"


class DataError(ValueError):
    """Training data that cannot be used; the message names the file, the column and what is wrong."""


@dataclass
class Dataset:
    X: np.ndarray  # float32 [rows, features]
    y: np.ndarray  # int64 [rows], 1 = fraud
    features: list[dict[str, Any]]  # model-card feature entries, in column order of X
    label: str
    source: dict[str, Any]  # model-card `dataset` fields known at load time
    notes: list[str] = field(default_factory=list)  # what loading decided on its own (e.g. dropped columns)

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.features]


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _split_names(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    names = value.split(",") if isinstance(value, str) else list(value)
    return [n.strip() for n in names if n.strip()]


def _is_unnamed(column: str) -> bool:
    # pandas names a column with an empty header "Unnamed: <position>"; that is a written-out row index.
    return column.startswith("Unnamed: ")


def _labels(series: pd.Series, label: str, path: str) -> np.ndarray:
    if series.isna().any():
        first = int(np.flatnonzero(series.isna().to_numpy())[0]) + 1
        raise DataError(f"{path}: label column '{label}' has missing values (first at data row {first})")
    numeric = pd.to_numeric(series, errors="coerce")
    if numeric.isna().any() or not np.all(np.isin(numeric.to_numpy(), [0, 1])):
        found = sorted({str(v) for v in series.unique()[:10]})
        raise DataError(
            f"{path}: label column '{label}' must hold 0 (legit) and 1 (fraud); found values {found}"
        )
    y = numeric.to_numpy().astype(np.int64)
    classes = np.unique(y)
    if len(classes) < 2:
        raise DataError(
            f"{path}: label column '{label}' has a single class ({int(classes[0])}); training needs both 0 and 1"
        )
    return y


def _feature_column(series: pd.Series, name: str, path: str) -> np.ndarray:
    numeric = pd.to_numeric(series, errors="coerce")
    bad = numeric.isna() & series.notna()
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{path}: feature column '{name}' is not numeric (data row {first + 1} holds {series.iloc[first]!r}); "
            "drop it with --drop or encode it as numbers"
        )
    values = numeric.to_numpy(dtype=np.float64)
    missing = ~np.isfinite(values)
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"{path}: feature column '{name}' has {int(missing.sum())} missing, NaN or infinite value(s) "
            f"(first at data row {first + 1})"
        )
    with np.errstate(over="ignore"):  # overflow is reported below, by name
        as_float32 = values.astype(np.float32)
    if not np.all(np.isfinite(as_float32)):
        raise DataError(
            f"{path}: feature column '{name}' has values beyond the float32 range the model takes"
        )
    return as_float32


def load_csv(
    path: str | Path,
    label: str,
    features: str | list[str] | None = None,
    drop: str | list[str] | None = None,
) -> Dataset:
    """Reads a CSV: `label` is the 0/1 target; features are `features` or else every other column not dropped.

    Columns with an empty header (pandas' "Unnamed: N", a saved row index) are dropped unless listed in
    `features`. Every feature must be numeric and finite in every row.
    """
    path_text = str(path)
    file = Path(path)
    if not file.is_file():
        raise DataError(f"data file not found: {path_text}")
    if file.stat().st_size == 0:
        raise DataError(f"{path_text}: the file is empty")
    try:
        frame = pd.read_csv(file, low_memory=False)
    except pd.errors.EmptyDataError as err:
        raise DataError(f"{path_text}: the file is empty") from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"{path_text}: not a readable CSV ({err})") from err
    if len(frame) == 0:
        raise DataError(f"{path_text}: the file has a header but no data rows")
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if label not in columns:
        raise DataError(f"{path_text}: label column '{label}' not found; columns are: {', '.join(columns)}")

    wanted = _split_names(features)
    dropped = _split_names(drop)
    unknown = [n for n in wanted + dropped if n not in columns]
    if unknown:
        raise DataError(
            f"{path_text}: unknown column(s) {', '.join(unknown)}; columns are: {', '.join(columns)}"
        )
    if label in wanted:
        raise DataError(f"{path_text}: the label column '{label}' cannot also be a feature")
    notes: list[str] = []
    if wanted:
        names = wanted
    else:
        unnamed = [c for c in columns if _is_unnamed(c) and c not in dropped]
        if unnamed:
            notes.append(f"dropped column(s) with an empty header (a saved row index): {', '.join(unnamed)}")
        names = [c for c in columns if c != label and c not in dropped and c not in unnamed]
    if not names:
        raise DataError(
            f"{path_text}: no feature columns left after dropping {', '.join(dropped) or 'nothing'}"
        )

    y = _labels(frame[label], label, path_text)
    X = np.column_stack([_feature_column(frame[n], n, path_text) for n in names]).astype(np.float32)
    feature_entries = [
        {"name": n, "type": "number", "minimum": float(X[:, i].min()), "maximum": float(X[:, i].max())}
        for i, n in enumerate(names)
    ]
    source = {"source": "csv", "path": path_text, "sha256": sha256_file(file), "rows": int(len(y))}
    return Dataset(X=X, y=y, features=feature_entries, label=label, source=source, notes=notes)


def encode_rows(rows: list[dict[str, Any]], features: list[dict[str, Any]]) -> np.ndarray:
    """Transactions -> float32 matrix, columns in `features` order (the schema's x-feature encoding)."""
    X = np.empty((len(rows), len(features)), dtype=np.float32)
    for j, feature in enumerate(features):
        name = feature["name"]
        X[:, j] = [encode_value(row[name], feature) for row in rows]
    return X


def synthetic_dataset(seed: int = 42, rows: int = 100_000, fraud_ratio: float | None = None) -> Dataset:
    """Rows from the project's generator, encoded per the transaction schema's x-feature annotations."""
    if rows < 100:
        raise DataError(f"--rows must be at least 100 for a stratified holdout, got {rows}")
    generated = generate_transactions(seed=seed, count=rows, fraud_ratio=fraud_ratio)
    features = schema_features()
    X = encode_rows(generated, features)
    y = np.fromiter((r[SYNTHETIC_LABEL] for r in generated), dtype=np.int64, count=len(generated))
    if len(np.unique(y)) < 2:
        raise DataError(f"synthetic data with seed {seed}, {rows} rows has a single class; raise --rows")
    # The data is defined by the generator spec plus seed and count; hash the rows themselves so any
    # change to the generator shows up in the card.
    digest = hashlib.sha256()
    for r in generated:
        digest.update(json.dumps(r, separators=(",", ":")).encode())
        digest.update(b"\n")
    generator_path = schema_dir() / "generator.json"
    try:
        shown = str(generator_path.relative_to(REPO_ROOT))
    except ValueError:
        shown = str(generator_path)
    source = {
        "source": "synthetic",
        "path": shown,
        "sha256": digest.hexdigest(),
        "rows": rows,
        "seed": seed,
        "fraud_ratio": fraud_ratio if fraud_ratio is not None else load_generator_spec()["fraud_ratio"],
    }
    return Dataset(X=X, y=y, features=features, label=SYNTHETIC_LABEL, source=source)
