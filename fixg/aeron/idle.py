"""Idle strategies for loops that poll Aeron from Python (the ``[aeron] idle_strategy`` names).

``idle(work_count)`` is called once per duty cycle with the amount of work done: a strategy
does nothing when work was done and backs off otherwise. The names match Aeron's: ``spin``,
``noop``, ``yield``, ``sleep`` / ``sleeping`` / ``sleep-ns`` (optionally ``sleep:<duration>``)
and ``backoff`` (spin, then yield, then sleep with an exponentially growing period).
"""

from __future__ import annotations

import os
import time
from typing import Final, Protocol

from fixg.aeron.properties import IDLE_STRATEGY_ALIASES, parse_duration_ns
from fixg.errors import ConfigError

__all__ = [
    "IdleStrategy",
    "BusySpinIdleStrategy",
    "NoOpIdleStrategy",
    "YieldingIdleStrategy",
    "SleepingIdleStrategy",
    "BackoffIdleStrategy",
    "idle_strategy",
]


class IdleStrategy(Protocol):
    def idle(self, work_count: int = 0) -> None: ...

    def reset(self) -> None: ...


class NoOpIdleStrategy:
    """Never waits."""

    def idle(self, work_count: int = 0) -> None:
        return None

    def reset(self) -> None:
        return None


class BusySpinIdleStrategy(NoOpIdleStrategy):
    """Returns at once and spins again (Python cannot issue a pause instruction)."""


class YieldingIdleStrategy:
    """``sched_yield`` when there was no work."""

    def idle(self, work_count: int = 0) -> None:
        if work_count <= 0:
            os.sched_yield()

    def reset(self) -> None:
        return None


class SleepingIdleStrategy:
    """Sleeps ``period_ns`` when there was no work."""

    def __init__(self, period_ns: int = 1_000_000) -> None:
        if period_ns < 0:
            raise ValueError("period_ns must be >= 0")
        self.period_s = period_ns / 1e9

    def idle(self, work_count: int = 0) -> None:
        if work_count <= 0:
            time.sleep(self.period_s)

    def reset(self) -> None:
        return None


class BackoffIdleStrategy:
    """Spin ``max_spins`` times, yield ``max_yields`` times, then sleep from ``min_park_ns``
    doubling up to ``max_park_ns``; any work resets it (Agrona's BackoffIdleStrategy)."""

    def __init__(
        self,
        max_spins: int = 10,
        max_yields: int = 20,
        min_park_ns: int = 1_000,
        max_park_ns: int = 1_000_000,
    ) -> None:
        if min(max_spins, max_yields, min_park_ns, max_park_ns) < 0 or min_park_ns > max_park_ns:
            raise ValueError("backoff parameters must be >= 0 with min_park_ns <= max_park_ns")
        self.max_spins = max_spins
        self.max_yields = max_yields
        self.min_park_ns = min_park_ns
        self.max_park_ns = max_park_ns
        self._spins = 0
        self._yields = 0
        self._park_ns = min_park_ns

    def idle(self, work_count: int = 0) -> None:
        if work_count > 0:
            self.reset()
            return
        if self._spins < self.max_spins:
            self._spins += 1
        elif self._yields < self.max_yields:
            self._yields += 1
            os.sched_yield()
        else:
            time.sleep(self._park_ns / 1e9)
            self._park_ns = min(self._park_ns * 2, self.max_park_ns)

    def reset(self) -> None:
        self._spins = 0
        self._yields = 0
        self._park_ns = self.min_park_ns


_DEFAULT_SLEEP_NS: Final = 1_000_000


def idle_strategy(name: str) -> IdleStrategy:
    """Build an idle strategy from its configuration name (see the module docstring)."""
    base, _, arg = name.strip().partition(":")
    canonical = IDLE_STRATEGY_ALIASES.get(base, "sleeping" if base == "sleep" else base)
    if arg and canonical not in ("sleeping", "sleep-ns"):
        raise ConfigError(f"idle strategy {name!r} takes no argument", key="idle_strategy")
    if canonical in ("spin",):
        return BusySpinIdleStrategy()
    if canonical == "noop":
        return NoOpIdleStrategy()
    if canonical == "yield":
        return YieldingIdleStrategy()
    if canonical in ("sleeping", "sleep-ns"):
        try:
            period = parse_duration_ns(arg) if arg else _DEFAULT_SLEEP_NS
        except ValueError as exc:
            raise ConfigError(str(exc), key="idle_strategy") from None
        return SleepingIdleStrategy(period)
    if canonical == "backoff":
        return BackoffIdleStrategy()
    raise ConfigError(
        f"unknown idle strategy {name!r} (spin, noop, yield, sleep[:duration], backoff)",
        key="idle_strategy",
    )
