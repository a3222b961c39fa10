"""Shared pytest setup for airflow/tests: makes `fraud_training` importable and locates shared data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

AIRFLOW_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = AIRFLOW_DIR.parent
if str(AIRFLOW_DIR) not in sys.path:
    sys.path.insert(0, str(AIRFLOW_DIR))

# The shared datasets sit beside the checkout (CI copies shared/ next to the fresh clone).
SHARED_DIR = REPO_ROOT.parent / "shared"
CREDITCARD_SAMPLE = SHARED_DIR / "datasets" / "creditcard_sample.csv"
BUNDLED_MODEL_DIR = REPO_ROOT / "functions" / "score" / "model"
TEST_VECTORS_DIR = REPO_ROOT / "packages" / "transactions" / "test-vectors"


@pytest.fixture(scope="session")
def creditcard_sample() -> Path:
    if not CREDITCARD_SAMPLE.is_file():
        pytest.fail(
            f"missing {CREDITCARD_SAMPLE}: the shared creditcard sample must sit at <repo>/../shared/datasets/",
            pytrace=False,
        )
    return CREDITCARD_SAMPLE
