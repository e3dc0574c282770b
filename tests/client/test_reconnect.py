"""FixClient's reconnection logic (pure logic: the client's own code against scripted links,
no Gateway): a link that never gets its Welcome neither starts a reconnection nor ends
events(), a failed start() leaves nothing running, a reclaim that times out still brings the
client UP, and heart-beating survives a failed send."""

from __future__ import annotations

import asyncio

import pytest

from fixg import FixClient, loads_config
from fixg.errors import FixTimeoutError, TransportError
from fixg.transport import protocol as p
from testutil import run


class ScriptedLink:
    """Answers a Hello with a Welcome when ``welcome`` is set, and nothing else; a send of a
    Heartbeat while ``fail_heartbeat`` is set fails the link with TransportError."""

    def __init__(self, welcome: bool, fail_heartbeat: bool = False) -> None:
        self.welcome = welcome
        self.fail_heartbeat = fail_heartbeat
        self.closed = False
        self.sent: list[p.Message] = []
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def send(self, frame: bytes) -> None:
        if self.closed:
            raise TransportError("link closed")
        msg = p.decode(frame)
        if isinstance(msg, p.Heartbeat) and self.fail_heartbeat:
            self.close()
            raise TransportError("peer not connected")
        self.sent.append(msg)
        if isinstance(msg, p.Hello) and self.welcome:
            self._inbox.put_nowait(p.encode(p.Welcome(7, "gw", p.PROTOCOL_VERSION, 1), msg.correlation_id))

    async def receive(self) -> bytes:
        frame = await self._inbox.get()
        if frame is None:
            raise TransportError("link closed")
        return frame

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._inbox.put_nowait(None)


class ScriptedConnector:
    reconnects = True

    def __init__(self, *links: ScriptedLink) -> None:
        self.script = list(links)
        self.opened: list[ScriptedLink] = []

    async def open(self, name: str) -> ScriptedLink:
        link = self.script.pop(0) if self.script else ScriptedLink(welcome=False)
        self.opened.append(link)
        return link

    def close(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def client_with(connector: ScriptedConnector, **kw: object) -> FixClient:
    config = loads_config('[transport]\nkind = "aeron"\n')
    client = FixClient.connect(config, name="scripted", **kw)  # type: ignore[arg-type]
    client._connector = connector  # type: ignore[assignment]
    return client


def other_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]


def test_a_failed_start_leaves_no_task_running() -> None:
    async def scenario() -> None:
        connector = ScriptedConnector()  # the gateway never answers
        client = client_with(connector, request_timeout=0.1)
        with pytest.raises(FixTimeoutError):
            await client.start()
        await asyncio.sleep(0.5)
        assert other_tasks() == []
        assert len(connector.opened) == 1  # no reconnection was started

    run(scenario())


def test_failed_reconnections_do_not_multiply_and_events_go_on() -> None:
    async def scenario() -> None:
        first = ScriptedLink(welcome=True)
        connector = ScriptedConnector(first)
        client = client_with(connector, request_timeout=0.05, heartbeat_interval_ms=60_000)
        await client.start()
        first.close()  # link lost; every later link stays silent
        down = await client.next_event(5)
        assert isinstance(down, p.TransportStateChanged) and down.state == "DOWN"
        await asyncio.sleep(1.5)
        # One reconnection loop: opens spaced by a growing delay, a handful of tasks.
        assert 3 <= len(connector.opened) <= 10
        assert len(other_tasks()) <= 3  # heartbeat, reconnect, the reader of the link being tried
        # Readers of the links that never got a Welcome did not end events().
        connector.script.append(ScriptedLink(welcome=True))
        up = await client.next_event(5)
        assert isinstance(up, p.TransportStateChanged) and up.state == "UP"
        await client.aclose()
        assert other_tasks() == []

    run(scenario())


def test_a_reclaim_that_times_out_still_brings_the_client_up() -> None:
    async def scenario() -> None:
        first = ScriptedLink(welcome=True)
        connector = ScriptedConnector(first, ScriptedLink(welcome=True))
        client = client_with(connector, request_timeout=0.1, heartbeat_interval_ms=60_000)
        await client.start()
        client.owned.add(42)  # the second link answers the Hello but not the ClaimSession
        first.close()
        events = [await client.next_event(5) for _ in range(3)]
        assert [type(e).__name__ for e in events] == ["TransportStateChanged", "ErrorReported", "TransportStateChanged"]
        assert isinstance(events[1], p.ErrorReported) and events[1].session_id == 42
        assert isinstance(events[2], p.TransportStateChanged) and events[2].state == "UP"
        assert client.owned == {42}  # claimed again after the next reconnection
        await client.aclose()

    run(scenario())


def test_heartbeats_go_on_after_a_failed_send() -> None:
    async def scenario() -> None:
        first = ScriptedLink(welcome=True, fail_heartbeat=True)
        second = ScriptedLink(welcome=True)
        client = client_with(ScriptedConnector(first, second), request_timeout=1.0, heartbeat_interval_ms=20)
        async with client:
            up = None
            while not (isinstance(up, p.TransportStateChanged) and up.state == "UP"):
                up = await client.next_event(5)
            await asyncio.sleep(0.3)
            assert sum(isinstance(m, p.Heartbeat) for m in second.sent) >= 3

    run(scenario())
