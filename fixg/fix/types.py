"""FIX value types, both directions: wire bytes <-> Python values.

Every ``parse_*`` takes the raw value bytes of one field (no tag, no SOH) and returns a Python
value; every ``format_*`` does the reverse and returns ``bytes``. Bad input raises
:class:`~fixg.errors.ValueFormatError` carrying the reason and, when the caller passes it, the
tag. Nothing here reads a clock.

==================  ==========================  =============================================
FIX type            Python value                wire
==================  ==========================  =============================================
int, SeqNum, ...    ``int``                     ``-?[0-9]+`` (leading zeros accepted)
float, Price, Qty   ``decimal.Decimal``         ``-?[0-9]*(.[0-9]*)?``, never exponent, never float
Boolean             ``bool``                    ``Y`` / ``N``
char                ``str`` of length 1         one byte
String              ``str``                     UTF-8 bytes
UTCTimestamp        :class:`UtcTimestamp`       ``YYYYMMDD-HH:MM:SS[.f{1,9}]``
UTCTimeOnly         :class:`UtcTimeOnly`        ``HH:MM:SS[.f{1,9}]``
UTCDateOnly         ``datetime.date``           ``YYYYMMDD``
LocalMktDate        ``datetime.date``           ``YYYYMMDD``
MonthYear           :class:`MonthYear`          ``YYYYMM``, ``YYYYMMDD`` or ``YYYYMMwN``
MultipleValueString ``list[str]``               values separated by single spaces
==================  ==========================  =============================================

Timestamps keep their sub-second digits exactly (up to nanoseconds) and the precision they
were written with, so ``format_utc_timestamp(parse_utc_timestamp(b)) == b`` for every valid
``b``. :attr:`UtcTimestamp.datetime` gives an aware UTC :class:`datetime.datetime` (truncated to
microseconds, which is all ``datetime`` holds).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from fixg.errors import ValueFormatError

__all__ = [
    "UtcTimestamp",
    "UtcTimeOnly",
    "MonthYear",
    "PRECISIONS",
    "parse_int",
    "format_int",
    "parse_decimal",
    "format_decimal",
    "parse_bool",
    "format_bool",
    "parse_char",
    "format_char",
    "parse_str",
    "format_str",
    "parse_utc_timestamp",
    "format_utc_timestamp",
    "parse_utc_time_only",
    "format_utc_time_only",
    "parse_utc_date_only",
    "format_utc_date_only",
    "parse_local_mkt_date",
    "format_local_mkt_date",
    "parse_month_year",
    "format_month_year",
    "parse_multiple_value",
    "format_multiple_value",
    "format_value",
]

UTC: Final = _dt.timezone.utc

#: Names accepted wherever a timestamp precision is asked for, and the number of fraction
#: digits each stands for. Plain integers 0..9 are accepted too.
PRECISIONS: Final[dict[str, int]] = {"seconds": 0, "millis": 3, "micros": 6, "nanos": 9}

_DIGITS: Final = frozenset(b"0123456789")


def _bad(reason: str, tag: int | None, data: bytes | bytearray | memoryview) -> ValueFormatError:
    shown = repr(bytes(data[:40])) + ("..." if len(data) > 40 else "")
    return ValueFormatError(f"{reason}: {shown}", tag=tag)


def _precision(precision: str | int) -> int:
    if isinstance(precision, str):
        try:
            return PRECISIONS[precision]
        except KeyError:
            raise ValueFormatError(
                f"unknown precision {precision!r}; use one of {sorted(PRECISIONS)} or 0..9"
            ) from None
    if isinstance(precision, bool) or not isinstance(precision, int) or not 0 <= precision <= 9:
        raise ValueFormatError(f"precision must be 0..9 fraction digits, not {precision!r}")
    return precision


# --------------------------------------------------------------------------- numbers


def parse_int(data: bytes, tag: int | None = None) -> int:
    """``-?[0-9]+``; leading zeros are allowed (FIX says ``00023`` is 23)."""
    if data.isdigit() or (data[:1] == b"-" and data[1:].isdigit()):
        try:
            return int(data)
        except ValueError:  # longer than int() accepts from text
            raise _bad("int too long", tag, data) from None
    raise _bad("not an int", tag, data)


def format_int(value: int) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueFormatError(f"not an int: {value!r}")
    return b"%d" % value


def parse_decimal(data: bytes, tag: int | None = None) -> Decimal:
    """FIX float (Price, Qty, Amt, ...) as an exact :class:`~decimal.Decimal`.

    Digits with an optional leading ``-`` and at most one ``.``; no exponent, no ``+``,
    no spaces, at least one digit.
    """
    body = data[1:] if data[:1] == b"-" else data
    whole, dot, frac = body.partition(b".")
    if (
        (whole or frac)
        and (not whole or whole.isdigit())
        and (not frac or frac.isdigit())
    ):
        return Decimal(data.decode("ascii"))
    raise _bad("not a decimal", tag, data)


def format_decimal(value: Decimal | int) -> bytes:
    """Plain notation, never an exponent: ``Decimal('1E+3')`` -> ``b'1000'``."""
    if isinstance(value, bool):
        raise ValueFormatError(f"not a decimal: {value!r}")
    if isinstance(value, int):
        return b"%d" % value
    if not isinstance(value, Decimal):
        raise ValueFormatError(
            f"not a Decimal: {value!r} (FIX floats are written from Decimal, never float)"
        )
    if not value.is_finite():
        raise ValueFormatError(f"not a finite decimal: {value!r}")
    return format(value, "f").encode("ascii")


# --------------------------------------------------------------------------- bool, char, str


def parse_bool(data: bytes, tag: int | None = None) -> bool:
    if data == b"Y":
        return True
    if data == b"N":
        return False
    raise _bad("not a Y/N boolean", tag, data)


def format_bool(value: bool) -> bytes:
    if value is True:
        return b"Y"
    if value is False:
        return b"N"
    raise ValueFormatError(f"not a bool: {value!r}")


def parse_char(data: bytes, tag: int | None = None) -> str:
    if len(data) == 1 and data != b"\x01":
        return data.decode("latin-1")
    raise _bad("not a single char", tag, data)


def format_char(value: str) -> bytes:
    if not isinstance(value, str) or len(value) != 1 or value == "\x01":
        raise ValueFormatError(f"not a single char: {value!r}")
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueFormatError(f"char does not fit one byte: {value!r}") from None


def parse_str(data: bytes, tag: int | None = None) -> str:
    """String fields are read as UTF-8 (a superset of the ASCII FIX mandates)."""
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueFormatError(f"not UTF-8 text at byte {exc.start}", tag=tag) from None


def format_str(value: str) -> bytes:
    if not isinstance(value, str):
        raise ValueFormatError(f"not a str: {value!r}")
    return value.encode("utf-8")


# --------------------------------------------------------------------------- time values


def _digits(data: bytes, start: int, end: int) -> bool:
    part = data[start:end]
    return len(part) == end - start and part.isdigit()


def _fraction(data: bytes, start: int, tag: int | None) -> tuple[int, int]:
    """Parse ``[.f{1,9}]`` from ``start`` to the end: (nanoseconds, digits)."""
    if len(data) == start:
        return 0, 0
    frac = data[start + 1 :]
    if data[start : start + 1] != b"." or not 1 <= len(frac) <= 9 or not frac.isdigit():
        raise _bad("bad fraction of second", tag, data)
    return int(frac) * 10 ** (9 - len(frac)), len(frac)


def _format_fraction(nanosecond: int, precision: int) -> bytes:
    if precision == 0:
        return b""
    return b".%0*d" % (precision, nanosecond // 10 ** (9 - precision))


def _time_of_day_ok(hour: int, minute: int, second: int, nanosecond: int, precision: int) -> bool:
    """Whether the parts make a time of day (second 60: a leap second) and a precision."""
    return (
        0 <= hour <= 23
        and 0 <= minute <= 59
        and 0 <= second <= 60
        and 0 <= nanosecond <= 999_999_999
        and 0 <= precision <= 9
    )


@dataclass(frozen=True, slots=True)
class UtcTimeOnly:
    """A UTCTimeOnly value: time of day in UTC, nanoseconds kept, written with ``precision``
    fraction digits (0 = seconds, 3 = millis, 6 = micros, 9 = nanos)."""

    hour: int
    minute: int
    second: int
    nanosecond: int = 0
    precision: int = 3

    def __post_init__(self) -> None:
        if not _time_of_day_ok(self.hour, self.minute, self.second, self.nanosecond, self.precision):
            raise ValueFormatError(f"time of day out of range: {self!r}")

    @property
    def time(self) -> _dt.time:
        """Aware UTC :class:`datetime.time`; microseconds only; a leap second 60 reads as
        59.999999."""
        if self.second == 60:
            return _dt.time(self.hour, self.minute, 59, 999_999, tzinfo=UTC)
        return _dt.time(self.hour, self.minute, self.second, self.nanosecond // 1000, tzinfo=UTC)

    @classmethod
    def from_time(cls, value: _dt.time, precision: str | int = "millis") -> UtcTimeOnly:
        """From a naive (taken as UTC) or UTC-aware :class:`datetime.time`."""
        offset = value.utcoffset()
        if offset:
            raise ValueFormatError(f"UTCTimeOnly needs a UTC time, got offset {offset}")
        return cls(
            value.hour, value.minute, value.second, value.microsecond * 1000, _precision(precision)
        )


@dataclass(frozen=True, slots=True)
class UtcTimestamp:
    """A UTCTimestamp value: nanoseconds kept, written with ``precision`` fraction digits
    (0 = seconds, 3 = millis, 6 = micros, 9 = nanos; 1..9 are all accepted on the wire)."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    nanosecond: int = 0
    precision: int = 3

    def __post_init__(self) -> None:
        try:
            _dt.date(self.year, self.month, self.day)
        except ValueError as exc:
            raise ValueFormatError(f"bad date in timestamp: {exc}") from None
        if not _time_of_day_ok(self.hour, self.minute, self.second, self.nanosecond, self.precision):
            raise ValueFormatError(f"timestamp out of range: {self!r}")

    @property
    def datetime(self) -> _dt.datetime:
        """Aware UTC :class:`datetime.datetime`; microseconds only; a leap second 60 reads
        as 59.999999."""
        if self.second == 60:
            return _dt.datetime(
                self.year, self.month, self.day, self.hour, self.minute, 59, 999_999, UTC
            )
        return _dt.datetime(
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.nanosecond // 1000,
            UTC,
        )

    def epoch_ns(self) -> int:
        """Nanoseconds since the Unix epoch (a leap second counts as the next second's 0)."""
        days = _dt.date(self.year, self.month, self.day).toordinal() - _EPOCH_ORDINAL
        secs = ((days * 24 + self.hour) * 60 + self.minute) * 60 + self.second
        return secs * 1_000_000_000 + self.nanosecond

    @classmethod
    def from_datetime(cls, value: _dt.datetime, precision: str | int = "millis") -> UtcTimestamp:
        """From an aware datetime (converted to UTC) or a naive one (taken as UTC)."""
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return cls(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond * 1000,
            _precision(precision),
        )

    @classmethod
    def from_epoch_ns(cls, ns: int, precision: str | int = "millis") -> UtcTimestamp:
        secs, nanos = divmod(ns, 1_000_000_000)
        days, rem = divmod(secs, 86400)
        date = _dt.date.fromordinal(_EPOCH_ORDINAL + days)
        hour, rem = divmod(rem, 3600)
        minute, second = divmod(rem, 60)
        return cls(
            date.year, date.month, date.day, hour, minute, second, nanos, _precision(precision)
        )


