"""Session schedules: daily and weekly windows in a time zone, and non-stop sessions."""

from __future__ import annotations

import datetime as dt

import pytest

from fixg.errors import ConfigError
from fixg.fix.schedule import SessionSchedule
from fixg.fix.settings import SessionSettings

UTC = dt.timezone.utc


def ts(*args: int, tz: dt.tzinfo = UTC) -> float:
    return dt.datetime(*args, tzinfo=tz).timestamp()  # type: ignore[misc]


def test_non_stop_is_always_open_and_one_period() -> None:
    s = SessionSchedule()
    assert s.is_session_time(0.0) and s.is_same_period(0.0, 2e9)
    assert s.next_change(1e9) is None


def test_daily_window() -> None:
    s = SessionSchedule(dt.time(8), dt.time(17), non_stop=False)
    assert s.period(ts(2024, 1, 3, 12)) == (ts(2024, 1, 3, 8), ts(2024, 1, 3, 17))
    assert not s.is_session_time(ts(2024, 1, 3, 7, 59))
    assert not s.is_session_time(ts(2024, 1, 3, 17, 0, 1))
    assert s.next_change(ts(2024, 1, 3, 18)) == ts(2024, 1, 4, 8)
    assert s.is_same_period(ts(2024, 1, 3, 9), ts(2024, 1, 3, 16))
    assert not s.is_same_period(ts(2024, 1, 2, 9), ts(2024, 1, 3, 9))


def test_daily_window_across_midnight() -> None:
    s = SessionSchedule(dt.time(22), dt.time(6), non_stop=False)
    assert s.period(ts(2024, 1, 4, 2)) == (ts(2024, 1, 3, 22), ts(2024, 1, 4, 6))
    assert not s.is_session_time(ts(2024, 1, 4, 12))


def test_equal_start_and_end_is_a_24_hour_session_rolling_at_that_time() -> None:
    s = SessionSchedule(dt.time(5), dt.time(5), non_stop=False)
    assert s.is_session_time(ts(2024, 1, 4, 12))
    assert s.period(ts(2024, 1, 4, 12)) == (ts(2024, 1, 4, 5), ts(2024, 1, 5, 5))
    assert not s.is_same_period(ts(2024, 1, 4, 4), ts(2024, 1, 4, 6))


def test_weekly_window_in_a_time_zone() -> None:
    # Sunday 17:00 to Friday 17:00 New York time.
    s = SessionSchedule(dt.time(17), dt.time(17), 6, 4, "America/New_York", non_stop=False)
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    wednesday = ts(2024, 1, 10, 12, tz=ny)
    assert s.period(wednesday) == (ts(2024, 1, 7, 17, tz=ny), ts(2024, 1, 12, 17, tz=ny))
    saturday = ts(2024, 1, 13, 12, tz=ny)
    assert not s.is_session_time(saturday)
    assert s.next_change(saturday) == ts(2024, 1, 14, 17, tz=ny)


def test_from_settings_and_config_errors() -> None:
    settings = SessionSettings(
        "FIX.4.4", "A", "B", "acceptor", start_time=dt.time(8), end_time=dt.time(17),
        start_day=0, end_day=4, time_zone="Europe/London",
    )  # fmt: skip
    s = SessionSchedule.from_settings(settings)
    assert (s.start_day, s.end_day, s.non_stop) == (0, 4, False)
    assert SessionSchedule.from_settings(SessionSettings("FIX.4.4", "A", "B", "acceptor")).non_stop
    with pytest.raises(ConfigError):
        SessionSettings("FIX.4.4", "A", "B", "acceptor", start_time=dt.time(8))
    with pytest.raises(ConfigError):
        SessionSettings("FIX.4.4", "A", "B", "acceptor", time_zone="Mars/Olympus")
