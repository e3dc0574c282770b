"""FIX messages as flat lists of ``(tag, value bytes)`` in wire order.

A :class:`Message` wraps ``fields: list[tuple[int, bytes]]``; for a decoded message that list
runs from BeginString(8) to CheckSum(10). Repeated tags are kept. Repeating groups are kept in
the flat list too, and when their structure is known (decoded with a dictionary, or built with
groups) they can be read as :class:`Group` instances via :meth:`FieldMap.group`.

Top-level reads (``get``, ``[]``, ``in``, ``get_all``) look at the fields outside every known
group, so a tag that appears in the header and inside a group is read from the header. When
the structure is not known (decoded without a dictionary), they see every field, and ``get``
returns the first occurrence anywhere.

A message decoded by :func:`fixg.fix.codec.decode` from a frame without data fields stays
backed by the frame's bytes until it is changed: ``get`` then finds the field in the bytes and
the list of fields is built only when asked for.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, TypeVar, cast, overload

from fixg.errors import CodecError, FieldError, GroupError
from fixg.fix import types as _types
from fixg.fix.spec import GroupDef
from fixg.fix.tags import (
    BEGIN_STRING,
    CHECK_SUM,
    DEFAULT_DATA_LENGTH_TAGS,
    MSG_SEQ_NUM,
    MSG_TYPE,
)

__all__ = ["FieldMap", "Group", "Message", "Field", "MalformedGroupError", "parse_group"]

Field = tuple[int, bytes]
_T = TypeVar("_T")
_MISSING: Final = object()

# tag -> (b"\x01<tag>=", b"<tag>="): the search keys in a frame-backed message.
_NEEDLES: dict[int, tuple[bytes, bytes]] = {}


class MalformedGroupError(GroupError):
    """A repeating group of a received message breaks the FIX rules; raised by
    :func:`parse_group` (so by :func:`fixg.fix.codec.decode` with a dictionary).

    The frame itself is sound, so FIX answers with a session-level Reject(3) and the
    message's MsgSeqNum is consumed. The error carries what that Reject needs:

    * ``session_reject_reason`` (373): 16 (Incorrect NumInGroup count for repeating group)
      when the instances do not match the count, 15 (Repeating group fields out of order)
      when an instance does not start with the delimiter, 6 (Incorrect data format for
      value) when the NumInGroup value is not a number;
    * ``ref_tag_id`` (371): the NumInGroup tag of the group at fault (the innermost one for
      a nested group);
    * ``msg_type`` and ``seq_num``: the message's MsgType(35) and MsgSeqNum(34), or None
      when absent (or, for ``seq_num``, not a number).

    ``tag`` and ``offset`` say where the problem was found: the count field, or the first
    field of an instance that does not start with the delimiter.
    """

    def __init__(
        self,
        reason: str,
        *,
        tag: int | None = None,
        offset: int | None = None,
        session_reject_reason: int,
        ref_tag_id: int,
        msg_type: str | None = None,
        seq_num: int | None = None,
    ) -> None:
        super().__init__(reason, tag=tag, offset=offset)
        self.session_reject_reason = session_reject_reason
        self.ref_tag_id = ref_tag_id
        self.msg_type = msg_type
        self.seq_num = seq_num

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_malformed_group_error, (self.reason, self.__dict__.copy()))

    def annotate(self, fields: Iterable[Field]) -> None:
        """Fill ``msg_type`` and ``seq_num`` from the message's fields (first 35 and 34)."""
        for tag, value in fields:
            if tag == MSG_TYPE:
                if self.msg_type is None:
                    self.msg_type = value.decode("latin-1")
                if self.seq_num is not None:
                    break
            elif tag == MSG_SEQ_NUM:
                if self.seq_num is None and value.isdigit() and len(value) <= 18:
                    self.seq_num = int(value)
                if self.msg_type is not None:
                    break


def _rebuild_malformed_group_error(reason: str, state: dict[str, Any]) -> MalformedGroupError:
    exc = MalformedGroupError.__new__(MalformedGroupError)
    CodecError.__init__(exc, reason, tag=state.get("tag"), offset=state.get("offset"))
    exc.__dict__.update(state)
    return exc


def _needle(tag: int) -> tuple[bytes, bytes]:
    entry = _NEEDLES.get(tag)
    if entry is None:
        if type(tag) is not int or tag <= 0:
            raise FieldError(f"tag must be a positive int, not {tag!r}")
        entry = (b"\x01%d=" % tag, b"%d=" % tag)
        if len(_NEEDLES) < 4096:
            _NEEDLES[tag] = entry
    return entry


