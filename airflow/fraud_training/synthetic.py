"""Seeded synthetic transactions, bit-compatible with packages/transactions/src/generator.ts.

Both implementations read packages/transactions/schema/generator.json and consume one mulberry32 stream in
the same order. Only IEEE-754 basic operations (+ - * /, floor) touch floats, never libm: exp() is computed
by the same range reduction and Taylor series in both languages, normals are Irwin-Hall sums of 12 uniforms.
That is what makes every generated value identical in TypeScript and Python, not just close.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from .schema import load_generator_spec

_MASK = 0xFFFFFFFF
_LN2 = 0.6931471805599453
_TAYLOR_TERMS = 20


def _imul(a: int, b: int) -> int:
    return (a * b) & _MASK


class Mulberry32:
    """32-bit mulberry32; same state transitions as the TypeScript Math.imul version."""

    __slots__ = ("state",)

    def __init__(self, seed: int) -> None:
        self.state = seed & _MASK

    def next_uint32(self) -> int:
        a = (self.state + 0x6D2B79F5) & _MASK
        self.state = a
        t = _imul(a ^ (a >> 15), 1 | a)
        t = ((t + _imul(t ^ (t >> 7), 61 | t)) & _MASK) ^ t
        return (t ^ (t >> 14)) & _MASK

    def next(self) -> float:
        """Uniform in [0, 1) with 32 bits of resolution."""
        return self.next_uint32() / 4294967296

    def sum_uniforms(self, n: int) -> float:
        """next() + next() + ... n times, summed left to right; inlined because it is the generator's hot loop."""
        state = self.state
        total = 0.0
        for _ in range(n):
            a = (state + 0x6D2B79F5) & _MASK
            state = a
            t = ((a ^ (a >> 15)) * (1 | a)) & _MASK
            t = ((t + (((t ^ (t >> 7)) * (61 | t)) & _MASK)) & _MASK) ^ t
            total += ((t ^ (t >> 14)) & _MASK) / 4294967296
        self.state = state
        return total


def det_exp(x: float) -> float:
    """exp(x) from basic float operations only, so both languages round identically."""
    k = math.floor(x / _LN2 + 0.5)
    r = x - k * _LN2
    term = 1.0
    total = 1.0
    for i in range(1, _TAYLOR_TERMS):
        term = term * r / i
        total += term
    scale = 1.0
    if k > 0:
        for _ in range(k):
            scale *= 2.0
    else:
        for _ in range(-k):
            scale *= 0.5
    return total * scale


def standard_normal(rng: Mulberry32) -> float:
    """Irwin-Hall approximation (sum of 12 uniforms - 6): mean 0, sd 1, tails cut at +-6."""
    return rng.sum_uniforms(12) - 6.0


def round_to(x: float, decimals: int) -> float:
    """Half-up rounding (not Python's banker's rounding) to match Math.floor(x * f + 0.5) / f."""
    factor = 10**decimals
    return math.floor(x * factor + 0.5) / factor


def _case_key(value: Any) -> str:
    # str(True) is "True" in Python but String(true) is "true" in JS: spell booleans out.
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    raise ValueError(f"switch on a {type(value).__name__} value is not supported (strings and booleans only)")


Sampler = Callable[[Mulberry32, dict[str, Any]], Any]


def _finisher(spec: dict[str, Any]) -> Callable[[float], float]:
    decimals, lo, hi = spec.get("decimals"), spec.get("min"), spec.get("max")

    def finish(x: float) -> float:
        if decimals is not None:
            x = round_to(x, decimals)
        if lo is not None and x < lo:
            x = lo
        if hi is not None and x > hi:
            x = hi
        return x

    return finish


