"""FIX tag=value codec, sans-IO: ``bytes`` in, :class:`~fixg.fix.message.Message` out, and back.

* :func:`decode` checks a frame (BodyLength(9), CheckSum(10), 8/9/35 first, 10 last), splits it
  into fields, honours length-prefixed data fields (whose values may hold SOH) and, given a
  dictionary, reads repeating groups.
* :func:`encode` writes ``8``, ``9``, ``35`` first and ``10`` last, both computed; a list
  value is a repeating group.
* :func:`encode_message` re-encodes a :class:`Message` (``encode_message(decode(b)) == b``).
* :class:`Encoder` is the session layer's fast path: the header is precomputed, each message
  costs one join and one checksum.

Every failure raises a :class:`~fixg.errors.CodecError` subclass carrying ``reason``, ``tag``
and ``offset`` (the byte offset in the frame). Nothing else escapes, whatever the input. A
malformed repeating group in a sound frame raises :class:`MalformedGroupError`, which also
carries what the session's Reject(3) needs.

Hot path notes: the checksum is taken with :func:`zlib.adler32` (its low half is 1 + the byte
sum while that sum stays below 65521, so frames are summed in chunks small enough for that to
hold); a frame with no data field and no group is checked by one regular expression and kept
as bytes, fields being found in it on demand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final
from zlib import adler32

from fixg.errors import (
    BodyLengthError,
    ChecksumError,
    CodecError,
    FieldError,
    GarbledMessageError,
)
from fixg.fix import types as _types
from fixg.fix.message import (
    NO_SPANS,
    Field,
    MalformedGroupError,
    Message,
    _Span,
    build_fields,
    parse_group,
    split_fields,
)
from fixg.fix.spec import DictionaryLike, GroupDef, MessageDef
from fixg.fix.tags import DEFAULT_DATA_LENGTH_TAGS

__all__ = [
    "decode",
    "encode",
    "encode_body",
    "encode_message",
    "checksum",
    "Encoder",
    "MalformedGroupError",
    "DEFAULT_DATA_LENGTH_TAGS",
]

_SOH: Final = b"\x01"
_MAX_TAG_DIGITS: Final = 9
_MAX_LENGTH_DIGITS: Final = 9



# ---------------------------------------------------------------------------- checksum


def checksum(data: bytes | bytearray | memoryview) -> int:
    """The FIX CheckSum of ``data``: the sum of its bytes modulo 256."""
    n = len(data)
    # adler32's low 16 bits are (1 + sum) mod 65521: exact while the sum stays below 65520,
    # which holds for 256 arbitrary bytes or 515 ASCII ones.
    if n <= 256:
        return ((adler32(data) & 0xFFFF) - 1) & 0xFF
    step = 515 if not isinstance(data, memoryview) and data.isascii() else 256
    if n <= step:
        return ((adler32(data) & 0xFFFF) - 1) & 0xFF
    view = memoryview(data)
    total = 0
    for start in range(0, n, step):
        total += (adler32(view[start : start + step]) & 0xFFFF) - 1
    return total & 0xFF


# ---------------------------------------------------------------------------- tables


def _trie(words: Iterable[str]) -> str:
    """A regular expression matching exactly ``words`` (digit strings, "" allowed)."""
    words = set(words)
    optional = "" in words
    words.discard("")
    if not words:
        return ""
    children: dict[str, set[str]] = {}
    for word in words:
        children.setdefault(word[0], set()).add(word[1:])
    leaves = sorted(c for c, rest in children.items() if rest == {""})
    alternatives = []
    if leaves:
        alternatives.append(leaves[0] if len(leaves) == 1 else "[" + "".join(leaves) + "]")
    for char in sorted(children):
        if children[char] != {""}:
            alternatives.append(char + _trie(children[char]))
    pattern = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
    if optional:
        pattern = f"(?:{pattern})?"
    return pattern


def _fields_pattern(excluded: Iterable[int], max_digits: int = _MAX_TAG_DIGITS) -> re.Pattern[bytes]:
    """A run of well-formed fields (positive tag without leading zero and of at most
    ``max_digits`` digits, '=', non-empty value, SOH) none of whose tags is in ``excluded``.
    The tag's first digit picks a branch; only digits that start an excluded tag pay for a
    look-ahead."""
    by_first: dict[str, set[str]] = {}
    for tag in excluded:
        word = str(tag)
        by_first.setdefault(word[0], set()).add(word[1:])
    free = "".join(d for d in "123456789" if d not in by_first)
    branches = [f"[{free}]"] if free else []
    for digit in sorted(by_first):
        branches.append(f"{digit}(?!{_trie(by_first[digit])}=)")
    first = "(?:" + "|".join(branches) + ")"
    return re.compile(("(?:" + first + f"[0-9]{{0,{max_digits - 1}}}+=[^\x01]++\x01)++").encode())


class _Tables:
    """What the codec derives from one table of data-length tags."""

    __slots__ = ("lengths", "data_tags", "clean", "clean_body", "prefixes")

    def __init__(self, lengths: Mapping[int, int]) -> None:
        self.lengths: dict[int, int] = dict(lengths)
        self.data_tags: dict[int, int] = {data: length for length, data in self.lengths.items()}
        # Whole frame of fields without any length field (then no value can hold SOH and
        # splitting on SOH is exact); the body variant also refuses a stray 8, 9 or 10.
        self.clean = _fields_pattern(self.lengths)
        self.clean_body = _fields_pattern([*self.lengths, 8, 9, 10])
        # b"\x01<tag>=" for the tags encode may write without a second look.
        self.prefixes: dict[int, bytes] = {}
        for tag in range(1, 1000):
            self.prefix(tag)

    def prefix(self, tag: Any) -> bytes | None:
        """The ``\\x01tag=`` prefix of an ordinary tag; None for data-length, data and
        structural tags (which take the careful path)."""
        if type(tag) is not int or tag <= 0:
            raise FieldError(f"tag must be a positive int, not {tag!r}")
        if tag in self.lengths or tag in self.data_tags or tag in (8, 9, 10, 35):
            return None
        prefix = b"\x01%d=" % tag
        if len(self.prefixes) < 8192:
            self.prefixes[tag] = prefix
        return prefix


_DEFAULT_TABLES: Final = _Tables(DEFAULT_DATA_LENGTH_TAGS)
_TABLES_CACHE: dict[int, tuple[object, _Tables]] = {}


def _tables(dictionary: DictionaryLike | None) -> _Tables:
    if dictionary is None:
        return _DEFAULT_TABLES
    lengths = dictionary.data_length_tags
    if lengths is DEFAULT_DATA_LENGTH_TAGS:
        return _DEFAULT_TABLES
    entry = _TABLES_CACHE.get(id(lengths))
    if entry is None or entry[0] is not lengths:
        if len(_TABLES_CACHE) > 64:
            _TABLES_CACHE.clear()
        entry = (lengths, _Tables(lengths))
        _TABLES_CACHE[id(lengths)] = entry
    return entry[1]


_GROUPS_CACHE: dict[int, tuple[object, dict[str, dict[int, GroupDef | None]]]] = {}


def plain_body_pattern(
    dictionary: DictionaryLike | None, excluded: Iterable[int] = ()
) -> re.Pattern[bytes]:
    """Matches (``fullmatch``) a body given as ``tag=value<SOH>...`` that :func:`encode_body`
    would write back unchanged (behind one SOH, without the last): tags below 1000 without
    leading zeros, none of them a data-length, data, 8, 9, 10, 35 or ``excluded`` tag, every
    value non-empty."""
    tables = _DEFAULT_TABLES if dictionary is None else _tables(dictionary)
    return _fields_pattern([*tables.lengths, *tables.data_tags, 8, 9, 10, 35, *excluded], 3)


def _group_lookup(dictionary: DictionaryLike, msg_type: str) -> dict[int, GroupDef | None]:
    """Per dictionary and message type: count tag -> GroupDef (None: not a group), filled
    as tags are met. Dictionaries are taken to be immutable."""
    entry = _GROUPS_CACHE.get(id(dictionary))
    if entry is None or entry[0] is not dictionary:
        if len(_GROUPS_CACHE) > 64:
            _GROUPS_CACHE.clear()
        entry = (dictionary, {})
        _GROUPS_CACHE[id(dictionary)] = entry
    per_type = entry[1].get(msg_type)
    if per_type is None:
        if len(entry[1]) > 4096:
            entry[1].clear()
        per_type = entry[1][msg_type] = {}
    return per_type


# ---------------------------------------------------------------------------- decode


_HEAD_RE: Final = re.compile(rb"8=[^\x01]{1,32}\x019=([0-9]{1,9})\x01(?=35=)")


def _verify(data: bytes) -> int:
    """Check the frame's envelope; return the offset of the MsgType(35) field."""
    head = _HEAD_RE.match(data)
    if head is not None:
        body = head.end()
        trailer = len(data) - 7
        if (
            trailer - body == int(head.group(1))
            and data.startswith(b"\x0110=", trailer - 1)
            and data[-1] == 1
        ):
            digits = data[-4:-1]
            if digits.isdigit() and int(digits) == checksum(data[:trailer]):
                return body
    return _verify_slow(data)


