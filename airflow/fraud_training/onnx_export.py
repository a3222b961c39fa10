"""ONNX export (skl2onnx, zipmap off), ONNX-vs-scikit-learn parity, and ONNX Runtime latency."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType

INPUT_NAME = "input"
OPSET = 17
OPSET_ML = 3
PARITY_TOLERANCE = 1e-4


class ParityError(RuntimeError):
    """The exported ONNX model does not reproduce scikit-learn's probabilities closely enough."""


def export_onnx(model: Any, n_features: int, path: str | Path) -> dict[str, Any]:
    """Writes model.onnx: one float32 input `input` [N, F], outputs `label` (int64) and `probabilities` (float32)."""
    onx = to_onnx(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        options={"zipmap": False},
        target_opset={"": OPSET, "ai.onnx.ml": OPSET_ML},
    )
    outputs = [o.name for o in onx.graph.output]
    if outputs != ["label", "probabilities"]:
        raise RuntimeError(f"unexpected ONNX outputs {outputs}; the scorer needs ['label', 'probabilities']")
    # skl2onnx collects opsets in a set, so their order follows Python's per-process string hashing; sort them
    # so the same model always serialises to the same bytes (and the bundled model's sha256 reproduces).
    opset_list = sorted(onx.opset_import, key=lambda o: o.domain)
    copies = [onnx.helper.make_opsetid(o.domain, o.version) for o in opset_list]
    del onx.opset_import[:]
    onx.opset_import.extend(copies)
    onnx.checker.check_model(onx)
    Path(path).write_bytes(onx.SerializeToString())
    opsets = {o.domain or "": o.version for o in onx.opset_import}
    return {"opset": opsets.get("", OPSET), "target_opset_ml": opsets.get("ai.onnx.ml", OPSET_ML)}


def _session(model_path: str | Path, threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def onnx_fraud_probability(model_path: str | Path, X: np.ndarray) -> np.ndarray:
    """Column 1 of `probabilities` (float32, as the scorer sees it)."""
    session = _session(model_path)
    input_name = session.get_inputs()[0].name
    probabilities = session.run(["probabilities"], {input_name: np.asarray(X, dtype=np.float32)})[0]
    return probabilities[:, 1]


def check_parity(
    model: Any, model_path: str | Path, X: np.ndarray, tolerance: float = PARITY_TOLERANCE
) -> dict[str, Any]:
    """Max |P_sklearn(fraud) - P_onnx(fraud)| over X; raises ParityError above `tolerance`."""
    expected = model.predict_proba(np.asarray(X, dtype=np.float32))[:, 1]
    actual = onnx_fraud_probability(model_path, X).astype(np.float64)
    diff = float(np.max(np.abs(expected - actual))) if len(X) else 0.0
    result = {"max_abs_diff": diff, "rows": int(len(X)), "tolerance": tolerance, "passed": diff < tolerance}
    if not result["passed"]:
        worst = int(np.argmax(np.abs(expected - actual)))
        raise ParityError(
            f"ONNX and scikit-learn disagree: max |diff| {diff:.3g} >= {tolerance} (holdout row {worst}: "
            f"sklearn {expected[worst]:.6f}, onnx {actual[worst]:.6f})"
        )
    return result


def _percentiles_ms(samples: list[float]) -> dict[str, float]:
    values = np.array(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 4),
        "p95_ms": round(float(np.percentile(values, 95)), 4),
    }


def measure_latency(
    model_path: str | Path, X: np.ndarray, batch_size: int = 256, rounds: int = 200
) -> dict[str, Any]:
    """ONNX Runtime latency on one thread: single rows, and batches of `batch_size` (with rows/s)."""
    session = _session(model_path)
    X = np.asarray(X, dtype=np.float32)
    if len(X) == 0:
        raise ValueError("measure_latency needs at least one row")
    single: list[float] = []
    for i in range(rounds):
        row = X[i % len(X) : i % len(X) + 1]
        start = time.perf_counter()
        session.run(["probabilities"], {INPUT_NAME: row})
        single.append(time.perf_counter() - start)
    batch = np.resize(X, (batch_size, X.shape[1]))
    batched: list[float] = []
    for _ in range(max(rounds // 4, 10)):
        start = time.perf_counter()
        session.run(["probabilities"], {INPUT_NAME: batch})
        batched.append(time.perf_counter() - start)
    batch_stats = _percentiles_ms(batched)
    batch_stats["rows_per_s"] = round(batch_size / (batch_stats["p50_ms"] / 1000))
    return {"threads": 1, "per_row": _percentiles_ms(single), f"batch_{batch_size}": batch_stats}
