"""The baseline from the original design: FastAPI + scikit-learn behind uvicorn (one worker), a pydantic
request model, predict_proba per request. The sklearn model is a GradientBoostingClassifier with the
bundled card's training params, fitted on rows of the project's synthetic generator (same features, same
encoding, same tree count and depth as the ONNX model the scorer serves).

    PYTHONPATH=airflow MODEL_DIR=functions/score/model PORT=8000 python fastapi_app.py
"""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import uvicorn
from fastapi import FastAPI
from pydantic import create_model
from sklearn.ensemble import GradientBoostingClassifier

from fraud_training.synthetic import generate_transactions

card = json.loads((Path(os.environ["MODEL_DIR"]) / "model-card.json").read_text())
features = card["features"]


def encode(row: dict) -> list[float]:
    out = []
    for f in features:
        v = row[f["name"]]
        out.append(float(v) if f["type"] != "category" else float(f["categories"].index(v)))
    return out


cache = Path(os.environ.get("SKLEARN_CACHE", "/tmp")) / f"fastapi-baseline-{card['onnx']['sha256'][:12]}.pkl"
if cache.exists():
    model = pickle.loads(cache.read_bytes())
else:
    rows = generate_transactions(seed=42, count=20_000)
    X = np.array([encode(r) for r in rows], dtype=np.float32)
    y = np.array([r["is_fraud"] for r in rows])
    model = GradientBoostingClassifier(**card["training"]["params"]).fit(X, y)
    cache.write_bytes(pickle.dumps(model))

python_type = {"number": float, "integer": int, "boolean": bool, "category": str}
Transaction = create_model(
    "Transaction",
    transaction_id=(str | None, None),
    card_id=(str | None, None),
    timestamp=(str | None, None),
    **{f["name"]: (python_type[f["type"]], ...) for f in features},
)
app = FastAPI()


@app.post("/score")
def score(tx: Transaction) -> dict:
    p = float(model.predict_proba(np.array([encode(tx.model_dump())], dtype=np.float32))[0, 1])
    return {
        "transaction_id": tx.transaction_id,
        "card_id": tx.card_id,
        "fraud_probability": p,
        "decision": "fraud" if p >= card["threshold"] else "legit",
        "threshold": card["threshold"],
        "model": {"name": card["name"], "version": card["version"], "sha256": card["onnx"]["sha256"]},
    }


@app.get("/health")
def health() -> dict:
    return {"ok": True}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), workers=1, log_level="warning")
