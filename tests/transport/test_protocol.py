from __future__ import annotations

import dataclasses
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixg.errors import CodecError
from fixg.transport import protocol as p

MESSAGE_TYPES = sorted(p._REGISTRY.values(), key=lambda c: c.TYPE_ID)

_LIMITS = {"u8": 255, "u16": 0xFFFF, "u32": 2**32 - 1, "u64": 2**64 - 1}


def _strategy(kind: str) -> st.SearchStrategy[Any]:
    if kind.startswith("?"):
        return st.none() | _strategy(kind[1:])
    if kind.startswith("[]"):
        return st.lists(_strategy(kind[2:]), max_size=4).map(tuple)
    if kind in p._STRUCTS:
        return _message_strategy(p._STRUCTS[kind])
    if kind in _LIMITS:
        return st.integers(0, _LIMITS[kind])
    if kind == "i32":
        return st.integers(-(2**31), 2**31 - 1)
    if kind == "i64":
        return st.integers(-(2**63), 2**63 - 1)
    if kind == "f64":
        return st.floats(allow_nan=False)
    if kind == "bool":
        return st.booleans()
    if kind == "str":
        return st.text(max_size=40)
    if kind == "bytes":
        return st.binary(max_size=300)
    raise AssertionError(kind)


def _message_strategy(cls: type[Any]) -> st.SearchStrategy[Any]:
    fields = {
        f.name: _strategy(f.metadata["kind"])
        for f in dataclasses.fields(cls)
        if f.name != "correlation_id"
    }
    if issubclass(cls, p.Message):
        fields["correlation_id"] = st.integers(0, 2**64 - 1)
    return st.builds(cls, **fields)


ANY_MESSAGE = st.one_of(*(_message_strategy(c) for c in MESSAGE_TYPES))


def test_type_ids_are_unique_and_split_by_direction() -> None:
    ids = [c.TYPE_ID for c in MESSAGE_TYPES]
    assert len(ids) == len(set(ids))
    for cls in MESSAGE_TYPES:
        assert issubclass(cls, p.Command) == (cls.TYPE_ID < 64), cls
        assert issubclass(cls, p.Event) == (cls.TYPE_ID >= 64), cls


@settings(max_examples=300, derandomize=True, deadline=None)
@given(ANY_MESSAGE)
def test_every_message_round_trips(message: p.Message) -> None:
    frame = p.encode(message)
    assert p.decode(frame) == message
    assert p.decode(memoryview(frame)) == message
    assert p.decode(bytearray(frame)) == message


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_codec_error(data: bytes) -> None:
    try:
        p.decode(data)
    except CodecError:
        pass


@settings(max_examples=400, derandomize=True, deadline=None)
@given(ANY_MESSAGE, st.data())
def test_mutated_frames_raise_only_codec_error(message: p.Message, data: st.DataObject) -> None:
    frame = bytearray(p.encode(message))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        i = data.draw(st.integers(0, max(0, len(frame) - 1)))
        if op == "flip" and frame:
            frame[i] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del frame[i:]
        else:
            frame[i:i] = data.draw(st.binary(min_size=1, max_size=8))
    try:
        p.decode(bytes(frame))
    except CodecError:
        pass


def test_header_checks() -> None:
    frame = p.encode(p.Heartbeat(client_id=9, correlation_id=3))
    with pytest.raises(CodecError, match="shorter than"):
        p.decode(frame[:5])
    with pytest.raises(CodecError, match="protocol version 2 is not supported"):
        p.decode(b"\x02" + frame[1:])
    with pytest.raises(CodecError, match="length field says"):
        p.decode(frame + b"\x00")
    bad_type = bytearray(frame)
    bad_type[1] = 200
    with pytest.raises(CodecError, match="unknown message type 200"):
        p.decode(bytes(bad_type))
    trailing = bytearray(frame + b"\x00")
    struct.pack_into("<I", trailing, 4, len(trailing))
    with pytest.raises(CodecError, match="unexpected bytes after a Heartbeat"):
        p.decode(bytes(trailing))


def test_correlation_id_and_layout() -> None:
    frame = p.encode(p.SendMessage(session_id=5, msg_type="D", body=b"55=X\x01", correlation_id=42))
    version, type_id, flags, length, corr = p.HEADER.unpack_from(frame)
    assert (version, type_id, flags, length, corr) == (1, 7, 0, len(frame), 42)


def test_unencodable_values_are_codec_errors() -> None:
    with pytest.raises(CodecError):
        p.encode(p.Hello(client_name="x" * 70000))
    with pytest.raises(CodecError):
        p.encode(p.Heartbeat(client_id=-1))


def test_password_not_in_repr() -> None:
    cmd = p.InitiateSession(addresses=(), begin_string="FIX.4.4", sender_comp_id="A",
                            target_comp_id="B", password="hunter2")  # fmt: skip
    assert "hunter2" not in repr(cmd)
    assert p.decode(p.encode(cmd)).password == "hunter2"  # type: ignore[attr-defined]


def test_error_codes_are_distinct() -> None:
    from fixg.transport.protocol import ErrorCode

    codes = {k: v for k, v in vars(ErrorCode).items() if k.isupper()}
    assert len(set(codes.values())) == len(codes)
    assert codes["SESSION_ACTIVE"] == 13
