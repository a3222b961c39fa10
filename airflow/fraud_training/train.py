"""Train, evaluate, export and describe a fraud model.

    python -m fraud_training.train [--data file.csv --label Class] [--features a,b] [--drop c] --out DIR

Without --data it trains on the synthetic generator (seed 42). Writes DIR/model.onnx and DIR/model-card.json
only when every check passed (parity included); on bad input it prints `error: ...` and exits 1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier

from .card import CARD_FILE, ONNX_FILE, build_card, write_card
from .data import DataError, Dataset, load_csv, synthetic_dataset
from .evaluate import evaluate_scores, split_holdout
from .onnx_export import ParityError, check_parity, export_onnx, measure_latency, onnx_fraud_probability

DEFAULT_SEED = 42
DEFAULT_SYNTHETIC_ROWS = 100_000


def model_params(seed: int) -> dict[str, Any]:
    # Small and shallow on purpose: the scorer runs it at tens of thousands of rows/s (100 trees of depth 3).
    # subsample=1.0 keeps training a pure function of (data, seed), so the bundled model reproduces.
    return {
        "n_estimators": 100,
        "max_depth": 3,
        "learning_rate": 0.1,
        "subsample": 1.0,
        "min_samples_leaf": 20,
        "random_state": seed,
    }


def train_model(X: np.ndarray, y: np.ndarray, seed: int = DEFAULT_SEED) -> tuple[Any, dict[str, Any]]:
    """Fits on float32 features (the ONNX input type), so split thresholds fall between float32 values.

    GradientBoostingClassifier rather than HistGradientBoosting: skl2onnx 1.20 cannot convert the latter with
    onnx 1.23 (a numpy bool in an int attribute), and exact-split trees give ONNX parity around 1e-6.
    """
    params = model_params(seed)
    model = GradientBoostingClassifier(**params)
    model.fit(np.asarray(X, dtype=np.float32), y)
    return model, {"algorithm": type(model).__name__, "params": params, "seed": seed}


def run_training(
    dataset: Dataset,
    out_dir: str | Path,
    *,
    seed: int = DEFAULT_SEED,
    model_version: str = "bundled",
    holdout_fraction: float = 0.25,
    measure: bool = True,
) -> dict[str, Any]:
    """The whole pipeline on a loaded dataset; returns the card. The Airflow DAG calls this (or its parts)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    X_train, X_hold, y_train, y_hold = split_holdout(dataset.X, dataset.y, seed, holdout_fraction)
    started = time.perf_counter()
    model, training = train_model(X_train, y_train, seed)
    training["fit_seconds"] = round(time.perf_counter() - started, 3)

    # Export into a temp file first: a failed parity check must not leave a half-valid model in `out`.
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        tmp_onnx = Path(tmp) / ONNX_FILE
        onnx_info = export_onnx(model, dataset.X.shape[1], tmp_onnx)
        parity = check_parity(model, tmp_onnx, X_hold)
        # Metrics and threshold come from the ONNX scores: exactly what the scorer will compute.
        evaluation = evaluate_scores(y_hold, onnx_fraud_probability(tmp_onnx, X_hold))
        latency = measure_latency(tmp_onnx, X_hold) if measure else None
        final_onnx = out / ONNX_FILE
        tmp_onnx.replace(final_onnx)

    dataset_info = {
        **dataset.source,
        "train_rows": int(len(y_train)),
        "holdout_rows": int(len(y_hold)),
        "positives": int(dataset.y.sum()),
        "holdout_fraction": holdout_fraction,
        "split_seed": seed,
    }
    card = build_card(
        model_version=model_version,
        label=dataset.label,
        features=dataset.features,
        evaluation=evaluation,
        dataset=dataset_info,
        training=training,
        parity=parity,
        onnx_info=onnx_info,
        onnx_path=final_onnx,
        latency=latency,
    )
    write_card(card, out)
    return card


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="fraud-train", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", help="CSV file; omit to train on the synthetic generator")
    parser.add_argument("--label", help="label column (0 legit / 1 fraud); required with --data")
    parser.add_argument("--features", help="comma-separated feature columns (default: all others)")
    parser.add_argument(
        "--drop", help="comma-separated columns to leave out (empty-header columns are always dropped)"
    )
    parser.add_argument("--out", required=True, help="output folder for model.onnx and model-card.json")
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="generator, split and model seed (default 42)"
    )
    parser.add_argument(
        "--rows", type=int, default=DEFAULT_SYNTHETIC_ROWS, help="synthetic rows (default 100000)"
    )
    parser.add_argument("--fraud-ratio", type=float, help="synthetic fraud ratio (default: generator.json)")
    parser.add_argument("--model-version", default="bundled", help='card "version" (default "bundled")')
    parser.add_argument("--holdout", type=float, default=0.25, help="holdout fraction (default 0.25)")
    parser.add_argument("--no-latency", action="store_true", help="skip the ONNX latency measurement")
    args = parser.parse_args(argv)
    if args.data is None and (args.label or args.features or args.drop):
        parser.error("--label, --features and --drop apply to --data only")
    if args.data is not None and not args.label:
        parser.error("--data needs --label <column>")
    if not 0 < args.holdout < 1:
        parser.error(f"--holdout must be between 0 and 1, got {args.holdout}")
    if args.fraud_ratio is not None and not 0 < args.fraud_ratio < 1:
        parser.error(f"--fraud-ratio must be between 0 and 1, got {args.fraud_ratio}")
    if not 0 <= args.seed < 2**32:
        parser.error(f"--seed must be in [0, 2^32), got {args.seed}")
    return args