_EPOCH_ORDINAL: Final = _dt.date(1970, 1, 1).toordinal()


def parse_utc_timestamp(data: bytes, tag: int | None = None) -> UtcTimestamp:
    """``YYYYMMDD-HH:MM:SS`` with an optional ``.`` and 1 to 9 fraction digits."""
    if (
        len(data) < 17
        or data[8:9] != b"-"
        or data[11:12] != b":"
        or data[14:15] != b":"
        or not data[0:8].isdigit()
        or not _digits(data, 9, 11)
        or not _digits(data, 12, 14)
        or not _digits(data, 15, 17)
    ):
        raise _bad("not a UTCTimestamp", tag, data)
    nanos, precision = _fraction(data, 17, tag)
    try:
        return UtcTimestamp(
            int(data[0:4]),
            int(data[4:6]),
            int(data[6:8]),
            int(data[9:11]),
            int(data[12:14]),
            int(data[15:17]),
            nanos,
            precision,
        )
    except ValueFormatError:
        raise _bad("UTCTimestamp out of range", tag, data) from None


def format_utc_timestamp(
    value: UtcTimestamp | _dt.datetime, precision: str | int | None = None
) -> bytes:
    """``precision``: "seconds", "millis", "micros", "nanos" or 0..9 digits. Default: the
    value's own precision for a :class:`UtcTimestamp`, millis for a datetime (an aware one is
    converted to UTC; a naive one is taken as UTC)."""
    if isinstance(value, _dt.datetime):
        value = UtcTimestamp.from_datetime(value, 3 if precision is None else precision)
    elif not isinstance(value, UtcTimestamp):
        raise ValueFormatError(f"not a timestamp: {value!r}")
    digits = value.precision if precision is None else _precision(precision)
    return b"%04d%02d%02d-%02d:%02d:%02d%b" % (
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        _format_fraction(value.nanosecond, digits),
    )


