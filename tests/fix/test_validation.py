"""Validation against a data dictionary: every corpus dictionary accepts its own sample
messages; each kind of problem gives the right SessionRejectReason(373) and RefTagID(371);
each option switches its check off."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixg.errors import RemoteProtocolError
from fixg.fix.dictionary import DataDictionary, load_builtin
from fixg.fix.message import Message
from fixg.fix.spec import GroupDef, MessageDef
from fixg.fix.validation import (
    SessionRejectReason,
    ValidationFailure,
    ValidationOptions,
    is_valid_format,
    validate,
)

REPO = Path(__file__).resolve().parents[2]
SPEC_DIR = Path(os.environ.get("FIXG_FIXSPEC_DIR") or REPO / ".." / "shared" / "fixspec")
needs_spec = pytest.mark.skipif(
    not (SPEC_DIR / "FIX44.xml").is_file(),
    reason=f"FIX spec corpus not found at {SPEC_DIR} (set FIXG_FIXSPEC_DIR)",
)

Fields = list[tuple[int, bytes]]


@dataclass
class Flat:
    """The least a message needs to be validated: its flat fields."""

    fields: Sequence[tuple[int, bytes]]


def fields_of(*pairs: tuple[int, str | bytes]) -> Fields:
    return [(tag, value.encode() if isinstance(value, str) else value) for tag, value in pairs]


# --------------------------------------------------------------------------- sample messages

# A valid value for every type of the corpus; enumerated fields take their first value.
TYPE_VALUES: dict[str, bytes] = {
    "INT": b"7",
    "LENGTH": b"4",
    "NUMINGROUP": b"1",
    "SEQNUM": b"3",
    "TAGNUM": b"55",
    "DAYOFMONTH": b"15",
    "FLOAT": b"1.5",
    "QTY": b"100",
    "PRICE": b"12.25",
    "PRICEOFFSET": b"-0.5",
    "AMT": b"1000.00",
    "PERCENTAGE": b"0.25",
    "CHAR": b"X",
    "BOOLEAN": b"Y",
    "STRING": b"abc",
    "UTCTIMESTAMP": b"20240102-03:04:05.678",
    "TIME": b"20240102-03:04:05",
    "UTCTIMEONLY": b"03:04:05.678",
    "LOCALMKTTIME": b"03:04:05",
    "UTCDATEONLY": b"20240102",
    "UTCDATE": b"20240102",
    "DATE": b"20240102",
    "LOCALMKTDATE": b"20240102",
    "MONTHYEAR": b"202401",
    "MULTIPLEVALUESTRING": b"A B",
    "MULTIPLESTRINGVALUE": b"A B",
    "MULTIPLECHARVALUE": b"A B",
    "TZTIMEONLY": b"03:04:05Z",
    "TZTIMESTAMP": b"20240102-03:04:05-05:00",
    "COUNTRY": b"US",
    "CURRENCY": b"USD",
    "EXCHANGE": b"XNYS",
    "LANGUAGE": b"en",
    "XID": b"id1",
    "XIDREF": b"id1",
    "DATA": b"da\x01ta",  # a data field may hold SOH
    "XMLDATA": b"<a>\x01</a>",
}


def sample_value(dd: DataDictionary, tag: int) -> bytes:
    fdef = dd.fields[tag]
    if fdef.enums:
        return next(iter(fdef.enums)).encode()
    return TYPE_VALUES[fdef.type]


def sample_scope(
    dd: DataDictionary, definition: MessageDef | GroupDef, *, everything: bool = False
) -> Fields:
    """The required fields of one scope in dictionary order (all of them with
    ``everything``), each required group with one instance, a data field with its length."""
    data_to_length = {data: length for length, data in dd.data_length_tags.items()}
    members = definition.members
    wanted = set(members if everything else definition.required)
    if isinstance(definition, GroupDef):
        wanted.add(definition.delimiter)
    for tag in list(wanted):  # a length and its data field go together
        if data_to_length.get(tag) in members:
            wanted.add(data_to_length[tag])
        if dd.data_length_tags.get(tag) in members:
            wanted.add(dd.data_length_tags[tag])
    out: Fields = []
    for tag in definition.order:
        if tag not in wanted or tag in (8, 9, 35, 10):
            continue
        group = definition.groups.get(tag)
        if group is not None:
            out.append((tag, b"1"))
            out += sample_scope(dd, group, everything=everything)
        elif tag in dd.data_length_tags and dd.data_length_tags[tag] in wanted:
            continue  # written just before its data field
        elif tag in data_to_length and data_to_length[tag] in wanted:
            data = sample_value(dd, tag)
            out += [(data_to_length[tag], b"%d" % len(data)), (tag, data)]
        else:
            out.append((tag, sample_value(dd, tag)))
    return out


def sample_body(dd: DataDictionary, msg_type: str, *, everything: bool = False) -> Fields:
    """Every field after MsgType(35) and before CheckSum(10): header, body, trailer."""
    return [
        *sample_scope(dd, dd.header, everything=everything),
        *sample_scope(dd, dd.messages[msg_type], everything=everything),
        *sample_scope(dd, dd.trailer, everything=everything),
    ]


# Every dictionary of the corpus with the transport it runs over: FIX 5.0 application
# dictionaries have no header of their own.
CORPUS = [
    ("FIX40", None),
    ("FIX41", None),
    ("FIX42", None),
    ("FIX43", None),
    ("FIX44", None),
    ("FIXT11", None),
    ("FIX50", "FIXT11"),
    ("FIX50SP1", "FIXT11"),
    ("FIX50SP2", "FIXT11"),
]
_loaded: dict[tuple[str, str | None], DataDictionary] = {}


def corpus_dictionary(app: str, transport: str | None) -> DataDictionary:
    key = (app, transport)
    if key not in _loaded:
        _loaded[key] = DataDictionary.from_xml(
            SPEC_DIR / f"{app}.xml",
            transport=None if transport is None else SPEC_DIR / f"{transport}.xml",
        )
    return _loaded[key]


@needs_spec
@pytest.mark.parametrize(("app", "transport"), CORPUS, ids=[c[0] for c in CORPUS])
def test_every_dictionary_validates_its_own_sample_messages(
    app: str, transport: str | None
) -> None:
    codec = pytest.importorskip("fixg.fix.codec")
    dd = corpus_dictionary(app, transport)
    for msg_type in dd.messages:
        frame = codec.encode(dd.begin_string, msg_type, sample_body(dd, msg_type), dictionary=dd)
        message = codec.decode(frame, dd)
        assert message.msg_type == msg_type
        assert validate(message, dd) is None, (msg_type, frame)
        # Groups are read from the flat fields, so decoding without a dictionary works too.
        assert validate(codec.decode(frame), dd) is None, (msg_type, frame)


@needs_spec
@pytest.mark.parametrize(("app", "transport"), CORPUS, ids=[c[0] for c in CORPUS])
def test_every_dictionary_accepts_messages_with_every_field(
    app: str, transport: str | None
) -> None:
    """Every optional field, component and group (one instance) present, in dictionary order."""
    dd = corpus_dictionary(app, transport)
    for msg_type in dd.messages:
        fields = fields_of((8, dd.begin_string), (9, "0"), (35, msg_type))
        fields += [*sample_body(dd, msg_type, everything=True), (10, b"000")]
        assert validate(Flat(fields), dd) is None, msg_type


@pytest.mark.parametrize("name", ["FIX.4.2", "FIX.4.4", "FIXT.1.1"])
def test_builtins_validate_their_sample_messages(name: str) -> None:
    dd = load_builtin(name)
    for msg_type in dd.messages:
        fields = fields_of((8, dd.begin_string), (9, "0"), (35, msg_type))
        fields += [*sample_body(dd, msg_type), (10, b"000")]
        assert validate(Message(fields), dd) is None, msg_type


# --------------------------------------------------------------------------- each failure

FIX44 = load_builtin("FIX.4.4")

HEADER = fields_of(
    (8, "FIX.4.4"), (9, "0"), (35, "D"), (49, "CLIENT"), (56, "BROKER"), (34, "12"),
    (52, "20240102-03:04:05.678"),
)  # fmt: skip
PARTIES = fields_of(
    (453, "2"),
    (448, "P1"), (447, "D"), (452, "1"), (802, "1"), (523, "desk-7"), (803, "1"),
    (448, "P2"), (447, "D"), (452, "3"),
)  # fmt: skip
BODY = fields_of(
    (11, "ord-1"), (1, "ACC"), (18, "1 2"), (55, "IBM"), (200, "202412"), (54, "1"),
    (60, "20240102-03:04:05"), (38, "100"), (40, "2"), (44, "12.5"), (58, "a note"),
)  # fmt: skip
TRAILER = fields_of((10, "000"))
ORDER = HEADER + BODY[:1] + PARTIES + BODY[1:] + TRAILER


def replaced(fields: Fields, tag: int, value: str, occurrence: int = 0) -> Fields:
    out = list(fields)
    positions = [i for i, (t, _) in enumerate(out) if t == tag]
    out[positions[occurrence]] = (tag, value.encode())
    return out


def removed(fields: Fields, tag: int, occurrence: int = 0) -> Fields:
    out = list(fields)
    positions = [i for i, (t, _) in enumerate(out) if t == tag]
    del out[positions[occurrence]]
    return out


def inserted(fields: Fields, before: int, *pairs: tuple[int, str], occurrence: int = 0) -> Fields:
    out = list(fields)
    at = [i for i, (t, _) in enumerate(out) if t == before][occurrence]
    out[at:at] = fields_of(*pairs)
    return out


def check(
    fields: Fields,
    reason: int,
    tag: int | None,
    *,
    dd: DataDictionary = FIX44,
    off: ValidationOptions | None = None,
) -> ValidationFailure:
    """``fields`` fail with ``reason`` and RefTagID ``tag``; with the options ``off`` they pass."""
    failure = validate(Flat(fields), dd)
    assert failure is not None, "expected a failure"
    assert (failure.session_reject_reason, failure.ref_tag_id) == (reason, tag), failure.text
    assert failure.ref_msg_type == dict(fields).get(35, b"").decode()
    assert failure.text.startswith(
        {
            0: "Invalid tag number",
            1: "Required tag missing",
            2: "Tag not defined for this message type",
            3: "Undefined Tag",
            4: "Tag specified without a value",
            5: "Value is incorrect",
            6: "Incorrect data format",
            11: "Invalid MsgType",
            13: "Tag appears more than once",
            14: "Tag specified out of required order",
            15: "Repeating group fields out of order",
            16: "Incorrect NumInGroup count",
        }[reason]
    )
    if off is not None:
        assert validate(Flat(fields), dd, off) is None
    return failure


def test_the_base_message_is_valid() -> None:
    assert validate(Flat(ORDER), FIX44) is None
    assert validate(Message(ORDER), FIX44) is None


def test_failure_carries_what_a_reject_needs() -> None:
    failure = check(removed(ORDER, 11), 1, 11)
    assert failure == ValidationFailure(
        session_reject_reason=SessionRejectReason.REQUIRED_TAG_MISSING,
        ref_tag_id=11,
        ref_msg_type="D",
        ref_seq_num=12,
        text="Required tag missing, field=ClOrdID(11)",
        business_reject=False,
    )
    error = failure.as_error()
    assert isinstance(error, RemoteProtocolError)
    assert (error.session_reject_reason, error.ref_tag_id) == (1, 11)
    assert validate(Flat(removed(removed(ORDER, 11), 34)), FIX44) == ValidationFailure(
        1, 34, "D", None, "Required tag missing, field=MsgSeqNum(34)"
    )


def test_required_tag_missing() -> None:
    check(removed(ORDER, 54), 1, 54)  # body
    check(removed(ORDER, 52), 1, 52)  # header
    check(removed(ORDER, 35), 1, 35)


def test_tag_not_defined_for_this_message_type() -> None:
    message = inserted(ORDER, 10, (112, "test-req"))  # TestReqID belongs to Heartbeat/TestRequest
    check(message, 2, 112, off=ValidationOptions(allow_unknown_msg_fields=True))
    # A group member outside its group is not a body field.
    check(inserted(ORDER, 10, (523, "x")), 2, 523)


def test_invalid_and_undefined_tags() -> None:
    check(
        inserted(ORDER, 10, (4999, "x")),
        0,
        4999,
        off=ValidationOptions(allow_unknown_msg_fields=True),
    )
    check(
        inserted(ORDER, 10, (5999, "x")),
        3,
        5999,
        off=ValidationOptions(validate_user_defined_fields=False),
    )
    # Each option covers its own range only.
    assert validate(
        Flat(inserted(ORDER, 10, (4999, "x"))),
        FIX44,
        ValidationOptions(validate_user_defined_fields=False),
    )
    assert validate(
        Flat(inserted(ORDER, 10, (5999, "x"))),
        FIX44,
        ValidationOptions(allow_unknown_msg_fields=True),
    )


def test_tag_specified_without_a_value() -> None:
    off = ValidationOptions(validate_fields_have_values=False)
    check(replaced(ORDER, 58, ""), 4, 58, off=off)
    check(replaced(ORDER, 38, ""), 4, 38, off=off)  # no format check of an empty value when off
    check(replaced(ORDER, 447, ""), 4, 447, off=off)  # in a group


@pytest.mark.parametrize(
    ("tag", "value"),
    [(54, "Z"), (18, "1 ?"), (18, "? 1"), (447, "?"), (803, "999"), (43, "N" * 2)],
    ids=["char", "multiple-last", "multiple-first", "in-group", "nested-group", "boolean"],
)
def test_value_is_incorrect(tag: int, value: str) -> None:
    message = inserted(ORDER, 49, (43, value)) if tag == 43 else replaced(ORDER, tag, value)
    # A two-letter Boolean is a format error before it is an enum error.
    check(message, 6 if tag == 43 else 5, tag)


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        (38, "1e5"),  # QTY
        (44, "12,5"),  # PRICE
        (60, "2024-01-02T03:04:05"),  # UTCTIMESTAMP
        (52, "20240102-25:04:05"),  # in the header
        (200, "2024"),  # MONTHYEAR
        (452, "one"),  # INT, in a group
        (803, "1.0"),  # INT, in a nested group
        (34, "-1"),  # SEQNUM
    ],
)
def test_incorrect_data_format(tag: int, value: str) -> None:
    check(replaced(ORDER, tag, value), 6, tag)


def test_more_formats_through_a_message() -> None:
    check(inserted(ORDER, 58, (75, "20240230")), 6, 75)  # LOCALMKTDATE: no 30 February
    assert validate(Flat(inserted(ORDER, 58, (75, "20240229"))), FIX44) is None
    check(inserted(ORDER, 49, (43, "y")), 6, 43)  # BOOLEAN is Y or N


def test_tag_appears_more_than_once() -> None:
    check(inserted(ORDER, 10, (1, "ACC2")), 13, 1)  # body
    check(inserted(ORDER, 52, (49, "OTHER")), 13, 49)  # header
    check(inserted(ORDER, 452, (447, "D")), 13, 447)  # one group instance
    # The same tag in two instances is not a repetition.
    assert validate(Flat(ORDER), FIX44) is None


def test_out_of_required_order() -> None:
    off = ValidationOptions(validate_fields_out_of_order=False)
    header_late = removed(inserted(ORDER, 58, (49, "CLIENT")), 49)
    check(header_late, 14, 49, off=off)
    body_late = inserted(ORDER, 10, (93, "2"), (89, "ab"), (58, "after the trailer"))
    body_late = removed(body_late, 58)
    check(body_late, 14, 58, off=off)
    swapped = list(ORDER)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    check(swapped, 14, 35, off=off)
    checksum_early = removed(ORDER, 10)
    checksum_early.insert(-1, (10, b"000"))
    check(checksum_early, 14, 58, off=off)


def test_repeating_group_fields_out_of_order() -> None:
    off = ValidationOptions(validate_unordered_group_fields=False)
    swapped = list(ORDER)
    at = swapped.index((447, b"D"))
    swapped[at], swapped[at + 1] = swapped[at + 1], swapped[at]  # 448, 452, 447
    check(swapped, 15, 447, off=off)
    # An instance that does not start with the delimiter is wrong whatever the option.
    no_delimiter = removed(ORDER, 448)
    check(no_delimiter, 15, 447)
    assert validate(Flat(no_delimiter), FIX44, off) is not None


def test_incorrect_numingroup_count() -> None:
    check(replaced(ORDER, 453, "3"), 16, 453)
    check(replaced(ORDER, 453, "1"), 16, 453)
    check(replaced(ORDER, 802, "2"), 16, 802)  # nested
    check(replaced(ORDER, 453, "0"), 16, 453)
    check(replaced(ORDER, 453, "two"), 6, 453)
    empty = [f for f in ORDER if f[0] not in (448, 447, 452, 802, 523, 803)]
    assert validate(Flat(replaced(empty, 453, "0")), FIX44) is None


def test_invalid_msg_type() -> None:
    failure = check(replaced(ORDER, 35, "ZZ"), 11, 35)
    assert not failure.business_reject and failure.ref_msg_type == "ZZ"
    check(replaced(ORDER, 35, ""), 4, 35)


def test_data_fields() -> None:
    with_data = inserted(ORDER, 10, (93, "5"), (89, "si\x01gn"))
    assert validate(Flat(with_data), FIX44) is None
    check(replaced(with_data, 93, "five"), 6, 93)


# --------------------------------------------------------------------------- custom dictionary

# A bilateral dictionary: a user-defined message type and user-defined fields (5000+).
CUSTOM_XML = """<fix type="FIX" major="4" minor="4" servicepack="0">
 <header>
  <field name="BeginString" required="Y"/><field name="BodyLength" required="Y"/>
  <field name="MsgType" required="Y"/><field name="SenderCompID" required="Y"/>
  <field name="TargetCompID" required="Y"/><field name="MsgSeqNum" required="Y"/>
  <field name="SendingTime" required="Y"/>
 </header>
 <trailer><field name="CheckSum" required="Y"/></trailer>
 <messages>
  <message name="NewOrderSingle" msgtype="D" msgcat="app">
   <field name="ClOrdID" required="Y"/>
   <component name="Instrument" required="Y"/>
   <field name="Side" required="Y"/>
   <field name="TraderTags" required="N"/>
  </message>
  <message name="RiskLimitUpdate" msgtype="U1" msgcat="app">
   <field name="RiskLimitID" required="Y"/>
   <group name="NoRiskLimits" required="Y">
    <field name="RiskLimitName" required="Y"/>
    <component name="Instrument" required="N"/>
    <field name="RiskLimitAmount" required="Y"/>
   </group>
   <field name="DeskColour" required="N"/>
  </message>
 </messages>
 <components>
  <component name="Instrument">
   <field name="Symbol" required="Y"/><field name="SecurityID" required="N"/>
  </component>
 </components>
 <fields>
  <field number="8" name="BeginString" type="STRING"/>
  <field number="9" name="BodyLength" type="LENGTH"/>
  <field number="10" name="CheckSum" type="STRING"/>
  <field number="11" name="ClOrdID" type="STRING"/>
  <field number="34" name="MsgSeqNum" type="SEQNUM"/>
  <field number="35" name="MsgType" type="STRING">
   <value enum="D" description="ORDER_SINGLE"/><value enum="8" description="EXECUTION_REPORT"/>
  </field>
  <field number="48" name="SecurityID" type="STRING"/>
  <field number="49" name="SenderCompID" type="STRING"/>
  <field number="52" name="SendingTime" type="UTCTIMESTAMP"/>
  <field number="54" name="Side" type="CHAR">
   <value enum="1" description="BUY"/><value enum="2" description="SELL"/>
  </field>
  <field number="55" name="Symbol" type="STRING"/>
  <field number="56" name="TargetCompID" type="STRING"/>
  <field number="58" name="Text" type="STRING"/>
  <field number="5001" name="DeskColour" type="CHAR">
   <value enum="R" description="RED"/><value enum="G" description="GREEN"/>
  </field>
  <field number="5002" name="TraderTags" type="MULTIPLESTRINGVALUE">
   <value enum="VIP" description="VIP"/><value enum="ALGO" description="ALGO"/>
  </field>
  <field number="5003" name="RiskLimitID" type="STRING"/>
  <field number="5004" name="NoRiskLimits" type="NUMINGROUP"/>
  <field number="5005" name="RiskLimitName" type="STRING"/>
  <field number="5006" name="RiskLimitAmount" type="AMT"/>
 </fields>