def _summary(card: dict[str, Any], out: Path, seconds: float) -> str:
    m = card["metrics"]
    d = card["dataset"]
    lines = [
        f"trained {card['training']['algorithm']} on {d['source']} data ({d['rows']} rows, {d['positives']} fraud) "
        f"in {seconds:.1f} s",
        f"holdout {d['holdout_rows']} rows, prevalence {m['holdout_prevalence']:.4f}: ROC-AUC {m['roc_auc']:.4f}  "
        f"PR-AUC {m['pr_auc']:.4f}  recall@90%prec {m['recall_at_90_precision']:.4f}",
        f"threshold {card['threshold']:.6f} ({card['threshold_rule']}): precision {m['precision_at_threshold']:.4f}  "
        f"recall {m['recall_at_threshold']:.4f}",
        f"parity: max |sklearn - onnx| = {card['parity']['max_abs_diff']:.2e} on {card['parity']['rows']} rows",
    ]
    if "latency" in card:
        lat = card["latency"]
        batch_key = next(k for k in lat if k.startswith("batch_"))
        lines.append(
            f"onnx latency (1 thread): row p50 {lat['per_row']['p50_ms']} ms p95 {lat['per_row']['p95_ms']} ms; "
            f"{batch_key} p50 {lat[batch_key]['p50_ms']} ms ({lat[batch_key]['rows_per_s']} rows/s)"
        )
    size = (out / ONNX_FILE).stat().st_size
    lines.append(
        f"wrote {out / ONNX_FILE} ({size / 1024:.0f} KiB, sha256 {card['onnx']['sha256'][:12]}) and {out / CARD_FILE}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        if args.data is not None:
            dataset = load_csv(args.data, args.label, args.features, args.drop)
        else:
            dataset = synthetic_dataset(seed=args.seed, rows=args.rows, fraud_ratio=args.fraud_ratio)
        for note in dataset.notes:
            print(f"note: {note}", file=sys.stderr)
        card = run_training(
            dataset,
            args.out,
            seed=args.seed,
            model_version=args.model_version,
            holdout_fraction=args.holdout,
            measure=not args.no_latency,
        )
    except (DataError, ParityError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # e.g. --out not writable, or the disk is full
        print(f"error: cannot write the model to {args.out}: {err}", file=sys.stderr)
        return 1
    print(_summary(card, Path(args.out), time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