def parse_utc_time_only(data: bytes, tag: int | None = None) -> UtcTimeOnly:
    """``HH:MM:SS`` with an optional ``.`` and 1 to 9 fraction digits."""
    if (
        len(data) < 8
        or data[2:3] != b":"
        or data[5:6] != b":"
        or not _digits(data, 0, 2)
        or not _digits(data, 3, 5)
        or not _digits(data, 6, 8)
    ):
        raise _bad("not a UTCTimeOnly", tag, data)
    nanos, precision = _fraction(data, 8, tag)
    try:
        return UtcTimeOnly(int(data[0:2]), int(data[3:5]), int(data[6:8]), nanos, precision)
    except ValueFormatError:
        raise _bad("UTCTimeOnly out of range", tag, data) from None


def format_utc_time_only(value: UtcTimeOnly | _dt.time, precision: str | int | None = None) -> bytes:
    if isinstance(value, _dt.time):
        value = UtcTimeOnly.from_time(value, 3 if precision is None else precision)
    elif not isinstance(value, UtcTimeOnly):
        raise ValueFormatError(f"not a time of day: {value!r}")
    digits = value.precision if precision is None else _precision(precision)
    return b"%02d:%02d:%02d%b" % (
        value.hour,
        value.minute,
        value.second,
        _format_fraction(value.nanosecond, digits),
    )


