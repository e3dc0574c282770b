"""Latency histograms cheap enough to stay on in production.

:class:`Histogram` records nanosecond values into log-linear buckets (each power of two split
in ``2**SUB_BITS`` sub-buckets, so a bucket's width is at most 1/8 of its value): recording is
a ``bit_length``, two shifts and a list increment. Percentiles are read back from the
buckets (the upper bound of the bucket holding the rank), with the exact min, max and mean.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Histogram", "LatencyStages"]

SUB_BITS = 3
_SUB = 1 << SUB_BITS
_BUCKETS = (64 - SUB_BITS) * _SUB + _SUB


def _index(value: int) -> int:
    if value < _SUB:
        return max(value, 0)
    exp = value.bit_length() - SUB_BITS - 1
    return ((exp + 1) << SUB_BITS) + ((value >> exp) - _SUB)


def _upper(index: int) -> int:
    if index < _SUB:
        return index
    exp = (index >> SUB_BITS) - 1
    mantissa = (index & (_SUB - 1)) + _SUB
    return ((mantissa + 1) << exp) - 1


class Histogram:
    """Counts of nanosecond values; see the module docstring."""

    __slots__ = ("counts", "count", "total", "min", "max")

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.count = 0
        self.total = 0
        self.min = 0
        self.max = 0

    def record(self, value_ns: int) -> None:
        if value_ns < 0:
            value_ns = 0
        self.counts[_index(value_ns)] += 1
        if self.count == 0 or value_ns < self.min:
            self.min = value_ns
        if value_ns > self.max:
            self.max = value_ns
        self.count += 1
        self.total += value_ns

    def percentile(self, q: float) -> int:
        """The value at or below which ``q`` percent of the recorded values are (bucket upper
        bound, capped at the maximum); 0 when empty."""
        if self.count == 0:
            return 0
        rank = max(1, int(self.count * q / 100.0 + 0.999999))
        seen = 0
        for index, n in enumerate(self.counts):
            if n:
                seen += n
                if seen >= rank:
                    return min(_upper(index), self.max)
        return self.max

    def summary(self) -> dict[str, Any]:
        """count, mean, min, p50, p90, p99, p99.9 and max, in microseconds."""
        if self.count == 0:
            return {"count": 0}
        us = 1000.0
        return {
            "count": self.count,
            "mean_us": round(self.total / self.count / us, 2),
            "min_us": round(self.min / us, 2),
            "p50_us": round(self.percentile(50) / us, 2),
            "p90_us": round(self.percentile(90) / us, 2),
            "p99_us": round(self.percentile(99) / us, 2),
            "p99.9_us": round(self.percentile(99.9) / us, 2),
            "max_us": round(self.max / us, 2),
        }

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


class LatencyStages:
    """The Gateway's per-stage histograms:

    - ``fix_in.processed``: TCP bytes received -> the session layer has validated, stored and
      sequenced the message;
    - ``fix_in.delivered``: processed -> the event handed to the owning client's link;
    - ``client_out.sent``: a client's SendMessage received by the Gateway -> the FIX message
      stored and queued to the TCP connection (not necessarily written yet).
    """

    NAMES = ("fix_in.processed", "fix_in.delivered", "client_out.sent")

    def __init__(self) -> None:
        self.stages = {name: Histogram() for name in self.NAMES}
        self.fix_in_processed = self.stages["fix_in.processed"]
        self.fix_in_delivered = self.stages["fix_in.delivered"]
        self.client_out_sent = self.stages["client_out.sent"]

    def summary(self) -> dict[str, Any]:
        return {name: h.summary() for name, h in self.stages.items()}