def _verify_slow(data: bytes) -> int:
    """:func:`_verify` without shortcuts, to say exactly what is wrong."""
    n = len(data)
    if not data.startswith(b"8="):
        raise GarbledMessageError("frame does not start with BeginString(8)", tag=8, offset=0)
    end8 = data.find(_SOH, 2)
    if end8 <= 2:
        raise GarbledMessageError("BeginString(8) is empty or not terminated", tag=8, offset=0)
    if data[end8 + 1 : end8 + 3] != b"9=":
        raise GarbledMessageError("BodyLength(9) is not the second field", tag=9, offset=end8 + 1)
    end9 = data.find(_SOH, end8 + 3)
    digits = data[end8 + 3 : end9] if end9 > 0 else b""
    if not digits.isdigit() or len(digits) > _MAX_LENGTH_DIGITS:
        raise BodyLengthError(
            f"BodyLength(9) is not a number: {digits[:16]!r}", tag=9, offset=end8 + 1
        )
    body = end9 + 1
    if data[body : body + 3] != b"35=":
        raise GarbledMessageError("MsgType(35) is not the third field", tag=35, offset=body)
    trailer = n - 7
    if (
        trailer <= body + 4
        or data[trailer - 1 : trailer + 3] != b"\x0110="
        or data[-1] != 1
        or not data[trailer + 3 : n - 1].isdigit()
    ):
        raise GarbledMessageError(
            "frame does not end with CheckSum(10)=NNN<SOH>", tag=10, offset=max(trailer, 0)
        )
    if int(digits) != trailer - body:
        raise BodyLengthError(
            f"BodyLength(9)={int(digits)} but the body has {trailer - body} bytes",
            tag=9,
            offset=end8 + 1,
        )
    expected = int(data[trailer + 3 : n - 1])
    actual = checksum(data[:trailer])
    if expected != actual:
        raise ChecksumError(
            f"CheckSum(10)={expected:03d} but the bytes sum to {actual:03d}",
            tag=10,
            offset=trailer,
        )
    return body


