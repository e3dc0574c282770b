"""FIX value types: every parser accepts exactly its wire format and every formatter writes it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from fixg.errors import CodecError, ValueFormatError
from fixg.fix import types as t
from fixg.fix.types import MonthYear, UtcTimeOnly, UtcTimestamp

UTC = dt.timezone.utc


# ------------------------------------------------------------------------------- int


@pytest.mark.parametrize(
    ("raw", "value"), [(b"0", 0), (b"23", 23), (b"00023", 23), (b"-7", -7), (b"-007", -7)]
)
def test_parse_int(raw: bytes, value: int) -> None:
    assert t.parse_int(raw) == value


@pytest.mark.parametrize(
    "raw", [b"", b"-", b"+1", b" 1", b"1 ", b"1.0", b"1_000", b"0x1", b"\xd9\xa3", b"--1"]
)
def test_parse_int_refuses(raw: bytes) -> None:
    with pytest.raises(ValueFormatError) as info:
        t.parse_int(raw, 38)
    assert info.value.tag == 38
    assert "not an int" in info.value.reason


def test_parse_int_too_long_is_a_value_format_error() -> None:
    with pytest.raises(ValueFormatError, match="too long"):
        t.parse_int(b"9" * 5000)


def test_format_int() -> None:
    assert t.format_int(-12) == b"-12"
    with pytest.raises(ValueFormatError):
        t.format_int(True)
    with pytest.raises(ValueFormatError):
        t.format_int(1.0)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- decimal


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"1", Decimal("1")),
        (b"-1.5", Decimal("-1.5")),
        (b".5", Decimal("0.5")),
        (b"5.", Decimal("5")),
        (b"0001.10", Decimal("1.10")),
        (b"123456789012345678901234567890.123456789", Decimal("123456789012345678901234567890.123456789")),
    ],
)
def test_parse_decimal_is_exact(raw: bytes, value: Decimal) -> None:
    parsed = t.parse_decimal(raw)
    assert type(parsed) is Decimal
    assert parsed == value
    assert str(parsed) == str(value)


@pytest.mark.parametrize(
    "raw", [b"", b"-", b".", b"-.", b"1e5", b"1E5", b"+1", b"1,0", b" 1", b"1.2.3", b"NaN", b"Infinity", b"1 "]
)
def test_parse_decimal_refuses(raw: bytes) -> None:
    with pytest.raises(ValueFormatError) as info:
        t.parse_decimal(raw, 44)
    assert info.value.tag == 44


def test_format_decimal_never_uses_an_exponent_and_keeps_scale() -> None:
    assert t.format_decimal(Decimal("1E+3")) == b"1000"
    assert t.format_decimal(Decimal("1E-7")) == b"0.0000001"
    assert t.format_decimal(Decimal("1.50")) == b"1.50"
    assert t.format_decimal(7) == b"7"


@pytest.mark.parametrize("value", [1.5, Decimal("NaN"), Decimal("Infinity"), True, "1"])
def test_format_decimal_refuses(value: object) -> None:
    with pytest.raises(ValueFormatError):
        t.format_decimal(value)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- bool, char, str


def test_bool() -> None:
    assert t.parse_bool(b"Y") is True
    assert t.parse_bool(b"N") is False
    for bad in (b"y", b"1", b"YES", b""):
        with pytest.raises(ValueFormatError):
            t.parse_bool(bad)
    assert t.format_bool(True) == b"Y"
    assert t.format_bool(False) == b"N"
    with pytest.raises(ValueFormatError):
        t.format_bool(1)  # type: ignore[arg-type]


def test_char() -> None:
    assert t.parse_char(b"2") == "2"
    for bad in (b"", b"12", b"\x01"):
        with pytest.raises(ValueFormatError):
            t.parse_char(bad)
    assert t.format_char("A") == b"A"
    for bad_char in ("", "AB", "\x01", "\u20ac"):
        with pytest.raises(ValueFormatError):
            t.format_char(bad_char)


def test_str_is_utf8() -> None:
    assert t.parse_str("caf\u00e9".encode()) == "caf\u00e9"
    assert t.format_str("caf\u00e9") == "caf\u00e9".encode()
    with pytest.raises(ValueFormatError) as info:
        t.parse_str(b"\xff\xfe", 58)
    assert info.value.tag == 58


# ------------------------------------------------------------------------------- UTCTimestamp


@pytest.mark.parametrize(
    ("raw", "nanos", "precision"),
    [
        (b"20240229-23:59:58", 0, 0),
        (b"20240229-23:59:58.123", 123_000_000, 3),
        (b"20240229-23:59:58.123456", 123_456_000, 6),
        (b"20240229-23:59:58.123456789", 123_456_789, 9),
        (b"20240229-23:59:58.5", 500_000_000, 1),
    ],
)
def test_utc_timestamp_precisions_round_trip(raw: bytes, nanos: int, precision: int) -> None:
    value = t.parse_utc_timestamp(raw)
    assert (value.year, value.month, value.day) == (2024, 2, 29)
    assert (value.hour, value.minute, value.second) == (23, 59, 58)
    assert value.nanosecond == nanos
    assert value.precision == precision
    assert t.format_utc_timestamp(value) == raw
    assert value.datetime == dt.datetime(2024, 2, 29, 23, 59, 58, nanos // 1000, UTC)


def test_utc_timestamp_keeps_nanoseconds_and_epoch() -> None:
    value = t.parse_utc_timestamp(b"19700101-00:00:01.000000007")
    assert value.epoch_ns() == 1_000_000_007
    assert UtcTimestamp.from_epoch_ns(1_000_000_007, "nanos") == value


def test_format_utc_timestamp_from_datetime() -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5, 678901, UTC)
    assert t.format_utc_timestamp(when) == b"20240102-03:04:05.678"
    assert t.format_utc_timestamp(when, "seconds") == b"20240102-03:04:05"
    assert t.format_utc_timestamp(when, "micros") == b"20240102-03:04:05.678901"
    assert t.format_utc_timestamp(when, "nanos") == b"20240102-03:04:05.678901000"
    assert t.format_utc_timestamp(when, 2) == b"20240102-03:04:05.67"
    # an aware datetime elsewhere is converted to UTC; a naive one is taken as UTC
    paris = dt.timezone(dt.timedelta(hours=1))
    assert t.format_utc_timestamp(dt.datetime(2024, 1, 2, 4, 4, 5, tzinfo=paris), 0) == (
        b"20240102-03:04:05"
    )
    assert t.format_utc_timestamp(dt.datetime(2024, 1, 2, 3, 4, 5), 0) == b"20240102-03:04:05"


def test_utc_timestamp_leap_second() -> None:
    value = t.parse_utc_timestamp(b"20161231-23:59:60.000")
    assert value.second == 60
    assert t.format_utc_timestamp(value) == b"20161231-23:59:60.000"
    assert value.datetime == dt.datetime(2016, 12, 31, 23, 59, 59, 999_999, UTC)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"20240102",
        b"20240102-03:04",
        b"20240102 03:04:05",
        b"20240102-03-04-05",
        b"20241302-03:04:05",
        b"20240230-03:04:05",
        b"20240102-24:00:00",
        b"20240102-03:60:00",
        b"20240102-03:04:61",
        b"20240102-03:04:05.",
        b"20240102-03:04:05.1234567890",
        b"20240102-03:04:05,123",
        b"2024010a-03:04:05",
        b"20240102-03:04:05.12a",
    ],
)
def test_utc_timestamp_refuses(raw: bytes) -> None:
    with pytest.raises(ValueFormatError) as info:
        t.parse_utc_timestamp(raw, 52)
    assert info.value.tag == 52


def test_precision_names() -> None:
    with pytest.raises(ValueFormatError):
        t.format_utc_timestamp(dt.datetime(2024, 1, 1), "picos")
    with pytest.raises(ValueFormatError):
        t.format_utc_timestamp(dt.datetime(2024, 1, 1), 10)


# ------------------------------------------------------------------------------- time, dates


def test_utc_time_only() -> None:
    value = t.parse_utc_time_only(b"13:14:15.016")
    assert value == UtcTimeOnly(13, 14, 15, 16_000_000, 3)
    assert value.time == dt.time(13, 14, 15, 16_000, tzinfo=UTC)
    assert t.format_utc_time_only(value) == b"13:14:15.016"
    assert t.format_utc_time_only(dt.time(1, 2, 3)) == b"01:02:03.000"
    assert t.format_utc_time_only(dt.time(1, 2, 3, 4), "micros") == b"01:02:03.000004"
    assert t.parse_utc_time_only(b"01:02:03") == UtcTimeOnly(1, 2, 3, 0, 0)
    for bad in (b"1:02:03", b"01:02", b"25:00:00", b"01:02:03.", b"01-02-03"):
        with pytest.raises(ValueFormatError):
            t.parse_utc_time_only(bad)


def test_dates() -> None:
    assert t.parse_utc_date_only(b"20240229") == dt.date(2024, 2, 29)
    assert t.parse_local_mkt_date(b"20240301") == dt.date(2024, 3, 1)
    assert t.format_utc_date_only(dt.date(2024, 2, 29)) == b"20240229"
    assert t.format_local_mkt_date(dt.date(999, 1, 2)) == b"09990102"
    for bad in (b"20230229", b"2024022", b"202402290", b"2024-02-29", b""):
        with pytest.raises(ValueFormatError):
            t.parse_utc_date_only(bad)
        with pytest.raises(ValueFormatError):
            t.parse_local_mkt_date(bad)
    with pytest.raises(ValueFormatError):
        t.format_utc_date_only(dt.datetime(2024, 1, 1))  # a datetime is not a date here


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"202406", MonthYear(2024, 6)),
        (b"20240615", MonthYear(2024, 6, day=15)),
        (b"202406w3", MonthYear(2024, 6, week=3)),
    ],
)
def test_month_year(raw: bytes, value: MonthYear) -> None:
    assert t.parse_month_year(raw) == value
    assert t.format_month_year(value) == raw


@pytest.mark.parametrize("raw", [b"2024", b"202413", b"202400", b"202406w6", b"202406w0", b"20240231", b"202406x1", b"2024061"])
def test_month_year_refuses(raw: bytes) -> None:
    with pytest.raises(ValueFormatError):
        t.parse_month_year(raw, 200)


def test_multiple_value_strings() -> None:
    assert t.parse_multiple_value(b"A B 1") == ["A", "B", "1"]
    assert t.parse_multiple_value(b"5") == ["5"]
    assert t.format_multiple_value(["A", "B"]) == b"A B"
    for bad in (b"", b"A  B", b" A", b"A "):
        with pytest.raises(ValueFormatError):
            t.parse_multiple_value(bad)
    for bad_list in ([], ["A B"], [""]):
        with pytest.raises(ValueFormatError):
            t.format_multiple_value(bad_list)


# ------------------------------------------------------------------------------- format_value


def test_format_value_dispatch() -> None:
    assert t.format_value(b"x") == b"x"
    assert t.format_value(bytearray(b"x")) == b"x"
    assert t.format_value("x") == b"x"
    assert t.format_value(True) == b"Y"  # bool before int
    assert t.format_value(12) == b"12"
    assert t.format_value(Decimal("1.20")) == b"1.20"
    assert t.format_value(dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == b"20240102-03:04:05.000"
    assert t.format_value(dt.date(2024, 1, 2)) == b"20240102"
    assert t.format_value(dt.time(3, 4, 5)) == b"03:04:05.000"
    assert t.format_value(MonthYear(2024, 1)) == b"202401"
    assert t.format_value(UtcTimestamp(2024, 1, 2, 3, 4, 5, 6, 9)) == b"20240102-03:04:05.000000006"


@pytest.mark.parametrize("value", [1.5, None, object(), [1]])
def test_format_value_refuses(value: object) -> None:
    with pytest.raises(ValueFormatError):
        t.format_value(value)


def test_value_errors_are_codec_errors() -> None:
    assert issubclass(ValueFormatError, CodecError)
    assert issubclass(ValueFormatError, ValueError)


def test_value_types_validate() -> None:
    with pytest.raises(ValueFormatError):
        UtcTimestamp(2024, 2, 30, 0, 0, 0)
    with pytest.raises(ValueFormatError):
        UtcTimeOnly(0, 0, 0, 1_000_000_000)
    with pytest.raises(ValueFormatError):
        MonthYear(2024, 1, day=1, week=1)
