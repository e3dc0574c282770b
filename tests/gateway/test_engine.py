"""The Gateway engine with real parts: FixClients over the in-process transport, real TCP on
127.0.0.1 to a counterparty (a second Gateway or a plain fixg Acceptor/Initiator), real journal
files. Waits are bounded; no timing is asserted."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from fixg import FixClient, Gateway, loads_config
from fixg.client import CommandError, SendError
from fixg.config import Config
from fixg.errors import StoreError
from fixg.fix import events as ev
from fixg.fix.codec import decode
from fixg.fix.settings import SessionKey, SessionSettings
from fixg.gateway import Acceptor, EventQueue, Initiator, create_session
from fixg.store.base import Direction
from fixg.store.journal import JournalReader
from fixg.store.memory import MemoryStore
from fixg.transport import protocol as p
from testutil import bank_initiator, gw_bank_key, next_fix, run, wait_for

WAIT = 10.0
T = TypeVar("T")
ORDER = [(11, "o-1"), (21, "1"), (55, "IBM"), (54, "1"), (60, "20240101-10:00:00"), (38, 100), (40, "1")]


def config(journal: Path, *, sessions: str = "", gateway: str = "") -> Config:
    return loads_config(
        f"""
[gateway]
accept_host = "127.0.0.1"
accept_port = 0
{gateway}
[storage]
path = "{journal}"
{sessions}
"""
    )


ACCEPTOR_GW_BANK = """
[[session]]
SenderCompID = "GW"
TargetCompID = "BANK"
HeartBtInt = 30
"""


async def next_of(client: FixClient, kind: type[T], timeout: float = WAIT, pred: Callable[[T], bool] = lambda e: True) -> T:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {kind.__name__} event")
        event = await client.next_event(left)
        if isinstance(event, kind) and pred(event):
            return event


# ---------------------------------------------------------------------------------------------


def test_order_and_fill_between_two_gateways(tmp_path: Path) -> None:
    """client -> gateway B -> TCP -> gateway A (acceptor) -> client of A -> and back."""

    async def scenario() -> None:
        exch_cfg = config(tmp_path / "a", sessions="""