def _tokenize(data: bytes, lengths: Mapping[int, int]) -> tuple[list[Field], list[int]]:
    """Split ``data`` into fields, honouring length-prefixed data fields. Returns the fields
    and the byte offset of each."""
    fields: list[Field] = []
    offsets: list[int] = []
    n = len(data)
    i = 0
    pending_tag = 0  # the data tag a length field announced
    pending_len = 0
    pending_at = 0  # offset of that length field
    length_tag = 0
    find = data.find
    while i < n:
        eq = find(b"=", i)
        soh = find(_SOH, i)
        if eq < 0 or 0 <= soh < eq:
            raise FieldError("field has no '='", offset=i)
        if eq == i:
            raise FieldError("field has an empty tag", offset=i)
        raw_tag = data[i:eq]
        if not raw_tag.isdigit() or raw_tag[0] == 0x30 or len(raw_tag) > _MAX_TAG_DIGITS:
            raise FieldError(f"tag is not a positive integer: {raw_tag[:16]!r}", offset=i)
        tag = int(raw_tag)
        if pending_tag:
            if tag != pending_tag:
                raise FieldError(
                    f"length field {length_tag} must be followed by data field {pending_tag}, "
                    f"not {tag}",
                    tag=length_tag,
                    offset=pending_at,
                )
            end = eq + 1 + pending_len
            if end >= n or data[end] != 1:
                raise FieldError(
                    f"data field {tag} is not {pending_len} bytes followed by SOH",
                    tag=tag,
                    offset=i,
                )
            value = data[eq + 1 : end]
            pending_tag = 0
        else:
            end = find(_SOH, eq + 1)
            if end < 0:
                raise FieldError(f"field {tag} is not terminated by SOH", tag=tag, offset=i)
            if end == eq + 1:
                raise FieldError(f"field {tag} has an empty value", tag=tag, offset=i)
            value = data[eq + 1 : end]
            data_tag = lengths.get(tag)
            if data_tag is not None:
                if not value.isdigit() or len(value) > _MAX_LENGTH_DIGITS:
                    raise FieldError(
                        f"length field {tag} is not a number: {value[:16]!r}", tag=tag, offset=i
                    )
                pending_tag = data_tag
                pending_len = int(value)
                pending_at = i
                length_tag = tag
        fields.append((tag, value))
        offsets.append(i)
        i = end + 1
    if pending_tag:
        raise FieldError(
            f"length field {length_tag} is not followed by data field {pending_tag}",
            tag=length_tag,
            offset=pending_at,
        )
    return fields, offsets


