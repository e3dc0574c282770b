"""The client wrappers against a real media driver: IPC and UDP on 127.0.0.1, reassembly,
back pressure, exclusive publications, try_claim, callbacks, close order, a driver killed."""

from __future__ import annotations

import array
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fixg.aeron import (
    Action,
    BackpressurePolicy,
    Client,
    Header,
    ImageInfo,
    OfferFailedError,
    OfferResult,
    Publication,
    ResourceClosedError,
    Subscription,
    iter_frames,
)
from fixg.aeron.client import FLAG_BEGIN, FLAG_END, FLAG_UNFRAGMENTED
from fixg.driver import DriverHandle
from fixg.errors import AeronError, DriverError

pytestmark = pytest.mark.aeron


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.001)


def connect(client: Client, channel: str, stream_id: int, exclusive: bool = False) -> tuple[Publication, Subscription]:
    sub = client.add_subscription(channel, stream_id)
    pub = client.add_exclusive_publication(channel, stream_id) if exclusive else client.add_publication(channel, stream_id)
    wait_for(lambda: pub.is_connected and sub.is_connected)
    return pub, sub


def receive(sub: Subscription, count: int, timeout: float = 5.0) -> list[bytes]:
    got: list[bytes] = []

    def handler(buffer: memoryview, header: Header) -> None:
        got.append(bytes(buffer))

    wait_for(lambda: sub.poll(handler) >= 0 and len(got) >= count, timeout)
    return got


@pytest.mark.parametrize("exclusive", [False, True], ids=["concurrent", "exclusive"])
def test_ipc_round_trip(media_driver: DriverHandle, exclusive: bool) -> None:
    with Client(media_driver.aeron_dir) as client:
        pub, sub = connect(client, "aeron:ipc", 1001, exclusive)
        messages = [f"message {i}".encode() * (i % 5 + 1) for i in range(200)]
        for message in messages:
            assert pub.offer(message) > 0
        assert receive(sub, len(messages)) == messages


def test_udp_round_trip_on_loopback(media_driver: DriverHandle, udp_channel: str) -> None:
    with Client(media_driver.aeron_dir) as client:
        pub, sub = connect(client, udp_channel, 1002)
        messages = [os.urandom(100) for _ in range(100)]
        for message in messages:
            pub.offer(message)
        assert receive(sub, len(messages)) == messages
        assert pub.channel_status == 1 and sub.channel_status == 1