def split_fields(frame: bytes) -> list[Field]:
    """The fields of a frame already known to be well formed and free of data fields."""
    out: list[Field] = []
    append = out.append
    for part in frame.split(b"\x01")[:-1]:
        tag, _, value = part.partition(b"=")
        append((int(tag), value))
    return out


class _Span:
    """Where a known repeating group sits in a field list: the count field is at ``start``,
    its instances fill ``start + 1 .. end - 1``."""

    __slots__ = ("start", "end", "tag", "instances")

    def __init__(self, start: int, end: int, tag: int, instances: list[Group]) -> None:
        self.start = start
        self.end = end
        self.tag = tag
        self.instances = instances

    def __repr__(self) -> str:
        return f"_Span({self.start}, {self.end}, {self.tag}, {len(self.instances)} instances)"


#: The spans of a message without known groups; shared, so never changed in place.
NO_SPANS: Final[list[_Span]] = []


class FieldMap:
    """Read access shared by :class:`Message` and :class:`Group`."""

    __slots__ = ("_fields", "_spans", "_structured", "_index")

    _fields: list[Field] | None
    _spans: list[_Span]
    _structured: bool
    _index: dict[int, int] | None

    # ------------------------------------------------------------------ raw access

    @property
    def fields(self) -> list[Field]:
        """The flat list of ``(tag, value)`` in wire order, group members included. Read it;
        change the message through :meth:`Message.set` / ``append`` / ``remove``."""
        fields = self._fields
        assert fields is not None
        return fields

    def _top_positions(self) -> Iterator[int]:
        """Positions of the top-level fields (a group's count field is top-level, its
        members are not)."""
        fields = self.fields
        spans = self._spans
        n = len(fields)
        i = 0
        s = 0
        while i < n:
            yield i
            if s < len(spans) and spans[s].start == i:
                i = spans[s].end
                s += 1
            else:
                i += 1

    def _top_index(self) -> dict[int, int]:
        index = self._index
        if index is None:
            index = {}
            fields = self.fields
            if self._spans:
                for i in self._top_positions():
                    tag = fields[i][0]
                    if tag not in index:
                        index[tag] = i
            else:
                for i in range(len(fields) - 1, -1, -1):
                    index[fields[i][0]] = i
            self._index = index
        return index

    # ------------------------------------------------------------------ reads

    @overload
    def get(self, tag: int) -> bytes | None: ...

    @overload
    def get(self, tag: int, default: _T) -> bytes | _T: ...

    def get(self, tag: int, default: Any = None) -> Any:
        """The value of the first top-level occurrence of ``tag``, or ``default``.
        A ``tag`` that is not a positive int raises :class:`FieldError`."""
        pos = self._top_index().get(tag)
        if pos is None:
            _check_tag(tag)
            return default
        return self.fields[pos][1]

    def __getitem__(self, tag: int) -> bytes:
        value = self.get(tag, _MISSING)
        if value is _MISSING:
            raise KeyError(tag)
        return cast(bytes, value)

    def __contains__(self, tag: object) -> bool:
        if type(tag) is not int or tag <= 0:
            return False
        return self.get(tag, _MISSING) is not _MISSING

    def get_all(self, tag: int) -> list[bytes]:
        """Every top-level value of ``tag``, in wire order."""
        fields = self.fields
        if not self._spans:
            return [v for t, v in fields if t == tag]
        return [fields[i][1] for i in self._top_positions() if fields[i][0] == tag]

    def _typed(self, tag: int, default: Any, parse: Callable[[bytes, int | None], Any]) -> Any:
        value = self.get(tag)
        if value is None:
            return default
        return parse(value, tag)

    def get_str(self, tag: int, default: str | None = None) -> str | None:
        return self._typed(tag, default, _types.parse_str)  # type: ignore[no-any-return]

    def get_int(self, tag: int, default: int | None = None) -> int | None:
        return self._typed(tag, default, _types.parse_int)  # type: ignore[no-any-return]

    def get_decimal(self, tag: int, default: Decimal | None = None) -> Decimal | None:
        return self._typed(tag, default, _types.parse_decimal)  # type: ignore[no-any-return]

    def get_bool(self, tag: int, default: bool | None = None) -> bool | None:
        return self._typed(tag, default, _types.parse_bool)  # type: ignore[no-any-return]

    def get_char(self, tag: int, default: str | None = None) -> str | None:
        return self._typed(tag, default, _types.parse_char)  # type: ignore[no-any-return]

    def get_timestamp(
        self, tag: int, default: _types.UtcTimestamp | None = None
    ) -> _types.UtcTimestamp | None:
        """A UTCTimestamp field; ``.datetime`` on the result gives an aware datetime."""
        return self._typed(tag, default, _types.parse_utc_timestamp)  # type: ignore[no-any-return]

    def get_utc_time_only(
        self, tag: int, default: _types.UtcTimeOnly | None = None
    ) -> _types.UtcTimeOnly | None:
        return self._typed(tag, default, _types.parse_utc_time_only)  # type: ignore[no-any-return]

    def get_utc_date_only(self, tag: int, default: _dt.date | None = None) -> _dt.date | None:
        return self._typed(tag, default, _types.parse_utc_date_only)  # type: ignore[no-any-return]

    def get_local_mkt_date(self, tag: int, default: _dt.date | None = None) -> _dt.date | None:
        return self._typed(tag, default, _types.parse_local_mkt_date)  # type: ignore[no-any-return]

    def get_month_year(
        self, tag: int, default: _types.MonthYear | None = None
    ) -> _types.MonthYear | None:
        return self._typed(tag, default, _types.parse_month_year)  # type: ignore[no-any-return]

    def get_multiple_value(self, tag: int, default: list[str] | None = None) -> list[str] | None:
        return self._typed(tag, default, _types.parse_multiple_value)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ groups

    def group(self, count_tag: int, definition: GroupDef | None = None) -> list[Group]:
        """The instances of the repeating group that ``count_tag`` (its NumInGroup field)
        introduces at this level; ``[]`` when the tag is absent.

        The structure is known when the message was decoded with a dictionary or built with
        groups. Otherwise pass the group's ``definition`` (a :class:`~fixg.fix.spec.GroupDef`)
        and the flat fields are read with it; without either, :class:`GroupError` is raised.
        """
        for span in self._spans:
            if span.tag == count_tag:
                return list(span.instances)
        if self.get(count_tag, _MISSING) is _MISSING:  # a frame-backed message stays so
            return []
        pos = self._top_index()[count_tag]
        if definition is not None:
            try:
                instances, _ = parse_group(self.fields, pos, definition)
            except MalformedGroupError as exc:
                if isinstance(self, Message):
                    exc.annotate(self.fields)
                raise
            return instances
        if self._structured:
            raise GroupError(f"tag {count_tag} does not start a repeating group here", tag=count_tag)
        raise GroupError(
            f"the structure of group {count_tag} is not known: decode with a dictionary or "
            "pass definition=",
            tag=count_tag,
        )

    # ------------------------------------------------------------------ protocols

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, FieldMap)
        return self.fields == other.fields

    __hash__ = None  # type: ignore[assignment]

    def to_text(self, sep: str = "|", names: Mapping[int, str] | None = None) -> str:
        """``8=FIX.4.4|9=...|`` with ``sep`` for SOH; with ``names``, ``Name(tag)=value``."""
        parts = []
        for tag, value in self.fields:
            text = value.decode("utf-8", "backslashreplace").replace("\x01", "\\x01")
            name = names.get(tag) if names is not None else None
            parts.append(f"{name}({tag})={text}" if name else f"{tag}={text}")
        return sep.join(parts) + sep if parts else ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_text()!r})"