def _check_envelope(fields: list[Field], offsets: list[int]) -> None:
    """After tokenizing a verified frame: 10 is the last field, 8/9/10 appear only in their
    places."""
    if fields[-1][0] != 10:
        raise GarbledMessageError(
            "CheckSum(10) is not the last field", tag=fields[-1][0], offset=offsets[-1]
        )
    for k in range(2, len(fields) - 1):
        tag = fields[k][0]
        if tag == 8 or tag == 9 or tag == 10:
            raise GarbledMessageError(
                f"tag {tag} appears out of place", tag=tag, offset=offsets[k]
            )


def _structure(
    fields: list[Field], offsets: list[int] | None, dictionary: DictionaryLike
) -> list[_Span]:
    """Find the top-level repeating groups the dictionary knows."""
    msg_type = ""
    for tag, value in fields:
        if tag == 35:
            msg_type = value.decode("latin-1")
            break
    known = _group_lookup(dictionary, msg_type)
    spans: list[_Span] = []
    n = len(fields)
    i = 0
    missing = _MISSING
    while i < n:
        tag = fields[i][0]
        definition = known.get(tag, missing)
        if definition is missing:
            definition = known[tag] = dictionary.group_def(msg_type, tag)
        if definition is None:
            i += 1
            continue
        assert isinstance(definition, GroupDef)
        try:
            instances, end = parse_group(fields, i, definition, offsets)
        except MalformedGroupError as exc:
            exc.annotate(fields)
            raise
        spans.append(_Span(i, end, tag, instances))
        i = end
    return spans


_MISSING: Final = object()

# Per dictionary and MsgType: fields patterns that also refuse the tags starting a group
# (None when the dictionary does not list its groups).
_PATTERNS_CACHE: dict[int, tuple[object, dict[bytes, tuple[re.Pattern[bytes], re.Pattern[bytes]] | None]]] = {}


def _count_tags(dictionary: DictionaryLike, msg_type: str) -> set[int] | None:
    """The tags that start a group in the header, trailer or body of ``msg_type``, when the
    dictionary lists them as :class:`~fixg.fix.dictionary.DataDictionary` does (``header``,
    ``trailer`` and ``messages`` holding :class:`MessageDef`); else None."""
    header = getattr(dictionary, "header", None)
    trailer = getattr(dictionary, "trailer", None)
    messages = getattr(dictionary, "messages", None)
    if not (
        isinstance(header, MessageDef)
        and isinstance(trailer, MessageDef)
        and isinstance(messages, Mapping)
    ):
        return None
    tags = set(header.groups) | set(trailer.groups)
    message = messages.get(msg_type)
    if isinstance(message, MessageDef):
        tags |= set(message.groups)
    return tags


def _fast_patterns(
    dictionary: DictionaryLike, tables: _Tables, msg_type: bytes
) -> tuple[re.Pattern[bytes], re.Pattern[bytes]] | None:
    entry = _PATTERNS_CACHE.get(id(dictionary))
    if entry is None or entry[0] is not dictionary:
        if len(_PATTERNS_CACHE) > 64:
            _PATTERNS_CACHE.clear()
        entry = (dictionary, {})
        _PATTERNS_CACHE[id(dictionary)] = entry
    per_type = entry[1]
    try:
        return per_type[msg_type]
    except KeyError:
        pass
    counts = _count_tags(dictionary, msg_type.decode("latin-1"))
    found = None
    if counts is not None:
        excluded = set(tables.lengths) | counts
        found = (_fields_pattern(excluded), _fields_pattern(excluded | {8, 9, 10}))
    if len(per_type) < 1024:
        per_type[msg_type] = found
    return found
_new_message: Final = object.__new__


