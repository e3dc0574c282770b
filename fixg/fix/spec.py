"""The shape of a FIX data dictionary, as the codec and the validator consume it.

:mod:`fixg.fix.dictionary` builds these from QuickFIX-format XML or from the compact built-in
dictionaries; :mod:`fixg.fix.codec` reads them through :class:`DictionaryLike` only, so the
codec never imports the loader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["FieldDef", "GroupDef", "MessageDef", "DictionaryLike"]


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field of the dictionary.

    ``type`` is the QuickFIX type name in upper case: INT, LENGTH, NUMINGROUP, SEQNUM, TAGNUM,
    DAYOFMONTH, FLOAT, QTY, PRICE, PRICEOFFSET, AMT, PERCENTAGE, CHAR, BOOLEAN, STRING,
    MULTIPLEVALUESTRING, MULTIPLESTRINGVALUE, MULTIPLECHARVALUE, COUNTRY, CURRENCY, EXCHANGE,
    MONTHYEAR, UTCTIMESTAMP, UTCTIMEONLY, UTCDATEONLY, UTCDATE, LOCALMKTDATE, TZTIMEONLY,
    TZTIMESTAMP, DATA, XMLDATA, LANGUAGE, ...
    ``enums`` maps each allowed wire value to its description; empty when any value is allowed.
    """

    tag: int
    name: str
    type: str
    enums: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GroupDef:
    """A repeating group: ``count_tag`` (the NumInGroup field) introduces ``count`` instances,
    each starting with ``delimiter``. ``order`` lists the member tags in dictionary order;
    a nested group appears there as its own count tag and is described in ``groups``."""

    count_tag: int
    name: str
    delimiter: int
    order: tuple[int, ...]
    required: frozenset[int]
    groups: Mapping[int, GroupDef]
    members: frozenset[int]

    @staticmethod
    def make(
        count_tag: int,
        name: str,
        order: tuple[int, ...],
        required: frozenset[int],
        groups: Mapping[int, GroupDef],
    ) -> GroupDef:
        return GroupDef(count_tag, name, order[0], order, required, groups, frozenset(order))


@dataclass(frozen=True, slots=True)
class MessageDef:
    """A message type (or the header / trailer, whose ``msg_type`` is ``""``).

    ``order`` holds the body tags in dictionary order with components flattened; a group
    appears as its count tag and is described in ``groups``. ``category`` is "admin" or "app".
    """

    msg_type: str
    name: str
    category: str
    order: tuple[int, ...]
    required: frozenset[int]
    groups: Mapping[int, GroupDef]
    members: frozenset[int]


class DictionaryLike(Protocol):
    """What the codec needs to know of a dictionary."""

    @property
    def data_length_tags(self) -> Mapping[int, int]:
        """Length tag -> data tag, e.g. {95: 96, 90: 91, 212: 213, 354: 355, ...}."""
        ...

    def group_def(self, msg_type: str, count_tag: int) -> GroupDef | None:
        """The top-level group introduced by ``count_tag`` in the header, the body of
        ``msg_type`` or the trailer; None if ``count_tag`` starts no group there."""
        ...
