"""AeronLink's offer, retry and back-pressure policy as pure logic, against a scripted stand-in
for a publication (the real one is exercised in tests/aeron/test_aeron_transport.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from fixg.errors import TransportError
from fixg.transport.aeron import ENVELOPE, AdaptiveIdle, AeronLink, BackPressuredError, channel_with_session_id

BACK_PRESSURED = -2
NOT_CONNECTED = -1
CLOSED = -4


class ScriptedPublication:
    """try_offer answers from a script (then success); records what was published."""

    def __init__(self, script: Iterator[int] | None = None) -> None:
        self.script = script or iter(())
        self.published: list[bytes] = []
        self.closed = False

    def try_offer(self, data: bytes) -> int:
        result = next(self.script, 1)
        if result > 0:
            self.published.append(data)
            return 64 * len(self.published)
        return result

    def close(self) -> None:
        self.closed = True


def link(policy: str = "error", *, retries: int = 2, limit: int = 3) -> AeronLink:
    return AeronLink("test", 42, retry_count=retries, backoff_s=0.0, policy=policy, queue_limit=limit,
                     connect_timeout=60.0)  # fmt: skip


def test_channel_with_session_id() -> None:
    assert channel_with_session_id("aeron:ipc", 7) == "aeron:ipc?session-id=7"
    assert channel_with_session_id("aeron:udp?endpoint=127.0.0.1:40123", 7) == "aeron:udp?endpoint=127.0.0.1:40123|session-id=7"


def test_frames_go_out_behind_the_link_id_envelope() -> None:
    async def scenario() -> None:
        lk = link()
        pub = ScriptedPublication()
        lk.publication = pub  # type: ignore[assignment]
        await lk.send(b"frame-1")
        assert lk.try_send(b"frame-2")
        assert pub.published == [ENVELOPE.pack(42) + b"frame-1", ENVELOPE.pack(42) + b"frame-2"]

    asyncio.run(scenario())


def test_error_policy_raises_after_the_retries() -> None:
    async def scenario() -> None:
        lk = link("error", retries=2)
        pub = ScriptedPublication(iter([BACK_PRESSURED] * 3))
        lk.publication = pub  # type: ignore[assignment]
        with pytest.raises(BackPressuredError, match="after 3 offers"):
            await lk.send(b"x")
        assert pub.published == [] and lk.back_pressure_events == 1
        await lk.send(b"y")  # the script is over: it goes now
        assert pub.published == [ENVELOPE.pack(42) + b"y"]

    asyncio.run(scenario())


def test_retries_absorb_short_back_pressure() -> None:
    async def scenario() -> None:
        lk = link("error", retries=2)
        pub = ScriptedPublication(iter([BACK_PRESSURED, NOT_CONNECTED]))
        lk.publication = pub  # type: ignore[assignment]
        await lk.send(b"x")
        assert pub.published == [ENVELOPE.pack(42) + b"x"]

    asyncio.run(scenario())


def test_queue_policy_keeps_order_and_is_bounded() -> None:
    async def scenario() -> None:
        lk = link("queue", retries=0, limit=2)
        pub = ScriptedPublication(iter([BACK_PRESSURED] * 5))
        lk.publication = pub  # type: ignore[assignment]
        await lk.send(b"a")  # back-pressured: queued
        await lk.send(b"b")  # behind a: queued without an offer
        assert lk.queued == 2
        with pytest.raises(BackPressuredError, match="already queued"):
            await lk.send(b"c")
        assert not lk.try_send(b"d")  # the queue goes first, and it is still stuck
        while not lk.flush_queue():
            pass
        assert [m[ENVELOPE.size:] for m in pub.published] == [b"a", b"b"]
        await lk.send(b"e")
        assert [m[ENVELOPE.size:] for m in pub.published] == [b"a", b"b", b"e"]

    asyncio.run(scenario())


def test_a_refused_offer_closes_the_link_and_wakes_the_reader() -> None:
    async def scenario() -> None:
        lk = link()
        pub = ScriptedPublication(iter([CLOSED]))
        lk.publication = pub  # type: ignore[assignment]
        reader = asyncio.get_running_loop().create_task(lk.receive())
        await asyncio.sleep(0)
        with pytest.raises(TransportError):
            await lk.send(b"x")
        assert lk.closed and pub.closed
        with pytest.raises(TransportError, match="refused"):
            await reader

    asyncio.run(scenario())


def test_frames_received_before_the_close_are_read_first() -> None:
    async def scenario() -> None:
        lk = link()
        lk._deliver(b"one")
        lk._deliver(b"two")
        lk.close()
        assert await lk.receive() == b"one"
        assert await lk.receive() == b"two"
        with pytest.raises(TransportError):
            await lk.receive()

    asyncio.run(scenario())


def test_adaptive_idle_sleeps_only_when_idle() -> None:
    async def scenario() -> None:
        idle = AdaptiveIdle(spin_s=0.0, min_sleep=0.001, max_sleep=0.004)
        for _ in range(5):
            await idle.idle(1)  # work: the back-off never grows
        assert idle._sleep == 0.001
        await idle.idle(0)
        await idle.idle(0)
        await idle.idle(0)
        assert idle._sleep == 0.004  # doubled up to the cap
        await idle.idle(1)
        assert idle._sleep == 0.001

    asyncio.run(scenario())


def test_idle_strategy_names_from_the_configuration() -> None:
    from fixg.errors import ConfigError

    backoff = AdaptiveIdle.from_name("backoff")
    assert backoff.spin_s == 0.002 and backoff.max_sleep == 0.004
    sleeping = AdaptiveIdle.from_name("sleep:500us")
    assert sleeping.min_sleep == sleeping.max_sleep == 0.0005
    spin = AdaptiveIdle.from_name("noop")
    assert spin.max_sleep == 0.0 and spin.spin_s == float("inf")
    assert AdaptiveIdle.from_name("yield").spin_s == float("inf")
    with pytest.raises(ConfigError):
        AdaptiveIdle.from_name("nap")