def decode(
    frame: bytes | bytearray | memoryview,
    dictionary: DictionaryLike | None = None,
    *,
    verify: bool = True,
) -> Message:
    """Decode one frame into a :class:`Message`.

    ``verify`` checks that the first three tags are 8, 9, 35 and the last is 10, that
    BodyLength(9) and CheckSum(10) are right, and that 8, 9 and 10 appear nowhere else.
    Without it any well-formed run of fields is accepted (e.g. a frame the
    :class:`~fixg.fix.framer.Framer` has already checked). Data fields (the value of a length
    tag gives the byte count of the next field, SOH included) follow
    ``dictionary.data_length_tags`` or :data:`~fixg.fix.tags.DEFAULT_DATA_LENGTH_TAGS`. With a
    dictionary, repeating groups are read and their members are hidden from top-level reads;
    a malformed group raises :class:`~fixg.fix.message.MalformedGroupError` (a
    :class:`~fixg.errors.GroupError`) carrying what a session-level Reject(3) needs:
    ``session_reject_reason``, ``ref_tag_id``, ``msg_type`` and ``seq_num``.
    """
    data = frame if type(frame) is bytes else bytes(frame)
    if dictionary is None:
        tables = _DEFAULT_TABLES
        if verify:
            body = _verify(data)
            clean = tables.clean_body.fullmatch(data, body, len(data) - 7) is not None
            first = 8
        else:
            clean = tables.clean.fullmatch(data) is not None
            first = 8 if clean and data.startswith(b"8=") else 0
        grouped = False
    else:
        tables = _tables(dictionary)
        if verify:
            body = _verify(data)
            msg_type = data[body + 3 : data.find(_SOH, body)]
        else:
            at = 3 if data.startswith(b"35=") else data.find(b"\x0135=") + 4
            msg_type = data[at : data.find(_SOH, at)] if at >= 3 else b""
        patterns = _fast_patterns(dictionary, tables, msg_type)
        # Without the dictionary's list of groups, any field may start one: read them all.
        grouped = patterns is None
        if verify:
            pattern = tables.clean_body if patterns is None else patterns[1]
            clean = pattern.fullmatch(data, body, len(data) - 7) is not None
            first = 8
        else:
            pattern = tables.clean if patterns is None else patterns[0]
            clean = pattern.fullmatch(data) is not None
            first = 8 if clean and data.startswith(b"8=") else 0
    if clean:
        if not grouped:
            # Neither data fields nor groups: keep the frame, find fields in it on demand.
            # (Message._from_frame, inlined: this is the hot path.)
            msg = _new_message(Message)
            msg._raw = data
            msg._first = first or int(data[: data.index(b"=")])
            msg._fields = None
            msg._spans = NO_SPANS
            msg._structured = dictionary is not None
            msg._index = None
            return msg
        assert dictionary is not None
        fields = split_fields(data)
        try:
            spans = _structure(fields, None, dictionary)
        except CodecError:
            # Report the error again, with byte offsets.
            _structure(fields, _tokenize(data, tables.lengths)[1], dictionary)
            raise
        return Message._from_fields(fields, spans, True)
    if not data:
        raise FieldError("empty frame", offset=0)
    fields, offsets = _tokenize(data, tables.lengths)
    if verify:
        _check_envelope(fields, offsets)
    if dictionary is None:
        return Message._from_fields(fields, [], False)
    return Message._from_fields(fields, _structure(fields, offsets, dictionary), True)


# ---------------------------------------------------------------------------- encode


