"""When a session may be logged on: daily or weekly windows in a time zone, or non-stop.

A *session period* is one window from a start to the following end. Sequence numbers belong to
one period: when the store's creation time lies in an earlier period than ``now``, the session
starts a new sequence index. All times are UTC epoch seconds; no clock is read here.

Daily (``start_day``/``end_day`` None): the window opens every day at ``start_time`` and closes
at ``end_time`` (the next day when ``end_time`` <= ``start_time``; equal times make a 24-hour
session that rolls over at that time). Weekly: it opens on ``start_day`` at ``start_time`` and
closes on ``end_day`` at ``end_time`` (a week later when both fall on the same instant).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from fixg.fix.settings import SessionSettings

__all__ = ["SessionSchedule"]


@dataclass(frozen=True, slots=True)
class SessionSchedule:
    start_time: _dt.time | None = None
    end_time: _dt.time | None = None
    start_day: int | None = None
    end_day: int | None = None
    time_zone: str = "UTC"
    non_stop: bool = True

    @classmethod
    def from_settings(cls, settings: SessionSettings) -> SessionSchedule:
        return cls(
            start_time=settings.start_time,
            end_time=settings.end_time,
            start_day=settings.start_day,
            end_day=settings.end_day,
            time_zone=settings.time_zone,
            non_stop=settings.non_stop_session or settings.start_time is None,
        )

    @property
    def _tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def _window_after(self, start: _dt.datetime) -> _dt.datetime:
        """The end of the window that opens at ``start`` (a local aware datetime)."""
        assert self.end_time is not None and self.start_time is not None
        tz = start.tzinfo
        if self.start_day is None:
            end = _dt.datetime.combine(start.date(), self.end_time, tzinfo=tz)
            if end <= start:
                end = _dt.datetime.combine(start.date() + _dt.timedelta(days=1), self.end_time, tz)
            return end
        assert self.end_day is not None
        days = (self.end_day - self.start_day) % 7
        end = _dt.datetime.combine(start.date() + _dt.timedelta(days=days), self.end_time, tz)
        if end <= start:
            end = _dt.datetime.combine(start.date() + _dt.timedelta(days=days + 7), self.end_time, tz)
        return end

    def _starts_around(self, local: _dt.datetime, back: bool) -> list[_dt.datetime]:
        """Window openings near ``local``: those at or before it (``back``) newest first, or
        those after it oldest first."""
        assert self.start_time is not None
        tz = local.tzinfo
        out = []
        for offset in range(0, 16):
            day = local.date() + _dt.timedelta(days=-offset if back else offset)
            if self.start_day is not None and day.weekday() != self.start_day:
                continue
            start = _dt.datetime.combine(day, self.start_time, tzinfo=tz)
            if (back and start <= local) or (not back and start > local):
                out.append(start)
        return out

    def period(self, now: float) -> tuple[float, float] | None:
        """The (start, end) of the window containing ``now``, or None when ``now`` is outside
        every window. A non-stop schedule has one endless period."""
        if self.non_stop:
            return (float("-inf"), float("inf"))
        local = _dt.datetime.fromtimestamp(now, self._tz)
        for start in self._starts_around(local, back=True)[:1]:
            end = self._window_after(start)
            if local <= end:
                return (start.timestamp(), end.timestamp())
        return None

    def is_session_time(self, now: float) -> bool:
        return self.period(now) is not None

    def is_same_period(self, earlier: float, now: float) -> bool:
        """Whether ``earlier`` and ``now`` fall in the same window (False when either is
        outside every window)."""
        if self.non_stop:
            return True
        current = self.period(now)
        return current is not None and current[0] <= earlier <= current[1]

    def next_change(self, now: float) -> float | None:
        """The next instant after ``now`` at which a window opens or closes; None if never."""
        if self.non_stop:
            return None
        current = self.period(now)
        if current is not None:
            return current[1] + 1e-6 if current[1] > now else None
        local = _dt.datetime.fromtimestamp(now, self._tz)
        starts = self._starts_around(local, back=False)
        return starts[0].timestamp() if starts else None
