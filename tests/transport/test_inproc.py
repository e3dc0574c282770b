"""The in-process carrier: encoded frames both ways, bounded queues with backpressure, close."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from fixg.errors import TransportError
from fixg.transport import protocol as p
from fixg.transport.inproc import InprocLink

T = TypeVar("T")


def run(coro: Awaitable[T], timeout: float = 10.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def test_frames_go_both_ways_encoded() -> None:
    async def scenario() -> None:
        link = InprocLink("t", 4)
        await link.client.send(p.encode(p.Hello("app", correlation_id=7)))
        frame = await link.gateway.receive()
        assert isinstance(frame, bytes)
        assert p.decode(frame) == p.Hello("app", correlation_id=7)
        await link.gateway.send(p.encode(p.Welcome(1, "gw", correlation_id=7)))
        assert p.decode(await link.client.receive()) == p.Welcome(1, "gw", correlation_id=7)

    run(scenario())


def test_sender_waits_while_the_queue_is_full() -> None:
    async def scenario() -> None:
        link = InprocLink("t", 2)
        frame = p.encode(p.Heartbeat(1))
        await link.client.send(frame)
        await link.client.send(frame)
        assert not link.client.try_send(frame)
        blocked = asyncio.get_running_loop().create_task(link.client.send(frame))
        await asyncio.sleep(0.01)
        assert not blocked.done()  # back-pressured
        await link.gateway.receive()
        await asyncio.wait_for(blocked, 5)
        assert [await link.gateway.receive() for _ in range(2)] == [frame, frame]

    run(scenario())


def test_close_reaches_the_peer_after_what_was_queued() -> None:
    async def scenario() -> None:
        link = InprocLink("t", 1)
        frame = p.encode(p.Heartbeat(1))
        await link.client.send(frame)
        link.client.close()  # even with the queue full
        assert await link.gateway.receive() == frame
        with pytest.raises(TransportError):
            await link.gateway.receive()
        with pytest.raises(TransportError):
            await link.gateway.send(frame)
        with pytest.raises(TransportError):
            await link.client.send(frame)

    run(scenario())


def test_close_wakes_a_blocked_receiver_of_the_same_end() -> None:
    async def scenario() -> None:
        link = InprocLink("t", 1)
        reader = asyncio.get_running_loop().create_task(link.gateway.receive())
        await asyncio.sleep(0.01)
        link.gateway.close()
        with pytest.raises(TransportError):
            await asyncio.wait_for(reader, 5)

    run(scenario())


def test_queue_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        InprocLink("t", 0)