class _BodyWriter:
    """Writes ``(tag, value)`` pairs as ``\\x01tag=value`` pieces, checking data fields."""

    __slots__ = ("tables", "groups", "out", "soh_in_data", "pending")

    def __init__(self, tables: _Tables, groups: Mapping[int, GroupDef] | None) -> None:
        self.tables = tables
        self.groups = groups
        self.out: list[bytes] = []
        self.soh_in_data = 0
        # (length tag, declared length or None) waiting for its data field
        self.pending: tuple[int, int | None, int] | None = None

    def write(self, fields: Iterable[tuple[int, Any]]) -> None:
        prefixes = self.tables.prefixes
        out = self.out
        append = out.append
        for tag, value in fields:
            try:
                prefix = prefixes.get(tag)
            except TypeError:
                prefix = None
            if prefix is None or self.pending is not None:
                self.careful(tag, value)
                continue
            kind = type(value)
            if kind is str:
                if not value:
                    raise FieldError(f"field {tag} has an empty value", tag=tag)
                append(prefix)
                append(value.encode())
            elif kind is bytes:
                if not value:
                    raise FieldError(f"field {tag} has an empty value", tag=tag)
                append(prefix)
                append(value)
            elif kind is int:
                append(prefix)
                append(b"%d" % value)
            else:
                self.careful(tag, value)

    def careful(self, tag: Any, value: Any) -> None:
        tables = self.tables
        prefix = tables.prefix(tag)  # FieldError unless a positive int
        if tag in (8, 9, 10, 35):
            raise FieldError(f"tag {tag} is written by the codec, not given as a field", tag=tag)
        if isinstance(value, (list, tuple)):
            self.check_no_pending(tag)
            definition = self.groups.get(tag) if self.groups is not None else None
            flat, _ = build_fields([(tag, value)], {tag: definition} if definition else None)
            self.write(flat)
            return
        if value is None and tag in tables.lengths:
            raw = None
        else:
            raw = _types.format_value(value)
        pending = self.pending
        if tag in tables.lengths:
            self.check_no_pending(tag)
            if raw is not None and (not raw.isdigit() or len(raw) > _MAX_LENGTH_DIGITS):
                raise FieldError(f"length field {tag} is not a number: {raw!r}", tag=tag)
            self.pending = (tag, None if raw is None else int(raw), len(self.out))
            # the length field, its value filled in when the data field comes
            self.out.append(b"\x01%d=" % tag)
            self.out.append(b"")
            return
        data_length_tag = tables.data_tags.get(tag)
        if data_length_tag is not None:
            assert raw is not None
            if pending is not None and pending[0] == data_length_tag:
                declared = pending[1]
                if declared is not None and declared != len(raw):
                    raise FieldError(
                        f"length field {data_length_tag}={declared} but data field {tag} "
                        f"has {len(raw)} bytes",
                        tag=data_length_tag,
                    )
                self.out[pending[2] + 1] = b"%d" % len(raw)
                self.pending = None
            else:
                self.check_no_pending(tag)
                self.out.append(b"\x01%d=" % data_length_tag)
                self.out.append(b"%d" % len(raw))
            self.soh_in_data += raw.count(_SOH)
            self.out.append(b"\x01%d=" % tag)
            self.out.append(raw)
            return
        self.check_no_pending(tag)
        if not raw:
            raise FieldError(f"field {tag} has an empty value", tag=tag)
        assert prefix is not None
        self.out.append(prefix)
        self.out.append(raw)

    def check_no_pending(self, tag: int) -> None:
        pending = self.pending
        if pending is not None:
            data_tag = self.tables.lengths[pending[0]]
            raise FieldError(
                f"length field {pending[0]} must be followed by data field {data_tag}, not {tag}",
                tag=pending[0],
            )

    def finish(self) -> bytes:
        self.check_no_pending(0)
        body = b"".join(self.out)
        # Each field brings one SOH; any other SOH must sit inside a data field.
        if body.count(_SOH) != len(self.out) // 2 + self.soh_in_data:
            self.find_stray_soh()
        return body

    def find_stray_soh(self) -> None:
        out = self.out
        for k in range(1, len(out), 2):
            if _SOH in out[k]:
                prev = out[k - 1]
                tag = int(prev[1:-1]) if prev[1:-1].isdigit() else None
                if tag is not None and tag in self.tables.data_tags:
                    continue
                raise FieldError(f"field {tag} contains SOH", tag=tag)


def _fast_body(fields: Sequence[tuple[int, Any]], prefixes: dict[int, bytes]) -> bytes | None:
    """The common case: ordinary tags with str, bytes, int or Decimal values. None when any
    field needs the careful path (data fields, groups, other types, bad input)."""
    out: list[bytes] = []
    append = out.append
    for tag, value in fields:
        try:
            prefix = prefixes[tag]
        except KeyError:
            return None
        kind = type(value)
        if kind is str:
            if not value:
                return None
            append(prefix)
            append(value.encode())
        elif kind is int:
            append(prefix)
            append(b"%d" % value)
        elif kind is bytes:
            if not value:
                return None
            append(prefix)
            append(value)
        elif kind is Decimal and value.is_finite():
            text = str(value)
            if "E" in text:
                text = format(value, "f")
            append(prefix)
            append(text.encode())
        else:
            return None
    body = b"".join(out)
    # One SOH per field: any other SOH sits in a value, which the careful path refuses.
    if body.count(_SOH) != len(out) >> 1:
        return None
    return body


def encode_body(
    fields: Iterable[tuple[int, Any]],
    *,
    dictionary: DictionaryLike | None = None,
    msg_type: str = "",
) -> bytes:
    """The body fields as ``\\x01tag=value...`` (each field *preceded* by SOH, which is how
    :func:`encode` and :class:`Encoder` join them). Pre-encode a body once with this and
    pass it to :meth:`Encoder.encode` to send it many times."""
    tables = _DEFAULT_TABLES if dictionary is None else _tables(dictionary)
    if type(fields) is not list and type(fields) is not tuple:
        fields = list(fields)
    try:
        body = _fast_body(fields, tables.prefixes)
    except (TypeError, ValueError):
        body = None  # unhashable tag, not a pair...: the careful path says what
    if body is not None:
        return body
    writer = _BodyWriter(tables, _GroupsOf(dictionary, msg_type) if dictionary is not None else None)
    try:
        writer.write(fields)
    except CodecError:
        raise
    except (TypeError, ValueError) as exc:
        raise FieldError(f"fields must be (tag, value) pairs: {exc}") from None
    return writer.finish()