[[session]]
SenderCompID = "EXCH"
TargetCompID = "BANK"
""")
        async with Gateway(exch_cfg) as gw_a, Gateway(config(tmp_path / "b")) as gw_b:
            async with FixClient.connect(gw_a, name="exch") as exch, FixClient.connect(gw_b, name="bank") as bank:
                exch_sid = await exch.claim(key="FIX.4.4:EXCH->BANK")
                sid = await bank.initiate_session("127.0.0.1", gw_a.port, "BANK", "EXCH")
                await bank.wait_state(sid, "ACTIVE", WAIT)
                seq = await bank.send(sid, "D", ORDER)
                assert seq == 2
                got = await next_of(exch, p.ApplicationMessageReceived)
                assert (got.session_id, got.seq_num, got.msg_type) == (exch_sid, 2, "D")
                order = decode(got.data)
                assert order.get(11) == b"o-1" and order.get(49) == b"BANK"
                fill = [(37, "X1"), (17, "E1"), (150, "F"), (39, "2"), (55, "IBM"), (54, "1"),
                        (151, 0), (14, 100), (6, "10")]
                assert await exch.send(exch_sid, "8", fill) == 2
                report = await next_of(bank, p.ApplicationMessageReceived)
                assert report.msg_type == "8" and decode(report.data).get(150) == b"F"
                listed = {i.key: i for i in await bank.list_sessions()}
                info = listed["FIX.4.4:BANK->EXCH"]
                assert (info.state, info.next_sender_seq_num, info.next_target_seq_num) == ("ACTIVE", 3, 3)
                assert info.owner_client_id == bank.client_id and info.connected
                await bank.logout(sid, "done")
                await exch.wait_state(exch_sid, "DISCONNECTED", WAIT)

    run(scenario())


def test_send_completed_only_after_the_message_is_in_the_journal(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Gateway(config(tmp_path, sessions=ACCEPTOR_GW_BANK)) as gw:
            queue = EventQueue()
            async with bank_initiator(gw.port, queue) as bank, FixClient.connect(gw) as client:
                sid = await client.claim(key=str(gw_bank_key()))
                await client.wait_state(sid, "ACTIVE", WAIT)
                for i in range(3):
                    seq = await client.send(sid, "D", ORDER)
                    # no await between the reply and the file read: it was written before
                    reader = JournalReader(tmp_path)
                    (session_dir,) = [d for d in reader.session_dirs() if "GW_to_BANK" in d.name]
                    stored = {r.seq_num: r.data for r in reader.records(session_dir)
                              if r.kind == "msg" and r.direction is Direction.OUTBOUND}
                    assert seq in stored and b"\x0135=D\x01" in (stored[seq] or b"")
                await next_fix(queue, ev.MessageReceived)

    run(scenario())


def test_store_failure_is_send_failed_and_nothing_is_sent(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Gateway(config(tmp_path, sessions=ACCEPTOR_GW_BANK)) as gw:
            queue = EventQueue()
            async with bank_initiator(gw.port, queue) as bank, FixClient.connect(gw) as client:
                sid = await client.claim(key=str(gw_bank_key()))
                await client.wait_state(sid, "ACTIVE", WAIT)
                store = gw.session(sid).store

                def broken(*args: Any) -> None:
                    raise StoreError("disk on fire")

                real = store.append
                store.append = broken  # type: ignore[method-assign]
                with pytest.raises(SendError) as info:
                    await client.send(sid, "D", ORDER)
                assert info.value.code == p.ErrorCode.STORE_FAILED
                store.append = real  # type: ignore[method-assign]
                assert await client.send(sid, "D", ORDER) == 2  # the number was not used
                msg = await next_fix(queue, ev.MessageReceived)
                assert msg.message.get(34) == b"2"

    run(scenario())


def test_unowned_messages_are_buffered_for_the_next_owner(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Gateway(config(tmp_path, sessions=ACCEPTOR_GW_BANK)) as gw:
            queue = EventQueue()
            async with bank_initiator(gw.port, queue) as bank:
                await bank.wait_logged_on(WAIT)
                for i in range(3):
                    bank.send("D", [(11, f"o-{i}"), *ORDER[1:]])
                async with FixClient.connect(gw, name="late") as client:
                    await wait_for(lambda: gw.session(gw.session_id(gw_bank_key())).next_target_seq_num == 5,
                                   "the three orders")
                    sid = await client.claim(key=str(gw_bank_key()))
                    got = [await next_of(client, p.ApplicationMessageReceived) for _ in range(3)]
                    assert [decode(g.data).get(11) for g in got] == [b"o-0", b"o-1", b"o-2"]
                    assert all(g.session_id == sid for g in got)

    run(scenario())


def test_reject_policy_answers_with_business_message_reject(tmp_path: Path) -> None:
    async def scenario() -> None:
        cfg = config(tmp_path, sessions=ACCEPTOR_GW_BANK, gateway='unowned_message_policy = "reject"')
        async with Gateway(cfg) as gw:
            queue = EventQueue()
            async with bank_initiator(gw.port, queue) as bank:
                await bank.wait_logged_on(WAIT)
                bank.send("D", ORDER)
                msg = await next_fix(queue, ev.MessageReceived)
                assert msg.message.get(35) == b"j"
                assert msg.message.get(380) == b"4" and msg.message.get(45) == b"2"
                assert msg.message.get(379) == b"o-1"

    run(scenario())


def test_client_timeout_releases_ownership_and_the_session_stays_up(tmp_path: Path) -> None:
    async def scenario() -> None:
        cfg = config(tmp_path, sessions=ACCEPTOR_GW_BANK, gateway="client_timeout_ms = 300")
        async with Gateway(cfg) as gw:
            queue = EventQueue()
            async with bank_initiator(gw.port, queue) as bank, FixClient.connect(gw, name="watcher") as watcher:
                first = FixClient.connect(gw, name="first")
                await first.start()
                sid = await first.claim(key=str(gw_bank_key()))
                await bank.wait_logged_on(WAIT)
                first.abandon()  # dies: no Goodbye, no heartbeats
                bank.send("D", ORDER)
                change = await next_of(watcher, p.OwnershipChanged, pred=lambda e: e.owner_client_id == 0)
                assert change.session_id == sid
                assert await watcher.claim(sid) == sid
                got = await next_of(watcher, p.ApplicationMessageReceived)
                assert decode(got.data).get(11) == b"o-1"
                (info,) = [i for i in await watcher.list_sessions() if i.session_id == sid]
                assert info.state == "ACTIVE" and info.owner_client_id == watcher.client_id
                assert await watcher.send(sid, "D", ORDER) >= 2

    run(scenario())


def test_malformed_frames_and_unknown_sessions_give_errors_and_the_gateway_keeps_running(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Gateway(config(tmp_path, sessions=ACCEPTOR_GW_BANK)) as gw:
            async with FixClient.connect(gw) as client:
                await client.send_frame(b"\x01garbage")
                err = await next_of(client, p.ErrorReported)
                assert err.code == p.ErrorCode.MALFORMED_COMMAND
                good = p.encode(p.ReleaseSession(5, correlation_id=99))
                await client.send_frame(good[:-3])  # truncated body, readable header
                failed = await next_of(client, p.CommandFailed)
                assert failed.code == p.ErrorCode.MALFORMED_COMMAND and failed.correlation_id == 99
                await client.send_frame(bytes([2]) + good[1:])  # another protocol version
                failed = await next_of(client, p.CommandFailed)
                assert failed.code == p.ErrorCode.MALFORMED_COMMAND and "version" in failed.text
                await client.send_frame(p.encode(p.Welcome(1, "x", correlation_id=5)))  # an event
                failed = await next_of(client, p.CommandFailed)
                assert failed.correlation_id == 5
                with pytest.raises(SendError) as info:
                    await client.send(123456789, "D", ORDER)
                assert info.value.code == p.ErrorCode.UNKNOWN_SESSION
                with pytest.raises(CommandError) as cinfo:
                    await client.claim(987654321)
                assert cinfo.value.code == p.ErrorCode.UNKNOWN_SESSION
                with pytest.raises(CommandError):
                    await client.claim(key="FIX.4.4:NO->ONE")
                assert len(await client.list_sessions()) == 1

    run(scenario())


def test_oversized_and_invalid_messages_are_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        cfg = config(tmp_path, sessions=ACCEPTOR_GW_BANK, gateway="max_message_size = 1024")
        async with Gateway(cfg) as gw:
            queue = EventQueue()
            async with bank_initiator(gw.port, queue) as bank, FixClient.connect(gw) as client:
                sid = await client.claim(key=str(gw_bank_key()))
                await client.wait_state(sid, "ACTIVE", WAIT)
                with pytest.raises(SendError) as info:
                    await client.send(sid, "D", [*ORDER, (58, "x" * 2000)])
                assert info.value.code == p.ErrorCode.MESSAGE_TOO_LARGE
                with pytest.raises(SendError) as info:
                    await client.send(sid, "0", [(112, "x")])
                assert info.value.code == p.ErrorCode.INVALID_MESSAGE
                with pytest.raises(SendError) as info:
                    await client.send(sid, "D", b"not fix")
                assert info.value.code == p.ErrorCode.INVALID_MESSAGE
                assert await client.send(sid, "D", ORDER) == 2

    run(scenario())


def test_reset_sequence_numbers_and_disconnect(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Gateway(config(tmp_path, sessions=ACCEPTOR_GW_BANK)) as gw:
            queue = EventQueue()
            async with bank_initiator(gw.port, queue) as bank, FixClient.connect(gw) as client:
                sid = await client.claim(key=str(gw_bank_key()))
                await client.wait_state(sid, "ACTIVE", WAIT)
                await client.send(sid, "D", ORDER)
                with pytest.raises(CommandError) as info:
                    await client.reset_sequence_numbers(sid)
                assert info.value.code == p.ErrorCode.SESSION_ACTIVE
                await bank.stop()  # logs out
                await client.wait_state(sid, "DISCONNECTED", WAIT)
                with pytest.raises(CommandError) as info:
                    await client.disconnect(sid)
                assert info.value.code == p.ErrorCode.NOT_CONNECTED
                await client.reset_sequence_numbers(sid)
                (info2,) = await client.list_sessions()
                assert (info2.next_sender_seq_num, info2.next_target_seq_num) == (1, 1)

    run(scenario())


def test_acceptor_logout_command_sends_logout(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Gateway(config(tmp_path, sessions=ACCEPTOR_GW_BANK)) as gw:
            queue = EventQueue()
            async with bank_initiator(gw.port, queue) as bank, FixClient.connect(gw) as client:
                sid = await client.claim(key=str(gw_bank_key()))
                await client.wait_state(sid, "ACTIVE", WAIT)
                await client.logout(sid, "bye")
                received = await next_fix(queue, ev.LogoutReceived)
                assert received.text == "bye"
                await client.wait_state(sid, "DISCONNECTED", WAIT)

    run(scenario())


def test_gateway_close_logs_out_initiated_sessions(tmp_path: Path) -> None:
    async def scenario() -> None:
        queue = EventQueue()
        settings = SessionSettings("FIX.4.4", "EXCH", "BANK", "acceptor")
        session = create_session(settings, MemoryStore())
        async with Acceptor([session], port=0, on_event=queue) as acceptor:
            gw = Gateway(config(tmp_path))
            await gw.start()
            client = await FixClient.connect(gw).start()
            sid = await client.initiate_session("127.0.0.1", acceptor.port, "BANK", "EXCH",
                                                heart_bt_int=5, username="u", password="pw",
                                                reset_seq_num=True)
            logon = await next_fix(queue, ev.LogonReceived)
            assert logon.username == "u" and logon.reset_seq_num and logon.heart_bt_int == 5
            await client.wait_state(sid, "ACTIVE", WAIT)
            with pytest.raises(CommandError) as info:
                await client.initiate_session("127.0.0.1", acceptor.port, "BANK", "EXCH")
            assert info.value.code == p.ErrorCode.DUPLICATE_SESSION
            await client.aclose()
            await gw.aclose()
            received = await next_fix(queue, ev.LogoutReceived)
            assert received is not None

    run(scenario())


@pytest.mark.aeron
def test_aeron_storage_backend_records_through_its_own_driver_and_archiver(
    aeron_library: object, aeron_dir: Path, tmp_path: Path
) -> None:
    """backend = "aeron" with no driver running: the Gateway starts a media driver and an
    archiver, stores through them, and stops both (the archiver process is gone, the driver's
    directory removed)."""
    from fixg.archive.storage import Archive
    from fixg.store.archive import ArchiveStoreFactory

    cfg = loads_config(f"""
