"""The fast paths against a real media driver: batched offers (``offer_block``), the
callback-free poll reading the mapped log from Python, and ``term_poll``, each checked
against libaeron's own poll on the same stream (64 KiB terms, so that batches cross terms)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import pytest

from fixg.aeron import Action, BackpressurePolicy, Client, Header, OfferFailedError, OfferResult, Subscription
from fixg.aeron import _log
from fixg.aeron.client import CountersReader, ExclusivePublication, _counter_views
from fixg.driver import DriverHandle

from .test_aeron_client import wait_for

pytestmark = [
    pytest.mark.aeron,
    pytest.mark.skipif(not _log.direct_supported(), reason="the direct poll needs x86-64"),
]

TERM = 64 * 1024  # TEST_PROPERTIES' IPC term length


def pair(client: Client, stream: int) -> tuple[ExclusivePublication, Subscription, Subscription]:
    direct = client.add_subscription("aeron:ipc", stream, direct=True)
    library = client.add_subscription("aeron:ipc", stream, direct=False)
    pub = client.add_exclusive_publication("aeron:ipc", stream)
    wait_for(lambda: pub.is_connected and direct.image_count == 1 and library.image_count == 1)
    return pub, direct, library


def collector(into: list[tuple[bytes, int]]) -> Callable[[memoryview, Header], None]:
    def handler(buffer: memoryview, header: Header) -> None:
        into.append((bytes(buffer), header.position))

    return handler


def publish_and_receive(pub: ExclusivePublication, subs: list[tuple[Subscription, Callable[..., int]]],
                        messages: list[bytes], batch: int) -> None:
    """Publish with try_offer_batch in slices of ``batch`` while every subscriber polls."""
    sent = 0
    rounds = 0
    while sent < len(messages):
        result = pub.try_offer_batch(messages[sent:sent + batch])
        if result > 0:
            sent += result
        else:
            assert result in (OfferResult.BACK_PRESSURED, OfferResult.ADMIN_ACTION), result
        for _, poll in subs:
            poll()
        rounds += 1
        assert rounds < 200_000, "publisher stalled"


def drain(polls: list[Callable[[], int]], done: Callable[[], bool]) -> None:
    wait_for(lambda: [p() for p in polls] is not None and done())


def test_subscriptions_are_direct_by_default_on_x86_64(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        assert client.direct_poll
        assert client.add_subscription("aeron:ipc", 3001).is_direct
        assert not client.add_subscription("aeron:ipc", 3001, direct=False).is_direct
    with Client(media_driver.aeron_dir, direct_poll=False) as client:
        assert not client.add_subscription("aeron:ipc", 3002).is_direct


@pytest.mark.parametrize("sizes", ["uniform", "mixed"])
def test_batched_offers_across_term_boundaries_match_the_library_poll(media_driver: DriverHandle,
                                                                       sizes: str) -> None:
    rng = random.Random(7)
    with Client(media_driver.aeron_dir) as client:
        pub, direct, library = pair(client, 3003)
        if sizes == "uniform":
            messages = [os.urandom(300) for _ in range(1500)]  # 332 B frames: ~7 terms
        else:
            messages = [os.urandom(rng.choice([0, 1, 31, 32, 33, 64, 200, 1000, pub.max_payload_length]))
                        for _ in range(1500)]
        got_direct: list[tuple[bytes, int]] = []
        got_library: list[tuple[bytes, int]] = []
        on_direct, on_library = collector(got_direct), collector(got_library)
        polls = [lambda: direct.poll(on_direct), lambda: library.poll(on_library)]
        publish_and_receive(pub, [(direct, polls[0]), (library, polls[1])], messages, batch=97)
        assert pub.position > 3 * TERM  # the log wrapped: every term was rotated at least once
        drain(polls, lambda: len(got_direct) == len(got_library) == len(messages))
        assert [m for m, _ in got_direct] == messages
        assert got_direct == got_library  # same messages, order and positions
        assert got_direct[-1][1] == pub.position


def test_large_messages_in_a_batch_are_fragmented_and_reassembled(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        pub, direct, library = pair(client, 3004)
        big = pub.max_payload_length * 3 + 17
        messages = [os.urandom(n) for n in (10, big, 10, 10, big, big, pub.max_payload_length + 1, 5)] * 20
        got_direct: list[tuple[bytes, int]] = []
        got_library: list[tuple[bytes, int]] = []
        got_term: list[bytes] = []
        term_sub = client.add_subscription("aeron:ipc", 3004, direct=True)
        wait_for(lambda: term_sub.image_count == 1)

        def on_term(term: memoryview, offset: int, length: int, header: Header) -> None:
            got_term.append(bytes(term[offset:offset + length]))

        on_direct, on_library = collector(got_direct), collector(got_library)
        polls = [lambda: direct.poll(on_direct), lambda: library.poll(on_library),
                 lambda: term_sub.term_poll(on_term)]
        publish_and_receive(pub, [(direct, polls[0]), (library, polls[1]), (term_sub, polls[2])], messages, 16)
        drain(polls, lambda: len(got_direct) == len(got_library) == len(got_term) == len(messages))
        assert [m for m, _ in got_direct] == messages == got_term
        assert got_direct == got_library


def test_batched_offer_back_pressure_is_surfaced(media_driver: DriverHandle) -> None:
    policy = BackpressurePolicy(retry_count=2, backoff_ms=1)
    with Client(media_driver.aeron_dir, backpressure=policy) as client:
        pub, direct, library = pair(client, 3005)
        library.close()
        message = b"b" * 500
        batch = [message] * 400  # 200 KB: far beyond the 32 KiB window of a 64 KiB term
        published = pub.try_offer_batch(batch)
        assert 0 < published < len(batch)
        assert pub.position >= pub.position_limit  # stopped at the limit, not beyond a message
        assert pub.position - pub.position_limit < 544
        assert pub.try_offer_batch(batch) == OfferResult.BACK_PRESSURED
        with pytest.raises(OfferFailedError) as info:
            pub.offer_batch(batch)
        assert info.value.result is OfferResult.BACK_PRESSURED
        assert info.value.published == 0 and info.value.attempts == 3
        # draining releases the pressure: everything arrives, nothing twice
        got: list[bytes] = []
        wait_for(lambda: direct.poll(lambda b, h: got.append(bytes(b))) >= 0 and len(got) == published)
        rest = [bytes([i % 256]) * 100 for i in range(50)]
        wait_for(lambda: pub.try_offer_batch(rest[:1]) > 0)
        got.clear()
        pub.offer_batch(rest[1:])
        wait_for(lambda: direct.poll(lambda b, h: got.append(bytes(b))) >= 0 and len(got) == len(rest))
        assert got == rest


def test_batched_offer_not_connected_and_empty(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir, backpressure=BackpressurePolicy(retry_count=1, backoff_ms=0)) as client:
        pub = client.add_exclusive_publication("aeron:ipc", 3006)
        assert pub.try_offer_batch([]) == 0
        assert pub.try_offer_batch([b"nobody", b"listens"]) == OfferResult.NOT_CONNECTED
        with pytest.raises(OfferFailedError) as info:
            pub.offer_batch([b"nobody"])
        assert info.value.result is OfferResult.NOT_CONNECTED and info.value.published == 0


def test_batched_offer_accepts_buffer_types(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        pub, direct, library = pair(client, 3007)
        messages = [b"bytes", bytearray(b"bytearray"), memoryview(b"memoryview"), memoryview(b"xxslicexx")[2:7]]
        assert pub.try_offer_batch(messages) == len(messages)
        got: list[bytes] = []
        wait_for(lambda: direct.poll(lambda b, h: got.append(bytes(b))) >= 0 and len(got) == 4)
        assert got == [bytes(m) for m in messages]


def test_subscriber_position_advances_and_the_publisher_is_not_stalled(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        pub, direct, library = pair(client, 3008)
        library.close()
        counters = client.counters
        info = direct.images()
        assert len(info) == 1
        with info[0] as image:
            position_id = image.info.subscriber_position_id
            # the counter views fixg writes through are the driver's subscriber position counter
            views = _counter_views(client._api, client._api.aeron_counters_reader(client._aeron), position_id)
            assert views is not None
            assert views[1][0] == counters.state(position_id) == 1
            assert views[1][1] == counters.type_id(position_id) == CountersReader.SUBSCRIBER_POSITION_TYPE_ID
            count = 0

            def on(buffer: memoryview, header: Header) -> None:
                nonlocal count
                count += 1

            # 20 terms' worth through a 64 KiB log: impossible unless the position advances
            batch = [b"p" * 1000] * 30
            total = 0
            while pub.position < 20 * TERM:
                result = pub.try_offer_batch(batch)
                total += max(result, 0)
                direct.poll(on, 1000)
            wait_for(lambda: direct.poll(on) >= 0 and count == total)
            assert image.position == pub.position == counters.value(position_id)


def test_handler_exceptions_and_actions_on_the_direct_path(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        pub, direct, library = pair(client, 3009)
        library.close()
        big = os.urandom(pub.max_payload_length * 2 + 1)
        pub.offer_batch([b"m0", b"m1", big, b"m3", b"m4", b"m5"])
        seen: list[bytes] = []
        failed: set[bytes] = set()

        def once_each(term: memoryview, offset: int, length: int, header: Header) -> Action | None:
            data = bytes(term[offset:offset + length])
            if data not in failed and data in (b"m1", big):
                failed.add(data)
                raise KeyError("boom")
            seen.append(data)
            return Action.BREAK if data == b"m3" else None

        for _ in range(2):
            with pytest.raises(KeyError):
                wait_for(lambda: direct.term_poll(once_each) < 0)
        assert seen == [b"m0", b"m1"]
        assert direct.term_poll(once_each) == 2  # BREAK after m3: m4 and m5 stay
        # m1 and the reassembled message were not consumed when they raised: delivered again
        assert seen == [b"m0", b"m1", big, b"m3"]
        assert direct.term_poll(lambda t, o, n, h: Action.ABORT) == 0
        wait_for(lambda: direct.term_poll(once_each) >= 0 and len(seen) == 6)
        assert seen[4:] == [b"m4", b"m5"]


def test_images_coming_and_going_on_a_direct_subscription(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        sub = client.add_subscription("aeron:ipc", 3010, direct=True)
        pubs = [client.add_exclusive_publication("aeron:ipc", 3010) for _ in range(3)]
        wait_for(lambda: sub.image_count == 3)
        for i, pub in enumerate(pubs):
            pub.offer_batch([f"{i}:{j}".encode() for j in range(50)])
        got: list[bytes] = []
        wait_for(lambda: sub.poll(lambda b, h: got.append(bytes(b)), 7) >= 0 and len(got) == 150)
        for i in range(3):
            assert [m for m in got if m.startswith(f"{i}:".encode())] == [f"{i}:{j}".encode() for j in range(50)]
        pubs[0].close()
        wait_for(lambda: sub.poll(lambda b, h: None) >= 0 and len(sub._readers) == 2)
        pubs[1].offer(b"still here")
        got.clear()
        wait_for(lambda: sub.poll(lambda b, h: got.append(bytes(b))) >= 0 and got == [b"still here"])


def test_frame_block_layout() -> None:
    block = _log.frame_block([b"abc", b"defgh"], [3, 5], 64, 11, 22, 33)
    def header(frame_length: int, term_offset: int) -> bytes:
        return b"".join(n.to_bytes(4, "little") for n in (frame_length, 0x0001C000, term_offset, 11, 22, 33)) + \
            bytes(8)

    assert len(block) == 128  # two 64-byte aligned frames
    assert block[:32] == header(35, 64)
    assert block[32:35] == b"abc" and block[35:64] == bytes(29)
    assert block[64:96] == header(37, 128)
    assert block[96:101] == b"defgh" and block[101:] == bytes(27)
    # uniform lengths take the strided path: the same bytes as the general one
    uniform = _log.frame_block([b"x" * 40] * 5, [40] * 5, 96, 1, 2, 3)
    general = b"".join(_log.frame_block([b"x" * 40], [40], 96 + i * 96, 1, 2, 3) for i in range(5))
    assert bytes(uniform) == general


def test_direct_header_matches_the_library_header(media_driver: DriverHandle) -> None:
    with Client(media_driver.aeron_dir) as client:
        pub, direct, library = pair(client, 3011)
        big = os.urandom(pub.max_payload_length + 100)
        pub.offer_batch([b"one", big, b"three"])
        got: dict[str, list[tuple[object, ...]]] = {"direct": [], "library": []}

        def into(name: str) -> Callable[[memoryview, Header], None]:
            def handler(buffer: memoryview, header: Header) -> None:
                got[name].append((bytes(buffer), header.values(), header.position, header.session_id,
                                  header.stream_id, header.flags, header.reserved_value))
            return handler

        on_direct, on_library = into("direct"), into("library")
        drain([lambda: direct.poll(on_direct), lambda: library.poll(on_library)],
              lambda: len(got["direct"]) == len(got["library"]) == 3)
        assert [d[0] for d in got["direct"]] == [b"one", big, b"three"]
        assert got["direct"] == got["library"]  # payloads and every header value
        assert got["direct"][0][3] == pub.session_id and got["direct"][0][4] == 3011