class _GroupsOf(Mapping[int, GroupDef]):
    """``dictionary.group_def(msg_type, tag)`` seen as a mapping."""

    __slots__ = ("dictionary", "msg_type")

    def __init__(self, dictionary: DictionaryLike, msg_type: str) -> None:
        self.dictionary = dictionary
        self.msg_type = msg_type

    def __getitem__(self, tag: int) -> GroupDef:
        definition = self.dictionary.group_def(self.msg_type, tag)
        if definition is None:
            raise KeyError(tag)
        return definition

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def _text(value: Any, what: str, tag: int) -> bytes:
    if isinstance(value, str):
        try:
            raw = value.encode("ascii")
        except UnicodeEncodeError:
            raise FieldError(f"{what} must be ASCII: {value!r}", tag=tag) from None
    elif isinstance(value, bytes):
        raw = value
    else:
        raise FieldError(f"{what} must be str or bytes, not {value!r}", tag=tag)
    if not raw or _SOH in raw:
        raise FieldError(f"{what} must be non-empty and free of SOH: {value!r}", tag=tag)
    return raw


# Cached envelope pieces: BeginString -> b"8=<begin>\x019=", MsgType -> b"35=<type>".
_BEGINS: dict[Any, bytes] = {}
_MSG_TYPES: dict[Any, bytes] = {}


def _begin_piece(value: Any) -> bytes:
    piece = b"8=" + _text(value, "BeginString", 8) + b"\x019="
    if len(_BEGINS) < 64:
        _BEGINS[value] = piece
    return piece


def _msg_type_piece(value: Any) -> bytes:
    piece = b"35=" + _text(value, "MsgType", 35)
    if len(_MSG_TYPES) < 4096:
        _MSG_TYPES[value] = piece
    return piece


def _envelope(begin: bytes, msg_type: bytes, body: bytes) -> bytes:
    """``begin`` (``8=...<SOH>9=``) + BodyLength + ``msg_type`` (``35=...``) + ``body`` +
    SOH + CheckSum."""
    head = b"%b%d\x01%b" % (begin, len(msg_type) + len(body) + 1, msg_type)
    # CheckSum = sum(head) + sum(body) + 1 (the SOH closing the body); adler32's low half
    # is 1 + the sum for up to 256 bytes (515 ASCII ones).
    n = len(body)
    if len(head) <= 256 and (n <= 256 or (n <= 515 and body.isascii())):
        total = (adler32(head) & 0xFFFF) + (adler32(body) & 0xFFFF) - 1
    else:
        total = checksum(head) + checksum(body) + 1
    return b"".join((head, body, b"\x0110=%03d\x01" % (total & 0xFF)))


def encode(
    begin_string: str,
    msg_type: str,
    fields: Iterable[tuple[int, Any]],
    *,
    dictionary: DictionaryLike | None = None,
) -> bytes:
    """A whole frame: ``8``, ``9``, ``35``, then ``fields`` in the order given, then ``10``.

    Values go through :func:`fixg.fix.types.format_value`. A list (or tuple) value is a
    repeating group: the count is written, then each instance (an iterable of pairs, possibly
    holding nested groups); with a dictionary, members are put in the group's order. A data
    field (e.g. RawData(96)) gets its length field written or checked; a length field given as
    ``None`` is filled in from the data field after it.
    """
    try:
        begin = _BEGINS.get(begin_string) or _begin_piece(begin_string)
        mt = _MSG_TYPES.get(msg_type) or _msg_type_piece(msg_type)
    except TypeError:  # unhashable
        raise FieldError("BeginString and MsgType must be str or bytes") from None
    if dictionary is None and type(fields) is list:
        try:
            body = _fast_body(fields, _DEFAULT_TABLES.prefixes)
        except (TypeError, ValueError):
            body = None  # the careful path says what is wrong
        if body is None:
            body = encode_body(fields)
    else:
        body = encode_body(fields, dictionary=dictionary, msg_type=mt[3:].decode("latin-1"))
    # _envelope(begin, mt, body), inlined: this is the hot path.
    head = b"%b%d\x01%b" % (begin, len(mt) + len(body) + 1, mt)
    n = len(body)
    if len(head) <= 256 and (n <= 256 or (n <= 515 and body.isascii())):
        total = (adler32(head) & 0xFFFF) + (adler32(body) & 0xFFFF) - 1
    else:
        total = checksum(head) + checksum(body) + 1
    return b"".join((head, body, b"\x0110=%03d\x01" % (total & 0xFF)))


