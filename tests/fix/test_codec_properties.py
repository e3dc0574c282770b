"""Hypothesis properties of the codec.

1. For any input, decode and the Framer raise nothing but CodecError subclasses: random bytes,
   FIX-looking token soup, and valid messages with bytes flipped, inserted or deleted.
2. encode -> decode -> encode round trips for generated messages with data fields (holding
   SOH) and nested groups; the Framer returns exactly the frames of any chunked stream.
3. Typed values round trip.

Derandomized with a moderate number of examples, so runs are fast and repeatable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixg.errors import CodecError
from fixg.fix import types as t
from fixg.fix.codec import decode, encode, encode_message
from fixg.fix.framer import Framer, FrameGarbled
from fixg.fix.message import Message
from fixg.fix.spec import GroupDef
from fixg.fix.tags import DEFAULT_DATA_LENGTH_TAGS

FAST = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class FakeDictionary:
    def __init__(self, groups: Mapping[int, GroupDef]) -> None:
        self._groups = groups

    @property
    def data_length_tags(self) -> Mapping[int, int]:
        return DEFAULT_DATA_LENGTH_TAGS

    def group_def(self, msg_type: str, count_tag: int) -> GroupDef | None:
        return self._groups.get(count_tag)


PTYS_SUB = GroupDef.make(802, "NoPartySubIDs", (523, 803), frozenset(), {})
PARTIES = GroupDef.make(453, "NoPartyIDs", (448, 447, 452, 802), frozenset(), {802: PTYS_SUB})
# A group whose delimiter is a nested group (as NoAsgnReqs(1499) starts with NoPartyIDs(453)
# in FIX 5.0 SP2); a message holds either it or a top-level 453, never both.
RELATED = GroupDef.make(146, "NoRelatedSym", (311, 309), frozenset(), {})
ASGN = GroupDef.make(1499, "NoAsgnReqs", (453, 1498, 146), frozenset(), {453: PARTIES, 146: RELATED})
DICT = FakeDictionary({453: PARTIES, 1499: ASGN})

RESERVED = {8, 9, 10, 35, 453, 448, 447, 452, 802, 523, 803, 1499, 1498, 146, 311, 309}
RESERVED |= set(DEFAULT_DATA_LENGTH_TAGS) | set(DEFAULT_DATA_LENGTH_TAGS.values())

# ------------------------------------------------------------------------------- strategies

plain_tags = st.integers(1, 2000).filter(lambda tag: tag not in RESERVED)
text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x01"), min_size=1, max_size=12
)
raw_value = st.binary(min_size=1, max_size=12).map(lambda b: b.replace(b"\x01", b"?"))
value = st.one_of(
    text,
    raw_value,
    st.integers(-(10**12), 10**12),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9),
    st.booleans(),
)
plain_field = st.tuples(plain_tags, value)
data_bytes = st.binary(max_size=16) | st.sampled_from(
    [b"\x01", b"a\x0110=123\x01", b"\x018=FIX.4.4\x019=5\x01", b"x\x01\x01y"]
)
data_field = st.tuples(st.sampled_from(sorted(DEFAULT_DATA_LENGTH_TAGS.items())), data_bytes)
sub_instance = st.tuples(text, st.integers(1, 99)).map(lambda p: [(523, p[0]), (803, p[1])])
party = st.tuples(text, st.sampled_from(["D", "C", "P"]), st.integers(1, 99), st.lists(sub_instance, max_size=2)).map(
    lambda p: [(448, p[0]), (447, p[1]), (452, p[2])] + ([(802, p[3])] if p[3] else [])
)


@st.composite
def bodies(draw: st.DrawFn, groups: bool = True) -> list[tuple[int, Any]]:
    """Body fields: plain fields, data fields (length written by encode), maybe a group."""
    fields: list[tuple[int, Any]] = draw(st.lists(plain_field, max_size=10))
    for (_length_tag, data_tag), data in draw(st.lists(data_field, max_size=2)):
        fields.insert(draw(st.integers(0, len(fields))), (data_tag, data))
    kind = draw(st.sampled_from(["none", "parties", "asgn"])) if groups else "none"
    if kind == "parties":
        parties = draw(st.lists(party, min_size=1, max_size=3))
        fields.insert(draw(st.integers(0, len(fields))), (453, parties))
    elif kind == "asgn":
        fields.insert(draw(st.integers(0, len(fields))), (1499, draw(st.lists(asgn_instance, max_size=3))))
    return fields


related = st.tuples(text, st.integers(1, 9)).map(lambda p: [(309, p[1]), (311, p[0])])
# members in any order: encode puts them in dictionary order (the parties group first)
asgn_instance = st.tuples(
    st.lists(party, max_size=2), st.none() | st.integers(0, 9), st.lists(related, max_size=2), st.randoms()
).map(
    lambda p: p[3].sample(
        [(453, p[0])] + ([(1498, p[1])] if p[1] is not None else []) + ([(146, p[2])] if p[2] else []),
        k=1 + (p[1] is not None) + bool(p[2]),
    )
)


msg_types = st.sampled_from(["D", "8", "0", "AE", "U1"])
begin_strings = st.sampled_from(["FIX.4.2", "FIX.4.4", "FIXT.1.1"])


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    return encode(draw(begin_strings), draw(msg_types), draw(bodies()), dictionary=DICT)


# ------------------------------------------------------------------------------- 1. no crash


def decode_all_ways(data: bytes) -> None:
    for dictionary in (None, DICT):
        for verify in (True, False):
            try:
                msg = decode(data, dictionary, verify=verify)
            except CodecError as exc:
                assert isinstance(exc.reason, str) and exc.reason
                assert exc.offset is None or 0 <= exc.offset <= len(data)
            else:
                # what decoded re-encodes (verify=False may accept odd layouts)
                assert isinstance(msg, Message)
                list(msg)


def frame_all(data: bytes, cuts: list[int]) -> list[bytes | FrameGarbled]:
    framer = Framer(max_frame_size=256)
    out: list[bytes | FrameGarbled] = []
    start = 0
    for cut in sorted(cuts) + [len(data)]:
        framer.feed(data[start:cut])
        start = max(start, cut)
        while True:
            try:
                item = framer.next_frame()
            except CodecError:
                continue
            if item is None:
                break
            out.append(item)
    assert framer.buffered <= 256
    for item in out:
        if isinstance(item, bytes):
            decode_all_ways(item)
        else:
            assert isinstance(item.error, CodecError)
    return out


token = st.sampled_from(
    [b"8=FIX.4.4", b"8=", b"\x01", b"9=", b"10=", b"35=", b"=", b"0", b"1", b"5", b"95=",
     b"96=", b"453=", b"448=", b"802=", b"1499=", b"146=", b"x", b"10=000\x01", b"9=5\x01"]
)
soup = st.lists(token, max_size=40).map(b"".join)


@FAST
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=5))
def test_random_bytes_raise_only_codec_errors(data: bytes, cuts: list[int]) -> None:
    decode_all_ways(data)
    frame_all(data, cuts)


@FAST
@given(soup, st.lists(st.integers(0, 300), max_size=5))
def test_fix_token_soup_raises_only_codec_errors(data: bytes, cuts: list[int]) -> None:
    decode_all_ways(data)
    frame_all(data, cuts)


mutation = st.tuples(st.sampled_from(["flip", "insert", "delete", "set"]), st.integers(0, 10**6), st.integers(0, 255))


def mutate(data: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, where, byte in mutations:
        if not out:
            out.append(byte)
            continue
        i = where % len(out)
        if kind == "flip":
            out[i] ^= 1 << (byte % 8)
        elif kind == "insert":
            out.insert(i, byte)
        elif kind == "delete":
            del out[i : i + 1 + byte % 3]
        else:
            out[i] = b"\x01=0189"[byte % 6]
    return bytes(out)


@FAST
@given(frames(), st.lists(mutation, min_size=1, max_size=4), st.lists(st.integers(0, 400), max_size=4))
def test_mutated_messages_raise_only_codec_errors(
    frame: bytes, mutations: list[tuple[str, int, int]], cuts: list[int]
) -> None:
    bad = mutate(frame, mutations)
    decode_all_ways(bad)
    items = frame_all(frame + bad + frame, cuts)
    if len(frame) <= 256:
        # the intact frames around the damage are found again
        assert items[0] == frame
        assert items[-1] == frame


# ------------------------------------------------------------------------------- 2. round trips


def expected_value(value: Any) -> bytes:
    return t.format_value(value)


def check_parties(parties: list[Any], given_value: list[list[tuple[int, Any]]]) -> None:
    assert [p.get(448) for p in parties] == [expected_value(i[0][1]) for i in given_value]
    for got, instance in zip(parties, given_value):
        subs = dict(instance).get(802, [])
        assert [s.get(523) for s in got.group(802)] == [expected_value(s[0][1]) for s in subs]


@FAST
@given(begin_strings, msg_types, bodies())
def test_encode_decode_encode_round_trip(begin: str, msg_type: str, body: list[tuple[int, Any]]) -> None:
    raw = encode(begin, msg_type, body, dictionary=DICT)
    assert raw[-7:] == b"10=%03d\x01" % (sum(raw[:-7]) % 256)
    for dictionary in (None, DICT):
        msg = decode(raw, dictionary)
        assert encode_message(msg) == raw
        assert msg.begin_string == begin
        assert msg.msg_type == msg_type
        assert decode(raw, dictionary, verify=False) == msg
    msg = decode(raw, DICT)
    for tag, given_value in body:
        if tag == 453:
            check_parties(msg.group(453), given_value)
        elif tag == 1499:
            requests = msg.group(1499)
            assert len(requests) == len(given_value)
            for got, instance in zip(requests, given_value):
                members = dict(instance)
                assert got.fields[0] == (453, b"%d" % len(members[453]))
                check_parties(got.group(453), members[453])
                assert got.get(1498) == (None if 1498 not in members else expected_value(members[1498]))
                assert [r.get(311) for r in got.group(146)] == [
                    expected_value(r[1][1]) for r in members.get(146, [])
                ]
            # rebuilt from the decoded instances, the same bytes
            rebuilt = [(t_, requests if t_ == 1499 else v) for t_, v in body]
            assert encode(begin, msg_type, rebuilt, dictionary=DICT) == raw
        else:
            assert expected_value(given_value) in msg.get_all(tag)
    # the fields as a new Message encode to the same bytes
    assert encode_message(Message(msg.fields)) == raw


@FAST
@given(st.lists(frames(), min_size=1, max_size=5), st.lists(st.integers(0, 2000), max_size=8), st.binary(max_size=20))
def test_framer_returns_exactly_the_frames(frame_list: list[bytes], cuts: list[int], junk: bytes) -> None:
    junk = junk.replace(b"8", b"")
    stream = junk + b"".join(frame_list)
    framer = Framer()
    out: list[bytes | FrameGarbled] = []
    start = 0
    for cut in sorted(cuts) + [len(stream)]:
        framer.feed(stream[start:cut])
        start = max(start, cut)
        out.extend(framer)
    assert out == frame_list
    assert framer.junk_bytes == len(junk)
    assert framer.buffered == 0


# ------------------------------------------------------------------------------- 3. typed values


@FAST
@given(st.integers(-(10**30), 10**30))
def test_int_round_trip(value: int) -> None:
    assert t.parse_int(t.format_int(value)) == value


@FAST
@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimal_round_trip(value: Decimal) -> None:
    raw = t.format_decimal(value)
    assert b"E" not in raw and b"e" not in raw
    assert t.parse_decimal(raw) == value


@FAST
@given(st.booleans(), st.characters(max_codepoint=255, blacklist_characters="\x01"))
def test_bool_and_char_round_trip(flag: bool, char: str) -> None:
    assert t.parse_bool(t.format_bool(flag)) is flag
    assert t.parse_char(t.format_char(char)) == char


@FAST
@given(
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)),
    st.integers(0, 999_999_999),
    st.integers(0, 9),
)
def test_utc_timestamp_round_trip(when: dt.datetime, nanos: int, precision: int) -> None:
    nanos -= nanos % 10 ** (9 - precision)
    value = t.UtcTimestamp(when.year, when.month, when.day, when.hour, when.minute, when.second, nanos, precision)
    raw = t.format_utc_timestamp(value)
    assert t.parse_utc_timestamp(raw) == value
    assert t.format_utc_timestamp(t.parse_utc_timestamp(raw)) == raw
    assert value.datetime.replace(tzinfo=None) == when.replace(microsecond=nanos // 1000)


@FAST
@given(st.datetimes(timezones=st.just(dt.timezone.utc)), st.sampled_from(["millis", "micros", "nanos"]))
def test_datetime_round_trip(when: dt.datetime, precision: str) -> None:
    raw = t.format_utc_timestamp(when, precision)
    parsed = t.parse_utc_timestamp(raw)
    expected = when if precision != "millis" else when.replace(microsecond=when.microsecond // 1000 * 1000)
    assert parsed.datetime == expected


@FAST
@given(st.times(), st.integers(0, 9))
def test_time_only_round_trip(when: dt.time, precision: int) -> None:
    value = t.UtcTimeOnly.from_time(when, precision)
    nanos = when.microsecond * 1000
    assert value.nanosecond == nanos
    raw = t.format_utc_time_only(value)
    parsed = t.parse_utc_time_only(raw)
    assert parsed.nanosecond == nanos - nanos % 10 ** (9 - precision)
    assert t.format_utc_time_only(parsed) == raw


@FAST
@given(st.dates(), st.integers(1, 5), st.booleans())
def test_dates_and_month_year_round_trip(day: dt.date, week: int, use_week: bool) -> None:
    raw = t.format_utc_date_only(day)
    assert t.parse_utc_date_only(raw) == day
    assert t.parse_local_mkt_date(t.format_local_mkt_date(day)) == day
    month = t.MonthYear(day.year, day.month, week=week) if use_week else t.MonthYear(day.year, day.month, day=day.day)
    assert t.parse_month_year(t.format_month_year(month)) == month


@FAST
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=" \x01"), min_size=1, max_size=5), min_size=1, max_size=6))
def test_multiple_value_round_trip(values: list[str]) -> None:
    assert t.parse_multiple_value(t.format_multiple_value(values)) == values
