"""The direct (pure-Python) writer of exclusive publications against a real media driver (64 KiB
IPC terms): what it writes must be read back exactly by libaeron's poll and by fixg's direct
reader, and it must return what libaeron's own exclusive publication returns for the same
sequence of offers (positions, ADMIN_ACTION on rotation, back pressure, not connected,
MAX_POSITION_EXCEEDED)."""

from __future__ import annotations

import os
import random
import struct
from collections.abc import Callable

import pytest

from fixg.aeron import (
    BackpressurePolicy,
    Client,
    DirectExclusivePublication,
    ExclusivePublication,
    Header,
    OfferFailedError,
    OfferResult,
    ResourceClosedError,
    Subscription,
    _log,
    _writer,
)
from fixg.driver import DriverHandle

from .test_aeron_client import wait_for

pytestmark = [
    pytest.mark.aeron,
    pytest.mark.skipif(not _log.direct_supported(), reason="the direct writer needs x86-64"),
]

TERM = 64 * 1024
_RETRY = (OfferResult.BACK_PRESSURED, OfferResult.NOT_CONNECTED)


def subscribe(client: Client, stream: int, channel: str = "aeron:ipc") -> tuple[Subscription, Subscription]:
    return (client.add_subscription(channel, stream, direct=False),
            client.add_subscription(channel, stream, direct=True))


def connected(pub: ExclusivePublication, *subs: Subscription) -> None:
    wait_for(lambda: pub.is_connected and all(s.image_count == 1 for s in subs))


class Received:
    """Messages and positions received by libaeron's poll and by the direct poll."""

    def __init__(self, library: Subscription, direct: Subscription) -> None:
        self.library: list[tuple[bytes, int]] = []
        self.direct: list[tuple[bytes, int]] = []
        self._library = library
        self._direct = direct

    def poll(self) -> None:
        self._library.library_poll(lambda b, h: self.library.append((bytes(b), h.position)), 64)
        self._direct.poll(lambda b, h: self.direct.append((bytes(b), h.position)), 64)

    def drain(self, count: int) -> None:
        wait_for(lambda: self.poll() is None and len(self.library) >= count and len(self.direct) >= count, 20.0)


def offer_all(pub: ExclusivePublication, messages: list[bytes], poll: Callable[[], None]) -> list[int]:
    """Offer every message with try_offer, polling meanwhile; the results other than back
    pressure (positions and ADMIN_ACTIONs, in order)."""
    results: list[int] = []
    rounds = 0
    for message in messages:
        while True:
            result = pub.try_offer(message)
            if result not in _RETRY:
                results.append(result)
                if result > 0:
                    break
                assert result == OfferResult.ADMIN_ACTION, result
                continue
            poll()
            rounds += 1
            assert rounds < 1_000_000, "publisher stalled"
    return results


