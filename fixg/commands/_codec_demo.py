"""``fixg demo --codec``: a codec round trip.

Builds a FIX.4.4 NewOrderSingle with a Parties group, encodes it, cuts a byte stream holding it
into small chunks, frames and decodes it, prints it with field names and reads typed values
back.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from fixg.fix.codec import decode, encode, encode_message
from fixg.fix.framer import Framer, FrameGarbled
from fixg.fix.message import FieldMap
from fixg.fix.spec import GroupDef
from fixg.fix.tags import DEFAULT_DATA_LENGTH_TAGS

# A tiny name table for the demo's fields (FIX.4.4 names).
NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {
        8: "BeginString",
        9: "BodyLength",
        10: "CheckSum",
        11: "ClOrdID",
        21: "HandlInst",
        34: "MsgSeqNum",
        35: "MsgType",
        38: "OrderQty",
        40: "OrdType",
        44: "Price",
        49: "SenderCompID",
        52: "SendingTime",
        54: "Side",
        55: "Symbol",
        56: "TargetCompID",
        58: "Text",
        59: "TimeInForce",
        60: "TransactTime",
        447: "PartyIDSource",
        448: "PartyID",
        452: "PartyRole",
        453: "NoPartyIDs",
    }
)

PARTIES: Final = GroupDef.make(453, "NoPartyIDs", (448, 447, 452), frozenset({448}), {})


class DemoDictionary:
    """Just enough of a dictionary for the demo: the Parties group of NewOrderSingle."""

    @property
    def data_length_tags(self) -> Mapping[int, int]:
        return DEFAULT_DATA_LENGTH_TAGS

    def group_def(self, msg_type: str, count_tag: int) -> GroupDef | None:
        return PARTIES if msg_type == "D" and count_tag == 453 else None


def _show(fields: FieldMap) -> str:
    return fields.to_text(" | ", NAMES)[: -len(" | ")]


def run(args: argparse.Namespace) -> int:
    chunk = max(1, int(args.chunk))
    dictionary = DemoDictionary()
    transact = dt.datetime(2024, 3, 1, 14, 30, 5, 123456, dt.timezone.utc)
    fields: list[tuple[int, Any]] = [
        (49, "BUYSIDE"),
        (56, "SELLSIDE"),
        (34, 7),
        (52, dt.datetime.now(dt.timezone.utc)),
        (11, "ORD-0001"),
        (21, "1"),
        (55, "MSFT"),
        (54, "1"),
        (60, transact),
        (38, Decimal("1500")),
        (40, "2"),
        (44, Decimal("412.35")),
        (59, "0"),
        (
            453,
            [
                [(448, "TRADER-7"), (447, "D"), (452, 11)],
                [(452, 1), (448, "BROKER-X"), (447, "D")],  # put in dictionary order on encode
            ],
        ),
        (58, "demo order"),
    ]
    frame = encode("FIX.4.4", "D", fields, dictionary=dictionary)
    print(f"encoded {len(frame)} bytes:")
    print("  " + frame.decode().replace("\x01", "|"))

    stream = b"line noise\r\n" + frame
    framer = Framer()
    frames: list[bytes] = []
    for start in range(0, len(stream), chunk):
        framer.feed(stream[start : start + chunk])
        for item in framer:
            if isinstance(item, FrameGarbled):
                print(f"garbled frame: {item.error}")
            else:
                frames.append(item)
    print(
        f"\nframed from {len(stream)} bytes in {chunk}-byte chunks: {framer.frames} frame(s), "
        f"{framer.junk_bytes} junk byte(s) skipped, {framer.garbled_frames} garbled"
    )

    for received in frames:
        msg = decode(received, dictionary)
        print("\ndecoded:")
        print("  " + _show(msg))
        print("\ntyped values:")
        print(f"  MsgType        {msg.msg_type!r}  MsgSeqNum {msg.seq_num}")
        print(f"  ClOrdID        {msg.get_str(11)!r}")
        print(f"  Side           {msg.get_char(54)!r}")
        print(f"  OrderQty       {msg.get_decimal(38)!r}")
        print(f"  Price          {msg.get_decimal(44)!r}")
        stamp = msg.get_timestamp(60)
        assert stamp is not None
        print(f"  TransactTime   {stamp.datetime.isoformat()} (precision {stamp.precision} digits)")
        parties = msg.group(453)
        print(f"  NoPartyIDs     {len(parties)}")
        for party in parties:
            print(
                f"    PartyID {party.get_str(448)!r} source {party.get_char(447)!r} "
                f"role {party.get_int(452)}"
            )
        again = encode_message(msg)
        print(f"\nre-encoded identical: {again == received}")
        if again != received:
            return 1
    return 0 if len(frames) == 1 else 1
