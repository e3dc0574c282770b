"""Helpers of the archive tests: configurations, waits, a fixg counterparty."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fixg import loads_config
from fixg.config import Config
from fixg.fix import events as ev
from fixg.gateway import EventQueue
from testutil import bank_initiator, gw_bank_key, next_fix, run, wait_for  # noqa: F401  (re-exported to the archive tests)

WAIT = 10.0
ORDER = [(21, "1"), (55, "IBM"), (54, "1"), (60, "20240101-10:00:00"), (38, 100), (40, "1")]
DRIVER_PROPERTIES = """
"aeron.threading.mode" = "SHARED"
"aeron.shared.idle.strategy" = "backoff"
"aeron.term.buffer.length" = "64k"
"aeron.ipc.term.buffer.length" = "64k"
"aeron.term.buffer.sparse.file" = "true"
"aeron.client.liveness.timeout" = "2s"
"aeron.image.liveness.timeout" = "1s"
"aeron.publication.linger.timeout" = "100ms"
"aeron.publication.unblock.timeout" = "3s"
"""


def archive_config_text(aeron_dir: Path | str, archive_dir: Path, *, storage: str = "", port: int = 0,
                        aeron: str = "", timeout_ms: int = 1000) -> str:
    return f"""
[gateway]
accept_host = "127.0.0.1"
accept_port = {port}
[storage]
backend = "aeron"
archive_dir = "{archive_dir}"
path = "{archive_dir}-unused-journal"
fsync = "never"
segment_length = 65536
archive_timeout_ms = {timeout_ms}
{storage}
[aeron]
replay_stream_id = 9101
"aeron.dir" = "{aeron_dir}"
{DRIVER_PROPERTIES}
{aeron}
[[session]]
SenderCompID = "GW"
TargetCompID = "BANK"
HeartBtInt = 30
"""


def archive_config(aeron_dir: Path | str, archive_dir: Path, **kw: Any) -> Config:
    return loads_config(archive_config_text(aeron_dir, archive_dir, **kw))


async def app_messages(queue: EventQueue, count: int, timeout: float = WAIT) -> list[Any]:
    out = []
    for _ in range(count):
        e = await next_fix(queue, ev.MessageReceived, timeout, pred=lambda e: e.message.get(35) not in (b"0", b"1", b"4", b"5", b"A", b"2"))
        out.append(e.message)
    return out


def wait_sessions(control: Any, key: str, next_sender: int, timeout: float = WAIT) -> dict[str, Any]:
    """Poll the archiver (``Op.SESSIONS`` through an :class:`~fixg.archive.client.ArchiveClient`)
    until session ``key`` has ``next_sender`` as its next sender seqnum: everything up to it is
    recorded and indexed. Returns the session's state."""
    from fixg.archive import format as fmt

    deadline = time.monotonic() + timeout
    while True:
        states = {s["session"]: s for s in control.request(fmt.Op.SESSIONS)["sessions"]}
        state = states.get(key)
        if state is not None and state["next_sender_seq_num"] == next_sender:
            return state
        assert time.monotonic() < deadline, f"the archive has {state} for {key}, not next sender {next_sender}"
        time.sleep(0.005)
