"""Check a FIX message against a data dictionary, the way a FIX session must before it
accepts the message.

:func:`validate` returns the first problem as a :class:`ValidationFailure`, which holds what a
session-level Reject(3) needs (SessionRejectReason(373), RefTagID(371), RefMsgType(372),
RefSeqNum(45), Text(58)), or None when the message is valid. For a MsgType the dictionary does
not define but FIX does, ``business_reject`` is set: the session answers with a
BusinessMessageReject(j), BusinessRejectReason(380) = 3 "Unsupported Message Type", instead of
a Reject (FIX 4.2 and later; FIX 4.0/4.1 have no BusinessMessageReject).

The checks, each with the SessionRejectReason it gives:

====  ================================================  ==========================================
373   problem                                           switched off by
====  ================================================  ==========================================
14    header field after the body, body field after     ``validate_fields_out_of_order=False``
      the trailer, 8/9/35 not first, 10 not last
11    MsgType not defined by the dictionary             (always checked)
13    tag repeated in the header, body, trailer or in   (always checked)
      one instance of a group
4     empty value                                       ``validate_fields_have_values=False``
0     tag (< 5000) the dictionary does not define       ``allow_unknown_msg_fields=True``
3     user-defined tag (>= 5000) it does not define     ``validate_user_defined_fields=False``
2     defined tag, not part of this message type        the same two options, by tag range
6     value not in the format of the field's type       (always checked)
5     value not among the field's enumerated values     (always checked)
15    group instance not starting with its delimiter,   ``validate_unordered_group_fields=False``
      or members out of dictionary order                (the delimiter rule is always checked)
16    NumInGroup differs from the instances present     (always checked)
1     required field missing (header, body, trailer,    (always checked)
      each group instance)
====  ================================================  ==========================================

The message is walked once, in wire order, and the first of these problems found is returned;
then, if all fields passed, the first missing required field. MsgType is checked before the
walk. Repeating groups are read from the flat field list with the dictionary's group
definitions, so a message decoded without a dictionary is validated just the same.

The options mean what QuickFIX's session settings of the same name mean; see
``docs/dictionaries.md``.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Final, Protocol

from fixg.errors import RemoteProtocolError, ValueFormatError
from fixg.fix import types as _types
from fixg.fix.dictionary import DataDictionary
from fixg.fix.message import Message
from fixg.fix.spec import FieldDef, GroupDef, MessageDef

__all__ = [
    "DEFAULT_OPTIONS",
    "MessageLike",
    "SessionRejectReason",
    "ValidationFailure",
    "ValidationOptions",
    "is_valid_format",
    "validate",
]

#: Tags from this number up are user-defined (FIX: 5000-9999, and 10000+ for internal use).
USER_DEFINED_MIN: Final = 5000

_BEGIN_STRING: Final = 8
_BODY_LENGTH: Final = 9
_CHECK_SUM: Final = 10
_MSG_SEQ_NUM: Final = 34
_MSG_TYPE: Final = 35


class SessionRejectReason(IntEnum):
    """SessionRejectReason(373) values (FIX 4.2 to 5.0 SP2)."""

    INVALID_TAG_NUMBER = 0
    REQUIRED_TAG_MISSING = 1
    TAG_NOT_DEFINED_FOR_THIS_MESSAGE_TYPE = 2
    UNDEFINED_TAG = 3
    TAG_SPECIFIED_WITHOUT_A_VALUE = 4
    VALUE_IS_INCORRECT = 5
    INCORRECT_DATA_FORMAT_FOR_VALUE = 6
    DECRYPTION_PROBLEM = 7
    SIGNATURE_PROBLEM = 8
    COMPID_PROBLEM = 9
    SENDINGTIME_ACCURACY_PROBLEM = 10
    INVALID_MSGTYPE = 11
    XML_VALIDATION_ERROR = 12
    TAG_APPEARS_MORE_THAN_ONCE = 13
    TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER = 14
    REPEATING_GROUP_FIELDS_OUT_OF_ORDER = 15
    INCORRECT_NUMINGROUP_COUNT_FOR_REPEATING_GROUP = 16
    NON_DATA_VALUE_INCLUDES_FIELD_DELIMITER = 17
    INVALID_UNSUPPORTED_APPLICATION_VERSION = 18
    OTHER = 99


#: The standard Text(58) for each reason.
REASON_TEXT: Final[Mapping[int, str]] = {
    0: "Invalid tag number",
    1: "Required tag missing",
    2: "Tag not defined for this message type",
    3: "Undefined Tag",
    4: "Tag specified without a value",
    5: "Value is incorrect (out of range) for this tag",
    6: "Incorrect data format for value",
    7: "Decryption problem",
    8: "Signature problem",
    9: "CompID problem",
    10: "SendingTime accuracy problem",
    11: "Invalid MsgType",
    12: "XML Validation error",
    13: "Tag appears more than once",
    14: "Tag specified out of required order",
    15: "Repeating group fields out of order",
    16: "Incorrect NumInGroup count for repeating group",
    17: 'Non "data" value includes field delimiter (SOH character)',
    18: "Invalid/Unsupported Application Version",
    99: "Other",
}


@dataclass(frozen=True, slots=True)
class ValidationOptions:
    """Which checks :func:`validate` makes. Each flag means what the QuickFIX session setting
    of the same name (in CamelCase) means:

    ``validate_fields_out_of_order`` (ValidateFieldsOutOfOrder): reject (14) a header field
    after the body, a body field after the trailer.
    ``validate_fields_have_values`` (ValidateFieldsHaveValues): reject (4) an empty value.
    ``validate_user_defined_fields`` (ValidateUserDefinedFields): reject a tag >= 5000 the
    dictionary does not define (3) or does not allow in this message type (2).
    ``allow_unknown_msg_fields`` (AllowUnknownMsgFields): accept a tag < 5000 the dictionary
    does not define (else 0) or does not allow in this message type (else 2).
    ``validate_unordered_group_fields`` (ValidateUnorderedGroupFields): reject (15) group
    members out of the dictionary's order within an instance.
    """

    validate_fields_out_of_order: bool = True
    validate_fields_have_values: bool = True
    validate_user_defined_fields: bool = True
    allow_unknown_msg_fields: bool = False
    validate_unordered_group_fields: bool = True


DEFAULT_OPTIONS: Final = ValidationOptions()


@dataclass(frozen=True, slots=True)
class ValidationFailure:
    """The first thing wrong with a message: what a Reject(3) - or, when ``business_reject``
    is set, a BusinessMessageReject(j) with BusinessRejectReason 3 - needs."""

    session_reject_reason: int
    ref_tag_id: int | None
    ref_msg_type: str
    ref_seq_num: int | None
    text: str
    business_reject: bool = False

    def as_error(self) -> RemoteProtocolError:
        """The failure as the exception the session layer raises for a bad inbound message."""
        return RemoteProtocolError(
            self.text,
            session_reject_reason=self.session_reject_reason,
            ref_tag_id=self.ref_tag_id,
        )


class MessageLike(Protocol):
    """What :func:`validate` reads of a message: the flat ``(tag, value)`` list in wire
    order, from BeginString(8) to CheckSum(10) (:class:`fixg.fix.message.Message` has it)."""

    @property
    def fields(self) -> Sequence[tuple[int, bytes]]: ...


# --------------------------------------------------------------------------------------------
# value formats
# --------------------------------------------------------------------------------------------

_Check = Callable[[bytes], bool]


def _parses(parse: Callable[[bytes, int | None], object]) -> _Check:
    def check(value: bytes) -> bool:
        try:
            parse(value, None)
        except ValueFormatError:
            return False
        return True

    return check


def _non_negative_int(value: bytes) -> bool:
    return value.isdigit()


def _day_of_month(value: bytes) -> bool:
    return value.isdigit() and 1 <= int(value) <= 31


def _multiple_chars(value: bytes) -> bool:
    parts = value.split(b" ")
    return all(len(part) == 1 for part in parts)


_TZ_TIME: Final = (
    rb"(?P<h>[0-9]{2}):(?P<m>[0-9]{2})(?::(?P<s>[0-9]{2})(?:\.[0-9]{1,9})?)?"
    rb"(?:Z|[+-](?P<oh>[0-9]{2})(?::?(?P<om>[0-9]{2}))?)?"
)
_TZ_TIME_ONLY_RE: Final = re.compile(_TZ_TIME + rb"\Z")
_TZ_TIMESTAMP_RE: Final = re.compile(rb"(?P<date>[0-9]{8})-" + _TZ_TIME + rb"\Z")


def _tz_parts_ok(match: re.Match[bytes]) -> bool:
    if int(match["h"]) > 23 or int(match["m"]) > 59:
        return False
    if match["s"] is not None and int(match["s"]) > 60:
        return False
    if match["oh"] is not None and int(match["oh"]) > 14:
        return False
    return not (match["om"] is not None and int(match["om"]) > 59)


def _tz_time_only(value: bytes) -> bool:
    match = _TZ_TIME_ONLY_RE.match(value)
    return match is not None and _tz_parts_ok(match)


_date_only = _parses(_types.parse_utc_date_only)


def _tz_timestamp(value: bytes) -> bool:
    match = _TZ_TIMESTAMP_RE.match(value)
    return match is not None and _tz_parts_ok(match) and _date_only(match["date"])


_int_parsed = _parses(_types.parse_int)
_timestamp_parsed = _parses(_types.parse_utc_timestamp)


def _int(value: bytes) -> bool:
    # Plain digits of a sane length are an int; anything else is left to the parser.
    return (value.isdigit() and len(value) < 1000) or _int_parsed(value)


def _decimal(value: bytes) -> bool:
    # What types.parse_decimal accepts, without building the Decimal.
    body = value[1:] if value[:1] == b"-" else value
    whole, _, frac = body.partition(b".")
    return bool(whole or frac) and (not whole or whole.isdigit()) and (not frac or frac.isdigit())


#: YYYYMMDD-HH:MM: prefixes known to be a valid date, hour and minute (bounded).
_TIMESTAMP_PREFIXES: set[bytes] = set()
_DOT: Final = 46


def _timestamp(value: bytes) -> bool:
    # The common shapes (seconds 00-59, no or a 1-9 digit fraction) under a date and minute
    # already seen valid are accepted without parsing; everything else is parsed.
    prefix = value[:15]
    if prefix in _TIMESTAMP_PREFIXES:
        n = len(value)
        seconds = value[15:17]
        if (
            seconds.isdigit()
            and len(seconds) == 2
            and seconds[0] <= 53  # "0".."5"
            and (n == 17 or (value[17] == _DOT and 18 < n < 28 and value[18:].isdigit()))
        ):
            return True
    ok = _timestamp_parsed(value)
    if ok and len(prefix) == 15 and _timestamp_parsed(prefix + b"00"):
        if len(_TIMESTAMP_PREFIXES) >= 4096:
            _TIMESTAMP_PREFIXES.clear()
        _TIMESTAMP_PREFIXES.add(prefix)
    return ok


_time_only = _parses(_types.parse_utc_time_only)
_multiple = _parses(_types.parse_multiple_value)

#: FIX type (QuickFIX spelling) -> format check. Types not listed (STRING, DATA, XMLDATA,
#: COUNTRY, CURRENCY, EXCHANGE, LANGUAGE, XID, XIDREF, ...) take any value.
_FORMAT_CHECKS: Final[Mapping[str, _Check]] = {
    "INT": _int,
    "LENGTH": _non_negative_int,
    "NUMINGROUP": _non_negative_int,
    "SEQNUM": _non_negative_int,
    "TAGNUM": _non_negative_int,
    "DAYOFMONTH": _day_of_month,
    "FLOAT": _decimal,
    "QTY": _decimal,
    "PRICE": _decimal,
    "PRICEOFFSET": _decimal,
    "AMT": _decimal,
    "PERCENTAGE": _decimal,
    "CHAR": _parses(_types.parse_char),
    "BOOLEAN": _parses(_types.parse_bool),
    "UTCTIMESTAMP": _timestamp,
    "TIME": _timestamp,  # FIX 4.0/4.1 "time": YYYYMMDD-HH:MM:SS, in UTC
    "UTCTIMEONLY": _time_only,
    "LOCALMKTTIME": _time_only,
    "UTCDATEONLY": _date_only,
    "UTCDATE": _date_only,
    "DATE": _date_only,
    "LOCALMKTDATE": _parses(_types.parse_local_mkt_date),
    "MONTHYEAR": _parses(_types.parse_month_year),
    "MULTIPLEVALUESTRING": _multiple,
    "MULTIPLESTRINGVALUE": _multiple,
    "MULTIPLECHARVALUE": lambda value: _multiple(value) and _multiple_chars(value),
    "TZTIMEONLY": _tz_time_only,
    "TZTIMESTAMP": _tz_timestamp,
}

_MULTIPLE_TYPES: Final = frozenset(
    {"MULTIPLEVALUESTRING", "MULTIPLESTRINGVALUE", "MULTIPLECHARVALUE"}
)
_STRING_CHARS: Final = frozenset({"FIX.4.0", "FIX.4.1"})


def is_valid_format(fix_type: str, value: bytes) -> bool:
    """True when ``value`` is well formed for the FIX type ``fix_type`` (QuickFIX spelling,
    any case); a type without a defined format accepts anything."""
    check = _FORMAT_CHECKS.get(fix_type.upper())
    return check is None or check(value)


# --------------------------------------------------------------------------------------------
# per-dictionary tables, built lazily
# --------------------------------------------------------------------------------------------


class _FieldRule:
    """How one defined field is checked: its format, and its allowed values as bytes."""

    __slots__ = ("fdef", "check", "enums", "multiple")

    def __init__(self, fdef: FieldDef, char_is_string: bool) -> None:
        self.fdef = fdef
        # FIX 4.0 and 4.1 "char" is a free-format string (FIX 4.2 made it one character and
        # added String); QuickFIX checks CHAR only after FIX.4.1 too.
        if char_is_string and fdef.type == "CHAR":
            self.check: _Check | None = None
        else:
            self.check = _FORMAT_CHECKS.get(fdef.type)
        self.multiple = fdef.type in _MULTIPLE_TYPES
        # MsgType's values are checked against the messages the dictionary defines instead.
        if fdef.enums and fdef.tag != _MSG_TYPE:
            self.enums: frozenset[bytes] | None = frozenset(
                value.encode("utf-8") for value in fdef.enums
            )
        else:
            self.enums = None


class _Plan:
    """Lookup tables for one dictionary."""

    __slots__ = (
        "header_top",
        "trailer_top",
        "rules",
        "positions",
        "fields",
        "msg_types",
        "char_is_string",
        "dictionary",
        "fast",
        "shapes",
    )

    def __init__(self, dictionary: DataDictionary) -> None:
        # The codec puts 8, 9, 35 first and 10 last whatever the dictionary says, so they
        # belong to the header and the trailer even for an application-only dictionary.
        self.header_top = dictionary.header.members | {_BEGIN_STRING, _BODY_LENGTH, _MSG_TYPE}
        self.trailer_top = dictionary.trailer.members | {_CHECK_SUM}
        self.fields = dictionary.fields
        self.rules: dict[int, _FieldRule] = {}
        self.positions: dict[int, tuple[GroupDef, dict[int, int]]] = {}
        msg_type = dictionary.fields.get(_MSG_TYPE)
        self.msg_types = frozenset(msg_type.enums) if msg_type is not None else frozenset()
        self.char_is_string = (dictionary.app_version or dictionary.begin_string) in _STRING_CHARS
        self.dictionary = dictionary
        #: raw MsgType -> its fast-path table (None: the MsgType is not defined)
        self.fast: dict[bytes, _FastTable | None] = {}
        #: MsgType field (``35=...``) -> the sequences of tags seen valid (see _fast_ok)
        self.shapes: dict[bytes, list[_Shape]] = {}

    def fast_table(self, raw_type: bytes) -> _FastTable | None:
        try:
            return self.fast[raw_type]
        except KeyError:
            pass
        try:
            body = self.dictionary.messages.get(raw_type.decode("utf-8"))
        except UnicodeDecodeError:
            body = None
        table = _FastTable(self, body) if body is not None else None
        if len(self.fast) < 4096:
            self.fast[raw_type] = table
        return table

    def rule(self, tag: int) -> _FieldRule | None:
        rule = self.rules.get(tag)
        if rule is None:
            fdef = self.fields.get(tag)
            if fdef is None:
                return None
            rule = self.rules[tag] = _FieldRule(fdef, self.char_is_string)
        return rule

    def order_of(self, group: GroupDef) -> dict[int, int]:
        entry = self.positions.get(id(group))
        if entry is None or entry[0] is not group:
            entry = (group, {tag: i for i, tag in enumerate(group.order)})
            self.positions[id(group)] = entry
        return entry[1]


class _FastTable:
    """One MsgType's precompiled fast path: for each tag (as the bytes it is written with)
    that may stand at the top level of this message without needing a group walk, its
    section (0 header, 1 body, 2 trailer) and a check of its value (None: any non-empty
    value). Used only to *accept* a message; anything it does not cover - an unknown or
    misplaced tag, a group, an empty or bad value, a missing required field - sends the
    message to the full walk, which finds and describes the problem."""

    __slots__ = ("entries", "required")

    def __init__(self, plan: _Plan, body: MessageDef) -> None:
        dictionary = plan.dictionary
        entries: dict[bytes, tuple[int, _Check | None]] = {}
        sections = (
            (0, plan.header_top, dictionary.header.groups),
            (2, plan.trailer_top, dictionary.trailer.groups),
            (1, body.members, body.groups),
        )
        taken: set[int] = set()
        for section, tags, groups in sections:
            for tag in tags:
                if tag in taken:
                    continue  # header before trailer before body, as the walk decides
                taken.add(tag)
                rule = plan.rule(tag)
                if rule is None or tag in groups:
                    continue
                entries[b"%d" % tag] = (section, _value_check(rule))
        self.entries = entries
        self.required = frozenset(
            b"%d" % tag
            for tag in dictionary.header.required | body.required | dictionary.trailer.required
        )


def _value_check(rule: _FieldRule) -> _Check | None:
    """One callable doing what ``_Walker.value`` checks of a non-empty value of a defined
    field: its format, then its enumeration."""
    check = rule.check
    enums = rule.enums
    if enums is None:
        return check
    if rule.multiple:
        multiple_enums = enums

        def check_multiple(value: bytes) -> bool:
            if check is not None and not check(value):
                return False
            return all(part in multiple_enums for part in value.split(b" "))

        return check_multiple
    if check is None or all(check(value) for value in enums):
        return enums.__contains__
    single_enums = enums
    fmt: _Check = check

    def check_single(value: bytes) -> bool:
        return fmt(value) and value in single_enums

    return check_single


def _fast_walk(parts: list[bytes], table: _FastTable) -> list[bytes] | None:
    """The tags of ``parts`` (a frame split at SOH, without the empty tail) when every check
    passes; None when the full walk must decide."""
    entries = table.entries
    seen: set[bytes] = set()
    add = seen.add
    tags = []
    section = 0
    for part in parts:
        tag, _, value = part.partition(b"=")
        entry = entries.get(tag)
        if entry is None or not value:
            return None
        where, check = entry
        if where != section:
            if where < section:
                return None
            section = where
        if check is not None and not check(value):
            return None
        add(tag)
        tags.append(tag)
    if len(seen) != len(parts) or not table.required <= seen:
        return None
    return tags


#: value patterns equivalent to (a subset of what passes) the format checks
_PATTERNS: Final[Mapping[_Check, bytes]] = {
    _non_negative_int: rb"[0-9]+",
    _int: rb"-?[0-9]{1,999}",
    _decimal: rb"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)",
}
_SHAPES_PER_TYPE: Final = 8


class _Shape:
    """One sequence of tags already seen to pass the structural checks, as one regular
    expression matching a whole frame of that sequence whose values pass their checks,
    except those left to ``calls`` (group number, check) after the match."""

    __slots__ = ("match", "calls")

    def __init__(self, tags: list[bytes], table: _FastTable) -> None:
        pieces: list[bytes] = []
        calls: list[tuple[int, _Check]] = []
        for i, tag in enumerate(tags):
            check = table.entries[tag][1]
            pieces.append((b"\x01" if i else b"") + re.escape(tag) + b"=")
            if check is None:
                pieces.append(rb"[^\x01]+")
            elif check in _PATTERNS:
                pieces.append(_PATTERNS[check])
            else:
                owner = getattr(check, "__self__", None)
                if type(owner) is frozenset and check == owner.__contains__:
                    pieces.append(b"(?:" + b"|".join(re.escape(v) for v in sorted(owner)) + b")")
                else:
                    pieces.append(rb"([^\x01]+)")
                    calls.append((len(calls) + 1, check))
        pieces.append(b"\x01")
        self.match = re.compile(b"".join(pieces)).fullmatch
        self.calls = tuple(calls)


def _fast_ok(frame: bytes, plan: _Plan) -> bool:
    """True when the unchanged wire ``frame`` certainly passes every check (see
    :class:`_FastTable`); False when the full walk must decide. A frame with a sequence of
    tags seen before is checked by that sequence's one regular expression."""
    first = frame.find(b"\x01")
    begin = frame.find(b"\x01", first + 1) + 1
    end = frame.find(b"\x01", begin)
    if begin <= 0 or end < 0:
        return False
    shapes = plan.shapes.get(frame[begin:end])
    if shapes is not None:
        for shape in shapes:
            m = shape.match(frame)
            if m is not None:
                for group, check in shape.calls:
                    if not check(m.group(group)):
                        return False
                return True
    parts = frame.split(b"\x01")
    if parts.pop() or len(parts) < 4:
        return False
    type_field = parts[2]
    if (
        type_field[:3] != b"35="
        or parts[0][:2] != b"8="
        or parts[1][:2] != b"9="
        or parts[-1][:3] != b"10="
    ):
        return False
    table = plan.fast_table(type_field[3:])
    if table is None:
        return False
    tags = _fast_walk(parts, table)
    if tags is None:
        return False
    if shapes is None:
        if len(plan.shapes) >= 1024:
            return True
        shapes = plan.shapes[type_field] = []
    if len(shapes) < _SHAPES_PER_TYPE:
        shapes.append(_Shape(tags, table))
    return True


