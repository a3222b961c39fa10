"""Benchmarks of the Python side, each next to a baseline measured in the same run (ratios, not absolutes).

    PYTHONPATH=airflow .venv/bin/python -m fraud_training.bench [--model functions/score/model]

- generator: rows/s of transaction_stream vs json.dumps of the same rows (baseline);
- inference: ONNX Runtime (1 thread) vs scikit-learn predict_proba on the same rows, per row and per batch.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .card import read_card
from .data import encode_rows
from .onnx_export import _session
from .synthetic import generate_transactions
from .train import train_model


def _per_second(count: int, work) -> float:
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


def _median_ms(work, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return float(np.median(samples) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "--model", default="functions/score/model", help="folder with model.onnx + model-card.json"
    )
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()

    rows: list = []
    gen = _per_second(args.rows, lambda: rows.extend(generate_transactions(seed=42, count=args.rows)))
    dumps = _per_second(args.rows, lambda: [json.dumps(r) for r in rows])
    print(
        f"generator      {gen:12,.0f} rows/s   baseline json.dumps {dumps:12,.0f} rows/s   ratio {gen / dumps:.2f}x"
    )

    card = read_card(args.model)
    X = encode_rows(rows, card["features"])
    y = np.array([r["is_fraud"] for r in rows])
    model, _ = train_model(X, y)  # a same-shaped sklearn model as the baseline (same trees and depth)
    session = _session(Path(args.model) / "model.onnx")
    one = X[:1]
    batch = X[:256]
    onnx_row = _median_ms(lambda: session.run(["probabilities"], {"input": one}), 500)
    sk_row = _median_ms(lambda: model.predict_proba(one), 200)
    onnx_batch = _median_ms(lambda: session.run(["probabilities"], {"input": batch}), 200)
    sk_batch = _median_ms(lambda: model.predict_proba(batch), 100)
    print(
        f"onnx 1 row     {onnx_row:8.4f} ms      baseline sklearn {sk_row:8.4f} ms   speed-up {sk_row / onnx_row:.1f}x"
    )
    print(
        f"onnx 256 rows  {onnx_batch:8.4f} ms ({256 / onnx_batch * 1000:,.0f} rows/s)   baseline sklearn "
        f"{sk_batch:8.4f} ms   speed-up {sk_batch / onnx_batch:.1f}x"
    )


if __name__ == "__main__":
    main()
