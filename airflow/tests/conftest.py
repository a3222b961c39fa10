"""Shared pytest setup for airflow/tests: makes `fraud_training` importable and locates shared data."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis keeps caches in ./.hypothesis by default; keep the checkout clean (CI clones are read-mostly).
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="fraud-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HYPOTHESIS_HOME, ignore_errors=True)


# No example database: it would litter the checkout with .hypothesis/ and make runs depend on earlier runs.
settings.register_profile("fraud", database=None, derandomize=True)
settings.load_profile("fraud")

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