[gateway]
accept_host = "127.0.0.1"
accept_port = 0
[storage]
backend = "aeron"
archive_dir = "{tmp_path / 'archive'}"
fsync = "never"
[aeron]
"aeron.dir" = "{aeron_dir}"
"aeron.threading.mode" = "SHARED"
"aeron.ipc.term.buffer.length" = "64k"
{ACCEPTOR_GW_BANK}
""")
    processes = []

    async def scenario() -> None:
        async with Gateway(cfg) as gw:
            factory = gw._factory
            assert isinstance(factory, ArchiveStoreFactory) and factory.archiver is not None
            assert factory.driver is not None
            processes.extend([factory.archiver.process, factory.driver._process])
            queue = EventQueue()
            async with bank_initiator(gw.port, queue) as bank, FixClient.connect(gw) as client:
                await bank.wait_logged_on(WAIT)
                sid = await client.claim(key=str(gw_bank_key()))
                assert await client.send(sid, "D", ORDER) == 2
                msg = await next_fix(queue, ev.MessageReceived)
                assert msg.message.get(11) == b"o-1"

    run(scenario())
    assert len(processes) == 2 and all(p.poll() is not None for p in processes)  # both stopped and reaped
    assert not aeron_dir.exists()
    archive = Archive(tmp_path / "archive", readonly=True)
    try:
        state = archive.sessions[str(gw_bank_key())]
        assert state.next_sender == 4 and state.sent == 3  # Logon, the order, Logout
        assert [n for n, _p, _d in archive.replay(str(gw_bank_key()), 1, state.seq_index, 2, 2)] == [2]
    finally:
        archive.close()


def test_a_client_that_does_not_read_is_dropped_and_its_messages_kept(tmp_path: Path) -> None:
    async def scenario() -> None:
        cfg = loads_config(f"""
