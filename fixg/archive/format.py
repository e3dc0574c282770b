"""Wire and file formats of the fixg archive.

Data stream (``data_stream_id``): one Aeron message per store operation of a session::

    <B kind><B direction><H key length><I sequence index><q number><q second><d time> key payload

    kind MSG   (1): number = MsgSeqNum, second = 0, payload = the FIX message bytes
    kind SEQ   (2): number = next sender seqnum, second = next target seqnum (set explicitly)
    kind BEGIN (3): a new sequence index (period) starts at ``time``

Index stream (``index_stream_id``): one entry per MSG, the data stream *end* position of the
message (the position Aeron's offer returned, the recording position the archiver stores with
the record)::

    <B direction><H key length><I sequence index><q seqnum><i data publication session id><q position> key

Segment files: records ``<I payload length><I crc32><q end position> payload``; the CRC covers
the position and the payload. A record whose length runs past the end of the file or whose CRC
does not match is a torn tail (only legal at the end of the last segment of a recording). Two
kinds of record, told apart by the top bit of the length (:data:`FRAMES_FLAG`):

- a *message record* (bit clear): the payload is one data record or index entry, the position
  is where it ends in the stream (written by tools: import, the index stream);
- a *frames record* (bit set): the payload is a run of Aeron frames exactly as they were in the
  publication's log (32-byte frame headers, 32-byte alignment, padding frames included), the
  position is the stream position where the run ends. This is how the archiver records the
  data stream: one record, one CRC, one copy per block it polls, no work per message. A message
  longer than the MTU is in several frames (BEGIN ... END flags), possibly in several records.

Control (``control_stream_id``) requests: ``<B op><q correlation id><i response stream id>``
then a JSON object. Responses on ``control_channel`` / the response stream id:
``<B kind><q correlation id>`` then, for OK/ERROR a JSON object, for REPLAY_DATA the end
position (``<q>``) and a data record as above, for REPLAY_END ``<q count>``.
"""

from __future__ import annotations

import enum
import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any, Final

from fixg.errors import StoreError

__all__ = [
    "Kind", "DataRecord", "IndexEntry", "encode_data", "decode_data", "encode_index", "decode_index",
    "SEGMENT_HEADER", "FRAMES_FLAG", "LENGTH_MASK", "encode_segment_record", "Op", "Reply",
]  # fmt: skip

DIR_IN: Final = 0
DIR_OUT: Final = 1

_DATA = struct.Struct("<BBHIqqd")
DATA_HEADER_SIZE: Final = _DATA.size
_INDEX = struct.Struct("<BHIqiq")
SEGMENT_HEADER: Final = struct.Struct("<IIq")
#: set in a segment record's length: the payload is Aeron frames, as recorded from the log
FRAMES_FLAG: Final = 0x8000_0000
LENGTH_MASK: Final = 0x7FFF_FFFF
_REQUEST = struct.Struct("<Bqi")
_REPLY = struct.Struct("<Bq")
_Q = struct.Struct("<q")

#: Counter type ids (Aeron reserves the low ones; these are fixg's).
HEARTBEAT_COUNTER_TYPE: Final = 7000
RECORDED_POSITION_COUNTER_TYPE: Final = 7001
RECORDING_BYTES_COUNTER_TYPE: Final = 7002
GATEWAY_LAG_COUNTER_TYPE: Final = 7010
COUNTER_KEY: Final = struct.Struct("<iiq")  # stream id, publication session id, recording id


class Kind(enum.IntEnum):
    MSG = 1
    SEQ = 2
    BEGIN = 3


@dataclass(frozen=True, slots=True)
class DataRecord:
    kind: Kind
    direction: int
    key: str
    seq_index: int
    number: int
    second: int
    time: float
    payload: bytes = b""


def encode_data(kind: int, direction: int, key: bytes, seq_index: int, number: int, second: int,
                time: float, payload: bytes = b"") -> bytes:
    return _DATA.pack(kind, direction, len(key), seq_index, number, second, time) + key + payload


def decode_data(data: bytes | memoryview) -> DataRecord:
    try:
        kind, direction, klen, seq_index, number, second, t = _DATA.unpack_from(data)
        start = _DATA.size
        key = bytes(data[start : start + klen]).decode()
        return DataRecord(Kind(kind), direction, key, seq_index, number, second, t, bytes(data[start + klen :]))
    except (struct.error, ValueError) as exc:
        raise StoreError(f"corrupt archive data record: {exc}") from exc


