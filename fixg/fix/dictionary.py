"""FIX data dictionaries: QuickFIX-format XML and the compact built-in dictionaries.

A :class:`DataDictionary` describes one FIX version: its fields (tag, name, type, allowed
values), the standard header and trailer, and every message type with its components flattened
into dictionary order and its repeating groups kept as :class:`~fixg.fix.spec.GroupDef` trees.
It satisfies :class:`~fixg.fix.spec.DictionaryLike`, so the codec can resolve repeating groups
and length-prefixed data fields with it, and :mod:`fixg.fix.validation` checks messages
against it.

Three ways to get one::

    DataDictionary.from_xml("FIX44.xml")                           # any QuickFIX-format file
    DataDictionary.from_xml("FIX50SP2.xml", transport="FIXT11.xml")  # FIXT.1.1 + FIX 5.0 SP2
    load_builtin("FIX.4.4")                                        # shipped with fixg, no XML

Both the XML reader and the built-in files produce the same intermediate *compact document*
(a JSON-friendly tree in which every name has already been resolved to a tag), and one code path
turns that into a dictionary; so a built-in dictionary equals the one loaded from the XML it was
generated from (``tools/gen_dictionaries.py``).

Compact document format (version 1)::

    {"format": 1, "begin_string": "FIX.4.4",
     "fields": [[tag, name, type], [tag, name, type, [value, description, value, ...]], ...],
     "header": ITEMS, "trailer": ITEMS,
     "components": {name: ITEMS, ...},
     "messages": [[msg_type, name, category, ITEMS], ...]}

ITEMS is a list whose entries are: an ``int`` for a field (``tag`` optional, ``-tag``
required); a ``str`` for a component reference (``"Name"`` optional, ``"*Name"`` required); a
``list`` for a repeating group (``[count_tag or -count_tag, *ITEMS]``).
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeAlias
from xml.parsers import expat

from fixg.errors import ConfigError
from fixg.fix.spec import FieldDef, GroupDef, MessageDef

__all__ = [
    "BUILTIN_NAMES",
    "COMPACT_FORMAT",
    "DataDictionary",
    "builtin_sources",
    "load_builtin",
    "xml_to_compact",
]

#: Version of the compact document format this module reads and writes.
COMPACT_FORMAT: Final = 1

#: The built-in dictionary names accepted by :func:`load_builtin` (aliases included), mapped to
#: their canonical name.
BUILTIN_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "FIX.4.2": "FIX.4.2",
        "FIX42": "FIX.4.2",
        "FIX.4.4": "FIX.4.4",
        "FIX44": "FIX.4.4",
        "FIXT.1.1": "FIXT.1.1",
        "FIXT11": "FIXT.1.1",
        "FIX.5.0SP2": "FIXT.1.1",
        "FIX50SP2": "FIXT.1.1",
        "FIXT.1.1/FIX.5.0SP2": "FIXT.1.1",
    }
)

# Canonical built-in name -> (application file stem, transport file stem or None). A stem names
# both the QuickFIX XML file (<stem>.xml) and the shipped compact file (<stem>.json.gz).
_BUILTIN_SOURCES: Final[Mapping[str, tuple[str, str | None]]] = MappingProxyType(
    {
        "FIX.4.2": ("FIX42", None),
        "FIX.4.4": ("FIX44", None),
        "FIXT.1.1": ("FIX50SP2", "FIXT11"),
    }
)

_EMPTY_ENUMS: Final[Mapping[str, str]] = MappingProxyType({})
_EMPTY_GROUPS: Final[Mapping[int, GroupDef]] = MappingProxyType({})
_STANDARD_ADMIN: Final = frozenset({"0", "1", "2", "3", "4", "5", "A"})
_DATA_TYPES: Final = frozenset({"DATA", "XMLDATA"})
_LENGTH_SUFFIXES: Final = ("Length", "Len")

PathArg: TypeAlias = "str | PathLike[str]"
# One entry of an ITEMS list (see the module docstring); JSON gives us these untyped.
_Item: TypeAlias = "int | str | list[Any]"


def builtin_sources() -> Mapping[str, tuple[str, str | None]]:
    """Canonical built-in name -> (application file stem, transport file stem or None).

    ``tools/gen_dictionaries.py`` writes ``<stem>.json.gz`` for every stem named here."""
    return _BUILTIN_SOURCES


# --------------------------------------------------------------------------------------------
# QuickFIX XML -> compact document
# --------------------------------------------------------------------------------------------


class _Node:
    """A parsed XML element: just what the dictionary reader needs."""

    __slots__ = ("tag", "attrs", "children", "line")

    def __init__(self, tag: str, attrs: dict[str, str], line: int) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[_Node] = []
        self.line = line


def _parse_xml(data: bytes, where: str) -> _Node:
    """Parse with expat directly, refusing any DOCTYPE or entity declaration, so nothing is
    ever expanded or fetched."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[_Node] = []
    roots: list[_Node] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = _Node(tag, attrs, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            roots.append(node)
        stack.append(node)

    def end(tag: str) -> None:
        stack.pop()

    def refuse_doctype(*args: object) -> None:
        raise ConfigError(
            f"line {parser.CurrentLineNumber}: DOCTYPE and entity declarations are not allowed "
            "in a data dictionary",
            file=where,
        )

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_doctype
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise ConfigError(f"not well-formed XML: {exc}", file=where) from None
    if len(roots) != 1 or roots[0].tag != "fix":
        raise ConfigError("the root element must be <fix>", file=where)
    return roots[0]


def _child(root: _Node, tag: str) -> _Node | None:
    found = [c for c in root.children if c.tag == tag]
    return found[0] if found else None


def _required(node: _Node, where: str) -> bool:
    value = node.attrs.get("required", "N")
    if value in ("Y", "y"):
        return True
    if value in ("N", "n"):
        return False
    raise ConfigError(
        f"line {node.line}: required='{value}' on <{node.tag} name='{node.attrs.get('name')}'> "
        "must be 'Y' or 'N'",
        file=where,
    )


def _name(node: _Node, where: str) -> str:
    name = node.attrs.get("name")
    if not name:
        raise ConfigError(f"line {node.line}: <{node.tag}> has no name", file=where)
    return name


def _begin_string(root: _Node, where: str) -> str:
    kind = root.attrs.get("type", "FIX")
    major = root.attrs.get("major")
    minor = root.attrs.get("minor")
    if not major or not minor:
        raise ConfigError("<fix> needs 'major' and 'minor' attributes", file=where)
    begin = f"{kind}.{major}.{minor}"
    service_pack = root.attrs.get("servicepack", "0")
    if service_pack not in ("", "0"):
        begin += f"SP{service_pack}"
    return begin


def _read_fields(root: _Node, where: str) -> tuple[list[list[Any]], dict[str, int]]:
    fields_node = _child(root, "fields")
    if fields_node is None:
        raise ConfigError("no <fields> section", file=where)
    fields: list[list[Any]] = []
    by_name: dict[str, int] = {}
    seen_tags: set[int] = set()
    for node in fields_node.children:
        if node.tag != "field":
            raise ConfigError(f"line {node.line}: unexpected <{node.tag}> in <fields>", file=where)
        name = _name(node, where)
        number = node.attrs.get("number", "")
        if not number.isdigit() or int(number) <= 0:
            raise ConfigError(
                f"line {node.line}: field '{name}' has number '{number}', "
                "which is not a positive integer",
                file=where,
            )
        tag = int(number)
        type_ = node.attrs.get("type", "").upper()
        if not type_:
            raise ConfigError(f"line {node.line}: field '{name}' has no type", file=where)
        if tag in seen_tags:
            raise ConfigError(f"line {node.line}: field number {tag} defined twice", file=where)
        if name in by_name:
            raise ConfigError(f"line {node.line}: field name '{name}' defined twice", file=where)
        seen_tags.add(tag)
        by_name[name] = tag
        enums: list[str] = []
        seen_values: set[str] = set()
        for value in node.children:
            if value.tag != "value":
                raise ConfigError(
                    f"line {value.line}: unexpected <{value.tag}> in field '{name}'", file=where
                )
            enum = value.attrs.get("enum")
            if enum is None:
                raise ConfigError(
                    f"line {value.line}: <value> of field '{name}' has no 'enum'", file=where
                )
            if enum in seen_values:  # QuickFIX keeps a set: a repeated value is harmless
                continue
            seen_values.add(enum)
            enums += (enum, value.attrs.get("description", ""))
        fields.append([tag, name, type_, enums] if enums else [tag, name, type_])
    return fields, by_name


def _read_items(
    parent: _Node, by_name: Mapping[str, int], where: str, *, allow_components: bool = True
) -> list[_Item]:
    items: list[_Item] = []
    for node in parent.children:
        name = _name(node, where)
        required = _required(node, where)
        if node.tag in ("field", "group"):
            tag = by_name.get(name)
            if tag is None:
                raise ConfigError(
                    f"line {node.line}: <{node.tag} name='{name}'> is not defined in <fields>",
                    file=where,
                )
            entry = -tag if required else tag
            if node.tag == "field":
                if node.children:
                    raise ConfigError(
                        f"line {node.line}: field reference '{name}' has children", file=where
                    )
                items.append(entry)
            else:
                members = _read_items(node, by_name, where, allow_components=allow_components)
                if not members:
                    raise ConfigError(f"line {node.line}: group '{name}' is empty", file=where)
                items.append([entry, *members])
        elif node.tag == "component" and allow_components:
            if node.children:
                raise ConfigError(
                    f"line {node.line}: component reference '{name}' has children", file=where
                )
            items.append(f"*{name}" if required else name)
        else:
            raise ConfigError(
                f"line {node.line}: unexpected <{node.tag}> in <{parent.tag}>", file=where
            )
    return items


def _compact_from_root(root: _Node, where: str) -> dict[str, Any]:
    begin_string = _begin_string(root, where)
    fields, by_name = _read_fields(root, where)

    components: dict[str, list[_Item]] = {}
    components_node = _child(root, "components")
    if components_node is not None:
        for node in components_node.children:
            if node.tag != "component":
                raise ConfigError(
                    f"line {node.line}: unexpected <{node.tag}> in <components>", file=where
                )
            name = _name(node, where)
            if name in components:
                raise ConfigError(f"line {node.line}: component '{name}' defined twice", file=where)
            components[name] = _read_items(node, by_name, where)

    sections: dict[str, list[_Item]] = {}
    for section in ("header", "trailer"):
        section_node = _child(root, section)
        sections[section] = (
            [] if section_node is None else _read_items(section_node, by_name, where)
        )

    messages: list[list[Any]] = []
    messages_node = _child(root, "messages")
    seen_types: set[str] = set()
    if messages_node is not None:
        for node in messages_node.children:
            if node.tag != "message":
                raise ConfigError(
                    f"line {node.line}: unexpected <{node.tag}> in <messages>", file=where
                )
            name = _name(node, where)
            msg_type = node.attrs.get("msgtype", "")
            if not msg_type:
                raise ConfigError(f"line {node.line}: message '{name}' has no msgtype", file=where)
            if msg_type in seen_types:
                raise ConfigError(
                    f"line {node.line}: msgtype '{msg_type}' defined twice", file=where
                )
            seen_types.add(msg_type)
            category = node.attrs.get("msgcat", "app")
            if category not in ("admin", "app"):
                raise ConfigError(
                    f"line {node.line}: message '{name}' has msgcat='{category}', "
                    "expected 'admin' or 'app'",
                    file=where,
                )
            messages.append([msg_type, name, category, _read_items(node, by_name, where)])

    document: dict[str, Any] = {
        "format": COMPACT_FORMAT,
        "begin_string": begin_string,
        "fields": fields,
        "header": sections["header"],
        "trailer": sections["trailer"],
        "components": components,
        "messages": messages,
    }
    # Resolve every component once now, so that an unknown or recursive component is reported
    # against the XML file rather than at first use.
    _Flattener(document, {f[0]: f[1] for f in fields}, where).check_all()
    return document


def xml_to_compact(path: PathArg) -> dict[str, Any]:
    """Read one QuickFIX-format XML data dictionary into a compact document (see the module
    docstring). Raises :class:`~fixg.errors.ConfigError` naming the file for anything wrong."""
    where = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read data dictionary: {exc.strerror or exc}", file=where
        ) from None
    return _compact_from_root(_parse_xml(data, where), where)


