"""Crash safety with real SIGKILLs: the archiver killed mid-recording, the Gateway killed, the
archiver down while the Gateway runs. Real media driver, real processes, real TCP."""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from archive.archive_util import (
    ORDER, app_messages, archive_config, archive_config_text, bank_initiator, gw_bank_key, next_fix, run, wait_for,
)

from fixg import FixClient, Gateway
from fixg.aeron import BackpressurePolicy, Client
from fixg.archive import format as fmt
from fixg.archive.client import ArchiveClient
from fixg.archive.service import ArchiverHandle, ArchiverSettings
from fixg.archive.storage import Archive, segment_name
from fixg.client import SendError
from fixg.driver import DriverHandle
from fixg.fix import events as ev
from fixg.gateway import EventQueue
from fixg.store.archive import ArchiveStoreFactory
from fixg.store.base import Direction
from fixg.store.memory import MemoryStore
from fixg.transport import protocol as p

pytestmark = pytest.mark.aeron

KEY = b"FIX.4.4:GW->BANK"


def recorded_position(client: Client, session_id: int) -> int:
    best = (-1, 0)
    for info in client.counters.counters():
        if info.type_id == fmt.RECORDED_POSITION_COUNTER_TYPE:
            _stream, sess, rec = fmt.COUNTER_KEY.unpack_from(info.key)
            if sess == session_id and rec > best[0]:
                best = (rec, info.value)
    return best[1]


