"""The Gateway <-> FixClient protocol: one versioned binary encoding of commands and events,
used unchanged by every transport (asyncio queues in process, Aeron between processes).

Frame layout (little-endian)::

    0      1      2        4          8                 16
    +------+------+--------+----------+-----------------+------------------+
    | ver  | type | flags  | length   | correlation id  | body ...         |
    | u8   | u8   | u16    | u32      | u64             |                  |
    +------+------+--------+----------+-----------------+------------------+

``length`` is the whole frame's length. ``correlation id`` ties a reply (``CommandCompleted``,
``CommandFailed``, ``SendCompleted`` ...) to the command that caused it; unsolicited events
carry 0. The body is the message's fields in declaration order: integers fixed-width, strings
as u16 length + UTF-8, byte strings as u32 length + bytes, optional values behind a u8
presence flag, lists behind a u16 count.

A reader rejects frames of another major version, unknown types, wrong lengths and truncated
or trailing bytes with :class:`~fixg.errors.CodecError` (never another exception), so a
malformed command from a client becomes an error event and the gateway keeps running.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from fixg.errors import CodecError

__all__ = [
    "PROTOCOL_VERSION",
    "HEADER",
    "Message",
    "Command",
    "Event",
    "encode",
    "decode",
    "clip_text",
    "SessionInfo",
    # commands
    "Hello",
    "Heartbeat",
    "Goodbye",
    "InitiateSession",
    "LogoutSession",
    "DisconnectSession",
    "SendMessage",
    "ClaimSession",
    "ReleaseSession",
    "ListSessions",
    "ResetSequenceNumbers",
    "StatusRequest",
    # events
    "Welcome",
    "GatewayHeartbeat",
    "CommandCompleted",
    "CommandFailed",
    "SessionStateChanged",
    "ApplicationMessageReceived",
    "SendCompleted",
    "SendFailed",
    "RejectReceived",
    "SessionList",
    "OwnershipChanged",
    "ErrorReported",
    "StatusReport",
    "TransportStateChanged",
    "ErrorCode",
]

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<BBHIQ")
MAX_FRAME = 16 << 20


class ErrorCode:
    """Codes carried by CommandFailed / SendFailed / ErrorReported."""

    MALFORMED_COMMAND = 1
    UNKNOWN_SESSION = 2
    NOT_OWNER = 3
    ALREADY_OWNED = 4
    SESSION_NOT_ACTIVE = 5
    MESSAGE_TOO_LARGE = 6
    INVALID_MESSAGE = 7
    STORE_FAILED = 8
    BACK_PRESSURED = 9
    NOT_CONNECTED = 10
    UNSUPPORTED_VERSION = 11
    DUPLICATE_SESSION = 12
    SESSION_ACTIVE = 13  # the command needs the session logged out first
    INTERNAL = 99


# ---------------------------------------------------------------------------------------------
# Field kinds: (pack(value, out: list[bytes]), unpack(buf, pos) -> (value, pos))

_U8, _U16, _U32, _I32, _U64, _I64, _F64 = (
    struct.Struct(f) for f in ("<B", "<H", "<I", "<i", "<Q", "<q", "<d")
)


def _fixed(st: struct.Struct) -> tuple[Callable[..., None], Callable[..., tuple[Any, int]]]:
    def pack(v: Any, out: list[bytes]) -> None:
        out.append(st.pack(v))

    def unpack(buf: memoryview, pos: int) -> tuple[Any, int]:
        end = pos + st.size
        if end > len(buf):
            raise CodecError("truncated frame", offset=pos)
        return st.unpack_from(buf, pos)[0], end

    return pack, unpack


_unpack_u16 = _fixed(_U16)[1]
_unpack_u32 = _fixed(_U32)[1]


def _pack_bool(v: Any, out: list[bytes]) -> None:
    out.append(b"\x01" if v else b"\x00")


def _unpack_bool(buf: memoryview, pos: int) -> tuple[Any, int]:
    if pos >= len(buf):
        raise CodecError("truncated frame", offset=pos)
    b = buf[pos]
    if b > 1:
        raise CodecError(f"bad boolean {b}", offset=pos)
    return b == 1, pos + 1


MAX_STR_BYTES = 0xFFFF


def clip_text(text: str | None, limit: int = MAX_STR_BYTES) -> str | None:
    """``text`` cut to at most ``limit`` UTF-8 bytes (the protocol's string limit), on a
    character boundary, with a marker saying how much was cut; None stays None."""
    if text is None:
        return None
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    marker = f"... ({len(data)} bytes, truncated)"
    keep = data[: limit - len(marker.encode())].decode("utf-8", "ignore")
    return keep + marker


def _pack_str(v: Any, out: list[bytes]) -> None:
    data = v.encode("utf-8")
    if len(data) > 0xFFFF:
        raise CodecError(f"string of {len(data)} bytes is too long (max 65535)")
    out.append(_U16.pack(len(data)))
    out.append(data)


def _unpack_str(buf: memoryview, pos: int) -> tuple[Any, int]:
    n, pos = _unpack_u16(buf, pos)
    end = pos + n
    if end > len(buf):
        raise CodecError("truncated string", offset=pos)
    try:
        return bytes(buf[pos:end]).decode("utf-8"), end
    except UnicodeDecodeError as exc:
        raise CodecError(f"string is not UTF-8: {exc.reason}", offset=pos + exc.start) from exc


def _pack_bytes(v: Any, out: list[bytes]) -> None:
    out.append(_U32.pack(len(v)))
    out.append(bytes(v) if not isinstance(v, bytes) else v)


def _unpack_bytes(buf: memoryview, pos: int) -> tuple[Any, int]:
    n, pos = _unpack_u32(buf, pos)
    end = pos + n
    if end > len(buf):
        raise CodecError("truncated byte string", offset=pos)
    return bytes(buf[pos:end]), end


_KINDS: dict[str, tuple[Callable[..., None], Callable[..., tuple[Any, int]]]] = {
    "u8": _fixed(_U8),
    "u16": _fixed(_U16),
    "u32": _fixed(_U32),
    "i32": _fixed(_I32),
    "u64": _fixed(_U64),
    "i64": _fixed(_I64),
    "f64": _fixed(_F64),
    "bool": (_pack_bool, _unpack_bool),
    "str": (_pack_str, _unpack_str),
    "bytes": (_pack_bytes, _unpack_bytes),
}


def _optional(kind: str) -> tuple[Callable[..., None], Callable[..., tuple[Any, int]]]:
    inner_pack, inner_unpack = _kind(kind)

    def pack(v: Any, out: list[bytes]) -> None:
        if v is None:
            out.append(b"\x00")
        else:
            out.append(b"\x01")
            inner_pack(v, out)

    def unpack(buf: memoryview, pos: int) -> tuple[Any, int]:
        present, pos = _unpack_bool(buf, pos)
        return inner_unpack(buf, pos) if present else (None, pos)

    return pack, unpack


def _list(kind: str) -> tuple[Callable[..., None], Callable[..., tuple[Any, int]]]:
    inner_pack, inner_unpack = _kind(kind)

    def pack(v: Any, out: list[bytes]) -> None:
        if len(v) > 0xFFFF:
            raise CodecError(f"list of {len(v)} items is too long (max 65535)")
        out.append(_U16.pack(len(v)))
        for item in v:
            inner_pack(item, out)

    def unpack(buf: memoryview, pos: int) -> tuple[Any, int]:
        n, pos = _unpack_u16(buf, pos)
        items = []
        for _ in range(n):
            item, pos = inner_unpack(buf, pos)
            items.append(item)
        return tuple(items), pos

    return pack, unpack


def _struct_kind(cls: type[Any]) -> tuple[Callable[..., None], Callable[..., tuple[Any, int]]]:
    codecs = [(f.name, _kind(f.metadata["kind"])) for f in dataclasses.fields(cls)]

    def pack(v: Any, out: list[bytes]) -> None:
        for name, (p, _) in codecs:
            p(getattr(v, name), out)

    def unpack(buf: memoryview, pos: int) -> tuple[Any, int]:
        values = []
        for _, (_, u) in codecs:
            value, pos = u(buf, pos)
            values.append(value)
        return cls(*values), pos

    return pack, unpack


_STRUCTS: dict[str, type[Any]] = {}


def _kind(kind: str) -> tuple[Callable[..., None], Callable[..., tuple[Any, int]]]:
    if kind.startswith("?"):
        return _optional(kind[1:])
    if kind.startswith("[]"):
        return _list(kind[2:])
    if kind in _STRUCTS:
        return _struct_kind(_STRUCTS[kind])
    return _KINDS[kind]


def _field(kind: str, **kw: Any) -> Any:
    """Declare a protocol field of ``kind`` (see the module docstring)."""
    return dataclasses.field(metadata={"kind": kind}, **kw)


# ---------------------------------------------------------------------------------------------
# Messages


@dataclass(frozen=True, slots=True)
class Address:
    host: str = _field("str")
    port: int = _field("u16")


_STRUCTS["address"] = Address


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One line of a SessionList."""

    session_id: int = _field("u64")
    key: str = _field("str")
    state: str = _field("str")
    next_sender_seq_num: int = _field("u64")
    next_target_seq_num: int = _field("u64")
    owner_client_id: int = _field("u64")  # 0: no owner
    connected: bool = _field("bool")


_STRUCTS["session_info"] = SessionInfo

_REGISTRY: dict[int, type[Message]] = {}


@dataclass(frozen=True, slots=True)
class Message:
    """Base of commands and events. ``correlation_id`` is in the frame header."""

    TYPE_ID: ClassVar[int] = 0
    correlation_id: int = dataclasses.field(default=0, kw_only=True)

    def encode(self) -> bytes:
        return encode(self)


def _register(type_id: int) -> Callable[[type[Any]], type[Any]]:
    def deco(cls: type[Any]) -> type[Any]:
        if type_id in _REGISTRY:
            raise RuntimeError(f"protocol type id {type_id} used twice")
        cls.TYPE_ID = type_id
        body = [fl for fl in dataclasses.fields(cls) if fl.name != "correlation_id"]
        cls._codec = [(fl.name, _kind(fl.metadata["kind"])) for fl in body]
        _REGISTRY[type_id] = cls
        return cls

    return deco


class Command(Message):
    """Client -> gateway."""

    __slots__ = ()


class Event(Message):
    """Gateway -> client."""

    __slots__ = ()


# -- commands (1..63) -----------------------------------------------------------------------


@_register(1)
@dataclass(frozen=True, slots=True)
class Hello(Command):
    """First command of a client; answered by Welcome."""

    client_name: str = _field("str")
    protocol_version: int = _field("u16", default=PROTOCOL_VERSION)
    heartbeat_interval_ms: int = _field("u32", default=1000)
    #: a client reconnecting after its link was lost: the id it had and the gateway epoch it
    #: had it in; the gateway hands that client's sessions over if it still holds them
    previous_client_id: int = _field("u64", default=0)
    previous_epoch: int = _field("u64", default=0)


@_register(2)
@dataclass(frozen=True, slots=True)
class Heartbeat(Command):
    client_id: int = _field("u64")
    #: ApplicationMessageReceived events received on this link so far (an acknowledgement:
    #: the gateway gives what was not acknowledged to the next owner if this client is lost)
    received: int = _field("u64", default=0)


@_register(3)
@dataclass(frozen=True, slots=True)
class Goodbye(Command):
    client_id: int = _field("u64")
    received: int = _field("u64", default=0)


@_register(4)
@dataclass(frozen=True, slots=True)
class InitiateSession(Command):
    """Connect to a counterparty and log on; answered by CommandCompleted (its ``session_id``)
    or CommandFailed. The calling client owns the new session."""

    addresses: tuple[Address, ...] = _field("[]address")
    begin_string: str = _field("str")
    sender_comp_id: str = _field("str")
    target_comp_id: str = _field("str")
    heart_bt_int: int = _field("u32", default=30)
    username: str | None = _field("?str", default=None)
    password: str | None = _field("?str", default=None, repr=False)
    reset_seq_num: bool = _field("bool", default=False)
    default_appl_ver_id: str | None = _field("?str", default=None)


@_register(5)
@dataclass(frozen=True, slots=True)
class LogoutSession(Command):
    session_id: int = _field("u64")
    text: str | None = _field("?str", default=None)


@_register(6)
@dataclass(frozen=True, slots=True)
class DisconnectSession(Command):
    session_id: int = _field("u64")


@_register(7)
@dataclass(frozen=True, slots=True)
class SendMessage(Command):
    """An application message for the gateway to stamp (header, MsgSeqNum, SendingTime) and
    send. ``body`` is the body fields as FIX (``tag=value<SOH>``...), without header/trailer."""

    session_id: int = _field("u64")
    msg_type: str = _field("str")
    body: bytes = _field("bytes")


@_register(8)
@dataclass(frozen=True, slots=True)
class ClaimSession(Command):
    """Take ownership of a session (by id, or by key when ``session_id`` is 0)."""

    session_id: int = _field("u64", default=0)
    key: str | None = _field("?str", default=None)


@_register(9)
@dataclass(frozen=True, slots=True)
class ReleaseSession(Command):
    session_id: int = _field("u64")


@_register(10)
@dataclass(frozen=True, slots=True)
class ListSessions(Command):
    pass


@_register(11)
@dataclass(frozen=True, slots=True)
class ResetSequenceNumbers(Command):
    session_id: int = _field("u64")


@_register(12)
@dataclass(frozen=True, slots=True)
class StatusRequest(Command):
    """Ask for the gateway's health and metrics; answered by StatusReport."""


# -- events (64..127) -----------------------------------------------------------------------


@_register(64)
@dataclass(frozen=True, slots=True)
class Welcome(Event):
    client_id: int = _field("u64")
    gateway_name: str = _field("str")
    protocol_version: int = _field("u16", default=PROTOCOL_VERSION)
    gateway_epoch: int = _field("u64", default=0)  # changes when the gateway restarts


@_register(65)
@dataclass(frozen=True, slots=True)
class GatewayHeartbeat(Event):
    gateway_epoch: int = _field("u64")


@_register(66)
@dataclass(frozen=True, slots=True)
class CommandCompleted(Event):
    session_id: int = _field("u64", default=0)


@_register(67)
@dataclass(frozen=True, slots=True)
class CommandFailed(Event):
    code: int = _field("u16")
    text: str = _field("str")


@_register(68)
@dataclass(frozen=True, slots=True)
class SessionStateChanged(Event):
    session_id: int = _field("u64")
    key: str = _field("str")
    state: str = _field("str")
    reason: str | None = _field("?str", default=None)


@_register(69)
@dataclass(frozen=True, slots=True)
class ApplicationMessageReceived(Event):
    session_id: int = _field("u64")
    seq_num: int = _field("u64")
    msg_type: str = _field("str")
    data: bytes = _field("bytes")
    poss_dup: bool = _field("bool", default=False)


@_register(70)
@dataclass(frozen=True, slots=True)
class SendCompleted(Event):
    """The message was persisted and handed to the TCP connection with ``seq_num``."""

    session_id: int = _field("u64")
    seq_num: int = _field("u64")


@_register(71)
@dataclass(frozen=True, slots=True)
class SendFailed(Event):
    session_id: int = _field("u64")
    code: int = _field("u16")
    text: str = _field("str")


@_register(72)
@dataclass(frozen=True, slots=True)
class RejectReceived(Event):
    """The counterparty rejected one of our messages: a session Reject(3) or a
    BusinessMessageReject(j) (``business`` true)."""

    session_id: int = _field("u64")
    ref_seq_num: int = _field("u64")
    reason: int | None = _field("?i32", default=None)
    ref_tag_id: int | None = _field("?i32", default=None)
    text: str | None = _field("?str", default=None)
    business: bool = _field("bool", default=False)


@_register(73)
@dataclass(frozen=True, slots=True)
class SessionList(Event):
    sessions: tuple[SessionInfo, ...] = _field("[]session_info")


@_register(74)
@dataclass(frozen=True, slots=True)
class OwnershipChanged(Event):
    session_id: int = _field("u64")
    owner_client_id: int = _field("u64")  # 0: no owner now


@_register(75)
@dataclass(frozen=True, slots=True)
class ErrorReported(Event):
    code: int = _field("u16")
    text: str = _field("str")
    session_id: int = _field("u64", default=0)


@_register(76)
@dataclass(frozen=True, slots=True)
class StatusReport(Event):
    """The gateway's health and metrics as a JSON document (clients, sessions, stream
    positions, per-stage latency histograms); see docs/gateway.md."""

    document: bytes = _field("bytes")


@_register(77)
@dataclass(frozen=True, slots=True)
class TransportStateChanged(Event):
    """Raised by the client library itself (never sent by a gateway): the link to the gateway
    went ``DOWN`` (media driver or gateway gone) or is ``UP`` again, sessions re-claimed."""

    state: str = _field("str")
    reason: str = _field("str", default="")


# ---------------------------------------------------------------------------------------------


# -- hand-written fast paths for the per-message frames -----------------------------------------
# SendMessage, SendCompleted, ApplicationMessageReceived and Heartbeat go by for every order;
# these write and read exactly the bytes the table-driven codec does (anything unusual - an
# out-of-range number, a bytearray, a malformed frame - goes to the general code, which also
# raises its errors).

_SEND_HEAD = struct.Struct("<BBHIQQH")  # header, session_id, len(msg_type)
_SEQ_BODY = struct.Struct("<BBHIQQQ")  # header, two u64 (SendCompleted, Heartbeat)
_APP_HEAD = struct.Struct("<BBHIQQQH")  # header, session_id, seq_num, len(msg_type)
_SEQ_SIZE = _SEQ_BODY.size


def _encode_fast(message: Message, kind: type, correlation_id: int) -> bytes | None:
    try:
        if kind is SendMessage:
            m: Any = message
            mt = m.msg_type.encode("utf-8")
            body = m.body
            if type(body) is not bytes or len(mt) > 0xFFFF:
                return None
            length = _SEND_HEAD.size + len(mt) + 4 + len(body)
            if length > MAX_FRAME:
                return None
            return b"%b%b%b%b" % (
                _SEND_HEAD.pack(PROTOCOL_VERSION, 7, 0, length, correlation_id, m.session_id, len(mt)),
                mt, _U32.pack(len(body)), body,
            )  # fmt: skip
        if kind is SendCompleted:
            m = message
            return _SEQ_BODY.pack(PROTOCOL_VERSION, 70, 0, _SEQ_SIZE, correlation_id, m.session_id, m.seq_num)
        if kind is ApplicationMessageReceived:
            m = message
            mt = m.msg_type.encode("utf-8")
            data = m.data
            if type(data) is not bytes or len(mt) > 0xFFFF:
                return None
            length = _APP_HEAD.size + len(mt) + 5 + len(data)
            if length > MAX_FRAME:
                return None
            return b"%b%b%b%b%b" % (
                _APP_HEAD.pack(PROTOCOL_VERSION, 69, 0, length, correlation_id, m.session_id, m.seq_num, len(mt)),
                mt, _U32.pack(len(data)), data, b"\x01" if m.poss_dup else b"\x00",
            )  # fmt: skip
        if kind is Heartbeat:
            m = message
            return _SEQ_BODY.pack(PROTOCOL_VERSION, 2, 0, _SEQ_SIZE, correlation_id, m.client_id, m.received)
    except (struct.error, UnicodeEncodeError, AttributeError, TypeError):
        return None  # the general code says what is wrong
    return None


def _decode_fast(frame: bytes, type_id: int, correlation_id: int) -> Message | None:
    n = len(frame)
    try:
        if type_id == 7:
            _, _, _, _, _, session_id, mt_len = _SEND_HEAD.unpack_from(frame, 0)
            pos = _SEND_HEAD.size + mt_len
            (body_len,) = _U32.unpack_from(frame, pos)
            if pos + 4 + body_len != n:
                return None
            msg_type = frame[_SEND_HEAD.size : pos].decode("utf-8")
            return SendMessage(session_id, msg_type, frame[pos + 4 :], correlation_id=correlation_id)
        if type_id == 70:
            if n != _SEQ_SIZE:
                return None
            values = _SEQ_BODY.unpack(frame)
            return SendCompleted(values[5], values[6], correlation_id=correlation_id)
        if type_id == 69:
            _, _, _, _, _, session_id, seq_num, mt_len = _APP_HEAD.unpack_from(frame, 0)
            pos = _APP_HEAD.size + mt_len
            (data_len,) = _U32.unpack_from(frame, pos)
            end = pos + 4 + data_len
            if end + 1 != n:
                return None
            flag = frame[end]
            if flag > 1:
                return None
            msg_type = frame[_APP_HEAD.size : pos].decode("utf-8")
            return ApplicationMessageReceived(
                session_id, seq_num, msg_type, frame[pos + 4 : end], flag == 1, correlation_id=correlation_id
            )
        if type_id == 2:
            if n != _SEQ_SIZE:
                return None
            values = _SEQ_BODY.unpack(frame)
            return Heartbeat(values[5], values[6], correlation_id=correlation_id)
    except (struct.error, UnicodeDecodeError):
        return None
    return None


def encode(message: Message, correlation_id: int | None = None) -> bytes:
    """Encode a command or event into one frame; ``correlation_id``, when given, is written
    instead of the message's own."""
    corr = message.correlation_id if correlation_id is None else correlation_id
    frame = _encode_fast(message, type(message), corr)
    if frame is not None:
        return frame
    out: list[bytes] = [b""]
    try:
        for name, (pack, _) in type(message)._codec:  # type: ignore[attr-defined]
            pack(getattr(message, name), out)
    except struct.error as exc:
        raise CodecError(f"cannot encode {type(message).__name__}: {exc}") from exc
    body_len = sum(len(p) for p in out)
    length = HEADER.size + body_len
    if length > MAX_FRAME:
        raise CodecError(f"frame of {length} bytes exceeds the maximum of {MAX_FRAME}")
    out[0] = HEADER.pack(PROTOCOL_VERSION, message.TYPE_ID, 0, length, corr)
    return b"".join(out)


def decode(frame: bytes | bytearray | memoryview) -> Message:
    """Decode one frame. Raises :class:`CodecError` for anything malformed."""
    if type(frame) is bytes and len(frame) >= 16 and frame[0] == PROTOCOL_VERSION:
        _, type_id, _, length, correlation_id = HEADER.unpack_from(frame, 0)
        if length == len(frame):
            message = _decode_fast(frame, type_id, correlation_id)
            if message is not None:
                return message
    buf = memoryview(frame)
    if len(buf) < HEADER.size:
        raise CodecError(f"frame of {len(buf)} bytes is shorter than the {HEADER.size}-byte header")
    version, type_id, _flags, length, correlation_id = HEADER.unpack_from(buf, 0)
    if version != PROTOCOL_VERSION:
        raise CodecError(f"protocol version {version} is not supported (this side speaks {PROTOCOL_VERSION})")
    if length != len(buf):
        raise CodecError(f"frame length field says {length} bytes, the frame has {len(buf)}")
    cls = _REGISTRY.get(type_id)
    if cls is None:
        raise CodecError(f"unknown message type {type_id}", offset=1)
    values: dict[str, Any] = {}
    pos = HEADER.size
    for name, (_, unpack) in cls._codec:  # type: ignore[attr-defined]
        values[name], pos = unpack(buf, pos)
    if pos != len(buf):
        raise CodecError(f"{len(buf) - pos} unexpected bytes after a {cls.__name__}", offset=pos)
    return cls(**values, correlation_id=correlation_id)