# --------------------------------------------------------------------------------------------
# compact document -> definitions
# --------------------------------------------------------------------------------------------

_Flat: TypeAlias = tuple[tuple[int, ...], frozenset[int], Mapping[int, GroupDef]]


class _Flattener:
    """Flattens ITEMS lists of one document: components inlined, groups made GroupDefs.

    A component is flattened once and its GroupDefs are shared by every message using it.
    """

    def __init__(self, document: Mapping[str, Any], names: Mapping[int, str], where: str) -> None:
        self._components: Mapping[str, list[_Item]] = document["components"]
        self._names = names
        self._where = where
        self._done: dict[str, _Flat] = {}
        self._active: set[str] = set()

    def check_all(self) -> None:
        for name in self._components:
            self.component(name)

    def component(self, name: str) -> _Flat:
        flat = self._done.get(name)
        if flat is not None:
            return flat
        items = self._components.get(name)
        if items is None:
            raise ConfigError(
                f"component '{name}' is not defined in <components>", file=self._where
            )
        if name in self._active:
            raise ConfigError(f"component '{name}' contains itself", file=self._where)
        self._active.add(name)
        try:
            flat = self.flatten(items)
        finally:
            self._active.discard(name)
        self._done[name] = flat
        return flat

    def flatten(self, items: Iterable[_Item]) -> _Flat:
        order: list[int] = []
        seen: set[int] = set()
        required: set[int] = set()
        groups: dict[int, GroupDef] = {}

        def add(tag: int) -> None:
            # The same field can reach one scope twice through components (FIX43
            # RegistrationInstructions, FIX50 NoLegs); the first position counts.
            if tag not in seen:
                seen.add(tag)
                order.append(tag)

        for item in items:
            if type(item) is int:
                if item < 0:
                    item = -item
                    required.add(item)
                if item not in seen:
                    seen.add(item)
                    order.append(item)
            elif type(item) is str:
                is_required = item.startswith("*")
                sub_order, sub_required, sub_groups = self.component(
                    item[1:] if is_required else item
                )
                if seen.isdisjoint(sub_order):
                    order.extend(sub_order)
                    seen.update(sub_order)
                else:
                    for tag in sub_order:
                        add(tag)
                if is_required:
                    required.update(sub_required)
                for count_tag, group in sub_groups.items():
                    groups.setdefault(count_tag, group)
            elif type(item) is list and item and type(item[0]) is int:
                head = item[0]
                count_tag = -head if head < 0 else head
                sub_order, sub_required, sub_groups = self.flatten(item[1:])
                if not sub_order:
                    raise ConfigError(
                        f"group {count_tag} ({self._names.get(count_tag, '?')}) has no fields",
                        file=self._where,
                    )
                add(count_tag)
                if head < 0:
                    required.add(count_tag)
                groups.setdefault(
                    count_tag,
                    GroupDef.make(
                        count_tag,
                        self._names.get(count_tag, str(count_tag)),
                        sub_order,
                        sub_required,
                        sub_groups,
                    ),
                )
            else:
                raise ConfigError(f"malformed dictionary item {item!r}", file=self._where)
        return (
            tuple(order),
            frozenset(required),
            MappingProxyType(groups) if groups else _EMPTY_GROUPS,
        )

    def message(
        self, msg_type: str, name: str, category: str, items: Iterable[_Item]
    ) -> MessageDef:
        order, required, groups = self.flatten(items)
        return MessageDef(msg_type, name, category, order, required, groups, frozenset(order))