def test_direct_is_opt_in_and_falls_back(media_driver: DriverHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    with Client(media_driver.aeron_dir) as client:
        pub = client.add_exclusive_publication("aeron:ipc", 4001)
        assert type(pub) is ExclusivePublication and not pub.is_direct
        direct = client.add_exclusive_publication("aeron:ipc", 4002, direct=True)
        assert isinstance(direct, DirectExclusivePublication) and direct.is_direct
        assert isinstance(client.add_exclusive_publication("aeron:ipc", 4003, direct=None), DirectExclusivePublication)
        monkeypatch.setenv("FIXG_AERON_DIRECT", "0")
        assert type(client.add_exclusive_publication("aeron:ipc", 4004, direct=None)) is ExclusivePublication
        with pytest.raises(ValueError):
            client.add_exclusive_publication("aeron:ipc", 4005, direct=True)


def test_the_writer_maps_the_publication_log_it_checked(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        pub = client.add_exclusive_publication("aeron:ipc", 4010, direct=True)
        assert isinstance(pub, DirectExclusivePublication)
        c = pub.constants
        assert pub._writer.path == os.path.join(client.aeron_dir, "publications", f"{c.registration_id}.logbuffer")
        with open(pub._writer.path, "rb") as f:
            f.seek(3 * c.term_buffer_length)
            meta = f.read(352)
        corr, initial, header_length, mtu, term_length, page = struct.unpack_from("<qiiiii", meta, 256)
        assert (corr, initial, header_length, term_length) == (c.registration_id, c.initial_term_id, 32, TERM)
        assert mtu - 32 == c.max_payload_length and page == pub._writer.page_size
        assert pub._writer.term_id == c.initial_term_id and pub.position == 0


@pytest.mark.parametrize("sizes", ["small", "mixed"])
def test_writer_matches_libaeron_offer_for_offer(media_driver: DriverHandle, sizes: str) -> None:
    """The same messages through libaeron's exclusive publication and through the direct writer:
    the same results (positions, ADMIN_ACTIONs), the same messages and positions received by
    both polls, over more than 20 term rotations, fragmented messages included."""
    rng = random.Random(11)
    with Client(media_driver.aeron_dir) as client:
        c_subs = subscribe(client, 4020)
        d_subs = subscribe(client, 4021)
        c_pub = client.add_exclusive_publication("aeron:ipc", 4020)
        d_pub = client.add_exclusive_publication("aeron:ipc", 4021, direct=True)
        connected(c_pub, *c_subs)
        connected(d_pub, *d_subs)
        max_payload = d_pub.max_payload_length
        if sizes == "small":
            choices = [0, 1, 31, 32, 33, 64, 100, 300]
        else:
            choices = [0, 1, 33, 200, 1000, max_payload - 1, max_payload, max_payload + 1, 3 * max_payload + 17, 7000]
        messages = [rng.randbytes(rng.choice(choices)) for _ in range(12000 if sizes == "small" else 1200)]
        assert sum(len(m) + 64 for m in messages) > 21 * TERM
        c_got, d_got = Received(*c_subs), Received(*d_subs)
        c_results = offer_all(c_pub, messages, c_got.poll)
        d_results = offer_all(d_pub, messages, d_got.poll)
        assert d_results == c_results
        assert d_results.count(OfferResult.ADMIN_ACTION) >= 20
        assert d_pub.position == c_pub.position == c_results[-1] > 20 * TERM
        c_got.drain(len(messages))
        d_got.drain(len(messages))
        assert [m for m, _ in d_got.library] == messages
        assert d_got.library == d_got.direct == c_got.library == c_got.direct
        assert [p for _, p in d_got.library] == [r for r in d_results if r > 0]


def test_batched_direct_offers_match_libaeron_offer_block(media_driver: DriverHandle) -> None:
    rng = random.Random(5)
    with Client(media_driver.aeron_dir) as client:
        c_subs = subscribe(client, 4030)
        d_subs = subscribe(client, 4031)
        c_pub = client.add_exclusive_publication("aeron:ipc", 4030)
        d_pub = client.add_exclusive_publication("aeron:ipc", 4031, direct=True)
        connected(c_pub, *c_subs)
        connected(d_pub, *d_subs)
        max_payload = d_pub.max_payload_length
        messages = [rng.randbytes(rng.choice([0, 5, 100, 100, 100, 400, max_payload, 2 * max_payload + 3]))
                    for _ in range(6000)]
        c_got, d_got = Received(*c_subs), Received(*d_subs)
        for pub, got in ((c_pub, c_got), (d_pub, d_got)):
            sent = 0
            rounds = 0
            while sent < len(messages):
                result = pub.try_offer_batch(messages[sent:sent + rng.choice([1, 7, 64, 300])])
                if result > 0:
                    sent += result
                else:
                    assert result in (*_RETRY, OfferResult.ADMIN_ACTION), result
                got.poll()
                rounds += 1
                assert rounds < 1_000_000
        assert d_pub.position == c_pub.position > 20 * TERM
        c_got.drain(len(messages))
        d_got.drain(len(messages))
        assert [m for m, _ in d_got.direct] == messages
        assert d_got.library == d_got.direct == c_got.library == c_got.direct


def test_back_pressure_is_surfaced_and_nothing_unconsumed_is_overwritten(media_driver: DriverHandle) -> None:
    policy = BackpressurePolicy(retry_count=2, backoff_ms=1)
    with Client(media_driver.aeron_dir, backpressure=policy) as client:
        library, direct = subscribe(client, 4040)
        pub = client.add_exclusive_publication("aeron:ipc", 4040, direct=True)
        connected(pub, library, direct)
        sent: list[bytes] = []
        result = 0
        while True:  # nobody polls: the publisher must stop at the limit
            message = struct.pack("<I", len(sent)) + b"m" * 296
            result = pub.try_offer(message)
            if result == OfferResult.ADMIN_ACTION:
                continue
            if result < 0:
                break
            sent.append(message)
            assert len(sent) < 10_000, "never back pressured"
        assert result == OfferResult.BACK_PRESSURED
        assert pub.position_limit <= pub.position < pub.position_limit + 352
        assert pub.position <= TERM * 3  # within the log: nothing unconsumed overwritten
        assert pub.try_offer_batch([b"x"] * 10) == OfferResult.BACK_PRESSURED
        with pytest.raises(OfferFailedError) as info:
            pub.offer(b"x")
        assert info.value.result is OfferResult.BACK_PRESSURED and info.value.attempts == 3
        got = Received(library, direct)
        got.drain(len(sent))
        assert [m for m, _ in got.library] == [m for m, _ in got.direct] == sent
        # the pressure is released: more goes through and arrives intact after the first lot
        more = [struct.pack("<I", i) * 10 for i in range(2000)]
        offer_all(pub, more, got.poll)
        got.drain(len(sent) + len(more))
        assert [m for m, _ in got.library] == [m for m, _ in got.direct] == sent + more
        assert got.library[-1][1] == pub.position


def test_not_connected_closed_and_errors(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir, backpressure=BackpressurePolicy(retry_count=1, backoff_ms=0)) as client:
        c_pub = client.add_exclusive_publication("aeron:ipc", 4050)
        d_pub = client.add_exclusive_publication("aeron:ipc", 4051, direct=True)
        assert not d_pub.is_connected
        assert d_pub.try_offer(b"nobody") == c_pub.try_offer(b"nobody") == OfferResult.NOT_CONNECTED
        assert d_pub.try_offer_batch([b"a", b"b"]) == OfferResult.NOT_CONNECTED
        with pytest.raises(OfferFailedError) as info:
            d_pub.offer(b"nobody")
        assert info.value.result is OfferResult.NOT_CONNECTED
        library, direct = subscribe(client, 4051)
        connected(d_pub, library, direct)
        too_long = bytes(d_pub.max_message_length + 1)
        assert d_pub.try_offer(too_long) == OfferResult.ERROR
        with pytest.raises(OfferFailedError) as info:
            d_pub.offer(too_long)
        assert info.value.result is OfferResult.ERROR and "max_message_length" in info.value.errmsg
        with pytest.raises(TypeError):
            d_pub.try_claim(10)
        # other buffer types, offerv and padding
        got = Received(library, direct)
        assert d_pub.try_offer(bytearray(b"bytearray")) > 0
        assert d_pub.try_offer(memoryview(b"xxslicexx")[2:7]) > 0
        assert d_pub.offerv([b"one ", bytearray(b"two")]) > 0
        position = d_pub.position
        assert d_pub.append_padding(100) == position + 160
        assert d_pub.try_offer(memoryview(struct.pack("<3i", 1, 2, 3)).cast("i")) > 0
        got.drain(4)
        assert [m for m, _ in got.library] == [m for m, _ in got.direct] == [
            b"bytearray", b"slice", b"one two", struct.pack("<3i", 1, 2, 3)]
        d_pub.close()
        with pytest.raises(ResourceClosedError):
            d_pub.try_offer(b"closed")
        with pytest.raises(ResourceClosedError):
            d_pub.try_offer_batch([b"closed"])
        with pytest.raises(ResourceClosedError):
            _ = d_pub.position


def test_max_position_exceeded_at_the_end_of_the_last_term(media_driver: DriverHandle) -> None:
    """A publication started in its last possible term (term id initial + 2^31 - 1, wrapping
    the int32 term id): libaeron and the writer agree up to MAX_POSITION_EXCEEDED."""
    channel = "aeron:ipc?term-length=64k|init-term-id=7|term-id=-2147483642|term-offset=61440"
    with Client(media_driver.aeron_dir) as client:
        results: list[list[int]] = []
        for stream, direct in ((4060, False), (4061, True)):
            library, poller = subscribe(client, stream, channel)
            pub = client.add_exclusive_publication(channel, stream, direct=direct)
            connected(pub, library, poller)
            assert pub.position == (TERM << 31) - TERM + 61440
            got = Received(library, poller)
            out: list[int] = []
            for _ in range(200):
                result = pub.try_offer(b"z" * 200)
                while result == OfferResult.BACK_PRESSURED:
                    got.poll()
                    result = pub.try_offer(b"z" * 200)
                out.append(result)
                if result == OfferResult.MAX_POSITION_EXCEEDED:
                    break
            got.drain(len(out) - 1)
            assert [p for _, p in got.library] == [p for _, p in got.direct] == out[:-1]
            results.append(out)
        assert results[0] == results[1]
        assert results[1][-1] == OfferResult.MAX_POSITION_EXCEEDED


def test_fragmented_length_is_libaerons() -> None:
    assert _writer.fragmented_length(1376 * 3 + 17, 1376) == 3 * 1408 + 64
    assert _writer.fragmented_length(1376 * 2, 1376) == 2 * 1408
    assert _writer.fragmented_length(1377, 1376) == 1408 + 64


def test_term_poll_reads_what_the_writer_wrote(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        sub = client.add_subscription("aeron:ipc", 4070, direct=True)
        pub = client.add_exclusive_publication("aeron:ipc", 4070, direct=True)
        connected(pub, sub)
        got: list[bytes] = []

        def on_term(term: memoryview, offset: int, length: int, header: Header) -> None:
            got.append(bytes(term[offset:offset + length]))

        messages = [os.urandom(64) for _ in range(5000)]
        offer_all(pub, messages, lambda: sub.term_poll(on_term))
        wait_for(lambda: sub.term_poll(on_term) >= 0 and len(got) == len(messages))
        assert got == messages


def test_direct_writer_over_udp(media_driver: DriverHandle, udp_channel: str) -> None:
    """A network publication: the driver's sender reads the log the writer wrote."""
    with Client(media_driver.aeron_dir) as client:
        library, direct = subscribe(client, 4080, udp_channel)
        pub = client.add_exclusive_publication(udp_channel, 4080, direct=True)
        assert pub.is_direct
        connected(pub, library, direct)
        rng = random.Random(3)
        messages = [rng.randbytes(rng.choice([0, 10, 300, 1500, 5000])) for _ in range(600)]
        got = Received(library, direct)
        results = offer_all(pub, messages, got.poll)
        got.drain(len(messages))
        assert [m for m, _ in got.library] == [m for m, _ in got.direct] == messages
        assert [p for _, p in got.library] == [r for r in results if r > 0]
