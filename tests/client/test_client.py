"""FixClient's API against a real Gateway (in-process transport, journal in tmp_path): the
handshake, ownership rules seen from clients, heartbeats keeping ownership, Goodbye releasing
it, events() ending on close."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from fixg import FixClient, Gateway, loads_config
from fixg.client import CommandError, GatewayDisconnectedError, SendError
from fixg.config import Config
from fixg.transport import protocol as p

WAIT = 10.0
T = TypeVar("T")
KEY = "FIX.4.4:GW->BANK"


def run(coro: Awaitable[T], timeout: float = 60.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def config(journal: Path, gateway: str = "", transport: str = "") -> Config:
    return loads_config(
        f"""
[gateway]
accept_host = "127.0.0.1"
accept_port = 0
{gateway}
[transport]
{transport}
[storage]
path = "{journal}"

[[session]]
SenderCompID = "GW"
TargetCompID = "BANK"
"""
    )


async def next_of(client: FixClient, kind: type[T], pred: Callable[[T], bool] = lambda e: True) -> T:
    deadline = time.monotonic() + WAIT
    while True:
        event = await client.next_event(max(0.01, deadline - time.monotonic()))
        if isinstance(event, kind) and pred(event):
            return event


def test_connect_says_hello_and_gets_a_client_id(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Gateway(config(tmp_path, gateway='name = "gw-1"')) as gw:
            async with FixClient.connect(gw, name="a") as a, FixClient.connect(gw, name="b") as b:
                assert a.client_id and b.client_id and a.client_id != b.client_id
                assert a.gateway_name == "gw-1"
                (info,) = await a.list_sessions()
                assert info.key == KEY and info.state == "DISCONNECTED" and info.owner_client_id == 0
                assert (info.next_sender_seq_num, info.next_target_seq_num) == (1, 1)

    run(scenario())


def test_one_owner_at_a_time(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Gateway(config(tmp_path)) as gw:
            async with FixClient.connect(gw, name="a") as a, FixClient.connect(gw, name="b") as b:
                sid = await a.claim(key=KEY)
                assert await a.claim(sid) == sid  # claiming again is fine
                change = await next_of(b, p.OwnershipChanged)
                assert (change.session_id, change.owner_client_id) == (sid, a.client_id)
                with pytest.raises(CommandError) as info:
                    await b.claim(sid)
                assert info.value.code == p.ErrorCode.ALREADY_OWNED
                with pytest.raises(SendError) as sinfo:
                    await b.send(sid, "D", [(11, "x")])
                assert sinfo.value.code == p.ErrorCode.NOT_OWNER
                with pytest.raises(CommandError) as info:
                    await b.release(sid)
                assert info.value.code == p.ErrorCode.NOT_OWNER
                await a.release(sid)
                await next_of(b, p.OwnershipChanged, lambda e: e.owner_client_id == 0)
                assert await b.claim(sid) == sid
                (listed,) = await a.list_sessions()
                assert listed.owner_client_id == b.client_id

    run(scenario())


def test_send_needs_ownership_even_of_an_unowned_session(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Gateway(config(tmp_path)) as gw:
            async with FixClient.connect(gw) as a:
                (info,) = await a.list_sessions()
                with pytest.raises(SendError) as sinfo:
                    await a.send(info.session_id, "D", [(11, "x")])
                assert sinfo.value.code == p.ErrorCode.NOT_OWNER

    run(scenario())


def test_goodbye_releases_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Gateway(config(tmp_path, gateway="client_timeout_ms = 600000")) as gw:
            async with FixClient.connect(gw, name="b") as b:
                a = await FixClient.connect(gw, name="a").start()
                sid = await a.claim(key=KEY)
                await a.aclose()
                await next_of(b, p.OwnershipChanged, lambda e: e.owner_client_id == 0)
                assert await b.claim(sid) == sid

    run(scenario())


def test_heartbeats_keep_ownership_past_the_client_timeout(tmp_path: Path) -> None:
    async def scenario() -> None:
        cfg = config(tmp_path, gateway="client_timeout_ms = 300", transport="heartbeat_interval_ms = 50")
        async with Gateway(cfg) as gw:
            async with FixClient.connect(gw, name="a") as a, FixClient.connect(gw, name="b") as b:
                sid = await a.claim(key=KEY)
                await asyncio.sleep(1.0)  # > 3 client time-outs, with heartbeats flowing
                (info,) = await b.list_sessions()
                assert info.owner_client_id == a.client_id
                with pytest.raises(CommandError):
                    await b.claim(sid)

    run(scenario())


def test_events_end_when_the_client_closes_and_calls_fail_after(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Gateway(config(tmp_path)) as gw:
            client = await FixClient.connect(gw).start()
            seen: list[p.Event] = []

            async def consume() -> None:
                async for event in client.events():
                    seen.append(event)

            task = asyncio.get_running_loop().create_task(consume())
            await client.claim(key=KEY)
            await client.aclose()
            await asyncio.wait_for(task, WAIT)
            assert any(isinstance(e, p.OwnershipChanged) for e in seen)
            with pytest.raises(GatewayDisconnectedError):
                await client.list_sessions()

    run(scenario())


def test_gateway_close_ends_the_client(tmp_path: Path) -> None:
    async def scenario() -> None:
        gw = Gateway(config(tmp_path))
        await gw.start()
        client = await FixClient.connect(gw).start()
        await gw.aclose()
        with pytest.raises(GatewayDisconnectedError):
            await asyncio.wait_for(client.next_event(WAIT), WAIT)
        with pytest.raises(GatewayDisconnectedError):
            await client.list_sessions()
        await client.aclose()

    run(scenario())


def test_pipelined_submits_reply_in_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Gateway(config(tmp_path, transport="queue_size = 4")) as gw:
            async with FixClient.connect(gw) as client:
                sid = await client.claim(key=KEY)
                # Not logged on: the messages are stored for resend after the next Logon.
                futures = [await client.submit(sid, "D", [(11, f"o-{i}")]) for i in range(50)]
                seqs = [FixClient.result_seq_num(await f) for f in futures]
                assert seqs == list(range(1, 51))

    run(scenario())


def test_a_silent_gateway_counts_as_gone(tmp_path: Path) -> None:
    async def scenario() -> None:
        cfg = config(tmp_path, transport="heartbeat_interval_ms = 50\nliveness_timeout_ms = 300")
        async with Gateway(cfg) as gw:
            async with FixClient.connect(gw) as client:
                await asyncio.sleep(0.6)  # the gateway's heartbeats keep the link alive
                assert len(await client.list_sessions()) == 1
                gw._timer.cancel()  # type: ignore[union-attr]  # the gateway goes quiet
                with pytest.raises(GatewayDisconnectedError):
                    while True:
                        await client.next_event(WAIT)

    run(scenario())
