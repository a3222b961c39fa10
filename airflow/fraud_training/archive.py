"""Training data from the platform's own archive (PostgreSQL schema `archive`, CONTRACT in functions/archive).

archive.transactions ⟕ archive.labels on transaction_id, over a window of `occurred_at` that ends
`label_maturity` before `as_of`: a transaction younger than that may still get its label (chargebacks take
days), so it is never trained on. A matured transaction without a label counts as legit: legit spending is
rarely confirmed, fraud is reported. Features come from the archived payload (the transaction as received),
encoded as the transaction schema says. The newest `holdout_fraction` of the rows by `occurred_at` is the
out-of-time holdout: the model is judged on later traffic than it learnt from, as it will serve.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from .data import DataError, Dataset
from .schema import encode_value, schema_features

LABEL = "is_fraud"
MIN_PER_CLASS = 4  # each side of the split needs a few of each class for precision/recall to mean anything

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

QUERY = """
SELECT t.transaction_id, t.occurred_at, t.payload, l.is_fraud
FROM archive.transactions t
LEFT JOIN archive.labels l ON l.transaction_id = t.transaction_id
WHERE t.occurred_at >= %(start)s AND t.occurred_at < %(end)s
ORDER BY t.occurred_at, t.transaction_id
"""


def parse_duration(text: str | int | float, what: str) -> timedelta:
    """'7d', '36h', '90m', '45s' or a number of seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text).strip())
        if not match:
            raise DataError(f"{what} must be a duration like 7d, 36h, 90m or 45s (got {text!r})")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not math.isfinite(seconds) or seconds < 0:
        raise DataError(f"{what} must be a non-negative duration (got {text!r})")
    return timedelta(seconds=seconds)


def parse_as_of(text: str) -> datetime:
    """RFC 3339 time with a zone, or '' for now."""
    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"as_of must be an RFC 3339 time such as 2026-12-01T00:00:00Z (got {text!r})") from None
    if moment.tzinfo is None:
        raise DataError(f"as_of must carry a time zone, e.g. Z (got {text!r})")
    return moment


@dataclass
class ArchiveWindow:
    start: datetime
    end: datetime  # exclusive: as_of - label_maturity
    label_maturity: timedelta

    @classmethod
    def ending(cls, as_of: datetime, window: timedelta, label_maturity: timedelta) -> ArchiveWindow:
        if window <= timedelta(0):
            raise DataError("the window must be longer than 0")
        end = as_of - label_maturity
        return cls(start=end - window, end=end, label_maturity=label_maturity)


def _encode(rows: list[tuple[str, Any]], features: list[dict[str, Any]]) -> np.ndarray:
    X = np.empty((len(rows), len(features)), dtype=np.float32)
    for i, (transaction_id, payload) in enumerate(rows):
        if not isinstance(payload, dict):
            raise DataError(f"archive.transactions {transaction_id}: payload is not a JSON object")
        for j, feature in enumerate(features):
            name = feature["name"]
            if name not in payload:
                raise DataError(f"archive.transactions {transaction_id}: payload lacks feature {name!r}")
            try:
                value = encode_value(payload[name], feature)
            except (ValueError, TypeError):
                raise DataError(
                    f"archive.transactions {transaction_id}: {name}={payload[name]!r} is not a valid {feature['type']}"
                ) from None
            if not math.isfinite(value):
                raise DataError(f"archive.transactions {transaction_id}: {name} is not finite")
            X[i, j] = value
    return X


def archive_dataset(conninfo: str, window: ArchiveWindow, holdout_fraction: float) -> tuple[Dataset, np.ndarray]:
    """The window's matured, labelled rows (oldest first) and the out-of-time holdout mask (newest rows)."""
    import psycopg

    if not 0 < holdout_fraction < 1:
        raise DataError(f"holdout_fraction must be within (0, 1), got {holdout_fraction}")
    try:
        with psycopg.connect(conninfo, connect_timeout=15) as conn, conn.cursor() as cur:
            cur.execute(QUERY, {"start": window.start, "end": window.end})
            records = cur.fetchall()
    except psycopg.OperationalError as error:
        raise DataError(f"archive database unreachable: {str(error).strip()}") from error
    except psycopg.errors.UndefinedTable as error:
        raise DataError(f"archive schema missing (run functions/archive's migrations): {str(error).strip()}") from error
    span = f"[{window.start.isoformat()}, {window.end.isoformat()})"
    if not records:
        raise DataError(f"no archived transactions with occurred_at in {span}")
    features = schema_features()
    X = _encode([(r[0], r[2]) for r in records], features)
    y = np.fromiter((1 if r[3] else 0 for r in records), dtype=np.int64, count=len(records))
    n = len(records)
    n_hold = max(1, math.ceil(n * holdout_fraction))
    holdout = np.zeros(n, dtype=bool)
    holdout[n - n_hold :] = True
    for name, part in (("training part", ~holdout), ("out-of-time holdout", holdout)):
        frauds = int(y[part].sum())
        legit = int(part.sum()) - frauds
        if min(frauds, legit) < MIN_PER_CLASS:
            raise DataError(
                f"{name} of the archive window {span} has {frauds} fraud and {legit} legit rows; "
                f"need at least {MIN_PER_CLASS} of each (widen window_days or wait for labels)"
            )
    digest = hashlib.sha256()
    for transaction_id, occurred_at, _payload, is_fraud in records:
        digest.update(f"{transaction_id}\t{occurred_at.isoformat()}\t{int(bool(is_fraud))}\n".encode())
    labelled = sum(1 for r in records if r[3] is not None)
    source = {
        "source": "archive",
        "path": f"archive.transactions ⟕ archive.labels, occurred_at in {span}",
        "sha256": digest.hexdigest(),
        "rows": n,
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "label_maturity_seconds": window.label_maturity.total_seconds(),
        "labelled_rows": labelled,
        "holdout": "out_of_time",
        "holdout_from": records[n - n_hold][1].isoformat(),
    }
    notes = [
        f"{n - labelled} of {n} matured transactions have no label and count as legit",
        f"out-of-time holdout: the newest {n_hold} rows, occurred_at >= {source['holdout_from']}",
    ]
    return Dataset(X=X, y=y, features=features, label=LABEL, source=source, notes=notes), holdout