_plans: weakref.WeakKeyDictionary[DataDictionary, _Plan] = weakref.WeakKeyDictionary()


def _plan(dictionary: DataDictionary) -> _Plan:
    # Equal dictionaries share one plan: everything in it follows from the contents.
    plan = _plans.get(dictionary)
    if plan is None:
        plan = _Plan(dictionary)
        _plans[dictionary] = plan
    return plan


# --------------------------------------------------------------------------------------------
# the walk
# --------------------------------------------------------------------------------------------


class _Failed(Exception):
    """Internal: stops the walk at the first problem."""

    def __init__(self, reason: int, tag: int | None, detail: str = "") -> None:
        super().__init__(reason, tag, detail)
        self.reason = reason
        self.tag = tag
        self.detail = detail


class _Walker:
    __slots__ = ("fields", "n", "plan", "options", "dictionary", "body")

    def __init__(
        self,
        fields: Sequence[tuple[int, bytes]],
        plan: _Plan,
        options: ValidationOptions,
        dictionary: DataDictionary,
        body: MessageDef,
    ) -> None:
        self.fields = fields
        self.n = len(fields)
        self.plan = plan
        self.options = options
        self.dictionary = dictionary
        self.body = body

    def checked(self, tag: int) -> bool:
        """Whether an undefined or misplaced ``tag`` is an error under the options."""
        if tag >= USER_DEFINED_MIN:
            return self.options.validate_user_defined_fields
        return not self.options.allow_unknown_msg_fields

    def value(self, tag: int, value: bytes) -> None:
        """Checks every field gets: a value, a known tag, the format, the enumeration."""
        if not value:
            if self.options.validate_fields_have_values:
                raise _Failed(4, tag)
            return
        rule = self.plan.rule(tag)
        if rule is None:
            if self.checked(tag):
                raise _Failed(3 if tag >= USER_DEFINED_MIN else 0, tag)
            return
        check = rule.check
        if check is not None and not check(value):
            raise _Failed(6, tag, f"{value.decode('utf-8', 'replace')!r} is not a {rule.fdef.type}")
        enums = rule.enums
        if enums is not None:
            if rule.multiple:
                for part in value.split(b" "):
                    if part not in enums:
                        raise _Failed(5, tag, f"{part.decode('utf-8', 'replace')!r}")
            elif value not in enums:
                raise _Failed(5, tag, f"{value.decode('utf-8', 'replace')!r}")

    def top(self) -> None:
        """The header, body and trailer fields, groups included."""
        fields = self.fields
        n = self.n
        plan = self.plan
        header_top = plan.header_top
        trailer_top = plan.trailer_top
        body = self.body
        body_members = body.members
        header_groups = self.dictionary.header.groups
        trailer_groups = self.dictionary.trailer.groups
        order_checked = self.options.validate_fields_out_of_order
        seen: set[int] = set()
        section = 0  # 0 header, 1 body, 2 trailer
        i = 0
        if order_checked:
            for position, tag in enumerate((_BEGIN_STRING, _BODY_LENGTH, _MSG_TYPE)):
                if n <= position or fields[position][0] != tag:
                    raise _Failed(14, fields[position][0] if position < n else tag)
            if fields[-1][0] != _CHECK_SUM:
                raise _Failed(14, fields[-1][0])
        while i < n:
            tag, value = fields[i]
            if tag in header_top:
                if section and order_checked:
                    raise _Failed(14, tag, "header field after the body")
                groups = header_groups
            elif tag in trailer_top:
                section = 2
                groups = trailer_groups
            else:
                if section == 2 and order_checked:
                    raise _Failed(14, tag, "body field after the trailer")
                section = max(section, 1)
                groups = body.groups
                if tag not in body_members and self.checked(tag) and tag in plan.fields:
                    raise _Failed(2, tag)
            if tag in seen:
                raise _Failed(13, tag)
            seen.add(tag)
            self.value(tag, value)
            i += 1
            group = groups.get(tag)
            if group is not None:
                i = self.group(group, value, i)
        self.required(self.dictionary.header, seen)
        self.required(body, seen)
        self.required(self.dictionary.trailer, seen)

    def required(self, definition: MessageDef | GroupDef, seen: set[int]) -> None:
        if not definition.required <= seen:
            for tag in definition.order:
                if tag in definition.required and tag not in seen:
                    raise _Failed(1, tag)

    def group(self, group: GroupDef, count_value: bytes, i: int) -> int:
        """Walk the instances of ``group`` starting at field ``i``; return the index after."""
        count_tag = group.count_tag
        if not count_value.isdigit():
            # A count the format check let through (e.g. a group whose count field a custom
            # dictionary types as STRING) still cannot be compared with the instances.
            raise _Failed(6, count_tag, "NumInGroup is not a count")
        count = int(count_value)
        fields = self.fields
        n = self.n
        delimiter = group.delimiter
        members = group.members
        nested = group.groups
        ordered = self.options.validate_unordered_group_fields
        positions = self.plan.order_of(group) if ordered else None
        instances = 0
        seen: set[int] = set()
        last = -1
        while i < n:
            tag, value = fields[i]
            if tag == delimiter:
                if instances:
                    self.required(group, seen)
                instances += 1
                seen = set()
                last = -1
            elif tag not in members:
                break
            elif not instances:
                raise _Failed(
                    15, tag, f"{group.name}({count_tag}) instance must start with {delimiter}"
                )
            if tag in seen:
                raise _Failed(13, tag, f"in one instance of {group.name}({count_tag})")
            seen.add(tag)
            if positions is not None:
                position = positions[tag]
                if position < last:
                    raise _Failed(15, tag, f"out of order in {group.name}({count_tag})")
                last = position
            self.value(tag, value)
            i += 1
            sub = nested.get(tag)
            if sub is not None:
                i = self.group(sub, value, i)
        if instances:
            self.required(group, seen)
        if instances != count:
            raise _Failed(
                16, count_tag, f"{group.name}({count_tag})={count} but {instances} instance(s)"
            )
        return i