def encode_message(
    message: Message,
    begin_string: str | None = None,
    *,
    dictionary: DictionaryLike | None = None,
) -> bytes:
    """Re-encode ``message``: BeginString from ``begin_string`` or the message's 8, MsgType
    from its 35, then its other fields in order (8, 9 and 10 skipped), BodyLength and
    CheckSum recomputed. ``encode_message(decode(b)) == b`` for every valid frame ``b``."""
    raw = message.frame
    if raw is not None and begin_string is None:
        # Frame-backed and unchanged: reuse its bytes between 9 and 10.
        end8 = raw.find(_SOH)
        if raw.startswith(b"8=") and raw[end8 + 1 : end8 + 3] == b"9=":
            body = raw.find(_SOH, end8 + 3) + 1
            end = raw.rfind(b"\x0110=") + 1
            if (
                raw[body : body + 3] == b"35="
                and end > body
                and raw.find(_SOH, end) == len(raw) - 1
                and _DEFAULT_TABLES.clean_body.fullmatch(raw, body, end) is not None
            ):
                inner = raw[body:end]
                msg = raw[: end8 + 1] + b"9=%d\x01" % len(inner) + inner
                return msg + b"10=%03d\x01" % checksum(msg)
    fields = message.fields
    begin: bytes | None = None
    if begin_string is not None:
        begin = _text(begin_string, "BeginString", 8)
    msg_type: bytes | None = None
    rest: list[Field] = []
    for tag, value in fields:
        if tag == 8:
            if begin is None:
                begin = value
        elif tag == 35 and msg_type is None:
            msg_type = value
        elif tag != 9 and tag != 10:
            rest.append((tag, value))
    if begin is None:
        raise FieldError("no BeginString: the message has no 8 and none was given", tag=8)
    if msg_type is None:
        raise FieldError("the message has no MsgType(35)", tag=35)
    writer = _BodyWriter(_tables(dictionary), None)
    writer.write(rest)
    return _envelope(_begin_piece(begin), _msg_type_piece(msg_type), writer.finish())


class Encoder:
    """The session layer's encoder: the header is precomputed once per session.

    ``encode(msg_type, seq_num, sending_time, body)`` writes
    ``8=<begin>|9=<len>|35=<type>|49=<sender>|56=<target>|<extra header>|34=<seq>|52=<time>|
    <header fields>|<body>|10=<sum>|``. ``sending_time`` is the already formatted
    UTCTimestamp bytes (the session stamps it once per send); ``body`` is pairs, or bytes from
    :func:`encode_body` (pre-encoded once, e.g. for resends).
    """

    __slots__ = ("_begin", "_fixed", "_tables", "_dictionary", "_types")

    def __init__(
        self,
        begin_string: str,
        sender_comp_id: str,
        target_comp_id: str,
        *,
        header: Iterable[tuple[int, Any]] = (),
        dictionary: DictionaryLike | None = None,
    ) -> None:
        begin = _text(begin_string, "BeginString", 8)
        self._begin = b"8=" + begin + b"\x019="
        self._tables = _tables(dictionary)
        self._dictionary = dictionary
        fixed = encode_body(
            [(49, _text(sender_comp_id, "SenderCompID", 49)), (56, _text(target_comp_id, "TargetCompID", 56)), *header],
            dictionary=dictionary,
        )
        self._fixed = fixed
        self._types: dict[str, bytes] = {}

    @property
    def dictionary(self) -> DictionaryLike | None:
        """The dictionary bodies are encoded with (data-length tags, groups)."""
        return self._dictionary

    def encode(
        self,
        msg_type: str,
        seq_num: int,
        sending_time: bytes,
        body: Iterable[tuple[int, Any]] | bytes = (),
        *,
        header: Iterable[tuple[int, Any]] | bytes = (),
    ) -> bytes:
        """One frame. ``header`` holds per-message header fields such as PossDupFlag(43) and
        OrigSendingTime(122), written after SendingTime(52)."""
        mt = self._types.get(msg_type)
        if mt is None:
            mt = b"35=" + _text(msg_type, "MsgType", 35)
            if len(self._types) < 1024:
                self._types[msg_type] = mt
        if not isinstance(body, bytes):
            body = encode_body(body, dictionary=self._dictionary, msg_type=msg_type)
        if not isinstance(header, bytes):
            header = (
                encode_body(header, dictionary=self._dictionary, msg_type=msg_type) if header else b""
            )
        if type(seq_num) is not int or seq_num < 0 or type(sending_time) is not bytes or not sending_time:
            raise FieldError("seq_num must be an int >= 0 and sending_time non-empty bytes")
        rest = b"%b\x0134=%d\x0152=%b%b%b" % (self._fixed, seq_num, sending_time, header, body)
        return _envelope(self._begin, mt, rest)