def _check_document(document: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(document, Mapping):
        raise ConfigError("a compact dictionary must be a JSON object", file=where)
    if document.get("format") != COMPACT_FORMAT:
        raise ConfigError(
            f"compact dictionary format {document.get('format')!r} is not supported "
            f"(expected {COMPACT_FORMAT}); regenerate it with tools/gen_dictionaries.py",
            file=where,
        )
    for key, kind in (
        ("begin_string", str),
        ("fields", list),
        ("header", list),
        ("trailer", list),
        ("components", dict),
        ("messages", list),
    ):
        if not isinstance(document.get(key), kind):
            raise ConfigError(f"missing or malformed '{key}'", file=where, key=key)
    return document


def _field_defs(raw_fields: Sequence[Sequence[Any]], where: str) -> dict[int, FieldDef]:
    fields: dict[int, FieldDef] = {}
    try:
        for raw in raw_fields:
            tag, name, type_ = raw[0], raw[1], raw[2]
            if len(raw) > 3:
                flat = raw[3]
                pairs = zip(flat[::2], flat[1::2], strict=True)
                enums: Mapping[str, str] = MappingProxyType(dict(pairs))
            else:
                enums = _EMPTY_ENUMS
            fields[tag] = FieldDef(tag, name, type_, enums)
    except (IndexError, TypeError, ValueError) as exc:
        raise ConfigError(f"malformed field entry: {exc}", file=where, key="fields") from None
    return fields


def _merge_fields(
    transport: dict[int, FieldDef], app: Mapping[int, FieldDef]
) -> dict[int, FieldDef]:
    """FIXT + FIX 5: the transport dictionary names and types a tag both define (it validates
    the header and the session messages); the allowed values are the union of both."""
    merged = dict(app)
    for tag, tdef in transport.items():
        adef = app.get(tag)
        if adef is None or not adef.enums or adef.enums == tdef.enums:
            merged[tag] = tdef
            continue
        union = dict(tdef.enums)
        for value, description in adef.enums.items():
            union.setdefault(value, description)
        merged[tag] = FieldDef(tag, tdef.name, tdef.type, MappingProxyType(union))
    return merged


def _data_length_tags(fields: Mapping[int, FieldDef]) -> dict[int, int]:
    """LENGTH field -> the DATA/XMLDATA field it measures.

    By name first (``RawDataLength`` -> ``RawData``, ``EncodedTextLen`` -> ``EncodedText``,
    ``SignatureLength`` -> ``Signature``), then, for a data field still unpaired, the LENGTH
    field numbered one below it (QuickFIX's rule; FIX 5.0 SP2 tag 41873 -> 41874)."""
    by_name = {f.name: f for f in fields.values()}
    pairs: dict[int, int] = {}
    for fdef in fields.values():
        if fdef.type != "LENGTH":
            continue
        for suffix in _LENGTH_SUFFIXES:
            if fdef.name.endswith(suffix):
                data = by_name.get(fdef.name[: -len(suffix)])
                if data is not None and data.type in _DATA_TYPES:
                    pairs[fdef.tag] = data.tag
                    break
    paired = set(pairs.values())
    for fdef in fields.values():
        if fdef.type in _DATA_TYPES and fdef.tag not in paired:
            length = fields.get(fdef.tag - 1)
            if length is not None and length.type == "LENGTH" and length.tag not in pairs:
                pairs[length.tag] = fdef.tag
    return dict(sorted(pairs.items()))


# --------------------------------------------------------------------------------------------
# DataDictionary
# --------------------------------------------------------------------------------------------


class DataDictionary:
    """One FIX version's data dictionary (immutable).

    ``begin_string`` is the BeginString(8) of the sessions it describes ("FIX.4.4",
    "FIXT.1.1"); ``app_version`` the application version ("FIX.5.0SP2" for FIXT.1.1 with FIX
    5.0 SP2, equal to ``begin_string`` for FIX 4.x, None for a transport-only dictionary).
    Two dictionaries are equal when they define the same fields, header, trailer and messages.
    """

    __slots__ = (
        "begin_string",
        "app_version",
        "source",
        "_fields",
        "_fields_by_name",
        "_header",
        "_trailer",
        "_messages",
        "_data_length_tags",
        "_hash",
        "__weakref__",
    )

    begin_string: str
    app_version: str | None
    source: str

    def __init__(
        self,
        *,
        begin_string: str,
        app_version: str | None,
        fields: Mapping[int, FieldDef],
        header: MessageDef,
        trailer: MessageDef,
        messages: Mapping[str, MessageDef],
        source: str = "",
    ) -> None:
        self.begin_string = begin_string
        self.app_version = app_version
        self.source = source
        self._fields: Mapping[int, FieldDef] = MappingProxyType(dict(fields))
        self._fields_by_name: Mapping[str, FieldDef] = MappingProxyType(
            {f.name: f for f in fields.values()}
        )
        self._header = header
        self._trailer = trailer
        self._messages: Mapping[str, MessageDef] = MappingProxyType(dict(messages))
        self._data_length_tags: Mapping[int, int] = MappingProxyType(_data_length_tags(fields))
        self._hash = hash(
            (begin_string, app_version, len(self._fields), header.order, frozenset(self._messages))
        )

    # -- constructors ---------------------------------------------------------------------

    @classmethod
    def from_xml(cls, path: PathArg, *, transport: PathArg | None = None) -> DataDictionary:
        """Load a QuickFIX-format XML dictionary.

        For FIX 5.0 and later pass the application dictionary (e.g. FIX50SP2.xml) as ``path``
        and the session dictionary (FIXT11.xml) as ``transport``: the result takes header,
        trailer and session messages from the transport file and application messages from
        ``path``."""
        app = xml_to_compact(path)
        if transport is None:
            return cls.from_compact(app, source=str(path))
        return cls.from_compact(
            app, transport=xml_to_compact(transport), source=f"{transport} + {path}"
        )

    @classmethod
    def from_compact(
        cls,
        document: Mapping[str, Any],
        *,
        transport: Mapping[str, Any] | None = None,
        source: str = "<compact>",
    ) -> DataDictionary:
        """Build a dictionary from compact document(s) (see the module docstring)."""
        app = _check_document(document, source)
        app_fields = _field_defs(app["fields"], source)
        if transport is None:
            names = {tag: f.name for tag, f in app_fields.items()}
            flattener = _Flattener(app, names, source)
            header = flattener.message("", "Header", "header", app["header"])
            trailer = flattener.message("", "Trailer", "trailer", app["trailer"])
            messages = {m[0]: flattener.message(*m) for m in app["messages"]}
            return cls(
                begin_string=app["begin_string"],
                app_version=app["begin_string"],
                fields=app_fields,
                header=header,
                trailer=trailer,
                messages=messages,
                source=source,
            )
        session = _check_document(transport, source)
        fields = _merge_fields(_field_defs(session["fields"], source), app_fields)
        names = {tag: f.name for tag, f in fields.items()}
        session_flattener = _Flattener(session, names, source)
        app_flattener = _Flattener(app, names, source)
        header = session_flattener.message("", "Header", "header", session["header"])
        trailer = session_flattener.message("", "Trailer", "trailer", session["trailer"])
        messages = {m[0]: session_flattener.message(*m) for m in session["messages"]}
        for m in app["messages"]:
            if m[0] not in messages:
                messages[m[0]] = app_flattener.message(*m)
        return cls(
            begin_string=session["begin_string"],
            app_version=app["begin_string"],
            fields=fields,
            header=header,
            trailer=trailer,
            messages=messages,
            source=source,
        )

    # -- DictionaryLike ---------------------------------------------------------------------

    @property
    def fields(self) -> Mapping[int, FieldDef]:
        """Tag -> field definition, for every field the dictionary defines."""
        return self._fields

    @property
    def fields_by_name(self) -> Mapping[str, FieldDef]:
        """Field name -> field definition."""
        return self._fields_by_name

    @property
    def header(self) -> MessageDef:
        """The standard header (``msg_type`` "", ``category`` "header")."""
        return self._header

    @property
    def trailer(self) -> MessageDef:
        """The standard trailer (``msg_type`` "", ``category`` "trailer")."""
        return self._trailer

    @property
    def messages(self) -> Mapping[str, MessageDef]:
        """MsgType(35) value -> message definition."""
        return self._messages

    @property
    def data_length_tags(self) -> Mapping[int, int]:
        """LENGTH tag -> DATA tag it measures, e.g. {90: 91, 93: 89, 95: 96, 212: 213, ...}."""
        return self._data_length_tags

    def group_def(self, msg_type: str, count_tag: int) -> GroupDef | None:
        """The top-level group introduced by ``count_tag`` in the body of ``msg_type``, the
        header or the trailer; None if ``count_tag`` starts no group there."""
        message = self._messages.get(msg_type)
        if message is not None:
            group = message.groups.get(count_tag)
            if group is not None:
                return group
        return self._header.groups.get(count_tag) or self._trailer.groups.get(count_tag)

    # -- lookups ------------------------------------------------------------------------------

    def field(self, tag_or_name: int | str) -> FieldDef:
        """The definition of a field given its tag or its name; KeyError if undefined."""
        if isinstance(tag_or_name, int):
            found = self._fields.get(tag_or_name)
        else:
            found = self._fields_by_name.get(tag_or_name)
        if found is None:
            raise KeyError(f"field {tag_or_name!r} is not defined in {self.begin_string}")
        return found

    def tag_name(self, tag: int) -> str:
        """The field's name, or the tag number as text when the dictionary does not define it."""
        found = self._fields.get(tag)
        return found.name if found is not None else str(tag)

    def message(self, msg_type: str) -> MessageDef:
        """The definition of a message type; KeyError if undefined."""
        found = self._messages.get(msg_type)
        if found is None:
            raise KeyError(f"MsgType {msg_type!r} is not defined in {self.begin_string}")
        return found

    def is_admin(self, msg_type: str) -> bool:
        """True for session-level (admin) message types: the dictionary's msgcat, or the
        standard ones (0, 1, 2, 3, 4, 5, A) for a type it does not define."""
        message = self._messages.get(msg_type)
        if message is not None:
            return message.category == "admin"
        return msg_type in _STANDARD_ADMIN

    def is_header_field(self, tag: int) -> bool:
        """True for a top-level field of the standard header."""
        return tag in self._header.members

    def is_trailer_field(self, tag: int) -> bool:
        """True for a top-level field of the standard trailer."""
        return tag in self._trailer.members

    # -- value semantics --------------------------------------------------------------------

    def _key(self) -> tuple[Any, ...]:
        return (
            self.begin_string,
            self.app_version,
            self._fields,
            self._header,
            self._trailer,
            self._messages,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataDictionary):
            return NotImplemented
        return self is other or (self._hash == other._hash and self._key() == other._key())

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        app = f" app_version={self.app_version!r}" if self.app_version != self.begin_string else ""
        return (
            f"<DataDictionary {self.begin_string!r}{app} fields={len(self._fields)} "
            f"messages={len(self._messages)} source={self.source!r}>"
        )


# --------------------------------------------------------------------------------------------
# built-ins
# --------------------------------------------------------------------------------------------

_builtin_cache: dict[str, DataDictionary] = {}
_builtin_lock = threading.Lock()


def _read_compact_resource(stem: str) -> Mapping[str, Any]:
    resource = resources.files("fixg.fix").joinpath("dictionaries", f"{stem}.json.gz")
    where = f"fixg/fix/dictionaries/{stem}.json.gz"
    try:
        raw = resource.read_bytes()
    except OSError as exc:
        raise ConfigError(f"built-in dictionary missing: {exc}", file=where) from None
    try:
        document: Any = json.loads(gzip.decompress(raw))
    except (OSError, EOFError, ValueError) as exc:
        raise ConfigError(f"built-in dictionary corrupt: {exc}", file=where) from None
    return _check_document(document, where)


def load_builtin(name: str) -> DataDictionary:
    """A dictionary shipped with fixg: "FIX.4.2", "FIX.4.4" or "FIXT.1.1" (FIXT.1.1 session
    layer with FIX 5.0 SP2 application messages; aliases "FIX.5.0SP2", "FIX42", "FIX44",
    "FIXT11", "FIX50SP2"). Loaded once per process and then shared (dictionaries are
    immutable)."""
    canonical = BUILTIN_NAMES.get(name)
    if canonical is None:
        raise ConfigError(
            f"unknown built-in dictionary {name!r}; choose one of {', '.join(BUILTIN_NAMES)}"
        )
    cached = _builtin_cache.get(canonical)
    if cached is not None:
        return cached
    with _builtin_lock:
        cached = _builtin_cache.get(canonical)
        if cached is None:
            app_stem, transport_stem = _BUILTIN_SOURCES[canonical]
            app = _read_compact_resource(app_stem)
            transport = None if transport_stem is None else _read_compact_resource(transport_stem)
            source = f"builtin:{canonical}"
            cached = DataDictionary.from_compact(app, transport=transport, source=source)
            _builtin_cache[canonical] = cached
    return cached