class Group(FieldMap):
    """One instance of a repeating group: read access over its own fields (which start with
    the group's delimiter), and :meth:`group` for the groups nested in it."""

    __slots__ = ()

    def __init__(self, fields: Iterable[tuple[int, Any]] = (), definition: GroupDef | None = None) -> None:
        if definition is not None:
            flat, spans = _ordered_instance(list(fields), definition)
        else:
            flat, spans = build_fields(fields)
        self._fields = flat
        self._spans = spans
        self._structured = definition is not None
        self._index = None

    @classmethod
    def _make(cls, fields: list[Field], spans: list[_Span], structured: bool = True) -> Group:
        group = cls.__new__(cls)
        group._fields = fields
        group._spans = spans
        group._structured = structured
        group._index = None
        return group


# ---------------------------------------------------------------------- building


def _items(instance: Any) -> list[tuple[int, Any]]:
    if isinstance(instance, Mapping):
        return list(instance.items())
    return list(instance)


def _check_tag(tag: Any) -> int:
    if type(tag) is not int or tag <= 0:
        raise FieldError(f"tag must be a positive int, not {tag!r}")
    return tag


_ORDER_CACHE: dict[int, tuple[GroupDef, dict[int, int]]] = {}


def _order_of(definition: GroupDef) -> dict[int, int]:
    entry = _ORDER_CACHE.get(id(definition))
    if entry is None or entry[0] is not definition:
        if len(_ORDER_CACHE) > 1024:
            _ORDER_CACHE.clear()
        entry = (definition, {tag: i for i, tag in enumerate(definition.order)})
        _ORDER_CACHE[id(definition)] = entry
    return entry[1]


