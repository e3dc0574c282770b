"""The ctypes structures mirror the C layout: sizes, offsets, and real values read back."""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fixg.aeron import ctypes_bindings as cb
from fixg.aeron.client import FLAG_UNFRAGMENTED, FRAME_TYPE_DATA, Client, Header, HeaderValues
from fixg.driver import DriverHandle

pytestmark = pytest.mark.aeron


def _offsets(struct: type[ctypes.Structure]) -> dict[str, int]:
    return {name: getattr(struct, name).offset for name, *_ in struct._fields_}


def test_struct_layouts_match_aeronc_h() -> None:
    # #pragma pack(4) structures
    assert ctypes.sizeof(cb.AeronHeaderValuesFrame) == 32
    assert _offsets(cb.AeronHeaderValuesFrame) == {
        "frame_length": 0, "version": 4, "flags": 5, "type": 6, "term_offset": 8,
        "session_id": 12, "stream_id": 16, "term_id": 20, "reserved_value": 24,
    }
    assert ctypes.sizeof(cb.AeronHeaderValues) == 44
    assert _offsets(cb.AeronHeaderValues) == {"frame": 0, "initial_term_id": 32, "position_bits_to_shift": 36}
    # naturally aligned structures (LP64)
    assert ctypes.sizeof(cb.AeronPublicationConstants) == 88
    assert _offsets(cb.AeronPublicationConstants)["stream_id"] == 64
    assert _offsets(cb.AeronPublicationConstants)["channel_status_indicator_id"] == 80
    assert ctypes.sizeof(cb.AeronSubscriptionConstants) == 40
    assert ctypes.sizeof(cb.AeronImageConstants) == 72
    assert _offsets(cb.AeronImageConstants)["session_id"] == 56
    assert ctypes.sizeof(cb.AeronBufferClaim) == 24
    assert ctypes.sizeof(cb.AeronIovec) == 16
    assert ctypes.sizeof(cb.AeronCountersReaderBuffers) == 32


def _wait(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.001)


def test_constants_and_header_values_read_back(aeron_dir: Path, start_driver: Callable[..., DriverHandle]) -> None:
    start_driver(aeron_dir, {"aeron.ipc.term.buffer.length": "128k", "aeron.ipc.mtu.length": "4k"})
    with Client(aeron_dir) as client:
        sub = client.add_subscription("aeron:ipc", 77)
        pub = client.add_exclusive_publication("aeron:ipc", 77)
        c = pub.constants
        assert c.channel == "aeron:ipc"
        assert c.stream_id == 77
        assert c.term_buffer_length == 128 * 1024
        assert c.position_bits_to_shift == 17  # log2(term length)
        assert c.max_payload_length == 4096 - 32  # MTU minus the data header
        assert c.max_possible_position == c.term_buffer_length << 31
        assert c.registration_id > 0 and c.original_registration_id == c.registration_id
        assert c.publication_limit_counter_id >= 0
        assert sub.constants.stream_id == 77 and sub.constants.channel == "aeron:ipc"
        assert sub.constants.registration_id > 0
        _wait(lambda: pub.is_connected and sub.image_count == 1)

        (image,) = sub.images()
        with image:
            assert image.info.session_id == c.session_id
            assert image.info.initial_term_id == c.initial_term_id
            assert image.info.term_buffer_length == 128 * 1024
            assert image.info.mtu_length == 4096
            assert image.info.join_position == 0
            assert image.info.subscriber_position_id >= 0

        payload = b"0123456789"
        position = pub.offer(payload)
        assert position == 64  # 32-byte header + 10 bytes, aligned to 32
        seen: list[tuple[bytes, HeaderValues, int]] = []

        def handler(buffer: memoryview, header: Header) -> None:
            seen.append((bytes(buffer), header.values(), header.position))

        _wait(lambda: sub.poll(handler) > 0)
        data, values, header_position = seen[0]
        assert data == payload
        assert values.frame_length == 32 + len(payload)
        assert values.version == 0
        assert values.flags == FLAG_UNFRAGMENTED
        assert values.type == FRAME_TYPE_DATA
        assert values.term_offset == 0
        assert values.session_id == c.session_id
        assert values.stream_id == 77
        assert values.term_id == c.initial_term_id
        assert values.reserved_value == 0
        assert values.initial_term_id == c.initial_term_id
        assert values.position_bits_to_shift == 17
        assert header_position == position

        # the buffer claim points into the term buffer: header just before the data
        with pub.try_claim(16) as claim:
            raw = claim._claim
            assert raw.length == 16
            assert raw.data - raw.frame_header == 32
            assert claim.position == position + 64
            claim.buffer[:] = b"claimed-16-bytes"
        seen.clear()
        _wait(lambda: sub.poll(handler) > 0)
        assert seen[0][0] == b"claimed-16-bytes"
        assert seen[0][1].term_offset == 64


def test_counter_constants_and_reader(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        counter = client.add_counter(1001, "fixg test counter", key=b"\x01\x02\x03")
        assert counter.counter_id >= 0 and counter.registration_id > 0
        counter.value = 41
        assert counter.increment() == 42
        reader = client.counters
        assert reader.value(counter.counter_id) == 42
        assert reader.label(counter.counter_id) == "fixg test counter"
        assert reader.type_id(counter.counter_id) == 1001
        assert reader.state(counter.counter_id) == cb.AERON_COUNTER_RECORD_ALLOCATED
        assert reader.registration_id(counter.counter_id) == counter.registration_id
        assert reader.owner_id(counter.counter_id) == client.client_id
        assert reader.find(1001, counter.registration_id) == counter.counter_id
        assert reader.find(1001, counter.registration_id + 1000) is None
        infos = {info.counter_id: info for info in reader.counters()}
        mine = infos[counter.counter_id]
        assert (mine.value, mine.type_id, mine.label) == (42, 1001, "fixg test counter")
        assert mine.key[:3] == b"\x01\x02\x03"
        assert reader.max_counter_id >= counter.counter_id
        # the driver's own counters are there too, e.g. this client's heartbeat
        heartbeat = [i for i in infos.values() if i.type_id == reader.CLIENT_HEARTBEAT_TIMESTAMP_TYPE_ID]
        assert heartbeat and abs(heartbeat[0].value - int(time.time() * 1000)) < 10_000
        age = client.driver_heartbeat_age_ms()
        assert age is not None and 0 <= age < 5_000