[gateway]
accept_host = "127.0.0.1"
accept_port = 0
[transport]
queue_size = 2
backpressure = "error"
[storage]
path = "{tmp_path}"
{ACCEPTOR_GW_BANK}
""")
        async with Gateway(cfg) as gw:
            queue = EventQueue()
            async with bank_initiator(gw.port, queue) as bank, FixClient.connect(gw, name="next") as nxt:
                raw = gw.connect_inproc("stuck")  # speaks the protocol, never reads
                await raw.send(p.encode(p.ClaimSession(key=str(gw_bank_key()), correlation_id=1)))
                sid = gw.session_id(gw_bank_key())
                await next_of(nxt, p.OwnershipChanged, pred=lambda e: e.owner_client_id != 0)
                await bank.wait_logged_on(WAIT)
                for i in range(6):
                    bank.send("D", [(11, f"o-{i}"), *ORDER[1:]])
                await next_of(nxt, p.OwnershipChanged, pred=lambda e: e.owner_client_id == 0)
                await nxt.claim(sid)
                got = [await next_of(nxt, p.ApplicationMessageReceived) for _ in range(6)]
                assert [decode(g.data).get(11) for g in got] == [f"o-{i}".encode() for i in range(6)]
                raw.close()

    run(scenario())


def test_a_session_with_its_own_accept_port(tmp_path: Path) -> None:
    async def scenario() -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            own_port = probe.getsockname()[1]
        cfg = config(tmp_path, sessions=ACCEPTOR_GW_BANK + f"""
[[session]]
SenderCompID = "GW"
TargetCompID = "OTHER"
SocketAcceptHost = "127.0.0.1"
SocketAcceptPort = {own_port}
""")
        async with Gateway(cfg) as gw:
            assert gw.session_port(SessionKey("FIX.4.4", "GW", "OTHER")) == own_port
            assert gw.session_port(gw_bank_key()) == gw.port != own_port
            settings = SessionSettings("FIX.4.4", "OTHER", "GW", "initiator",
                                       socket_connect_hosts=(("127.0.0.1", own_port),))
            queue = EventQueue()
            async with Initiator(create_session(settings, MemoryStore()), on_event=queue) as other:
                await other.wait_logged_on(WAIT)

    run(scenario())