_KEYS: dict[bytes, str] = {}


def decode_data_header(data: bytes | bytearray | memoryview) -> tuple[int, int, int, int, int, float, str]:
    """(kind, direction, sequence index, number, second, time, key) without copying the payload."""
    try:
        kind, direction, klen, seq_index, number, second, t = _DATA.unpack_from(data)
        raw = bytes(data[_DATA.size : _DATA.size + klen])
        key = _KEYS.get(raw)
        if key is None:
            key = raw.decode()
            if len(_KEYS) < 65536:
                _KEYS[raw] = key
        if kind not in (1, 2, 3):
            raise ValueError(f"unknown record kind {kind}")
    except (struct.error, ValueError) as exc:
        raise StoreError(f"corrupt archive data record: {exc}") from exc
    return kind, direction, seq_index, number, second, t, key


@dataclass(frozen=True, slots=True)
class IndexEntry:
    direction: int
    key: str
    seq_index: int
    seq_num: int
    session_id: int
    position: int


def encode_index(direction: int, key: bytes, seq_index: int, seq_num: int, session_id: int, position: int) -> bytes:
    return _INDEX.pack(direction, len(key), seq_index, seq_num, session_id, position) + key


def decode_index(data: bytes | bytearray | memoryview) -> IndexEntry:
    try:
        direction, klen, seq_index, seq_num, session_id, position = _INDEX.unpack_from(data)
        key = bytes(data[_INDEX.size : _INDEX.size + klen]).decode()
    except (struct.error, ValueError) as exc:
        raise StoreError(f"corrupt archive index entry: {exc}") from exc
    return IndexEntry(direction, key, seq_index, seq_num, session_id, position)


def crc(position: int, payload: bytes | memoryview) -> int:
    return zlib.crc32(payload, zlib.crc32(_Q.pack(position))) & 0xFFFFFFFF


def encode_segment_record(position: int, payload: bytes | memoryview) -> bytes:
    return SEGMENT_HEADER.pack(len(payload), crc(position, payload), position) + bytes(payload)


class Op(enum.IntEnum):
    """Control requests."""

    REPLAY = 1
    SESSIONS = 2
    RECORDINGS = 3
    STATUS = 4
    PURGE = 5
    PING = 6


class Reply(enum.IntEnum):
    OK = 1
    ERROR = 2
    REPLAY_DATA = 3
    REPLAY_END = 4


def encode_request(op: Op, correlation_id: int, response_stream_id: int, body: dict[str, Any]) -> bytes:
    return _REQUEST.pack(op, correlation_id, response_stream_id) + json.dumps(body).encode()


def decode_request(data: bytes | memoryview) -> tuple[Op, int, int, dict[str, Any]]:
    op, corr, stream = _REQUEST.unpack_from(data)
    body = json.loads(bytes(data[_REQUEST.size :]) or b"{}")
    if not isinstance(body, dict):
        raise ValueError("a request body is a JSON object")
    return Op(op), corr, stream, body


def encode_reply(kind: Reply, correlation_id: int, body: dict[str, Any]) -> bytes:
    return _REPLY.pack(kind, correlation_id) + json.dumps(body).encode()


def encode_replay_data(correlation_id: int, position: int, record: bytes | memoryview) -> bytes:
    return _REPLY.pack(Reply.REPLAY_DATA, correlation_id) + _Q.pack(position) + bytes(record)


def encode_replay_end(correlation_id: int, count: int) -> bytes:
    return _REPLY.pack(Reply.REPLAY_END, correlation_id) + _Q.pack(count)


def decode_reply(data: bytes | memoryview) -> tuple[Reply, int, Any]:
    """(kind, correlation id, body): a dict for OK/ERROR, (position, DataRecord) for
    REPLAY_DATA, the count for REPLAY_END."""
    kind, corr = _REPLY.unpack_from(data)
    rest = data[_REPLY.size :]
    if kind == Reply.REPLAY_DATA:
        return Reply.REPLAY_DATA, corr, (_Q.unpack_from(rest)[0], decode_data(rest[8:]))
    if kind == Reply.REPLAY_END:
        return Reply.REPLAY_END, corr, _Q.unpack_from(rest)[0]
    return Reply(kind), corr, json.loads(bytes(rest))