</fix>
"""


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> DataDictionary:
    path = tmp_path_factory.mktemp("dict") / "custom44.xml"
    path.write_text(CUSTOM_XML, encoding="utf-8")
    return DataDictionary.from_xml(path)


def custom_message(msg_type: str, *body: tuple[int, str]) -> Fields:
    return fields_of(
        (8, "FIX.4.4"), (9, "0"), (35, msg_type), (49, "A"), (56, "B"), (34, "5"),
        (52, "20240102-03:04:05"), *body, (10, "000"),
    )  # fmt: skip


RISK = custom_message(
    "U1",
    (5003, "limits-1"),
    (5004, "2"),
    (5005, "gross"), (55, "IBM"), (5006, "1000000"),
    (5005, "net"), (5006, "250000.50"),
    (5001, "G"),
)  # fmt: skip


def test_custom_message_with_user_defined_fields(custom: DataDictionary) -> None:
    assert validate(Flat(RISK), custom) is None
    assert (
        validate(
            Flat(custom_message("D", (11, "o"), (55, "X"), (54, "2"), (5002, "VIP ALGO"))), custom
        )
        is None
    )


def test_custom_failures(custom: DataDictionary) -> None:
    off = ValidationOptions(validate_user_defined_fields=False)
    check(removed(RISK, 5006, 1), 1, 5006, dd=custom)  # required in the second instance
    check(removed(RISK, 5004), 2, 5005, dd=custom)  # group members without their group
    check(inserted(RISK, 10, (5002, "VIP")), 2, 5002, dd=custom, off=off)  # not in U1
    check(replaced(RISK, 5001, "Q"), 5, 5001, dd=custom)
    # Enumerations and formats of defined user fields are checked whatever the option.
    assert validate(Flat(replaced(RISK, 5001, "Q")), custom, off) is not None
    check(replaced(RISK, 5006, "lots"), 6, 5006, dd=custom)
    order = custom_message("D", (11, "o"), (55, "X"), (54, "2"), (5002, "VIP NOPE"))
    check(order, 5, 5002, dd=custom)


def test_unsupported_message_types_are_business_rejects(custom: DataDictionary) -> None:
    # ExecutionReport(8) is a FIX message type (MsgType's values list it) this dictionary
    # does not define; U-prefixed types are user-defined.
    for msg_type in ("8", "U7"):
        failure = check(custom_message(msg_type, (58, "x")), 11, 35, dd=custom)
        assert failure.business_reject and failure.ref_msg_type == msg_type
        assert "Unsupported" in failure.text or "unsupported" in failure.text
    assert not check(custom_message("X9", (58, "x")), 11, 35, dd=custom).business_reject


# --------------------------------------------------------------------------- other versions


def test_fixt_header_group_and_app_messages() -> None:
    dd = load_builtin("FIXT.1.1")
    base = fields_of(
        (8, "FIXT.1.1"), (9, "0"), (35, "D"), (1128, "9"), (49, "A"), (56, "B"), (34, "7"),
        (52, "20240102-03:04:05.123456789"), (627, "1"), (628, "HUB"), (629, "20240102-03:04:05"),
        (11, "o-1"), (54, "1"), (60, "20240102-03:04:05"), (40, "1"), (38, "5"), (10, "000"),
    )  # fmt: skip
    assert validate(Flat(base), dd) is None
    check(replaced(base, 627, "2"), 16, 627, dd=dd)
    check(replaced(base, 1128, "77"), 5, 1128, dd=dd)
    logon = fields_of(
        (8, "FIXT.1.1"), (9, "0"), (35, "A"), (49, "A"), (56, "B"), (34, "1"),
        (52, "20240102-03:04:05"), (98, "0"), (108, "30"), (1137, "9"), (10, "000"),
    )  # fmt: skip
    assert validate(Flat(logon), dd) is None
    check(removed(logon, 1137), 1, 1137, dd=dd)


def test_fix40_char_fields_hold_strings() -> None:
    if not (SPEC_DIR / "FIX40.xml").is_file():
        pytest.skip("no corpus")
    dd = corpus_dictionary("FIX40", None)
    assert dd.field(8).type == "CHAR"
    heartbeat = fields_of(
        (8, "FIX.4.0"), (9, "0"), (35, "0"), (49, "SENDER"), (56, "TARGET"), (34, "1"),
        (52, "20240102-03:04:05"), (10, "000"),
    )  # fmt: skip
    assert validate(Flat(heartbeat), dd) is None
    assert validate(Flat(heartbeat), FIX44) is None


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("fix_type", "good", "bad"),
    [
        ("INT", ["0", "-12", "007"], ["", "1.0", "+1", "x"]),
        ("SEQNUM", ["0", "12"], ["-1", "1.5"]),
        ("NUMINGROUP", ["0", "3"], ["-1", "a"]),
        ("DAYOFMONTH", ["1", "31"], ["0", "32"]),
        ("PRICE", ["1", "-1.5", ".5", "5."], ["1e3", "1,5", "--1", "."]),
        ("CHAR", ["A", "1"], ["AB", ""]),
        ("BOOLEAN", ["Y", "N"], ["y", "T", "YES"]),
        (
            "UTCTIMESTAMP",
            ["20240102-03:04:05", "20240102-03:04:05.123456789"],
            ["20240102 03:04:05", "20241302-03:04:05"],
        ),
        ("UTCTIMEONLY", ["23:59:60", "00:00:00.5"], ["24:00:00", "1:2:3"]),
        ("UTCDATEONLY", ["20240229"], ["20230229", "2024-02-28"]),
        ("LOCALMKTDATE", ["19991231"], ["1999123"]),
        ("MONTHYEAR", ["202401", "20240115", "202401w2"], ["2024", "202413", "202401w9"]),
        ("MULTIPLEVALUESTRING", ["A", "A B C"], ["A  B", " A", "A "]),
        ("MULTIPLECHARVALUE", ["A B"], ["AB C"]),
        (
            "TZTIMEONLY",
            ["07:39Z", "02:39-05", "15:39:00+08:00", "13:09+05:30"],
            ["07:39Y", "25:00Z"],
        ),
        (
            "TZTIMESTAMP",
            ["20060901-07:39Z", "20060901-02:39:00-05:00"],
            ["20060901 07:39Z", "20060931-07:39Z"],
        ),
        ("STRING", ["anything at all", ""], []),
        ("CURRENCY", ["USD"], []),
        ("SOMETHINGNEW", ["??"], []),
    ],
)
def test_value_formats(fix_type: str, good: Iterable[str], bad: Iterable[str]) -> None:
    for value in good:
        assert is_valid_format(fix_type, value.encode()), value
    for value in bad:
        assert not is_valid_format(fix_type, value.encode()), value
    assert is_valid_format(fix_type.lower(), next(iter(good)).encode())


# --------------------------------------------------------------------------- robustness

_TAGS = sorted({*FIX44.fields, *range(1, 20), 4999, 5000, 5001, 9999})


@settings(max_examples=150, deadline=None)
@given(
    msg_type=st.sampled_from(["D", "8", "A", "0", "V", "ZZ", ""]),
    body=st.lists(
        st.tuples(
            st.sampled_from(_TAGS),
            st.one_of(
                st.binary(max_size=6), st.sampled_from([b"0", b"1", b"2", b"D", b"Y", b"20240102"])
            ),
        ),
        max_size=30,
    ),
    options=st.builds(
        ValidationOptions,
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.booleans(),
    ),
)
def test_anything_gets_an_answer_never_an_exception(
    msg_type: str, body: list[tuple[int, bytes]], options: ValidationOptions
) -> None:
    fields = [(8, b"FIX.4.4"), (9, b"0"), (35, msg_type.encode()), *body, (10, b"000")]
    result = validate(Flat(fields), FIX44, options)
    if result is not None:
        assert result.session_reject_reason in set(SessionRejectReason)
        assert result.ref_tag_id is None or result.ref_tag_id > 0
        assert result.text
