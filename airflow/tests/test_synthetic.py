"""The Python generator reproduces the committed test vectors (also checked by the TypeScript suite)."""

from __future__ import annotations

import json
import math

import pytest
from conftest import TEST_VECTORS_DIR
from fraud_training.schema import encode_value, load_transaction_schema, schema_features
from fraud_training.synthetic import (
    Mulberry32,
    det_exp,
    generate_transactions,
    round_to,
    transaction_stream,
)
from hypothesis import given, settings
from hypothesis import strategies as st

VECTORS = json.loads((TEST_VECTORS_DIR / "vectors.json").read_text())["vectors"]


def _strict(value):
    """JSON value with its JSON type made explicit, so True never equals 1 and 3 never equals "3"."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", float(value))
    return (type(value).__name__, value)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["file"] for v in VECTORS])
def test_reproduces_test_vector_exactly(vector):
    expected = [json.loads(line) for line in (TEST_VECTORS_DIR / vector["file"]).read_text().splitlines()]
    assert len(expected) == vector["count"]
    rows = generate_transactions(
        seed=vector["seed"],
        count=vector["count"],
        fraud_ratio=vector.get("fraud_ratio"),
        pattern=vector.get("pattern"),
    )
    for i, (got, want) in enumerate(zip(rows, expected, strict=True)):
        assert list(got) == list(want), f"row {i}: field order differs"
        assert {k: _strict(v) for k, v in got.items()} == {k: _strict(v) for k, v in want.items()}, f"row {i}"


def test_stream_matches_generate():
    stream = transaction_stream(seed=42)
    assert [next(stream) for _ in range(300)] == generate_transactions(seed=42, count=300)


def test_fraud_ratio_within_four_standard_deviations():
    n, ratio = 20_000, 0.1
    rows = generate_transactions(seed=3, count=n, fraud_ratio=ratio)
    observed = sum(r["is_fraud"] for r in rows) / n
    assert abs(observed - ratio) < 4 * math.sqrt(ratio * (1 - ratio) / n)
    assert all((r["pattern"] == "legit") == (r["is_fraud"] == 0) for r in rows)


def test_bust_out_is_opt_in_and_generated_alone():
    spec_weights = json.loads((TEST_VECTORS_DIR.parent / "schema" / "generator.json").read_text())[
        "fraud_pattern_weights"
    ]
    assert "bust_out" not in spec_weights
    assert not any(r["pattern"] == "bust_out" for r in generate_transactions(seed=8, count=20_000, fraud_ratio=0.5))
    rows = generate_transactions(seed=11, count=2000, pattern="bust_out")
    assert all(r["pattern"] == "bust_out" and r["is_fraud"] == 1 for r in rows)
    assert sum(r["velocity_1h"] for r in rows) / len(rows) > 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pattern": "nope"}, "unknown pattern 'nope'"),
        ({"seed": -1}, "seed must be an integer"),
        ({"seed": 2**32}, "seed must be an integer"),
        ({"fraud_ratio": 1.5}, "fraud_ratio must be within"),
        ({"count": -1}, "count must be a non-negative integer"),
    ],
)
def test_bad_options_name_the_option(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_transactions(**{"seed": 1, "count": 1, **kwargs})


def test_schema_features_follow_the_schema_annotations():
    props = load_transaction_schema()["properties"]
    annotated = [(name, p["x-feature"]) for name, p in props.items() if "x-feature" in p]
    assert [(f["name"], f["type"]) for f in schema_features()] == annotated
    category = next(f for f in schema_features() if f["type"] == "category")
    assert category["categories"] == props["merchant_category"]["enum"]
    assert encode_value("fuel", category) == props["merchant_category"]["enum"].index("fuel")
    assert encode_value(True, {"type": "boolean"}) == 1.0


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-20, max_value=20, allow_nan=False))
def test_det_exp_close_to_libm_exp(x):
    assert abs(det_exp(x) - math.exp(x)) / math.exp(x) < 1e-14


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10_000_000))
def test_round_to_is_half_up(cents):
    x = cents / 100
    assert round_to(x, 2) == x
    assert round_to(x + 0.004, 2) == x
    assert round_to(2.5, 0) == 3.0  # Python's round() would give 2


def test_uniform_draws_stay_in_unit_interval():
    rng = Mulberry32(123)
    draws = [rng.next() for _ in range(50_000)]
    assert min(draws) >= 0 and max(draws) < 1
    assert abs(sum(draws) / len(draws) - 0.5) < 0.01