def _first(fields: Sequence[tuple[int, bytes]], tag: int) -> bytes | None:
    for t, v in fields:
        if t == tag:
            return v
    return None


def validate(
    message: MessageLike,
    dictionary: DataDictionary,
    options: ValidationOptions = DEFAULT_OPTIONS,
) -> ValidationFailure | None:
    """The first problem with ``message`` according to ``dictionary``, or None if there is
    none. See the module docstring for the checks and their order."""
    plan = _plan(dictionary)
    if type(message) is Message:
        frame = message.frame
        if frame is not None and _fast_ok(frame, plan):
            return None
    fields = message.fields
    raw_type = _first(fields, _MSG_TYPE)
    raw_seq = _first(fields, _MSG_SEQ_NUM)
    msg_type = raw_type.decode("utf-8", "replace") if raw_type is not None else ""
    seq_num = int(raw_seq) if raw_seq is not None and raw_seq.isdigit() else None

    def failure(
        reason: int, tag: int | None, detail: str = "", business: bool = False
    ) -> ValidationFailure:
        text = REASON_TEXT.get(reason, "Other")
        if tag is not None:
            text += f", field={dictionary.tag_name(tag)}({tag})"
        if detail:
            text += f": {detail}"
        return ValidationFailure(reason, tag, msg_type, seq_num, text, business)

    if raw_type is None:
        return failure(1, _MSG_TYPE)
    body = dictionary.messages.get(msg_type)
    if body is None:
        if raw_type == b"":
            return failure(4, _MSG_TYPE)
        # Defined by FIX (or in the user-defined "U" range) but not supported here: the
        # session answers with a BusinessMessageReject "Unsupported Message Type".
        business = msg_type in plan.msg_types or msg_type.startswith("U")
        if business:
            return failure(11, _MSG_TYPE, f"unsupported message type {msg_type!r}", True)
        return failure(11, _MSG_TYPE, f"{msg_type!r}")
    try:
        _Walker(fields, plan, options, dictionary, body).top()
    except _Failed as failed:
        return failure(failed.reason, failed.tag, failed.detail)
    return None