def _ordered_instance(items: list[tuple[int, Any]], definition: GroupDef) -> tuple[list[Field], list[_Span]]:
    """One group instance, members put in the dictionary's order."""
    order = _order_of(definition)
    for tag, _ in items:
        if tag not in order:
            raise GroupError(
                f"tag {tag} is not a member of group {definition.name}({definition.count_tag})",
                tag=tag,
            )
    if not any(tag == definition.delimiter for tag, _ in items):
        raise GroupError(
            f"an instance of group {definition.name}({definition.count_tag}) lacks its "
            f"delimiter {definition.delimiter}",
            tag=definition.count_tag,
        )
    items = sorted(items, key=lambda item: order[item[0]])
    return build_fields(items, definition.groups)


def build_fields(
    items: Iterable[tuple[int, Any]], groups: Mapping[int, GroupDef] | None = None
) -> tuple[list[Field], list[_Span]]:
    """Flatten ``(tag, value)`` pairs into wire fields. A value that is a list or tuple is a
    repeating group: its instances (iterables of pairs, mappings, or :class:`Group`) follow
    the count field; with a definition in ``groups`` their members are put in dictionary
    order. Other values go through :func:`fixg.fix.types.format_value`."""
    out: list[Field] = []
    spans: list[_Span] = []
    for tag, value in items:
        _check_tag(tag)
        if isinstance(value, (list, tuple)):
            definition = groups.get(tag) if groups is not None else None
            start = len(out)
            out.append((tag, b"%d" % len(value)))
            instances: list[Group] = []
            for instance in value:
                if isinstance(instance, FieldMap):
                    if definition is not None:
                        flat, sub = _copy_structure(instance, definition)
                    else:
                        flat, sub = list(instance.fields), _shift(instance._spans, 0)
                else:
                    pairs = _items(instance)
                    if definition is not None:
                        flat, sub = _ordered_instance(pairs, definition)
                    else:
                        flat, sub = build_fields(pairs, None)
                if not flat:
                    raise GroupError(f"an instance of group {tag} is empty", tag=tag)
                instances.append(Group._make(flat, sub, definition is not None))
                out.extend(flat)
            spans.append(_Span(start, len(out), tag, instances))
        else:
            out.append((tag, _types.format_value(value)))
    return out, spans


def _copy_structure(instance: FieldMap, definition: GroupDef) -> tuple[list[Field], list[_Span]]:
    """Re-order a structured Group instance: top-level members by the dictionary order,
    nested groups kept whole."""
    items: list[tuple[int, Any]] = []
    fields = instance.fields
    spans = {span.start: span for span in instance._spans}
    for i in instance._top_positions():
        span = spans.get(i)
        if span is not None:
            items.append((span.tag, list(span.instances)))
        else:
            items.append(fields[i])
    return _ordered_instance(items, definition)


def _shift(spans: Sequence[_Span], by: int) -> list[_Span]:
    return [_Span(s.start + by, s.end + by, s.tag, s.instances) for s in spans]