def _parse_date(data: bytes, tag: int | None, what: str) -> _dt.date:
    if len(data) != 8 or not data.isdigit():
        raise _bad(f"not a {what}", tag, data)
    try:
        return _dt.date(int(data[0:4]), int(data[4:6]), int(data[6:8]))
    except ValueError:
        raise _bad(f"{what} out of range", tag, data) from None


def _format_date(value: _dt.date) -> bytes:
    if not isinstance(value, _dt.date) or isinstance(value, _dt.datetime):
        raise ValueFormatError(f"not a date: {value!r}")
    return b"%04d%02d%02d" % (value.year, value.month, value.day)


def parse_utc_date_only(data: bytes, tag: int | None = None) -> _dt.date:
    """``YYYYMMDD`` (a UTC date)."""
    return _parse_date(data, tag, "UTCDateOnly")


def format_utc_date_only(value: _dt.date) -> bytes:
    return _format_date(value)


def parse_local_mkt_date(data: bytes, tag: int | None = None) -> _dt.date:
    """``YYYYMMDD`` (a date local to the market centre)."""
    return _parse_date(data, tag, "LocalMktDate")


def format_local_mkt_date(value: _dt.date) -> bytes:
    return _format_date(value)


@dataclass(frozen=True, slots=True)
class MonthYear:
    """A MonthYear value: ``YYYYMM``, ``YYYYMMDD`` (with ``day``) or ``YYYYMMwN`` (with
    ``week`` 1..5). At most one of ``day`` and ``week`` is set."""

    year: int
    month: int
    day: int | None = None
    week: int | None = None

    def __post_init__(self) -> None:
        if not (0 <= self.year <= 9999 and 1 <= self.month <= 12):
            raise ValueFormatError(f"MonthYear out of range: {self!r}")
        if self.day is not None and self.week is not None:
            raise ValueFormatError(f"MonthYear has both a day and a week: {self!r}")
        if self.week is not None and not 1 <= self.week <= 5:
            raise ValueFormatError(f"MonthYear week must be 1..5: {self!r}")
        if self.day is not None:
            try:
                _dt.date(max(self.year, 1), self.month, self.day)
            except ValueError:
                raise ValueFormatError(f"MonthYear day out of range: {self!r}") from None