def compile_field(spec: dict[str, Any]) -> Sampler:
    """A field spec (the distribution language of generator.json) as a sampler; mirrors compileField() in TS."""
    dist = spec["dist"]
    if dist == "categorical":
        values = list(spec["values"])
        total = 0.0
        for w in spec["weights"]:
            total += w
        cumulative = []
        acc = 0.0
        for w in spec["weights"]:
            acc += w
            cumulative.append(acc)
        pairs = list(zip(cumulative, values, strict=True))
        last = values[-1]

        def categorical(rng: Mulberry32, row: dict[str, Any]) -> Any:
            target = rng.next() * total
            for edge, value in pairs:
                if target < edge:
                    return value
            return last

        return categorical
    if dist == "bernoulli":
        p = spec["p"]
        return lambda rng, row: rng.next() < p
    if dist == "uniform":
        lo, hi, finish = spec["min"], spec["max"], _finisher(spec)
        return lambda rng, row: finish(lo + rng.next() * (hi - lo))
    if dist == "normal":
        mean, sd, finish = spec["mean"], spec["sd"], _finisher(spec)
        return lambda rng, row: finish(mean + sd * standard_normal(rng))
    if dist == "lognormal":
        mu, sigma, finish = spec["mu"], spec["sigma"], _finisher(spec)
        return lambda rng, row: finish(det_exp(mu + sigma * standard_normal(rng)))
    if dist == "poisson":
        limit = det_exp(-spec["lambda"])
        cap = spec.get("max", math.inf)

        def poisson(rng: Mulberry32, row: dict[str, Any]) -> int:
            k = 0
            p = 1.0
            while True:
                k += 1
                p *= rng.next()
                if p <= limit:
                    break
            return int(min(k - 1, cap))

        return poisson
    if dist == "ratio":
        num, den, finish = spec["numerator"], spec["denominator"], _finisher(spec)
        return lambda rng, row: finish(row[num] / row[den])
    if dist == "switch":
        on = spec["on"]
        cases = {key: compile_field(case) for key, case in spec["cases"].items()}
        fallback = compile_field(spec["default"]) if "default" in spec else None

        def switch(rng: Mulberry32, row: dict[str, Any]) -> Any:
            chosen = cases.get(_case_key(row[on]), fallback)
            if chosen is None:
                raise ValueError(f"switch on {on}: no case for {row[on]!r} and no default")
            return chosen(rng, row)

        return switch
    if dist == "const":
        value = spec["value"]
        return lambda rng, row: value
    raise ValueError(f"unknown distribution {dist!r}")


def sample(spec: dict[str, Any], rng: Mulberry32, row: dict[str, Any]) -> Any:
    """Draws one value of a field spec (compiles it each time: for one-off use)."""
    return compile_field(spec)(rng, row)


def _iso(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def transaction_stream(
    seed: int = 42,
    fraud_ratio: float | None = None,
    pattern: str | None = None,
    id_prefix: str | None = None,
    spec: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Endless labelled transactions; identical, row for row, to transactionStream() in TypeScript."""
    spec = spec or load_generator_spec()
    ratio = spec["fraud_ratio"] if fraud_ratio is None else fraud_ratio
    if not 0 <= ratio <= 1:
        raise ValueError(f"fraud_ratio must be within [0, 1], got {ratio}")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= _MASK:
        raise ValueError(f"seed must be an integer in [0, 2^32), got {seed!r}")
    patterns = spec["patterns"]
    for name, p in patterns.items():
        missing = [f for f in spec["field_order"] if f not in p["fields"]]
        if missing:
            raise ValueError(f"pattern {name} lacks field(s) {', '.join(missing)}")
    if pattern is not None and pattern not in patterns:
        raise ValueError(f"unknown pattern {pattern!r}; known: {', '.join(patterns)}")
    fraud_names = list(spec["fraud_pattern_weights"])
    pick_fraud = compile_field(
        {
            "dist": "categorical",
            "values": fraud_names,
            "weights": list(spec["fraud_pattern_weights"].values()),
        }
    )
    field_order = spec["field_order"]
    compiled = {
        name: [(field, compile_field(p["fields"][field])) for field in field_order]
        for name, p in patterns.items()
    }
    start = _parse_iso(spec["start_time"])
    rows_per_day = spec["rows_per_day"]
    prefix = f"tx-{seed}" if id_prefix is None else id_prefix
    rng = Mulberry32(seed)
    index = 0
    while True:
        if pattern is not None:
            name = pattern
        elif rng.next() < ratio:
            name = pick_fraud(rng, {})
        else:
            name = "legit"
        p = patterns[name]
        card = p["cards"]["offset"] + math.floor(rng.next() * p["cards"]["count"])
        row: dict[str, Any] = {}
        for field, sampler in compiled[name]:
            row[field] = sampler(rng, row)
        seconds = row["hour"] * 3600 + math.floor(rng.next() * 3600)
        day = index // rows_per_day
        yield {
            "transaction_id": f"{prefix}-{index}",
            "card_id": f"card-{card:07d}",
            "timestamp": _iso(start + day * 86400 + seconds),
            "amount": row["amount"],
            "merchant_category": row["merchant_category"],
            "hour": row["hour"],
            "card_present": row["card_present"],
            "distance_from_home_km": row["distance_from_home_km"],
            "velocity_1h": row["velocity_1h"],
            "amount_to_avg_ratio": row["amount_to_avg_ratio"],
            "new_merchant": row["new_merchant"],
            "foreign": row["foreign"],
            "is_fraud": 0 if name == "legit" else 1,
            "pattern": name,
        }
        index += 1


def generate_transactions(
    seed: int = 42,
    count: int = 1000,
    fraud_ratio: float | None = None,
    pattern: str | None = None,
    id_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """The first `count` rows of transaction_stream()."""
    if not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    stream = transaction_stream(seed=seed, fraud_ratio=fraud_ratio, pattern=pattern, id_prefix=id_prefix)
    return [next(stream) for _ in range(count)]
