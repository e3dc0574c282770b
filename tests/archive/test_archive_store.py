"""The archive store against the journal on the same operations, and the archiver's replays:
real media driver, real archiver processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from archive.archive_util import archive_config, run, wait_sessions

from fixg.aeron import BackpressurePolicy, Client
from fixg.archive import format as fmt
from fixg.archive.client import ArchiveClient, ArchiveRequestError
from fixg.archive.service import ArchiverHandle, ArchiverSettings
from fixg.driver import DriverHandle
from fixg.fix.settings import SessionKey
from fixg.store.archive import ArchiveStoreFactory
from fixg.store.base import Direction, MessageStore
from fixg.store.journal import JournalStoreFactory

pytestmark = pytest.mark.aeron

KEY = SessionKey("FIX.4.4", "GW", "BANK")
OTHER = SessionKey("FIX.4.2", "GW", "VENUE")
PATIENT = BackpressurePolicy(retry_count=10_000, backoff_ms=1)


def msg(seq: int, body: str) -> bytes:
    return b"8=FIX.4.4\x019=20\x0135=D\x0134=%d\x0158=%s\x01\x00\xff10=000\x01" % (seq, body.encode())


def operations(store: MessageStore, other: MessageStore) -> None:
    """One sequence of store calls: messages both ways, a gap, a SequenceReset, a reset."""
    now = 1_700_000_000.0
    for i in range(1, 40):
        store.append(Direction.OUTBOUND, i, msg(i, f"out-{i}"), now + i)
        store.next_sender_seq_num = i + 1
        if i % 3 == 0:
            store.append(Direction.INBOUND, i // 3, msg(i // 3, f"in-{i}"), now + i)
            store.next_target_seq_num = i // 3 + 1
        other.append(Direction.OUTBOUND, i, msg(i, "venue"), now + i)
        other.next_sender_seq_num = i + 1
    store.next_sender_seq_num = 45  # a gap: 40..44 never stored
    store.append(Direction.OUTBOUND, 45, msg(45, "after-gap"), now + 50)
    store.next_sender_seq_num = 46
    store.next_target_seq_num = 30  # a SequenceReset from the counterparty


def snapshot(store: MessageStore) -> dict[str, object]:
    return {
        "next": (store.next_sender_seq_num, store.next_target_seq_num),
        "all_out": list(store.read_range(Direction.OUTBOUND, 1, 0)),
        "all_in": list(store.read_range(Direction.INBOUND, 1, 0)),
        "range": list(store.read_range(Direction.OUTBOUND, 10, 20)),
        "gap": list(store.read_range(Direction.OUTBOUND, 38, 46)),
        "none": list(store.read_range(Direction.OUTBOUND, 100, 200)),
    }


def test_archive_store_replays_exactly_what_the_journal_does(
    media_driver: DriverHandle, tmp_path: Path
) -> None:
    journal = JournalStoreFactory(tmp_path / "journal", fsync="never")
    try:
        j, jo = journal.create(KEY, 1.0), journal.create(OTHER, 1.0)
        operations(j, jo)
        expected = snapshot(j)
        expected_other = snapshot(jo)
    finally:
        journal.close()
    cfg = archive_config(media_driver.aeron_dir, tmp_path / "archive")

    async def first() -> None:
        factory = await ArchiveStoreFactory.open(cfg)
        try:
            a, ao = factory.create(KEY, 1.0), factory.create(OTHER, 1.0)
            operations(a, ao)
            assert snapshot(a) == expected  # partly from the unrecorded buffer
            factory.poll(time.time())
            deadline = time.monotonic() + 10
            while factory.unrecorded and time.monotonic() < deadline:
                factory.poll(time.time())
                time.sleep(0.005)
            assert factory.unrecorded == 0
            assert snapshot(a) == expected  # all from the archive now
            assert snapshot(ao) == expected_other
        finally:
            await factory.aclose()

    async def second() -> None:  # a new Gateway run: everything comes back from the archive
        factory = await ArchiveStoreFactory.open(cfg)
        try:
            a, ao = factory.create(KEY, 2.0), factory.create(OTHER, 2.0)
            assert snapshot(a) == expected
            assert snapshot(ao) == expected_other
            a.reset(3.0)
            assert (a.next_sender_seq_num, a.next_target_seq_num) == (1, 1)
            assert list(a.read_range(Direction.OUTBOUND, 1, 0)) == []
        finally:
            await factory.aclose()

    async def third() -> None:
        factory = await ArchiveStoreFactory.open(cfg)
        try:
            a = factory.create(KEY, 4.0)
            assert (a.next_sender_seq_num, a.next_target_seq_num, a.creation_time) == (1, 1, 3.0)
        finally:
            await factory.aclose()

    run(first())
    run(second())
    run(third())


def _flood(pub_client: Client, count: int, key: bytes = b"FIX.4.4:GW->BANK") -> list[int]:
    data = pub_client.add_exclusive_publication("aeron:ipc", 1001)
    index = pub_client.add_exclusive_publication("aeron:ipc", 1002)
    deadline = time.monotonic() + 10
    while not (data.is_connected and index.is_connected):
        assert time.monotonic() < deadline, "no archiver subscribed"
        time.sleep(0.002)
    data.offer(fmt.encode_data(fmt.Kind.BEGIN, 0, key, 1, 0, 0, 1.0))
    positions = []
    for i in range(1, count + 1):
        pos = data.offer(fmt.encode_data(fmt.Kind.MSG, 1, key, 1, i, 0, float(i), msg(i, "x" * (i % 50))))
        index.offer(fmt.encode_index(1, key, 1, i, data.session_id, pos))
        positions.append(pos)
    return positions


def test_concurrent_replays_while_recording(
    settings: ArchiverSettings, archivers: Callable[..., ArchiverHandle]
) -> None:
    archivers(settings)
    with Client(settings.aeron_dir, backpressure=PATIENT) as pub_client:
        _flood(pub_client, 300)
        wait_sessions(ArchiveClient(pub_client, "aeron:ipc", 100, 7090), "FIX.4.4:GW->BANK", 301)
        results: dict[int, list[int]] = {}
        errors: list[BaseException] = []

        def replay(n: int) -> None:
            try:
                with Client(settings.aeron_dir) as c:
                    ac = ArchiveClient(c, "aeron:ipc", 100, 7000 + n, fragment_limit=64)
                    begin = 1 + n * 50
                    results[n] = [r.number for _p, r in ac.replay("FIX.4.4:GW->BANK", 1, begin, begin + 149)]
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=replay, args=(n,), daemon=True) for n in range(3)]
        for t in threads:
            t.start()
        # keep recording while they replay
        data = pub_client.add_exclusive_publication("aeron:ipc", 1001)
        for i in range(301, 600):
            data.offer(fmt.encode_data(fmt.Kind.MSG, 1, b"FIX.4.4:GW->BANK", 1, i, 0, float(i), msg(i, "y")))
        for t in threads:
            t.join(30)
            assert not t.is_alive(), "a replay did not finish"
        assert not errors, errors
        assert results == {n: list(range(1 + n * 50, 150 + n * 50 + 1)) for n in range(3)}
        with Client(settings.aeron_dir) as c:
            ac = ArchiveClient(c, "aeron:ipc", 100, 7100)
            deadline = time.monotonic() + 10
            while True:
                state = ac.request(fmt.Op.SESSIONS)["sessions"][0]
                if state["next_sender_seq_num"] == 600 or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            assert state["next_sender_seq_num"] == 600
            assert [r.number for _p, r in ac.replay("FIX.4.4:GW->BANK", 1, 290, 310)] == list(range(290, 311))


def test_a_replay_of_a_range_that_does_not_exist_is_a_clear_error(
    settings: ArchiverSettings, archivers: Callable[..., ArchiverHandle]
) -> None:
    archivers(settings)
    with Client(settings.aeron_dir, backpressure=PATIENT) as c:
        _flood(c, 10)
        ac = ArchiveClient(c, "aeron:ipc", 100, 7200)
        wait_sessions(ac, "FIX.4.4:GW->BANK", 11)
        with pytest.raises(ArchiveRequestError, match=r"no messages 50..60 of FIX.4.4:GW->BANK .* holds 1..10") as info:
            list(ac.replay("FIX.4.4:GW->BANK", 1, 50, 60))
        assert info.value.code == "no_such_range"
        with pytest.raises(ArchiveRequestError, match="no session 'FIX.4.4:NOBODY->BANK'") as info:
            list(ac.replay("FIX.4.4:NOBODY->BANK", 1, 1, 0))
        assert info.value.code == "unknown_session"
        assert [r.number for _p, r in ac.replay("FIX.4.4:GW->BANK", 1, 8, 0)] == [8, 9, 10]


def test_fragmented_messages_padding_and_segment_rotation_are_recorded_whole(
    settings: ArchiverSettings, archivers: Callable[..., ArchiverHandle]
) -> None:
    """The archiver records the data stream a block at a time: messages longer than the MTU
    (several frames, possibly across blocks), term ends (padding frames) and new segments
    must all come back byte for byte, from the running archiver and after a restart."""
    small = ArchiverSettings(**{**settings.__dict__, "segment_length": 40_000})
    archiver = archivers(small)
    key = b"FIX.4.4:GW->BANK"
    sizes = [100, 3000, 7000, 40, 1500, 5000, 7]  # max message length: 8 KiB with 64 KiB terms
    bodies = {i: msg(i, chr(65 + i % 26) * sizes[i % len(sizes)]) for i in range(1, 121)}
    with Client(small.aeron_dir, backpressure=PATIENT) as c:
        data = c.add_exclusive_publication("aeron:ipc", 1001)
        deadline = time.monotonic() + 10
        while not data.is_connected:
            assert time.monotonic() < deadline, "no archiver subscribed"
            time.sleep(0.002)
        data.offer(fmt.encode_data(fmt.Kind.BEGIN, 0, key, 1, 0, 0, 1.0))
        for i, body in bodies.items():
            data.offer(fmt.encode_data(fmt.Kind.MSG, 1, key, 1, i, 0, float(i), body))
        ac = ArchiveClient(c, "aeron:ipc", 100, 7300)
        deadline = time.monotonic() + 10
        while ac.request(fmt.Op.SESSIONS)["sessions"][0]["next_sender_seq_num"] != 121:
            assert time.monotonic() < deadline, "not recorded"
            time.sleep(0.01)
        got = {r.number: r.payload for _p, r in ac.replay(key.decode(), 1, 1, 0)}
        assert got == bodies
        recordings = ac.request(fmt.Op.RECORDINGS)["recordings"]
        assert len(recordings[0]["segments"]) > 1
    archiver.stop()
    archivers(small)
    with Client(small.aeron_dir) as c:
        ac = ArchiveClient(c, "aeron:ipc", 100, 7301)
        assert {r.number: r.payload for _p, r in ac.replay(key.decode(), 1, 1, 0)} == bodies


def test_a_loop_turn_of_stores_is_published_as_one_batch_at_its_end(
    media_driver: DriverHandle, tmp_path: Path
) -> None:
    """Records stored in one turn of the event loop go out together when the turn ends (or
    every BATCH_LIMIT records); until then resends and ``unrecorded`` already see them."""
    import asyncio

    from fixg.store.archive import BATCH_LIMIT

    cfg = archive_config(media_driver.aeron_dir, tmp_path / "archive")

    async def scenario() -> None:
        factory = await ArchiveStoreFactory.open(cfg)
        try:
            store = factory.create(KEY, 1.0)
            await asyncio.sleep(0)  # the BEGIN of the new session goes out
            start = factory.data_pub.position
            count = 2 * BATCH_LIMIT + 10
            for i in range(1, count + 1):
                store.append(Direction.OUTBOUND, i, msg(i, "batched"), 2.0)
            assert factory.data_pub.position > start  # full batches went out at once (up to the window)...
            assert len(factory._batch) == 10  # ...the rest waits for the end of the turn
            assert factory.unrecorded >= 10
            got = list(store.read_range(Direction.OUTBOUND, count - 9, 0))
            assert [n for n, _m in got] == list(range(count - 9, count + 1))
            await asyncio.sleep(0)  # the end of the turn
            assert factory._batch == []
            deadline = time.monotonic() + 10
            while factory.unrecorded and time.monotonic() < deadline:
                factory.poll(time.time())
                await asyncio.sleep(0.005)
            assert factory.unrecorded == 0
            assert [n for n, _m in store.read_range(Direction.OUTBOUND, 1, 0)] == list(range(1, count + 1))
        finally:
            await factory.aclose()

    run(scenario())


def test_a_malformed_control_message_does_not_stop_the_archiver(
    settings: ArchiverSettings, archivers: Callable[..., ArchiverHandle]
) -> None:
    archiver = archivers(settings)
    with Client(settings.aeron_dir, backpressure=PATIENT) as c:
        control = c.add_exclusive_publication("aeron:ipc", 100)
        deadline = time.monotonic() + 10
        while not control.is_connected:
            assert time.monotonic() < deadline, "the archiver does not subscribe to the control stream"
            time.sleep(0.002)
        control.offer(b"\x01\x02")  # too short for a request header (struct.error)
        control.offer(b"\xff" * 40)  # garbage of a plausible length
        ac = ArchiveClient(c, "aeron:ipc", 100, 7400)
        assert ac.request(fmt.Op.PING)["pid"] == archiver.pid
        assert archiver.is_alive()


def test_a_requester_that_is_gone_delays_nobody_and_its_replay_is_dropped(
    settings: ArchiverSettings, archivers: Callable[..., ArchiverHandle]
) -> None:
    archivers(settings)
    with Client(settings.aeron_dir, backpressure=PATIENT) as c:
        _flood(c, 10)
        ac = ArchiveClient(c, "aeron:ipc", 100, 7700)
        wait_sessions(ac, "FIX.4.4:GW->BANK", 11)
        control = c.add_exclusive_publication("aeron:ipc", 100)
        deadline = time.monotonic() + 10
        while not control.is_connected:
            assert time.monotonic() < deadline, "the archiver does not subscribe to the control stream"
            time.sleep(0.002)
        # requests whose reply streams nobody subscribes to: the replies and the replay wait
        control.offer(fmt.encode_request(fmt.Op.STATUS, 1, 7777, {}))
        control.offer(fmt.encode_request(fmt.Op.REPLAY, 2, 7778, {"session": "FIX.4.4:GW->BANK", "direction": 1}))
        assert control.offer(fmt.encode_request(fmt.Op.STATUS, 3, 7777, {})) > 0
        time.sleep(0.1)  # (only to let the archiver take the requests above first)
        start = time.monotonic()
        assert ac.request(fmt.Op.PING, timeout_s=2.0)["pid"]  # not queued behind them
        assert time.monotonic() - start < 1.0
        deadline = time.monotonic() + 15
        while ac.request(fmt.Op.STATUS)["replays_in_progress"]:
            assert time.monotonic() < deadline, "a replay nobody reads was never dropped"
            time.sleep(0.1)


def test_a_spawned_archiver_is_not_in_its_parents_process_group(
    settings: ArchiverSettings, archivers: Callable[..., ArchiverHandle]
) -> None:
    """A Ctrl-C at the terminal (SIGINT to the foreground process group) reaches the Gateway,
    which logs out and records it before it stops the archiver, not the archiver itself."""
    import os

    archiver = archivers(settings)
    assert os.getpgid(archiver.pid) != os.getpgid(0)
    assert os.getsid(archiver.pid) == archiver.pid


def test_refresh_keeps_what_the_archive_has_not_recorded_yet(media_driver: DriverHandle, tmp_path: Path) -> None:
    cfg = archive_config(media_driver.aeron_dir, tmp_path / "archive")

    async def scenario() -> None:
        factory = await ArchiveStoreFactory.open(cfg)
        try:
            a = factory.create(KEY, 1.0)
            deadline = time.monotonic() + 10
            while factory.unrecorded:  # the session's BEGIN is in the archive
                assert time.monotonic() < deadline, "not recorded"
                factory.poll(time.time())
                time.sleep(0.005)
            for i in range(1, 6):  # stored in this loop turn: not even published yet
                a.append(Direction.OUTBOUND, i, msg(i, "x"), 2.0)
                a.next_sender_seq_num = i + 1
            a.refresh()
            assert a.next_sender_seq_num == 6  # never backwards
            a.reset(3.0)  # a BEGIN the archive has not recorded: its older period must not come back
            a.next_sender_seq_num = 3
            a.refresh()
            assert (a.seq_index, a.next_sender_seq_num) == (2, 3)
        finally:
            await factory.aclose()

    run(scenario())
