"""Message and Group: reads, typed getters, changes, groups."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from fixg.errors import FieldError, GroupError, ValueFormatError
from fixg.fix.codec import decode, encode
from fixg.fix.message import Group, Message
from fixg.fix.spec import GroupDef
from fixg.fix.types import MonthYear, UtcTimeOnly, UtcTimestamp

PTYS_SUB = GroupDef.make(802, "NoPartySubIDs", (523, 803), frozenset(), {})
PARTIES = GroupDef.make(453, "NoPartyIDs", (448, 447, 452, 802), frozenset(), {802: PTYS_SUB})


def parties_message() -> Message:
    return Message(
        [
            (35, "D"),
            (49, "SENDER"),
            (11, "ORD-1"),
            (
                453,
                [
                    [(448, "BRKR"), (447, "D"), (452, 1), (802, [[(523, "desk"), (803, 4)]])],
                    [(448, "CLNT"), (447, "D"), (452, 3)],
                ],
            ),
            (55, "IBM"),
        ]
    )


# ------------------------------------------------------------------------------- reads


def test_reads() -> None:
    msg = Message([(35, "8"), (55, "IBM"), (58, "a"), (58, "b")])
    assert msg.get(55) == b"IBM"
    assert msg[55] == b"IBM"
    assert msg.get(99) is None
    assert msg.get(99, b"x") == b"x"
    assert 55 in msg and 99 not in msg and "55" not in msg
    assert msg.get_all(58) == [b"a", b"b"]
    assert msg.get(58) == b"a"  # the first occurrence
    with pytest.raises(KeyError):
        msg[99]
    assert len(msg) == 4
    assert list(msg) == [(35, b"8"), (55, b"IBM"), (58, b"a"), (58, b"b")]
    assert msg.fields == list(msg)


def test_typed_getters() -> None:
    msg = Message(
        [
            (35, "D"),
            (34, 42),
            (38, 100),
            (44, Decimal("12.50")),
            (43, True),
            (54, "1"),
            (58, "caf\u00e9"),
            (52, UtcTimestamp(2024, 1, 2, 3, 4, 5, 123_456_789, 9)),
            (273, UtcTimeOnly(1, 2, 3, 0, 0)),
            (272, dt.date(2024, 1, 2)),
            (75, b"20240103"),
            (200, MonthYear(2024, 6, week=2)),
            (18, "1 2 G"),
        ]
    )
    assert msg.get_int(38) == 100
    assert msg.get_decimal(44) == Decimal("12.50")
    assert msg.get_bool(43) is True
    assert msg.get_char(54) == "1"
    assert msg.get_str(58) == "caf\u00e9"
    stamp = msg.get_timestamp(52)
    assert stamp is not None and stamp.nanosecond == 123_456_789
    assert msg.get_utc_time_only(273) == UtcTimeOnly(1, 2, 3, 0, 0)
    assert msg.get_utc_date_only(272) == dt.date(2024, 1, 2)
    assert msg.get_local_mkt_date(75) == dt.date(2024, 1, 3)
    assert msg.get_month_year(200) == MonthYear(2024, 6, week=2)
    assert msg.get_multiple_value(18) == ["1", "2", "G"]
    assert msg.get_int(999) is None
    assert msg.get_int(999, 7) == 7
    assert msg.msg_type == "D"
    assert msg.seq_num == 42


def test_a_bad_tag_is_an_error_not_a_miss() -> None:
    frame_backed = decode(encode("FIX.4.4", "0", [(49, "A")]))
    assert frame_backed.frame is not None
    for msg in (Message([(55, "IBM")]), frame_backed):
        for bad in ("55", 0, -1, None):
            with pytest.raises(FieldError):
                msg.get(bad)  # type: ignore[arg-type]
            assert bad not in msg


def test_typed_getter_errors_carry_the_tag() -> None:
    msg = Message([(38, "abc")])
    with pytest.raises(ValueFormatError) as info:
        msg.get_int(38)
    assert info.value.tag == 38


def test_header_properties_when_missing() -> None:
    msg = Message([(55, "IBM")])
    for prop, tag in (("msg_type", 35), ("begin_string", 8), ("seq_num", 34)):
        with pytest.raises(FieldError) as info:
            getattr(msg, prop)
        assert info.value.tag == tag


def test_values_are_converted_on_the_way_in() -> None:
    msg = Message(
        [
            (1, b"raw"),
            (2, "text"),
            (3, 7),
            (4, Decimal("1E+2")),
            (5, False),
            (6, dt.datetime(2024, 1, 2, 3, 4, 5, 6000, dt.timezone.utc)),
            (7, dt.date(2024, 1, 2)),
            (8, dt.time(3, 4, 5)),
        ]
    )
    assert [v for _, v in msg] == [
        b"raw",
        b"text",
        b"7",
        b"100",
        b"N",
        b"20240102-03:04:05.006",
        b"20240102",
        b"03:04:05.000",
    ]
    with pytest.raises(ValueFormatError):
        Message([(44, 1.5)])
    with pytest.raises(FieldError):
        Message([(0, "x")])
    with pytest.raises(FieldError):
        Message([("35", "x")])  # type: ignore[list-item]


# ------------------------------------------------------------------------------- changes


def test_set_append_remove() -> None:
    msg = Message([(35, "D"), (58, "a"), (55, "IBM"), (58, "b")])
    msg.set(58, "c")
    assert msg.get_all(58) == [b"c", b"b"]
    msg.set(44, Decimal("1.5"))
    assert msg.fields[-1] == (44, b"1.5")
    msg.append(58, "d")
    assert msg.get_all(58) == [b"c", b"b", b"d"]
    assert msg.remove(58) == 3
    assert 58 not in msg
    assert msg.remove(58) == 0
    assert msg.fields == [(35, b"D"), (55, b"IBM"), (44, b"1.5")]


def test_append_goes_before_a_trailing_checksum_and_changes_drop_the_frame() -> None:
    frame = encode("FIX.4.4", "0", [(49, "A"), (56, "B")])
    msg = decode(frame)
    assert msg.frame == frame
    msg.append(112, "ping")
    assert msg.frame is None
    assert [tag for tag, _ in msg][-2:] == [112, 10]
    assert decode(msg.encode()).get(112) == b"ping"


def test_set_data_field_updates_its_length() -> None:
    msg = Message([(35, "B"), (95, 3), (96, b"abc")])
    msg.set(96, b"a\x01bcd")
    assert msg.fields[1:] == [(95, b"5"), (96, b"a\x01bcd")]


def test_equality() -> None:
    frame = encode("FIX.4.4", "0", [(49, "A")])
    assert decode(frame) == decode(frame)
    assert decode(frame) == Message(decode(frame).fields)
    assert decode(frame) != decode(encode("FIX.4.4", "0", [(49, "B")]))
    assert Message([(1, "a")]) != [(1, b"a")]
    assert Message([(1, "a")]).__eq__(Group([(1, "a")])) is NotImplemented


def test_to_text() -> None:
    msg = Message([(35, "D"), (96, b"a\x01b")])
    assert msg.to_text() == "35=D|96=a\\x01b|"
    assert msg.to_text(" ", {35: "MsgType"}) == "MsgType(35)=D 96=a\\x01b "
    assert repr(Message([(1, "x")])) == "Message('1=x|')"


# ------------------------------------------------------------------------------- groups


def test_built_groups_are_read_as_groups() -> None:
    msg = parties_message()
    assert [tag for tag, _ in msg] == [35, 49, 11, 453, 448, 447, 452, 802, 523, 803, 448, 447, 452, 55]
    parties = msg.group(453)
    assert len(parties) == 2
    assert parties[0].get(448) == b"BRKR"
    assert parties[0].get_int(452) == 1
    assert parties[1][448] == b"CLNT"
    sub = parties[0].group(802)
    assert len(sub) == 1 and sub[0].get(523) == b"desk" and sub[0].get_int(803) == 4
    assert parties[1].group(802) == []
    # members are not top-level fields
    assert msg.get(448) is None
    assert 452 not in msg
    assert msg.get(55) == b"IBM"
    assert msg.get_int(453) == 2
    assert msg.group(999) == []


def test_groups_are_ordered_by_their_definition() -> None:
    group = Group([(452, 1), (448, "X"), (447, "D")], PARTIES)
    assert [tag for tag, _ in group] == [448, 447, 452]
    with pytest.raises(GroupError):
        Group([(448, "X"), (55, "IBM")], PARTIES)  # 55 is not a member
    with pytest.raises(GroupError):
        Group([(447, "D")], PARTIES)  # no delimiter


def test_replacing_and_removing_a_group_keeps_the_rest_in_place() -> None:
    msg = parties_message()
    msg.set(453, [[(448, "ONE"), (447, "D")]])
    assert [g.get(448) for g in msg.group(453)] == [b"ONE"]
    assert msg.get(55) == b"IBM"
    assert [tag for tag, _ in msg] == [35, 49, 11, 453, 448, 447, 55]
    msg.set(11, "ORD-2")
    msg.append(78, [[(79, "A1"), (80, 10)], [(79, "A2"), (80, 20)]])
    assert [g.get(79) for g in msg.group(78)] == [b"A1", b"A2"]
    assert msg.remove(453) == 1
    assert [tag for tag, _ in msg] == [35, 49, 11, 55, 78, 79, 80, 79, 80]
    assert [g.get(80) for g in msg.group(78)] == [b"10", b"20"]
    assert msg.get(11) == b"ORD-2"


def test_group_instances_may_be_groups_or_mappings() -> None:
    source = parties_message().group(453)
    msg = Message([(35, "D"), (453, [source[1], {448: "MAP", 447: "D"}])])
    assert [g.get(448) for g in msg.group(453)] == [b"CLNT", b"MAP"]
    with pytest.raises(GroupError):
        Message([(453, [[]])])


def test_group_without_known_structure() -> None:
    msg = Message([(35, "D"), (453, "2"), (448, "A"), (447, "D"), (448, "B"), (447, "D"), (55, "X")])
    with pytest.raises(GroupError) as info:
        msg.group(453)
    assert info.value.tag == 453
    # without structure the first occurrence anywhere is returned
    assert msg.get(448) == b"A"
    parties = msg.group(453, PARTIES)
    assert [p.get(448) for p in parties] == [b"A", b"B"]
    with pytest.raises(GroupError):
        msg.group(453, GroupDef.make(453, "NoPartyIDs", (447, 448), frozenset(), {}))


# A group whose delimiter is a nested group (FIX 5.0 SP2 NoAsgnReqs(1499) starts with
# NoPartyIDs(453)).
ASGN = GroupDef.make(1499, "NoAsgnReqs", (453, 1498), frozenset(), {453: PARTIES})


def test_group_led_by_a_nested_group_read_with_a_definition() -> None:
    flat = [(35, "CC"), (34, 3), (1499, "2"), (453, "1"), (448, "A"), (447, "D"), (1498, "1"),
            (453, "2"), (448, "B"), (802, "1"), (523, "s"), (448, "C"), (55, "X")]  # fmt: skip
    msg = Message(flat)
    requests = msg.group(1499, ASGN)
    assert [r.fields[0] for r in requests] == [(453, b"1"), (453, b"2")]
    assert [[p.get(448) for p in r.group(453)] for r in requests] == [[b"A"], [b"B", b"C"]]
    assert requests[0].get(1498) == b"1" and requests[1].get(1498) is None
    assert requests[1].group(453)[0].group(802)[0].get(523) == b"s"
    assert 448 not in requests[0]  # a member of the nested group, not of the instance


def test_group_led_by_a_nested_group_is_built_in_dictionary_order() -> None:
    group = Group([(1498, 7), (453, [[(447, "D"), (448, "A")]])], ASGN)
    assert [tag for tag, _ in group] == [453, 448, 447, 1498]
    assert group.group(453)[0].get(448) == b"A"
    msg = Message([(35, "CC"), (1499, [group])])
    assert msg.group(1499)[0].group(453)[0].get(447) == b"D"
    with pytest.raises(GroupError):
        Group([(1498, 7)], ASGN)  # no delimiter: the nested group is missing
