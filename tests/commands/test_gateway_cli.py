"""``fixg gateway --config`` as a real subprocess against a fixg counterparty over TCP: SIGTERM
gives a Logout and a clean exit; after a kill -9 and a restart the sequence numbers carry on
and a ResendRequest is answered from the journal with PossDup resends."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

from fixg.fix import events as ev
from fixg.fix.session import Session
from fixg.fix.settings import SessionSettings
from fixg.gateway import EventQueue, Initiator, create_session
from fixg.store.base import Direction
from fixg.store.journal import JournalReader
from fixg.store.memory import MemoryStore

WAIT = 15.0
T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


def run(coro: Awaitable[T], timeout: float = 90.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(
        """
[gateway]
name = "subprocess-gw"
accept_host = "127.0.0.1"
accept_port = 0

[storage]
path = "journal"
fsync = "interval"

[[session]]
SenderCompID = "GW"
TargetCompID = "BANK"
HeartBtInt = 30
"""
    )
    return path


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), e.get("PYTHONPATH")]))
    return e


async def start(*args: str) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env(),
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + WAIT
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), max(0.1, deadline - time.monotonic()))
        if not line:
            err = await proc.stderr.read() if proc.stderr else b""
            raise AssertionError(f"gateway exited early: {err.decode(errors='replace')}")
        m = re.search(rb"accepting on 127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1))


async def next_fix(queue: EventQueue, kind: type[Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        _, event = await asyncio.wait_for(queue.get(), max(0.01, deadline - time.monotonic()))
        if isinstance(event, kind):
            return event


def bank_session() -> Session:
    settings = SessionSettings("FIX.4.4", "BANK", "GW", "initiator", heart_bt_int=30, reconnect_interval=0.2)
    return create_session(settings, MemoryStore())


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
    await proc.wait()


def test_sigterm_logs_out_and_exits_cleanly(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)

    async def scenario() -> None:
        proc, port = await start("-m", "fixg", "gateway", "--config", str(cfg))
        try:
            queue = EventQueue()
            session = bank_session()
            async with Initiator(session, addresses=[("127.0.0.1", port)], on_event=queue) as bank:
                await bank.wait_logged_on(WAIT)
                proc.send_signal(signal.SIGTERM)
                logout = await next_fix(queue, ev.LogoutReceived)
                assert logout is not None
                assert await asyncio.wait_for(proc.wait(), WAIT) == 0
                out = await proc.stdout.read() if proc.stdout else b""
                assert b"stopped" in out
        finally:
            await stop_process(proc)

    run(scenario())
    reader = JournalReader(tmp_path / "journal")
    (session_dir,) = reader.session_dirs()
    sent = [r for r in reader.records(session_dir) if r.kind == "msg" and r.direction is Direction.OUTBOUND]
    assert b"\x0135=5\x01" in (sent[-1].data or b"")  # the Logout reached the journal


APP = """
import asyncio, sys
from fixg import FixClient, Gateway, load_config

async def main():
    async with Gateway(load_config(sys.argv[1])) as gw:
        print(f"accepting on 127.0.0.1:{gw.port}", flush=True)
        async with FixClient.connect(gw, name="app") as client:
            sid = await client.claim(key="FIX.4.4:GW->BANK")
            await client.wait_state(sid, "ACTIVE", 15)
            for i in range(5):
                seq = await client.send(sid, "8", [
                    (37, f"X{i}"), (17, f"E{i}"), (150, "0"), (39, "0"), (55, "IBM"), (54, "1"),
                    (151, 100), (14, 0), (6, 0),
                ])
                print(f"SENT {seq}", flush=True)
            await asyncio.Event().wait()

asyncio.run(main())
"""


def test_kill_9_then_restart_continues_sequence_and_resends_from_the_journal(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    app = tmp_path / "app.py"
    app.write_text(APP)

    async def scenario() -> None:
        session = bank_session()
        queue = EventQueue()
        proc, port = await start(str(app), str(cfg))
        try:
            bank = Initiator(session, addresses=[("127.0.0.1", port)], on_event=queue)
            await bank.start()
            await bank.wait_logged_on(WAIT)
            got = [await next_fix(queue, ev.MessageReceived) for _ in range(5)]
            assert [m.message.get(34) for m in got] == [b"2", b"3", b"4", b"5", b"6"]
            proc.kill()  # SIGKILL: no Logout, no flush beyond what was written
            await proc.wait()
            await next_fix(queue, ev.Disconnected)
            await bank.stop()
        finally:
            await stop_process(proc)
        # The counterparty "lost" the five messages: it will ask for them again.
        session.store.next_target_seq_num = 2

        proc, port = await start("-m", "fixg", "gateway", "--config", str(cfg))
        try:
            queue = EventQueue()
            async with Initiator(session, addresses=[("127.0.0.1", port)], on_event=queue) as bank:
                gap = await next_fix(queue, ev.GapDetected)
                assert (gap.expected, gap.received) == (2, 7)  # the Logon answer continues at 7
                resent = [await next_fix(queue, ev.MessageReceived) for _ in range(5)]
                assert [m.message.get(34) for m in resent] == [b"2", b"3", b"4", b"5", b"6"]
                assert all(m.poss_dup and m.message.get(43) == b"Y" for m in resent)
                assert all(m.message.get(122) is not None for m in resent)
                assert [m.message.get(37) for m in resent] == [b"X0", b"X1", b"X2", b"X3", b"X4"]
                await bank.wait_logged_on(WAIT)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), WAIT)
                except asyncio.TimeoutError:
                    pass
            await stop_process(proc)

    run(scenario(), timeout=120)