def parse_group(
    fields: Sequence[Field],
    pos: int,
    definition: GroupDef,
    offsets: Sequence[int] | None = None,
) -> tuple[list[Group], int]:
    """Read the group whose count field is ``fields[pos]``: instances begin at the
    delimiter, a tag outside the group's members ends the group. Returns the instances and
    the position after the group. ``offsets`` (byte offset of each field) go into errors.

    The delimiter may itself be the count tag of a nested group (FIX 5.0 SP2 has several,
    e.g. NoAsgnReqs(1499) starting with NoPartyIDs(453)): each instance then starts with
    that nested group, whose instances belong to it. Nested groups are read at any depth.

    A malformed group raises :class:`MalformedGroupError` (``msg_type`` and ``seq_num``
    left for the caller to fill in)."""
    count_tag, count_value = fields[pos]
    if not count_value.isdigit():
        raise MalformedGroupError(
            f"NumInGroup {count_tag} is not a count: {count_value[:16]!r}",
            tag=count_tag,
            offset=offsets[pos] if offsets is not None else None,
            session_reject_reason=6,
            ref_tag_id=count_tag,
        )
    # A count of more than 9 digits cannot match (and int() of a huge one would be slow).
    count = int(count_value) if len(count_value) <= 9 else -1
    delimiter = definition.delimiter
    members = definition.members
    nested = definition.groups
    lead = nested.get(delimiter)  # the nested group each instance starts with, if any
    n = len(fields)
    i = pos + 1
    instances: list[Group] = []
    while i < n:
        tag = fields[i][0]
        if tag not in members:
            break
        if tag != delimiter:
            raise MalformedGroupError(
                f"instance {len(instances) + 1} of group {count_tag} starts with tag {tag}, "
                f"not the delimiter {delimiter}",
                tag=tag,
                offset=offsets[i] if offsets is not None else None,
                session_reject_reason=15,
                ref_tag_id=count_tag,
            )
        start = i
        spans: list[_Span] = []
        if lead is None:
            i += 1
        else:
            lead_instances, i = parse_group(fields, i, lead, offsets)
            spans.append(_Span(0, i - start, delimiter, lead_instances))
        while i < n:
            tag = fields[i][0]
            if tag == delimiter or tag not in members:
                break
            sub = nested.get(tag)
            if sub is not None:
                sub_instances, end = parse_group(fields, i, sub, offsets)
                spans.append(_Span(i - start, end - start, tag, sub_instances))
                i = end
            else:
                i += 1
        instances.append(Group._make(list(fields[start:i]), spans))
    if len(instances) != count:
        raise MalformedGroupError(
            f"NumInGroup {count_tag}={count_value.decode()} but {len(instances)} instance(s) "
            "follow",
            tag=count_tag,
            offset=offsets[pos] if offsets is not None else None,
            session_reject_reason=16,
            ref_tag_id=count_tag,
        )
    return instances, i


# ---------------------------------------------------------------------- Message


