"""The codec: decode (verify, data fields, groups), encode, encode_message, Encoder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

import pytest

from fixg.errors import (
    BodyLengthError,
    ChecksumError,
    CodecError,
    FieldError,
    GarbledMessageError,
    GroupError,
    ValueFormatError,
)
from fixg.fix.codec import (
    Encoder,
    MalformedGroupError,
    checksum,
    decode,
    encode,
    encode_body,
    encode_message,
)
from fixg.fix.message import Group, Message
from fixg.fix.spec import DictionaryLike, GroupDef, MessageDef
from fixg.fix.tags import DEFAULT_DATA_LENGTH_TAGS

SOH = b"\x01"


def wire(text: str) -> bytes:
    return text.replace("|", "\x01").encode()


def frame(body: str | bytes, begin: bytes = b"FIX.4.4") -> bytes:
    """A frame around ``body`` ("35=...|...|"), BodyLength and CheckSum computed here
    independently of the codec."""
    raw = wire(body) if isinstance(body, str) else body
    head = b"8=" + begin + b"\x019=%d\x01" % len(raw) + raw
    return head + b"10=%03d\x01" % (sum(head) % 256)


class FakeDictionary:
    """A DictionaryLike with hand-made groups."""

    def __init__(
        self,
        groups: Mapping[str, Mapping[int, GroupDef]],
        lengths: Mapping[int, int] = DEFAULT_DATA_LENGTH_TAGS,
    ) -> None:
        self._groups = groups
        self._lengths = lengths

    @property
    def data_length_tags(self) -> Mapping[int, int]:
        return self._lengths

    def group_def(self, msg_type: str, count_tag: int) -> GroupDef | None:
        found = self._groups.get(msg_type, {}).get(count_tag)
        return found if found is not None else self._groups.get("", {}).get(count_tag)


PTYS_SUB = GroupDef.make(802, "NoPartySubIDs", (523, 803), frozenset(), {})
PARTIES = GroupDef.make(453, "NoPartyIDs", (448, 447, 452, 802), frozenset(), {802: PTYS_SUB})
HOPS = GroupDef.make(627, "NoHops", (628, 629, 630), frozenset(), {})
# A group holding a tag that is also a header field (SenderCompID 49).
ODD = GroupDef.make(9000, "NoOdd", (9001, 49), frozenset(), {})
LEGS = GroupDef.make(555, "NoLegs", (600, 618, 619), frozenset(), {})
GROUPS: dict[str, dict[int, GroupDef]] = {"": {627: HOPS}, "D": {453: PARTIES, 9000: ODD}, "AB": {555: LEGS}}
DICT = FakeDictionary(GROUPS)


def message_def(msg_type: str, groups: Mapping[int, GroupDef]) -> MessageDef:
    return MessageDef(msg_type, msg_type, "app", tuple(groups), frozenset(), groups, frozenset(groups))


class ListingDictionary(FakeDictionary):
    """Also lists its messages, header and trailer, as DataDictionary does; the codec then
    knows which tags may start a group before reading the fields."""

    header = message_def("", GROUPS[""])
    trailer = message_def("", {})
    messages = {t: message_def(t, g) for t, g in GROUPS.items() if t}


LISTING = ListingDictionary(GROUPS)
both_dictionaries = pytest.mark.parametrize("dictionary", [DICT, LISTING], ids=["queried", "listing"])


# ------------------------------------------------------------------------------- checksum


@pytest.mark.parametrize("size", [0, 1, 255, 256, 257, 515, 516, 1000, 70_000])
def test_checksum_matches_the_byte_sum(size: int) -> None:
    ascii_data = bytes((i * 7) % 128 for i in range(size))
    binary = bytes((i * 131 + 255) % 256 for i in range(size))
    high = b"\xff" * size
    for data in (ascii_data, binary, high):
        assert checksum(data) == sum(data) % 256


# ------------------------------------------------------------------------------- encode


def test_encode_writes_the_envelope() -> None:
    out = encode("FIX.4.4", "D", [(49, "S"), (56, "T"), (34, 7), (11, "X"), (44, Decimal("1.50"))])
    assert out.startswith(b"8=FIX.4.4\x019=")
    assert out == frame("35=D|49=S|56=T|34=7|11=X|44=1.50|")
    assert out[-7:] == b"10=%03d\x01" % (sum(out[:-7]) % 256)


def test_encode_values() -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5, 678000, dt.timezone.utc)
    out = encode("FIX.4.4", "D", [(43, True), (52, when), (75, dt.date(2024, 1, 2)), (58, "caf\u00e9")])
    assert out == frame("35=D|43=Y|52=20240102-03:04:05.678|75=20240102|58=caf\u00e9|")


def test_encode_empty_body() -> None:
    assert encode("FIX.4.4", "0", []) == frame("35=0|")
    assert encode("FIXT.1.1", "0", iter([(112, "x")])) == frame("35=0|112=x|", b"FIXT.1.1")


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ([(58, "a\x01b")], FieldError),
        ([(58, "")], FieldError),
        ([(58, b"")], FieldError),
        ([(0, "x")], FieldError),
        ([(-1, "x")], FieldError),
        ([("58", "x")], FieldError),
        ([([58], "x")], FieldError),
        ([(58,)], FieldError),
        ([(44, 1.5)], ValueFormatError),
        ([(44, Decimal("NaN"))], ValueFormatError),
        ([(58, None)], ValueFormatError),
        ([(9, 12)], FieldError),
        ([(10, "000")], FieldError),
        ([(35, "D")], FieldError),
        ([(8, "FIX.4.4")], FieldError),
    ],
)
def test_encode_refuses(fields: list[tuple[object, object]], error: type[CodecError]) -> None:
    with pytest.raises(error):
        encode("FIX.4.4", "D", fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("begin", "msg_type"), [("", "D"), ("FIX.4.4", ""), ("FIX\x01", "D"), ("FIX.4.4", "\u00e9")])
def test_encode_refuses_bad_envelope(begin: str, msg_type: str) -> None:
    with pytest.raises(FieldError):
        encode(begin, msg_type, [])


def test_encode_data_fields() -> None:
    data = b"x\x0110=000\x01"
    expected = frame(b"35=B\x0195=%d\x0196=" % len(data) + data + b"\x0158=t\x01")
    # length written from the data, or given and checked, or given as None
    assert encode("FIX.4.4", "B", [(96, data), (58, "t")]) == expected
    assert encode("FIX.4.4", "B", [(95, len(data)), (96, data), (58, "t")]) == expected
    assert encode("FIX.4.4", "B", [(95, None), (96, data), (58, "t")]) == expected
    with pytest.raises(FieldError) as info:
        encode("FIX.4.4", "B", [(95, 3), (96, data)])
    assert info.value.tag == 95
    with pytest.raises(FieldError):
        encode("FIX.4.4", "B", [(95, 3), (58, "x")])
    with pytest.raises(FieldError):
        encode("FIX.4.4", "B", [(95, 3)])


def test_encode_groups_in_dictionary_order() -> None:
    fields = [
        (49, "S"),
        (453, [[(452, 1), (448, "A"), (447, "D"), (802, [[(803, 4), (523, "s")]])], [(447, "D"), (448, "B")]]),
        (55, "IBM"),
    ]
    out = encode("FIX.4.4", "D", fields, dictionary=DICT)
    assert out == frame("35=D|49=S|453=2|448=A|447=D|452=1|802=1|523=s|803=4|448=B|447=D|55=IBM|")
    # without a dictionary the order given is kept
    out = encode("FIX.4.4", "D", fields)
    assert out == frame("35=D|49=S|453=2|452=1|448=A|447=D|802=1|803=4|523=s|447=D|448=B|55=IBM|")
    with pytest.raises(GroupError):
        encode("FIX.4.4", "D", [(453, [[(448, "A"), (55, "IBM")]])], dictionary=DICT)
    with pytest.raises(GroupError):
        encode("FIX.4.4", "D", [(453, [[(447, "D")]])], dictionary=DICT)


def test_encode_body_is_soh_led() -> None:
    assert encode_body([(11, "a"), (38, 5)]) == b"\x0111=a\x0138=5"
    assert encode_body([]) == b""


# ------------------------------------------------------------------------------- decode


def test_decode_reads_fields_in_order() -> None:
    raw = frame("35=D|49=S|56=T|34=12|58=a|58=b|55=IBM|")
    msg = decode(raw)
    assert [t for t, _ in msg] == [8, 9, 35, 49, 56, 34, 58, 58, 55, 10]
    assert msg.begin_string == "FIX.4.4"
    assert msg.msg_type == "D"
    assert msg.seq_num == 12
    assert msg.get(58) == b"a"
    assert msg.get_all(58) == [b"a", b"b"]
    assert msg.get(9) == b"%d" % (len(raw) - raw.index(b"35=") - 7)
    assert msg.get(10) == raw[-4:-1]
    assert msg.get(8) == b"FIX.4.4"
    assert msg.get(1) is None
    assert msg.frame == raw


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_decode_accepts_buffers(kind: type) -> None:
    raw = frame("35=0|")
    assert decode(kind(raw)).fields == decode(raw).fields


def test_round_trip() -> None:
    raw = frame("35=8|49=S|56=T|34=1|52=20240102-03:04:05.123|37=O|17=E|150=F|39=2|55=IBM|")
    assert encode_message(decode(raw)) == raw
    assert decode(raw).encode() == raw
    assert encode_message(Message(decode(raw).fields)) == raw


def test_encode_message_recomputes_length_and_checksum() -> None:
    msg = decode(frame("35=D|49=S|11=A|"))
    msg.set(11, "LONGER")
    out = encode_message(msg)
    assert out == frame("35=D|49=S|11=LONGER|")
    assert encode_message(msg, "FIX.4.2") == frame("35=D|49=S|11=LONGER|", b"FIX.4.2")
    with pytest.raises(FieldError):
        encode_message(Message([(35, "D")]))  # no BeginString
    with pytest.raises(FieldError):
        encode_message(Message([(8, "FIX.4.4"), (11, "x")]))  # no MsgType
    assert encode_message(Message([(11, "x"), (35, "D")]), "FIX.4.4") == frame("35=D|11=x|")


GOOD = frame("35=D|49=S|56=T|34=1|11=A|")


def with_checksum(body: bytes) -> bytes:
    return body + b"10=%03d\x01" % (sum(body) % 256)


@pytest.mark.parametrize(
    ("raw", "error", "tag", "offset"),
    [
        (GOOD[:-4] + b"%03d\x01" % ((int(GOOD[-4:-1]) + 1) % 256), ChecksumError, 10, len(GOOD) - 7),
        (GOOD.replace(b"9=25", b"9=26"), BodyLengthError, 9, 10),
        (GOOD.replace(b"9=25", b"9=24"), BodyLengthError, 9, 10),
        (GOOD.replace(b"9=25", b"9=2x"), BodyLengthError, 9, 10),
        (GOOD.replace(b"9=25", b"9="), BodyLengthError, 9, 10),
        (GOOD[10:], GarbledMessageError, 8, 0),  # no BeginString
        (GOOD.replace(b"9=25\x01", b""), GarbledMessageError, 9, 10),  # no BodyLength
        (with_checksum(b"8=FIX.4.4\x019=20\x0149=S\x0156=T\x0134=1\x0111=A\x01"), GarbledMessageError, 35, 15),
        (GOOD[:-7], GarbledMessageError, 10, None),  # no CheckSum
        (GOOD[:-2] + b"\x01", GarbledMessageError, 10, None),  # two-digit CheckSum
        (GOOD[:-1], GarbledMessageError, 10, None),  # not terminated
        (b"", GarbledMessageError, 8, 0),
        (b"8=\x019=0\x0135=D\x0110=000\x01", GarbledMessageError, 8, 0),
    ],
)
def test_garbled_frames(raw: bytes, error: type[CodecError], tag: int, offset: int | None) -> None:
    with pytest.raises(error) as info:
        decode(raw)
    assert info.value.tag == tag
    if offset is not None:
        assert info.value.offset == offset
    assert info.value.reason


@pytest.mark.parametrize(
    ("body", "error", "tag"),
    [
        ("35=D|4x9=S|", FieldError, None),  # non-numeric tag
        ("35=D|=S|", FieldError, None),  # empty tag
        ("35=D|049=S|", FieldError, None),  # leading zero
        ("35=D|49S|", FieldError, None),  # no '='
        ("35=D|49=|", FieldError, 49),  # empty value
        ("35=D||49=S|", FieldError, None),  # empty field
        ("35=D|1234567890=S|", FieldError, None),  # tag too long
        ("35=D|10=000|49=S|", GarbledMessageError, 10),  # duplicate CheckSum
        ("35=D|9=5|49=S|", GarbledMessageError, 9),  # stray BodyLength
        ("35=D|8=FIX.4.4|", GarbledMessageError, 8),  # stray BeginString
    ],
)
def test_bad_fields(body: str, error: type[CodecError], tag: int | None) -> None:
    raw = frame(body)
    with pytest.raises(error) as info:
        decode(raw)
    assert info.value.tag == tag
    field_start = raw.index(wire(body)) + wire(body).index(b"\x01") + 1
    assert info.value.offset == field_start


def test_verify_false_accepts_any_well_formed_fields() -> None:
    msg = decode(wire("35=D|49=S|10=1|55=X|"), verify=False)
    assert [t for t, _ in msg] == [35, 49, 10, 55]
    assert msg.get(35) == b"D"
    assert decode(GOOD.replace(b"9=25", b"9=99"), verify=False).get(11) == b"A"
    for bad in (b"", b"35=D", b"35=D\x01x\x01", b"35=\x01", b"a=b\x01"):
        with pytest.raises(FieldError):
            decode(bad, verify=False)


# ------------------------------------------------------------------------------- data fields


def test_data_fields_may_hold_soh_and_checksum_text() -> None:
    data = b"\x0110=123\x0155=FAKE\x01"
    raw = frame(b"35=D\x0149=S\x0195=%d\x0196=" % len(data) + data + b"\x0155=IBM\x01")
    msg = decode(raw)
    assert msg.get(96) == data
    assert msg.get(55) == b"IBM"
    assert msg.get_int(95) == len(data)
    assert [t for t, _ in msg] == [8, 9, 35, 49, 95, 96, 55, 10]
    assert encode_message(msg) == raw


@pytest.mark.parametrize(("length", "data"), [(90, 91), (93, 89), (212, 213), (354, 355), (445, 446), (621, 622)])
def test_standard_data_pairs(length: int, data: int) -> None:
    value = b"<a\x01b>"
    raw = frame(b"35=D\x01%d=5\x01%d=" % (length, data) + value + b"\x01")
    assert decode(raw).get(data) == value


def test_data_field_errors() -> None:
    cases = [
        (b"35=D\x0195=9\x0196=abc\x01", FieldError, 96),  # runs past the frame into the trailer
        (b"35=D\x0195=2\x0196=abc\x01", FieldError, 96),  # no SOH after 2 bytes
        (b"35=D\x0195=3\x0158=abc\x01", FieldError, 95),  # not followed by its data field
        (b"35=D\x0195=x\x0196=abc\x01", FieldError, 95),  # length not a number
    ]
    for body, error, tag in cases:
        with pytest.raises(error) as info:
            decode(frame(body))
        assert info.value.tag == tag, body
        assert info.value.offset is not None
    # a data field whose length swallows the CheckSum field leaves no CheckSum at the end
    with pytest.raises(GarbledMessageError) as garbled:
        decode(frame(b"35=D\x0195=10\x0196=abc\x01"))
    assert garbled.value.tag == 96
    assert "not the last" in garbled.value.reason
    with pytest.raises(FieldError):
        decode(wire("35=D|95=3|"), verify=False)


def test_dictionary_data_length_tags() -> None:
    custom = FakeDictionary({}, {5001: 5002})
    raw = frame(b"35=D\x015001=3\x015002=a\x01b\x01")
    assert decode(raw, custom).get(5002) == b"a\x01b"
    with pytest.raises(FieldError):
        decode(raw)  # 5001 is not a length tag by default: "b" is not a field
    # with the custom table, 95 is an ordinary field
    assert decode(frame("35=D|95=3|58=x|"), custom).get(95) == b"3"
    assert encode("FIX.4.4", "D", [(5002, b"a\x01b")], dictionary=custom) == raw


# ------------------------------------------------------------------------------- groups


NESTED = "35=D|49=S|627=1|628=H|629=20240101-00:00:00|453=2|448=A|447=D|452=1|802=2|523=s1|803=1|523=s2|803=2|448=B|447=D|55=IBM|"


@both_dictionaries
def test_groups_nested_two_deep(dictionary: DictionaryLike) -> None:
    msg = decode(frame(NESTED), dictionary)
    hops = msg.group(627)
    assert len(hops) == 1 and hops[0].get(628) == b"H"
    parties = msg.group(453)
    assert [p.get(448) for p in parties] == [b"A", b"B"]
    subs = parties[0].group(802)
    assert [(s.get(523), s.get_int(803)) for s in subs] == [(b"s1", 1), (b"s2", 2)]
    assert parties[1].group(802) == []
    assert msg.get(55) == b"IBM"
    assert msg.get(448) is None  # a group member, not a top-level field
    assert encode_message(msg) == frame(NESTED)
    # without a dictionary, the same frame is flat
    flat = decode(frame(NESTED))
    assert flat.get(448) == b"A"
    assert flat.fields == msg.fields


@both_dictionaries
def test_group_member_that_is_also_a_header_tag(dictionary: DictionaryLike) -> None:
    msg = decode(frame("35=D|49=HEADER|9000=2|9001=1|49=IN1|9001=2|49=IN2|55=X|"), dictionary)
    assert msg.get(49) == b"HEADER"
    assert msg.get_all(49) == [b"HEADER"]
    assert [g.get(49) for g in msg.group(9000)] == [b"IN1", b"IN2"]
    # without the dictionary, every occurrence is visible
    assert decode(frame("35=D|49=HEADER|9000=1|9001=1|49=IN1|")).get_all(49) == [b"HEADER", b"IN1"]


@both_dictionaries
def test_a_tag_outside_the_group_ends_it(dictionary: DictionaryLike) -> None:
    msg = decode(frame("35=D|453=1|448=A|447=D|55=IBM|452=3|"), dictionary)
    assert msg.group(453)[0].fields == [(448, b"A"), (447, b"D")]
    assert msg.get(452) == b"3"  # after the group ended, a top-level field


@pytest.mark.parametrize(
    ("body", "tag"),
    [
        ("35=D|453=3|448=A|447=D|448=B|447=D|55=X|", 453),  # too few instances
        ("35=D|453=1|448=A|447=D|448=B|447=D|55=X|", 453),  # too many
        ("35=D|453=0|448=A|55=X|", 453),
        ("35=D|453=1|447=D|448=A|55=X|", 447),  # the first field is not the delimiter
        ("35=D|453=x|448=A|", 453),  # the count is not a number
        ("35=D|453=-1|448=A|", 453),
        ("35=D|453=1|448=A|802=2|523=s|55=X|", 802),  # nested count mismatch
    ],
)
@both_dictionaries
def test_group_errors_carry_tag_and_offset(body: str, tag: int, dictionary: DictionaryLike) -> None:
    raw = frame(body)
    with pytest.raises(GroupError) as info:
        decode(raw, dictionary)
    assert info.value.tag == tag
    assert info.value.offset is not None
    assert raw[info.value.offset :].startswith(b"%d=" % tag)


@pytest.mark.parametrize(
    ("body", "reason", "ref_tag"),
    [
        ("35=D|34=12|453=3|448=A|447=D|448=B|447=D|55=X|", 16, 453),
        ("35=D|34=12|453=1|448=A|447=D|448=B|447=D|55=X|", 16, 453),
        ("35=D|34=12|453=0|448=A|55=X|", 16, 453),
        ("35=D|34=12|453=1|447=D|448=A|55=X|", 15, 453),  # RefTagID: the group, not 447
        ("35=D|34=12|453=x|448=A|", 6, 453),
        ("35=D|34=12|453=-1|448=A|", 6, 453),
        ("35=D|34=12|453=9999999999|448=A|", 16, 453),
        ("35=D|34=12|453=1|448=A|802=2|523=s|55=X|", 16, 802),  # the nested group's count
        ("35=D|34=12|453=1|448=A|802=1|803=1|523=s|55=X|", 15, 802),
        ("35=D|34=12|627=2|628=H|55=X|", 16, 627),  # a header group
    ],
)
@both_dictionaries
def test_group_errors_carry_what_a_session_reject_needs(
    body: str, reason: int, ref_tag: int, dictionary: DictionaryLike
) -> None:
    for raw, verify in ((frame(body), True), (wire(body), False)):
        with pytest.raises(MalformedGroupError) as info:
            decode(raw, dictionary, verify=verify)
        exc = info.value
        assert isinstance(exc, GroupError) and isinstance(exc, CodecError)
        assert (exc.session_reject_reason, exc.ref_tag_id) == (reason, ref_tag)
        assert (exc.msg_type, exc.seq_num) == ("D", 12)


@both_dictionaries
def test_group_error_without_msg_type_or_seq_num(dictionary: DictionaryLike) -> None:
    with pytest.raises(MalformedGroupError) as info:
        decode(wire("49=S|34=x|627=2|628=H|"), dictionary, verify=False)
    assert (info.value.msg_type, info.value.seq_num, info.value.ref_tag_id) == (None, None, 627)


def test_group_error_pickles() -> None:
    import pickle

    with pytest.raises(MalformedGroupError) as info:
        decode(frame("35=D|34=3|453=2|448=A|55=X|"), DICT)
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is MalformedGroupError and str(again) == str(info.value)
    assert vars(again) == vars(info.value)


@both_dictionaries
def test_encode_side_group_errors_are_plain_group_errors(dictionary: DictionaryLike) -> None:
    with pytest.raises(GroupError) as info:
        encode("FIX.4.4", "D", [(453, [[(447, "D")]])], dictionary=dictionary)  # no delimiter
    assert not isinstance(info.value, MalformedGroupError)


# A group whose delimiter is a nested group, nested three deep: each ASGN instance starts
# with a RISK group, each RISK instance with a PARTIES group (which holds PTYS_SUB).
RELATED = GroupDef.make(146, "NoRelatedSym", (55, 48), frozenset(), {})
RISK = GroupDef.make(
    1669, "NoRiskLimits", (453, 1530, 146), frozenset(), {453: PARTIES, 146: RELATED}
)
ASGN = GroupDef.make(1499, "NoAsgnReqs", (1669, 1498, 1500), frozenset(), {1669: RISK})
LEADS = {"CC": {1499: ASGN}, "": {627: HOPS}}


class LeadListingDictionary(FakeDictionary):
    header = message_def("", LEADS[""])
    trailer = message_def("", {})
    messages = {"CC": message_def("CC", LEADS["CC"])}


lead_dictionaries = pytest.mark.parametrize(
    "dictionary", [FakeDictionary(LEADS), LeadListingDictionary(LEADS)], ids=["queried", "listing"]
)

LEAD_FIELDS: list[tuple[int, object]] = [
    (34, 5),
    (1497, "REQ"),
    (
        1499,
        [
            # members given out of order: encode puts them in dictionary order
            [
                (1500, "last"),
                (1669, [[(1530, 1), (453, [[(452, 1), (448, "P1"), (447, "D")]])]]),
                (1498, 7),
            ],
            [
                (
                    1669,
                    [
                        [(453, [[(448, "P2"), (802, [[(803, 4), (523, "s")]])], [(448, "P3")]])],
                        [(146, [[(55, "IBM")], [(55, "MSFT")]]), (453, [])],
                    ],
                )
            ],
        ],
    ),
    (58, "TOP"),
]
LEAD_WIRE = (
    "35=CC|34=5|1497=REQ|1499=2|"
    "1669=1|453=1|448=P1|447=D|452=1|1530=1|1498=7|1500=last|"
    "1669=2|453=2|448=P2|802=1|523=s|803=4|448=P3|453=0|146=2|55=IBM|55=MSFT|"
    "58=TOP|"
)


@lead_dictionaries
def test_group_whose_delimiter_is_a_nested_group(dictionary: DictionaryLike) -> None:
    raw = encode("FIX.4.4", "CC", LEAD_FIELDS, dictionary=dictionary)
    assert raw == frame(LEAD_WIRE)
    msg = decode(raw, dictionary)
    asgn = msg.group(1499)
    assert len(asgn) == 2
    assert asgn[0].fields[0] == (1669, b"1") and asgn[0].get(1498) == b"7"
    assert asgn[0].get(1500) == b"last"
    risk = asgn[0].group(1669)
    assert len(risk) == 1 and risk[0].get(1530) == b"1"
    assert [p.get(448) for p in risk[0].group(453)] == [b"P1"]
    risk = asgn[1].group(1669)
    assert [[p.get(448) for p in r.group(453)] for r in risk] == [[b"P2", b"P3"], []]
    assert risk[0].group(453)[0].group(802)[0].get(523) == b"s"
    assert [s.get(55) for s in risk[1].group(146)] == [b"IBM", b"MSFT"]
    # nothing of the groups leaks to the top level
    assert msg.get(58) == b"TOP"
    for tag in (1669, 453, 448, 1530, 1498, 146, 802, 523, 55):
        assert tag not in msg
    assert encode_message(msg) == raw
    # encode (dictionary order) -> decode -> encode, from the decoded structure too
    rebuilt = [(34, 5), (1497, "REQ"), (1499, asgn), (58, "TOP")]
    again = encode("FIX.4.4", "CC", rebuilt, dictionary=dictionary)
    assert again == raw
    assert encode_message(Message(msg.fields)) == raw


@pytest.mark.parametrize(
    ("body", "reason", "ref_tag", "tag"),
    [
        # the lead group's count is wrong
        ("1499=1|1669=2|453=0|1530=1|55=X|", 16, 1669, 1669),
        # the lead group's own lead group's count is wrong
        ("1499=1|1669=1|453=2|448=A|55=X|", 16, 453, 453),
        # an instance starting with a member other than the lead group
        ("1499=1|1498=7|1669=1|453=0|55=X|", 15, 1499, 1498),
        ("1499=1|1669=1|1530=1|453=0|55=X|", 15, 1669, 1530),
        # one instance more than announced (the second starts with the lead group again)
        ("1499=1|1669=1|453=0|1498=1|1669=1|453=0|55=X|", 16, 1499, 1499),
    ],
)
@lead_dictionaries
def test_group_errors_in_nested_delimiters(
    body: str, reason: int, ref_tag: int, tag: int, dictionary: DictionaryLike
) -> None:
    raw = frame("35=CC|34=9|" + body)
    with pytest.raises(MalformedGroupError) as info:
        decode(raw, dictionary)
    exc = info.value
    assert (exc.session_reject_reason, exc.ref_tag_id, exc.tag) == (reason, ref_tag, tag)
    assert (exc.msg_type, exc.seq_num) == ("CC", 9)
    assert exc.offset is not None and raw[exc.offset :].startswith(b"%d=" % tag)


def reframe(raw: bytes, old: bytes, new: bytes) -> bytes:
    """``raw`` with ``old`` replaced by ``new`` in its body, BodyLength and CheckSum redone."""
    body = raw[raw.index(b"\x0135=") + 1 : raw.rindex(b"10=")]
    return frame(body.replace(old, new), raw[2 : raw.index(b"\x01")])


def _fixt() -> DictionaryLike:
    from fixg.fix.dictionary import load_builtin

    return load_builtin("FIXT.1.1")


HEAD = [(49, "S"), (56, "T"), (34, 2), (52, b"20240102-03:04:05.000")]


def test_fix50sp2_stream_assignment_request_no_asgn_reqs() -> None:
    # NoAsgnReqs(1499) starts with NoPartyIDs(453)
    fixt = _fixt()
    fields = HEAD + [
        (1497, "R1"),
        (1498, 1),
        (
            1499,
            [
                [(146, [[(55, "IBM")]]), (453, [[(452, 1), (448, "P"), (447, "D")]])],
                [(453, [[(448, "Q"), (447, "D")], [(448, "R"), (447, "D")]])],
            ],
        ),
    ]
    raw = encode("FIXT.1.1", "CC", fields, dictionary=fixt)
    assert b"\x011499=2\x01453=1\x01448=P\x01447=D\x01452=1\x01146=1\x0155=IBM\x01453=2\x01" in raw
    msg = decode(raw, fixt)
    reqs = msg.group(1499)
    assert [len(r.group(453)) for r in reqs] == [1, 2]
    assert reqs[0].fields[:2] == [(453, b"1"), (448, b"P")]
    assert [s.get(55) for s in reqs[0].group(146)] == [b"IBM"]
    assert [p.get(448) for p in reqs[1].group(453)] == [b"Q", b"R"]
    assert 448 not in msg and 55 not in msg and msg.get(1498) == b"1"
    assert encode_message(msg) == raw
    assert encode("FIXT.1.1", "CC", HEAD + [(1497, "R1"), (1498, 1), (1499, reqs)], dictionary=fixt) == raw
    from fixg.fix.dictionary import DataDictionary
    from fixg.fix.validation import validate

    assert isinstance(fixt, DataDictionary)
    assert validate(msg, fixt) is None
    with pytest.raises(MalformedGroupError) as info:
        decode(reframe(raw, b"\x01453=2\x01", b"\x01453=3\x01"), fixt)
    assert (info.value.session_reject_reason, info.value.ref_tag_id) == (16, 453)
    assert (info.value.msg_type, info.value.seq_num) == ("CC", 2)


def test_fix50sp2_two_levels_of_leading_groups() -> None:
    # NoPhysicalSettlTerms(40204) starts with 40209 in NewOrderSingle; in PartyRiskLimitsReport
    # NoPartyRiskLimits(1677) starts with NoPartyDetails(1671) and holds NoRiskLimits(1669),
    # which starts with NoRiskLimitTypes(1529)
    fixt = _fixt()
    order = HEAD + [
        (11, "A"),
        (40204, [[(40205, "T1"), (40209, [[(40210, 1), (40211, "X")]])]]),
        (54, "1"),
        (60, b"20240102-03:04:05.000"),
        (40, "1"),
    ]
    raw = encode("FIXT.1.1", "D", order, dictionary=fixt)
    assert b"\x0140204=1\x0140209=1\x0140210=1\x0140211=X\x0140205=T1\x01" in raw
    msg = decode(raw, fixt)
    terms = msg.group(40204)
    assert terms[0].get(40205) == b"T1" and terms[0].group(40209)[0].get(40211) == b"X"
    assert 40210 not in msg and 40205 not in msg and msg.get(54) == b"1"
    assert encode_message(msg) == raw

    report = HEAD + [
        (1667, 1),
        (
            1677,
            [
                [
                    (1669, [[(1534, [[(1535, "S")]]), (1529, [[(1530, 1), (1531, 100)]])]]),
                    (1671, [[(1691, "P1"), (1692, "D")]]),
                ]
            ],
        ),
        (58, "done"),
    ]
    raw = encode("FIXT.1.1", "CM", report, dictionary=fixt)
    assert wire(
        "|1677=1|1671=1|1691=P1|1692=D|1669=1|1529=1|1530=1|1531=100|1534=1|1535=S|58=done|"
    ) in raw
    msg = decode(raw, fixt)
    limits = msg.group(1677)
    assert limits[0].group(1671)[0].get(1691) == b"P1"
    risk = limits[0].group(1669)
    assert risk[0].group(1529)[0].get_int(1531) == 100
    assert risk[0].group(1534)[0].get(1535) == b"S"
    assert msg.get(58) == b"done" and 1530 not in msg and 1691 not in msg
    assert encode_message(msg) == raw
    assert encode("FIXT.1.1", "CM", HEAD + [(1667, 1), (1677, limits), (58, "done")], dictionary=fixt) == raw


@both_dictionaries
def test_header_tag_in_a_group_is_placed_by_position(dictionary: DictionaryLike) -> None:
    # 49 in the header and in group 9000: each read from its own place; the group's
    # occurrences are not top-level, even with no header occurrence at all
    raw = frame("35=D|49=HEADER|627=1|628=H|9000=1|9001=1|49=IN1|55=X|")
    msg = decode(raw, dictionary)
    assert msg.get(49) == b"HEADER" and msg.get_all(49) == [b"HEADER"]
    assert msg.group(9000)[0].fields == [(9001, b"1"), (49, b"IN1")]
    assert msg.group(627)[0].fields == [(628, b"H")]
    assert encode_message(msg) == raw
    inner_only = decode(frame("35=D|9000=1|9001=1|49=IN1|55=X|"), dictionary)
    assert inner_only.get(49) is None and 49 not in inner_only
    assert inner_only.group(9000)[0].get(49) == b"IN1"


@pytest.mark.parametrize("dictionary", [None, DICT, LISTING], ids=["none", "queried", "listing"])
def test_group_of_an_absent_count_tag_is_empty(dictionary: DictionaryLike | None) -> None:
    plain = decode(frame("35=D|49=S|55=X|"), dictionary)
    assert plain.group(453) == [] and plain.group(453, PARTIES) == []
    with_data = decode(frame(b"35=D\x0195=3\x0196=a\x01b\x0155=X\x01"), dictionary)
    assert with_data.group(453) == [] and with_data.get(96) == b"a\x01b"
    grouped = decode(frame("35=D|453=1|448=A|802=1|523=s|55=X|"), DICT)
    assert grouped.group(627) == [] and grouped.group(453)[0].group(9000) == []
    assert Message([(35, "D")]).group(453) == [] and Group([(448, "A")]).group(802) == []
    with pytest.raises(FieldError):
        plain.group(0)


def test_message_group_with_definition_fills_msg_type_and_seq_num() -> None:
    msg = Message([(35, "D"), (34, 4), (453, "2"), (448, "A"), (55, "X")])
    with pytest.raises(MalformedGroupError) as info:
        msg.group(453, PARTIES)
    assert (info.value.session_reject_reason, info.value.ref_tag_id) == (16, 453)
    assert (info.value.msg_type, info.value.seq_num) == ("D", 4)


@both_dictionaries
def test_groups_with_data_fields_inside(dictionary: DictionaryLike) -> None:
    data = b"x\x01y"
    raw = frame(b"35=AB\x01555=2\x01600=L1\x01618=3\x01619=" + data + b"\x01600=L2\x0155=X\x01")
    msg = decode(raw, dictionary)
    legs = msg.group(555)
    assert [leg.get(600) for leg in legs] == [b"L1", b"L2"]
    assert legs[0].get(619) == data
    assert encode_message(msg) == raw


@both_dictionaries
def test_group_count_zero(dictionary: DictionaryLike) -> None:
    msg = decode(frame("35=D|453=0|55=X|"), dictionary)
    assert msg.group(453) == []
    assert msg.get(55) == b"X"


# ------------------------------------------------------------------------------- Encoder


def test_encoder_stamps_header() -> None:
    encoder = Encoder("FIX.4.4", "SENDER", "TARGET")
    out = encoder.encode("D", 42, b"20240102-03:04:05.678", [(11, "A"), (38, 100)])
    assert out == frame("35=D|49=SENDER|56=TARGET|34=42|52=20240102-03:04:05.678|11=A|38=100|")
    msg = decode(out)
    assert msg.seq_num == 42
    # a pre-encoded body and per-message header fields
    body = encode_body([(11, "A"), (38, 100)])
    out = encoder.encode(
        "D", 43, b"20240102-03:04:06.000", body, header=[(43, True), (122, b"20240102-03:04:05.678")]
    )
    assert out == frame(
        "35=D|49=SENDER|56=TARGET|34=43|52=20240102-03:04:06.000|43=Y|122=20240102-03:04:05.678|11=A|38=100|"
    )
    assert encoder.encode("0", 1, b"20240102-03:04:05") == frame(
        "35=0|49=SENDER|56=TARGET|34=1|52=20240102-03:04:05|"
    )


def test_encoder_extra_header_fields_and_errors() -> None:
    encoder = Encoder("FIXT.1.1", "S", "T", header=[(50, "desk"), (1128, "9")])
    assert encoder.encode("0", 1, b"20240102-03:04:05") == frame(
        "35=0|49=S|56=T|50=desk|1128=9|34=1|52=20240102-03:04:05|", b"FIXT.1.1"
    )
    with pytest.raises(FieldError):
        encoder.encode("0", -1, b"20240102-03:04:05")
    with pytest.raises(FieldError):
        encoder.encode("0", 1, b"")
    with pytest.raises(FieldError):
        encoder.encode("", 1, b"20240102-03:04:05")
    with pytest.raises(FieldError):
        Encoder("FIX.4.4", "", "T")


# ------------------------------------------------------------------------------- fixg demo


def test_demo_command_round_trips(capsys: pytest.CaptureFixture[str]) -> None:
    from fixg.cli import main

    assert main(["demo", "--codec", "--chunk", "3"]) == 0
    out = capsys.readouterr().out
    assert "NoPartyIDs(453)=2 | PartyID(448)=TRADER-7" in out
    assert "1 frame(s), 12 junk byte(s) skipped, 0 garbled" in out
    assert "Price          Decimal('412.35')" in out
    assert "re-encoded identical: True" in out


@both_dictionaries
@pytest.mark.parametrize("verify", [True, False])
def test_dictionary_decode_without_groups_keeps_the_frame(dictionary: DictionaryLike, verify: bool) -> None:
    raw = frame("35=D|49=S|11=A|55=IBM|")
    msg = decode(raw, dictionary, verify=verify)
    assert msg.get(55) == b"IBM"
    assert msg.group(453) == []
    with pytest.raises(GroupError):
        msg.group(55)  # structure is known: 55 starts no group
    # only the dictionary that lists its groups can tell at once that none is present
    assert (msg.frame == raw) is (dictionary is LISTING)
    assert encode_message(msg) == raw
    assert msg == decode(raw)


@both_dictionaries
def test_dictionary_groups_per_message_type(dictionary: DictionaryLike) -> None:
    # 453 is a group in "D" only; 627 (header) in every message type
    assert decode(frame("35=8|453=1|448=A|"), dictionary).get(448) == b"A"
    msg = decode(frame("35=8|627=1|628=H|55=X|"), dictionary)
    assert [h.get(628) for h in msg.group(627)] == [b"H"]
    assert msg.get(628) is None
    msg = decode(wire("35=D|453=1|448=A|55=X|"), dictionary, verify=False)
    assert msg.group(453)[0].get(448) == b"A"
    msg = decode(wire("49=S|453=1|448=A|"), dictionary, verify=False)  # no MsgType: header only
    assert msg.get(448) == b"A"


def test_with_the_builtin_fix44_dictionary() -> None:
    from fixg.fix.dictionary import load_builtin

    fix44 = load_builtin("FIX.4.4")
    fields = [
        (49, "S"),
        (56, "T"),
        (34, 1),
        (52, b"20240102-03:04:05.000"),
        (11, "A"),
        (453, [[(452, 3), (448, "P1"), (447, "D")], [(448, "P2"), (447, "D"), (802, [[(523, "x"), (803, 2)]])]]),
        (55, "IBM"),
        (54, "1"),
        (60, b"20240102-03:04:05.000"),
        (40, "1"),
    ]
    raw = encode("FIX.4.4", "D", fields, dictionary=fix44)
    assert b"453=2\x01448=P1\x01447=D\x01452=3\x01448=P2" in raw
    msg = decode(raw, fix44)
    assert [p.get(448) for p in msg.group(453)] == [b"P1", b"P2"]
    assert msg.group(453)[1].group(802)[0].get(523) == b"x"
    assert msg.get(448) is None
    plain = decode(encode("FIX.4.4", "D", [(11, "A"), (55, "IBM")]), fix44)
    assert plain.frame is not None and plain.get(55) == b"IBM"
    data = decode(encode("FIX.4.4", "B", [(148, "h"), (355, b"a\x01b")], dictionary=fix44), fix44)
    assert data.get_int(354) == 3 and data.get(355) == b"a\x01b"