@pytest.mark.parametrize("channel", ["ipc", "udp"])
def test_messages_larger_than_mtu_are_reassembled(media_driver: DriverHandle, channel: str, udp_channel: str) -> None:
    uri = "aeron:ipc" if channel == "ipc" else udp_channel
    with Client(media_driver.aeron_dir) as client:
        pub, sub = connect(client, uri, 1003)
        assert pub.max_payload_length < 5000
        big = [os.urandom(size) for size in (pub.max_payload_length + 1, 5000, pub.max_message_length)]
        for message in big:
            pub.offer(message)
        assert receive(sub, len(big)) == big
        # without the assembler the fragments show up one by one, flagged BEGIN ... END
        pub.offer(big[1])
        flags: list[int] = []
        wait_for(lambda: sub.poll_fragments(lambda b, h: flags.append(h.flags)) >= 0 and bool(flags)
                 and flags[-1] & FLAG_END != 0)
        assert flags[0] & FLAG_BEGIN and len(flags) == -(-5000 // pub.max_payload_length)


def test_zero_copy_buffer_types(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        pub, sub = connect(client, "aeron:ipc", 1004)
        source = bytearray(b"--bytearray--")
        pub.offer(b"bytes")
        pub.offer(source)
        pub.offer(memoryview(b"xx-readonly-view-xx")[3:-3])
        pub.offer(memoryview(source)[2:-2])
        pub.offer(array.array("B", b"array"))
        pub.offerv([b"gath", bytearray(b"er"), memoryview(b"ed!")])
        assert receive(sub, 6) == [b"bytes", b"--bytearray--", b"readonly-view", b"bytearray", b"array", b"gathered!"]
        with pytest.raises(TypeError):
            pub.offer("not a buffer")  # type: ignore[arg-type]
        with pytest.raises(BufferError):
            pub.offer(memoryview(b"abcdef")[::2])  # not contiguous


def test_try_claim_commit_and_abort(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        pub, sub = connect(client, "aeron:ipc", 1005, exclusive=True)
        with pub.try_claim(5) as claim:
            claim.buffer[:] = b"first"
        claim = pub.try_claim(6)
        claim.buffer[:] = b"abort!"
        claim.abort()
        with pytest.raises(ResourceClosedError):
            claim.commit()
        with pytest.raises(ValueError):
            claim.buffer[0]  # released after commit/abort
        with pytest.raises(RuntimeError), pub.try_claim(4) as failed:
            failed.buffer[:] = b"lost"
            raise RuntimeError("aborts the claim")
        with pub.try_claim(6) as claim:
            claim.buffer[:] = b"second"
        assert receive(sub, 2) == [b"first", b"second"]
        with pytest.raises(ValueError, match="max payload"):
            pub.try_claim(pub.max_payload_length + 1)


def test_back_pressure_is_surfaced(media_driver: DriverHandle) -> None:
    # a 64 KiB IPC term and a subscriber that never polls: the publisher hits its limit
    policy = BackpressurePolicy(retry_count=2, backoff_ms=1)
    with Client(media_driver.aeron_dir, backpressure=policy) as client:
        pub, sub = connect(client, "aeron:ipc", 1006)
        message = b"x" * 1000
        results: list[int] = []
        for _ in range(1000):
            result = pub.try_offer(message)
            results.append(result)
            if result < 0:
                break
        assert results[-1] == OfferResult.BACK_PRESSURED
        assert pub.position >= pub.position_limit - len(message) - 64
        with pytest.raises(OfferFailedError) as info:
            pub.offer(message)
        assert info.value.result is OfferResult.BACK_PRESSURED
        assert info.value.attempts == 3  # the first try and two retries
        assert "BACK_PRESSURED" in str(info.value)
        # draining the subscriber releases the pressure
        received = receive(sub, len(results) - 1)
        assert all(r == message for r in received)
        wait_for(lambda: pub.try_offer(message) > 0)


def test_not_connected_is_surfaced(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir, backpressure=BackpressurePolicy(retry_count=1, backoff_ms=0)) as client:
        pub = client.add_publication("aeron:ipc", 1007)
        assert pub.try_offer(b"nobody listens") == OfferResult.NOT_CONNECTED
        with pytest.raises(OfferFailedError) as info:
            pub.offer(b"nobody listens")
        assert info.value.result is OfferResult.NOT_CONNECTED


def test_handler_exception_is_reraised_and_nothing_is_lost(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        pub, sub = connect(client, "aeron:ipc", 1008)
        for i in range(5):
            pub.offer(f"m{i}".encode())
        seen: list[bytes] = []

        def fussy(buffer: memoryview, header: Header) -> None:
            if bytes(buffer) == b"m2" and b"m2" not in seen:
                seen.append(b"m2")
                raise KeyError("boom")
            seen.append(bytes(buffer))

        wait_for(lambda: sub.image_count == 1)
        with pytest.raises(KeyError, match="boom"):
            while True:
                sub.poll(fussy)
        # m2 was not consumed: the next poll delivers it again, then the rest
        wait_for(lambda: sub.poll(fussy) >= 0 and len(seen) == 6)
        assert seen == [b"m0", b"m1", b"m2", b"m2", b"m3", b"m4"]


def test_controlled_poll_actions(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        pub, sub = connect(client, "aeron:ipc", 1009)
        for i in range(6):
            pub.offer(bytes([i]))
        got: list[int] = []

        def stop_after_two(buffer: memoryview, header: Header) -> Action:
            got.append(buffer[0])
            return Action.BREAK if len(got) % 2 == 0 else Action.CONTINUE

        wait_for(lambda: sub.controlled_poll(stop_after_two) > 0)
        assert got == [0, 1]
        assert sub.controlled_poll(stop_after_two) == 2
        assert got == [0, 1, 2, 3]
        with pytest.raises(TypeError, match="not an Action"):
            sub.controlled_poll(lambda b, h: "yes")  # type: ignore[arg-type, return-value]
        assert receive(sub, 2) == [b"\x04", b"\x05"]  # the bad return value consumed nothing


def test_views_are_only_valid_during_the_call(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        pub, sub = connect(client, "aeron:ipc", 1010)
        pub.offer(b"transient")
        kept: list[memoryview] = []
        headers: list[Header] = []

        def keep(buffer: memoryview, header: Header) -> None:
            assert buffer.readonly
            kept.append(buffer)
            headers.append(header)

        wait_for(lambda: sub.poll(keep) > 0)
        with pytest.raises(ValueError):
            bytes(kept[0])
        with pytest.raises(ResourceClosedError):
            headers[0].position


def test_block_poll_and_iter_frames(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        pub, sub = connect(client, "aeron:ipc", 1011)
        messages = [os.urandom(n) for n in (1, 31, 32, 33, 64, 500)]
        for message in messages:
            pub.offer(message)
        frames: list[tuple[int, bytes]] = []
        sessions: set[int] = set()

        def on_block(block: memoryview, session_id: int, term_id: int) -> None:
            sessions.add(session_id)
            frames.extend((flags, bytes(payload)) for flags, payload in iter_frames(block))

        wait_for(lambda: sub.block_poll(on_block) >= 0 and len(frames) == len(messages))
        assert [payload for _, payload in frames] == messages
        assert {flags for flags, _ in frames} == {FLAG_UNFRAGMENTED}
        assert sessions == {pub.session_id}

        pub.offer(b"raise")

        def broken(block: memoryview, session_id: int, term_id: int) -> None:
            raise ZeroDivisionError("in block handler")

        with pytest.raises(ZeroDivisionError):
            wait_for(lambda: sub.block_poll(broken) > 0)


def test_images_and_image_handlers(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        available: list[ImageInfo] = []
        unavailable: list[ImageInfo] = []
        sub = client.add_subscription(
            "aeron:ipc", 1012, on_available_image=available.append, on_unavailable_image=unavailable.append
        )
        pub = client.add_exclusive_publication("aeron:ipc", 1012)
        wait_for(lambda: bool(available))
        assert available[0].session_id == pub.session_id
        pub.offer(b"via image")
        image = sub.image_by_session_id(pub.session_id)
        assert image is not None
        with image:
            got: list[bytes] = []
            wait_for(lambda: image.poll(lambda b, h: got.append(bytes(b))) >= 0 and bool(got))
            assert got == [b"via image"]
            assert image.position == pub.position
            assert not image.is_end_of_stream
        with pytest.raises(ResourceClosedError):
            image.poll(lambda b, h: None)
        assert sub.image_by_session_id(pub.session_id + 1) is None
        pub.close()
        wait_for(lambda: bool(unavailable))
        assert unavailable[0].session_id == pub.session_id


def test_image_handler_exception_is_reraised_by_poll(media_driver: DriverHandle) -> None:
    def explode(info: ImageInfo) -> None:
        raise LookupError(f"image {info.session_id}")

    with Client(media_driver.aeron_dir) as client:
        sub = client.add_subscription("aeron:ipc", 1013, on_available_image=explode)
        client.add_publication("aeron:ipc", 1013)
        with pytest.raises(LookupError, match="image"):
            wait_for(lambda: sub.poll(lambda b, h: None) < 0)


def test_close_order_and_use_after_close(media_driver: DriverHandle) -> None:
    client = Client(media_driver.aeron_dir)
    with client:
        pub, sub = connect(client, "aeron:ipc", 1014)
        counter = client.add_counter(2000, "closing")
        pub.close()
        pub.close()  # idempotent
        with pytest.raises(ResourceClosedError):
            pub.offer(b"x")
        other = client.add_publication("aeron:ipc", 1014)
    # closing the client closed what it handed out, then itself
    assert client.is_closed and sub.is_closed and other.is_closed and counter.is_closed
    for action in (lambda: sub.poll(lambda b, h: None), lambda: other.offer(b"x"), lambda: counter.value,
                   lambda: client.add_publication("aeron:ipc", 1)):
        with pytest.raises(ResourceClosedError):
            action()
    client.close()  # idempotent


def test_no_driver_is_a_clear_error(aeron_dir: Path, aeron_library: object) -> None:
    started = time.monotonic()
    with pytest.raises(DriverError, match="cannot connect to a media driver") as info:
        Client(aeron_dir, driver_timeout_ms=300)
    assert str(aeron_dir) in str(info.value)
    assert time.monotonic() - started < 5


def test_killed_driver_makes_the_client_report_an_error(
    aeron_dir: Path, start_driver: Callable[..., DriverHandle]
) -> None:
    handle = start_driver(aeron_dir)
    with Client(aeron_dir, driver_timeout_ms=500) as client:
        pub, sub = connect(client, "aeron:ipc", 1015)
        pub.offer(b"before")
        assert receive(sub, 1) == [b"before"]
        handle.kill()
        started = time.monotonic()
        with pytest.raises(DriverError) as info:
            while time.monotonic() - started < 10:
                sub.poll(lambda b, h: None)
                time.sleep(0.005)
        assert time.monotonic() - started < 5
        assert info.value.errmsg
        with pytest.raises(DriverError):
            pub.offer(b"after")
        with pytest.raises(DriverError):
            client.check()
        assert client.is_closed
        assert any(isinstance(e, DriverError) for e in client.errors)
    # the process is still here, and the error is an AeronError for generic handlers
    assert isinstance(info.value, AeronError)