def parse_month_year(data: bytes, tag: int | None = None) -> MonthYear:
    if len(data) in (6, 8) and data[:6].isdigit():
        year, month = int(data[0:4]), int(data[4:6])
        try:
            if len(data) == 6:
                return MonthYear(year, month)
            if data[6:7] == b"w" and data[7:8].isdigit():
                return MonthYear(year, month, week=int(data[7:8]))
            if data[6:8].isdigit():
                return MonthYear(year, month, day=int(data[6:8]))
        except ValueFormatError:
            raise _bad("MonthYear out of range", tag, data) from None
    raise _bad("not a MonthYear", tag, data)


def format_month_year(value: MonthYear) -> bytes:
    if not isinstance(value, MonthYear):
        raise ValueFormatError(f"not a MonthYear: {value!r}")
    head = b"%04d%02d" % (value.year, value.month)
    if value.day is not None:
        return head + b"%02d" % value.day
    if value.week is not None:
        return head + b"w%d" % value.week
    return head


# --------------------------------------------------------------------------- multiple values


def parse_multiple_value(data: bytes, tag: int | None = None) -> list[str]:
    """MultipleValueString / MultipleCharValue / MultipleStringValue: space-separated."""
    parts = bytes(data).split(b" ")
    if not data or b"" in parts:
        raise _bad("not a space-separated list of values", tag, data)
    try:
        return [p.decode("utf-8") for p in parts]
    except UnicodeDecodeError:
        raise _bad("not UTF-8 text", tag, data) from None


def format_multiple_value(values: Iterable[str]) -> bytes:
    items = [v for v in values]
    if not items or any(not isinstance(v, str) or not v or " " in v for v in items):
        raise ValueFormatError(f"not a list of non-empty values without spaces: {items!r}")
    return " ".join(items).encode("utf-8")


# --------------------------------------------------------------------------- any value


def _format_datetime(value: _dt.datetime) -> bytes:
    return format_utc_timestamp(value)


def _format_time(value: _dt.time) -> bytes:
    return format_utc_time_only(value)


def _format_bytes_like(value: bytearray | memoryview) -> bytes:
    return bytes(value)


def _format_float(value: float) -> bytes:
    raise ValueFormatError(f"float {value!r} not allowed: FIX floats are written from Decimal")


_FORMATTERS: Final[dict[type, Any]] = {
    bytes: bytes,
    str: format_str,
    bool: format_bool,
    int: format_int,
    Decimal: format_decimal,
    _dt.datetime: _format_datetime,
    _dt.date: _format_date,
    _dt.time: _format_time,
    UtcTimestamp: format_utc_timestamp,
    UtcTimeOnly: format_utc_time_only,
    MonthYear: format_month_year,
    bytearray: _format_bytes_like,
    memoryview: _format_bytes_like,
    float: _format_float,
}


def format_value(value: Any) -> bytes:
    """Any supported Python value to wire bytes: bytes as they are, str as UTF-8, bool as Y/N,
    int, Decimal (plain notation), datetime as UTCTimestamp (millis), date as YYYYMMDD, time
    as UTCTimeOnly (millis), :class:`UtcTimestamp`, :class:`UtcTimeOnly`, :class:`MonthYear`.
    A float is refused (use Decimal)."""
    fmt = _FORMATTERS.get(type(value))
    if fmt is None:
        for kind, candidate in _FORMATTERS.items():
            if isinstance(value, kind):
                fmt = candidate
                break
        else:
            raise ValueFormatError(f"cannot write a {type(value).__name__} as a FIX value")
    result: bytes = fmt(value)
    return result
