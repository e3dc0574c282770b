"""The latency histogram: bucket bounds and percentiles against exact values."""

from __future__ import annotations

import random

from fixg.metrics import Histogram, LatencyStages, _index, _upper


def test_every_value_falls_in_a_bucket_whose_bounds_hold_it() -> None:
    rng = random.Random(11)
    for value in list(range(0, 5000)) + [rng.randrange(1, 1 << 40) for _ in range(5000)]:
        index = _index(value)
        assert _upper(index) >= value
        assert index == 0 or _upper(index - 1) < value
        # log-linear: a bucket is at most 1/8 of its value wide
        assert _upper(index) - value <= max(1, value // 8)


def test_percentiles_are_within_the_bucket_precision() -> None:
    rng = random.Random(7)
    values = [rng.randrange(1_000, 10_000_000) for _ in range(20_000)]
    h = Histogram()
    for v in values:
        h.record(v)
    values.sort()
    for q in (50, 90, 99, 99.9):
        exact = values[min(len(values) - 1, int(len(values) * q / 100))]
        assert abs(h.percentile(q) - exact) <= exact / 8 + 1, q
    assert h.min == values[0] and h.max == values[-1] and h.count == len(values)
    summary = h.summary()
    assert summary["count"] == 20_000 and summary["min_us"] <= summary["p50_us"] <= summary["max_us"]


def test_empty_and_negative() -> None:
    h = Histogram()
    assert h.percentile(50) == 0 and h.summary() == {"count": 0}
    h.record(-5)
    assert h.max == 0 and h.count == 1
    stages = LatencyStages()
    assert set(stages.summary()) == set(LatencyStages.NAMES)