def test_archiver_killed_mid_recording_restarts_with_a_consistent_archive(
    settings: ArchiverSettings, archivers: Callable[..., ArchiverHandle]
) -> None:
    settings = dataclasses.replace(settings, segment_length=65536)
    archiver = archivers(settings)
    positions: dict[int, int] = {}
    stop = threading.Event()
    with Client(settings.aeron_dir, backpressure=BackpressurePolicy(retry_count=0)) as c:
        data = c.add_exclusive_publication("aeron:ipc", 1001)
        index = c.add_exclusive_publication("aeron:ipc", 1002)
        deadline = time.monotonic() + 10
        while not data.is_connected:
            assert time.monotonic() < deadline, "no archiver subscribed"
            time.sleep(0.002)
        data.offer(fmt.encode_data(fmt.Kind.BEGIN, 0, KEY, 1, 0, 0, 1.0))

        def flood() -> None:
            i = 1
            while not stop.is_set():
                pos = data.try_offer(fmt.encode_data(fmt.Kind.MSG, 1, KEY, 1, i, 0, float(i), b"35=D|%d|" % i * 3))
                if pos > 0:
                    index.try_offer(fmt.encode_index(1, KEY, 1, i, data.session_id, pos))
                    positions[pos] = i
                    i += 1
                else:
                    time.sleep(0.0005)

        writer = threading.Thread(target=flood)
        writer.start()
        try:
            deadline = time.monotonic() + 10
            while recorded_position(c, data.session_id) < 200_000:  # several 64 KiB segments
                assert time.monotonic() < deadline
                time.sleep(0.005)
            acknowledged = recorded_position(c, data.session_id)
            archiver.process.kill()  # SIGKILL while it records
            archiver.process.wait()
        finally:
            stop.set()
            writer.join()
    root = Path(settings.archive_dir)
    catalog = json.loads((root / "catalog.json").read_text())
    data_rec = next(r for r in catalog["recordings"] if r["kind"] == "data")
    assert data_rec["stop_time"] is None  # it was killed: nobody closed the recording
    last = root / segment_name(data_rec["id"], data_rec["segments"][-1])
    # A SIGKILL cannot be timed to land inside write(2) (the kernel completes it), so the torn
    # tail a power loss or a full disk leaves is added here: a header promising more bytes
    # than follow.
    with last.open("ab") as fh:
        fh.write(fmt.SEGMENT_HEADER.pack(500, 0, 1 << 40) + b"partial")
    torn_size = last.stat().st_size

    restarted = archivers(settings)
    with Client(settings.aeron_dir) as c:
        ac = ArchiveClient(c, "aeron:ipc", 100, 7300)
        status = ac.request(fmt.Op.STATUS)
        assert status["torn_bytes_truncated_at_start"] == fmt.SEGMENT_HEADER.size + len(b"partial")
        recs = {r["id"]: r for r in ac.request(fmt.Op.RECORDINGS)["recordings"]}
        stopped = recs[data_rec["id"]]
        assert stopped["stop_time"] is not None and len(stopped["segments"]) >= 3
        # nothing acknowledged is lost: every message up to the acknowledged position replays
        wanted = sorted(n for pos, n in positions.items() if pos <= acknowledged)
        got = [(pos, r.number) for pos, r in ac.replay(KEY.decode(), 1, 1, wanted[-1])]
        assert [n for _p, n in got] == wanted
        assert all(positions[pos] == n for pos, n in got)
        assert stopped["stop_position"] >= acknowledged
    restarted.stop()
    # the catalog on disk matches the segment files exactly
    assert last.stat().st_size < torn_size
    archive = Archive(root, readonly=True)
    try:
        rec = archive.recordings[data_rec["id"]]
        assert rec.stop_position == stopped["stop_position"] == max(rec.offsets)
        assert sum((root / segment_name(rec.id, s)).stat().st_size for s in rec.segments) == rec.bytes_total
    finally:
        archive.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _GatewayProcess:
    def __init__(self, config: Path, orders: int) -> None:
        script = Path(__file__).with_name("gateway_proc.py")
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(x for x in (root, env.get("PYTHONPATH")) if x)
        self.proc = subprocess.Popen([sys.executable, str(script), str(config), str(orders)],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
        self.info: dict[str, object] = {}

    def start(self) -> None:
        """Read the first line (the caller has registered the process for clean-up first)."""
        self.info = self.line()

    def line(self, timeout: float = 20.0) -> dict[str, object]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "the gateway process said nothing"
        text = self.proc.stdout.readline()
        assert text, f"the gateway process exited ({self.proc.wait()})"
        result: dict[str, object] = json.loads(text)
        return result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def kill_archiver(self) -> None:
        """The archiver the Gateway spawned (in its own session): it exits when the Gateway is
        gone; one still there at the end of the test is killed."""
        pid = self.info.get("archiver_pid")
        if not isinstance(pid, int):
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


@pytest.fixture
def gateway_processes() -> Iterator[Callable[[Path, int], _GatewayProcess]]:
    procs: list[_GatewayProcess] = []

    def start(config: Path, orders: int) -> _GatewayProcess:
        g = _GatewayProcess(config, orders)
        procs.append(g)
        g.start()
        return g

    yield start
    for g in procs:
        try:
            g.kill()
        finally:
            g.kill_archiver()


def _wait_unlocked(archive_dir: Path, timeout: float = 10.0) -> None:
    """Until no archiver holds the archive (the orphaned one has recorded the rest and exited)."""
    deadline = time.monotonic() + timeout
    fd = os.open(archive_dir / "LOCK", os.O_RDWR)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                assert time.monotonic() < deadline, "the orphaned archiver did not exit"
                time.sleep(0.02)
    finally:
        os.close(fd)


def test_gateway_killed_restarts_from_the_archive_and_answers_a_resend_request(
    media_driver: DriverHandle, tmp_path: Path, gateway_processes: Callable[[Path, int], _GatewayProcess]
) -> None:
    archive_dir = tmp_path / "archive"
    config = tmp_path / "gw.toml"
    config.write_text(archive_config_text(media_driver.aeron_dir, archive_dir, port=_free_port()))
    bank_store = MemoryStore()

    async def before_crash(gw: _GatewayProcess) -> None:
        queue = EventQueue()
        async with bank_initiator(int(str(gw.info["port"])), queue, bank_store) as bank:
            await bank.wait_logged_on(10)
            got = await app_messages(queue, 3)
            assert [m.get(34) for m in got] == [b"2", b"3", b"4"]
            bank.send("D", [(11, "in-1"), *ORDER])
            bank.send("D", [(11, "in-2"), *ORDER])
            await asyncio.sleep(0.05)
            gw.kill()  # SIGKILL, mid-session
            await next_fix(queue, ev.SessionStateChanged, pred=lambda e: e.new.name == "DISCONNECTED")

    gw = gateway_processes(config, 3)
    run(before_crash(gw))
    _wait_unlocked(archive_dir)
    assert bank_store.next_sender_seq_num == 4
    bank_store.next_target_seq_num = 2  # the bank "lost" 2..: it asks again at the next logon

    async def after_restart(gw: _GatewayProcess) -> None:
        queue = EventQueue()
        async with bank_initiator(int(str(gw.info["port"])), queue, bank_store) as bank:
            await bank.wait_logged_on(10)
            again = await app_messages(queue, 3)
            assert [m.get(34) for m in again] == [b"2", b"3", b"4"]
            assert [m.get(11) for m in again] == [b"o-0", b"o-1", b"o-2"]
            assert all(m.get(43) == b"Y" for m in again)
            # the recovered sequence numbers: the Gateway's Logon carried 5 and it expected our 4
            await wait_for(lambda: bank_store.next_target_seq_num == 6, "the gap fill over the Logon")

    gw2 = gateway_processes(config, 0)
    run(after_restart(gw2))
    gw2.kill()
    _wait_unlocked(archive_dir)  # its archiver records the rest and exits by itself


@pytest.mark.parametrize("policy", ["buffer", "stop"])
def test_archiver_down_while_the_gateway_runs(
    policy: str, settings: ArchiverSettings, archivers: Callable[..., ArchiverHandle], tmp_path: Path
) -> None:
    archiver = archivers(settings)
    cfg = archive_config(settings.aeron_dir or "", Path(settings.archive_dir),
                         storage=f'archiver = "external"\narchive_down_policy = "{policy}"', timeout_ms=1500)

    async def scenario() -> None:
        async with Gateway(cfg) as gw:
            factory = gw._factory
            assert isinstance(factory, ArchiveStoreFactory)
            queue = EventQueue()
            async with FixClient.connect(gw) as client, bank_initiator(gw.port, queue, MemoryStore()) as bank:
                await bank.wait_logged_on(10)
                sid = await client.claim(key=str(gw_bank_key()))
                for i in range(2):
                    await client.send(sid, "D", [(11, f"a-{i}"), *ORDER])
                await app_messages(queue, 2)
                await wait_for(lambda: factory.unrecorded == 0, "recorded")
                archiver.process.kill()
                archiver.process.wait()
                report = await asyncio.wait_for(_error_reported(client), 5)
                assert "archiver is down" in report.text and policy in report.text
                assert not factory.archiver_up
                if policy == "buffer":
                    for i in range(2):
                        await client.send(sid, "D", [(11, f"b-{i}"), *ORDER])
                    assert [m.get(11) for m in await app_messages(queue, 2)] == [b"b-0", b"b-1"]
                    assert factory.unrecorded >= 2
                    # a resend while the archiver is down: the buffer answers, no archive_timeout_ms wait
                    start = time.monotonic()
                    buffered = list(gw.session(sid).store.read_range(Direction.OUTBOUND, 1, 0))
                    assert time.monotonic() - start < 0.5
                    assert [b"11=b-0\x01" in m or b"11=b-1\x01" in m for _s, m in buffered] == [True, True]
                else:
                    with pytest.raises(SendError) as info:
                        await client.send(sid, "D", [(11, "refused"), *ORDER])
                    assert info.value.code == p.ErrorCode.STORE_FAILED
                await asyncio.to_thread(archivers, settings)  # the archiver comes back
                await wait_for(lambda: factory.archiver_up and factory.unrecorded == 0, "catching up", 15)
                await client.send(sid, "D", [(11, "c-0"), *ORDER])
                await wait_for(lambda: factory.unrecorded == 0, "recorded")
                sent = list(gw.session(sid).store.read_range(__import__("fixg").store.base.Direction.OUTBOUND, 2, 0))
                ids = [dict(x.split(b"=", 1) for x in m.split(b"\x01") if b"=" in x).get(b"11") for _s, m in sent]
                expect = [b"a-0", b"a-1", b"b-0", b"b-1", b"c-0"] if policy == "buffer" else [b"a-0", b"a-1", b"c-0"]
                assert ids == expect

    run(scenario())


async def _error_reported(client: FixClient) -> p.ErrorReported:
    while True:
        event = await client.next_event(5)
        if isinstance(event, p.ErrorReported):
            return event