class Message(FieldMap):
    """A FIX message: a flat list of ``(tag, value bytes)`` in wire order.

    Build one from ``(tag, value)`` pairs; values may be bytes, str, int, Decimal, bool,
    datetime/date/time, the value types of :mod:`fixg.fix.types`, or (for a repeating group)
    a list of instances, each an iterable of pairs::

        Message([(35, "D"), (11, "ord-1"), (453, [[(448, "BRKR"), (447, "D"), (452, 1)]])])
    """

    __slots__ = ("_raw", "_first")

    _raw: bytes | None
    _first: int  # the tag of the first field of _raw

    def __init__(self, fields: Iterable[tuple[int, Any]] = ()) -> None:
        flat, spans = build_fields(fields)
        self._raw = None
        self._fields = flat
        self._spans = spans
        self._structured = False
        self._index = None

    @classmethod
    def _from_frame(cls, frame: bytes, first: int) -> Message:
        """Backed by a frame known to be well formed and free of data fields, whose first
        field has the tag ``first``."""
        msg = cls.__new__(cls)
        msg._raw = frame
        msg._first = first
        msg._fields = None
        msg._spans = NO_SPANS
        msg._structured = False
        msg._index = None
        return msg

    @classmethod
    def _from_fields(cls, fields: list[Field], spans: list[_Span], structured: bool) -> Message:
        msg = cls.__new__(cls)
        msg._raw = None
        msg._fields = fields
        msg._spans = spans
        msg._structured = structured
        msg._index = None
        return msg

    # ------------------------------------------------------------------ reads

    @property
    def fields(self) -> list[Field]:
        fields = self._fields
        if fields is None:
            raw = self._raw
            assert raw is not None
            fields = self._fields = split_fields(raw)
        return fields

    @property
    def frame(self) -> bytes | None:
        """The bytes this message was decoded from, while it is unchanged and was decoded on
        the fast path (no data fields, no groups); else None."""
        return self._raw

    def get(self, tag: int, default: Any = None) -> Any:
        raw = self._raw
        if raw is None:
            return FieldMap.get(self, tag, default)
        try:
            needle, head = _NEEDLES[tag]
        except (KeyError, TypeError):
            needle, head = _needle(tag)
        if tag == self._first:
            start = len(head)
        else:
            start = raw.find(needle)
            if start < 0:
                return default
            start += len(needle)
        return raw[start : raw.index(1, start)]

    def __contains__(self, tag: object) -> bool:
        if type(tag) is not int or tag <= 0:
            return False
        return self.get(tag, _MISSING) is not _MISSING

    @property
    def msg_type(self) -> str:
        """MsgType(35) as str."""
        value = self.get(MSG_TYPE)
        if value is None:
            raise FieldError("MsgType(35) is missing", tag=MSG_TYPE)
        return _types.parse_str(value, MSG_TYPE)

    @property
    def begin_string(self) -> str:
        """BeginString(8) as str."""
        value = self.get(BEGIN_STRING)
        if value is None:
            raise FieldError("BeginString(8) is missing", tag=BEGIN_STRING)
        return _types.parse_str(value, BEGIN_STRING)

    @property
    def seq_num(self) -> int:
        """MsgSeqNum(34) as int."""
        value = self.get(MSG_SEQ_NUM)
        if value is None:
            raise FieldError("MsgSeqNum(34) is missing", tag=MSG_SEQ_NUM)
        return _types.parse_int(value, MSG_SEQ_NUM)

    # ------------------------------------------------------------------ changes

    def _materialize(self) -> list[Field]:
        """Before a change: fields as a list of their own, no frame, no index."""
        fields = self.fields
        self._raw = None
        self._index = None
        if self._spans is NO_SPANS:
            self._spans = []
        return fields

    def _shift_spans(self, at: int, by: int) -> None:
        for span in self._spans:
            if span.start >= at:
                span.start += by
                span.end += by

    def _replace(self, pos: int, tag: int, value: Any) -> None:
        """Replace the top-level field (or whole known group) at ``pos``."""
        fields = self._fields
        assert fields is not None
        end = pos + 1
        old = [s for s in self._spans if s.start == pos]
        if old:
            end = old[0].end
            self._spans.remove(old[0])
        new_fields, new_spans = build_fields([(tag, value)])
        fields[pos:end] = new_fields
        self._shift_spans(end, len(new_fields) - (end - pos))
        self._spans.extend(_shift(new_spans, pos))
        self._spans.sort(key=lambda s: s.start)

    def set(self, tag: int, value: Any) -> None:
        """Replace the first top-level occurrence of ``tag`` or, if there is none, append.
        Setting a data field (e.g. RawData(96)) right after its length field updates that
        length too."""
        _check_tag(tag)
        fields = self._materialize()
        pos = self._top_index().get(tag)
        self._index = None
        if pos is None:
            self.append(tag, value)
            return
        self._replace(pos, tag, value)
        if pos > 0 and not isinstance(value, (list, tuple)):
            prev_tag = fields[pos - 1][0]
            if DEFAULT_DATA_LENGTH_TAGS.get(prev_tag) == tag:
                fields[pos - 1] = (prev_tag, b"%d" % len(fields[pos][1]))

    def append(self, tag: int, value: Any) -> None:
        """Add a field (or, for a list value, a repeating group) after the last field, or
        before CheckSum(10) when the message ends with one."""
        _check_tag(tag)
        fields = self._materialize()
        pos = len(fields)
        if fields and fields[-1][0] == CHECK_SUM:
            pos -= 1
        new_fields, new_spans = build_fields([(tag, value)])
        fields[pos:pos] = new_fields
        self._shift_spans(pos, len(new_fields))
        self._spans.extend(_shift(new_spans, pos))
        self._spans.sort(key=lambda s: s.start)

    def remove(self, tag: int) -> int:
        """Remove every top-level occurrence of ``tag`` (a known group goes with all its
        instances). Returns how many occurrences were removed."""
        fields = self._materialize()
        positions = [i for i in self._top_positions() if fields[i][0] == tag]
        for pos in reversed(positions):
            end = pos + 1
            old = [s for s in self._spans if s.start == pos]
            if old:
                end = old[0].end
                self._spans.remove(old[0])
            del fields[pos:end]
            self._shift_spans(end, pos - end)
        return len(positions)

    # ------------------------------------------------------------------ encoding

    def encode(self, begin_string: str | None = None) -> bytes:
        """Wire bytes with BodyLength(9) and CheckSum(10) recomputed (see
        :func:`fixg.fix.codec.encode_message`)."""
        from fixg.fix.codec import encode_message

        return encode_message(self, begin_string)
