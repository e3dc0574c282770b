"""The Aeron carrier of the Gateway <-> FixClient protocol: the same frames as the in-process
transport, between processes of one host (``aeron:ipc``, or ``aeron:udp?endpoint=host:port``
with every process on the endpoint's host). Not across hosts: the one ``channel`` carries the
commands and every client's events, so all subscribers bind the same endpoint; a client on
another host would need an event channel of its own (see docs/transport.md, Limits).

Streams on ``[transport] channel``:

- ``command_stream_id``: every client publishes its commands there; the Gateway subscribes.
- ``event_stream_id``: the Gateway publishes each client's events on an exclusive publication
  of its own, tagged ``session-id=<link id>``; the client subscribes with the same tag, so it
  receives its own events only and a client that stops reading back-pressures nobody else.

Each Aeron message is an 8-byte envelope (the link id, little-endian u64) followed by one
protocol frame. A client draws a fresh random link id for every connection; the Gateway makes
a link (and its event publication) when a ``Hello`` arrives from an unknown link id.

Polling runs as an asyncio task per side with :class:`AdaptiveIdle` (``[aeron]
idle_strategy``, default ``backoff``): after work it only yields to the event loop and keeps
polling for 2 ms (a reply due within a round trip is seen at once); idle longer, it sleeps with
a growing period capped at 4 ms, which keeps an idle Gateway or client under 5% of a core (see
benchmarks/aeron_transport.py).

Liveness: the protocol's heartbeats (``[transport] heartbeat_interval_ms`` and
``liveness_timeout_ms``) find dead peers; the media driver's heartbeat in its CnC file and the
client library's driver-timeout error find a dead driver. Then every link fails with
:class:`~fixg.errors.TransportError`, the Aeron objects are closed, and the side reconnects
once a driver is alive again (the Gateway restarts the driver itself if it launched it).

Back pressure (``[aeron] offer_retry_count`` / ``offer_backoff_ms`` and ``[transport]
backpressure``): an offer that stays back-pressured or not connected after the retries either
raises :class:`BackPressuredError` (``"error"``) or is queued in order, bounded by
``backpressure_queue_limit`` (``"queue"``), and sent as soon as the publication takes it.
Nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import os
import random
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from fixg.errors import AeronError, DriverError, FixError, TransportError
from fixg.transport import protocol as p

if TYPE_CHECKING:
    from fixg.aeron.client import Client, ExclusivePublication, Header, Publication, Subscription
    from fixg.config import Config
    from fixg.driver import DriverHandle

__all__ = [
    "AdaptiveIdle",
    "AeronClientConnector",
    "AeronGatewayTransport",
    "AeronLink",
    "BackPressuredError",
    "channel_with_session_id",
]

log = logging.getLogger(__name__)

ENVELOPE = struct.Struct("<Q")
_HELLO_TYPE = p.Hello.TYPE_ID
_NOT_CONNECTED = -1  # AERON_PUBLICATION_NOT_CONNECTED
_BACK_PRESSURED = -2
_ADMIN_ACTION = -3
_CLOSED_MARK = object()


class BackPressuredError(TransportError):
    """An offer stayed back-pressured (or not connected) after the configured retries, and the
    policy is ``"error"`` or the bounded queue is full."""


def channel_with_session_id(channel: str, session_id: int) -> str:
    """``channel`` with a ``session-id`` parameter (``aeron:ipc`` -> ``aeron:ipc?session-id=N``)."""
    sep = "|" if "?" in channel else "?"
    return f"{channel}{sep}session-id={session_id}"


class AdaptiveIdle:
    """An idle strategy for a polling task on an asyncio loop.

    After work it only yields to the loop (other tasks run, no delay). For ``spin_s`` after the
    last work it keeps polling, offering the core to other processes (``sched_yield``) between
    polls: a conversation in progress (a request out, its answer due within a round trip) is
    picked up at once. Idle longer than that, it sleeps ``min_sleep`` doubling up to
    ``max_sleep``: an idle side wakes a few hundred times a second, a few microseconds each.
    ``await idle(work)`` once per duty cycle.
    """

    def __init__(self, *, spin_s: float = 0.002, min_sleep: float = 50e-6, max_sleep: float = 0.004) -> None:
        self.spin_s = spin_s
        self.min_sleep = min_sleep
        self.max_sleep = max_sleep
        self._last_work = 0.0
        self._sleep = min_sleep

    @classmethod
    def from_name(cls, name: str) -> AdaptiveIdle:
        """From ``[aeron] idle_strategy``: ``backoff`` (the default described above), ``spin``
        or ``noop`` (never sleep: lowest latency, a core per side), ``yield`` (never sleep,
        ``sched_yield`` between polls), ``sleep[:duration]`` (spin 2 ms after work, then a
        fixed sleep, 1 ms unless given)."""
        from fixg.aeron.idle import BackoffIdleStrategy, SleepingIdleStrategy, YieldingIdleStrategy, idle_strategy

        strategy = idle_strategy(name)  # validates the name (ConfigError)
        if isinstance(strategy, BackoffIdleStrategy):
            return cls()
        if isinstance(strategy, SleepingIdleStrategy):
            period = strategy.period_s
            return cls(min_sleep=period, max_sleep=period)
        forever = float("inf")
        if isinstance(strategy, YieldingIdleStrategy):
            return cls(spin_s=forever)
        return cls(spin_s=forever, min_sleep=0.0, max_sleep=0.0)

    async def idle(self, work: int) -> None:
        if work > 0:
            self._last_work = time.monotonic()
            self._sleep = self.min_sleep
            await asyncio.sleep(0)
            return
        if time.monotonic() - self._last_work < self.spin_s:
            if self.max_sleep > 0:
                os.sched_yield()
            await asyncio.sleep(0)
            return
        await asyncio.sleep(self._sleep)
        self._sleep = min(self._sleep * 2, self.max_sleep)


# ---------------------------------------------------------------------------------------------
# A link: one end of one client's conversation with the Gateway


class AeronLink:
    """One end of a Gateway <-> client conversation over Aeron, with the interface of
    :class:`~fixg.transport.inproc.InprocEndpoint` (``send``, ``try_send``, ``receive``,
    ``close``, ``closed``). Frames to it are put in :meth:`_deliver` by its side's poller."""

    def __init__(
        self,
        name: str,
        link_id: int,
        *,
        retry_count: int,
        backoff_s: float,
        policy: str,
        queue_limit: int,
        connect_timeout: float,
        on_close: Callable[[AeronLink], None] | None = None,
    ) -> None:
        self.name = name
        self.link_id = link_id
        self.publication: Publication | ExclusivePublication | None = None
        self._envelope = ENVELOPE.pack(link_id)
        self._inbox: collections.deque[Any] = collections.deque()
        self._inbox_wake = asyncio.Event()
        self._outq: collections.deque[bytes] = collections.deque()
        self._retry_count = retry_count
        self._backoff = backoff_s
        self._policy = policy
        self._queue_limit = queue_limit
        self._connect_timeout = connect_timeout
        self._not_connected_since: float | None = None
        self._closed = False
        self._failure = ""
        self._on_close = on_close
        self.frames_in = 0
        self.frames_out = 0
        self.back_pressure_events = 0

    # -- state --

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def queued(self) -> int:
        """Frames waiting in the back-pressure queue."""
        return len(self._outq)

    def fail(self, reason: str) -> None:
        """Close with ``reason``: the receiver gets it as a TransportError."""
        if not self._failure:
            self._failure = reason
        self.close()

    def close(self) -> None:
        """Close this end (its publication too). Idempotent."""
        if self._closed:
            return
        self._closed = True
        pub, self.publication = self.publication, None
        if pub is not None:
            try:
                pub.close()
            except FixError as exc:
                log.debug("%s: closing the publication: %s", self.name, exc)
        dropped = len(self._outq)
        if dropped:
            log.warning("%s: link closed with %d queued frames unsent", self.name, dropped)
        self._inbox.append(_CLOSED_MARK)
        self._inbox_wake.set()
        if self._on_close is not None:
            self._on_close(self)

    # -- receiving --

    def _deliver(self, frame: bytes) -> None:
        self.frames_in += 1
        self._inbox.append(frame)
        self._inbox_wake.set()

    async def receive(self) -> bytes:
        """The next frame from the peer; TransportError once the link is closed."""
        inbox = self._inbox
        while not inbox:
            if self._closed:
                break
            self._inbox_wake.clear()
            await self._inbox_wake.wait()
        if not inbox or inbox[0] is _CLOSED_MARK:
            raise TransportError(f"{self.name}: {self._failure or 'link closed'}")
        frame: bytes = inbox.popleft()
        return frame

    # -- sending --

    def _offer(self, frame: bytes) -> int:
        pub = self.publication
        if pub is None:
            return _NOT_CONNECTED
        try:
            result = pub.try_offer(self._envelope + frame)
        except AeronError as exc:
            self.fail(f"offer failed: {exc}")
            raise TransportError(f"{self.name}: {exc}") from exc
        if result > 0:
            self.frames_out += 1
            self._not_connected_since = None
            return result
        if result == _NOT_CONNECTED:
            now = time.monotonic()
            if self._not_connected_since is None:
                self._not_connected_since = now
            elif now - self._not_connected_since > self._connect_timeout:
                self.fail(f"peer not connected for {self._connect_timeout:g} s")
                raise TransportError(f"{self.name}: peer not connected for {self._connect_timeout:g} s")
        elif result not in (_BACK_PRESSURED, _ADMIN_ACTION):
            self.fail(f"publication refused the offer ({result})")
            raise TransportError(f"{self.name}: publication refused the offer ({result})")
        return result

    def try_send(self, frame: bytes) -> bool:
        """Offer once (after anything queued); False when back-pressured or not connected."""
        if self._closed:
            raise TransportError(f"{self.name}: {self._failure or 'link closed'}")
        if self._outq and not self.flush_queue():
            return False
        return self._offer(frame) > 0

    async def send(self, frame: bytes) -> None:
        """Offer ``frame``, retrying ``offer_retry_count`` times ``offer_backoff_ms`` apart;
        then per policy: wait in the bounded queue (``"queue"``) or BackPressuredError."""
        if self._closed:
            raise TransportError(f"{self.name}: {self._failure or 'link closed'}")
        if not self._outq:
            result = self._offer(frame)
            attempts = 0
            while result <= 0 and attempts < self._retry_count:
                attempts += 1
                if result != _ADMIN_ACTION and self._backoff > 0:
                    await asyncio.sleep(self._backoff)
                if self._closed:
                    raise TransportError(f"{self.name}: {self._failure or 'link closed'}")
                result = self._offer(frame)
            if result > 0:
                return
            self.back_pressure_events += 1
            what = "not connected" if result == _NOT_CONNECTED else "back-pressured"
            if self._policy != "queue":
                raise BackPressuredError(f"{self.name}: publication {what} after {attempts + 1} offers")
        if len(self._outq) >= self._queue_limit:
            self.back_pressure_events += 1
            raise BackPressuredError(
                f"{self.name}: {len(self._outq)} frames already queued (backpressure_queue_limit)"
            )
        self._outq.append(frame)

    def flush_queue(self) -> bool:
        """Offer queued frames in order; True when the queue is empty. Called by the poller."""
        outq = self._outq
        while outq:
            if self._closed:
                return False
            if self._offer(outq[0]) <= 0:
                return False
            outq.popleft()
        return True


def _link_options(config: Config) -> dict[str, Any]:
    t = config.transport
    a = config.aeron
    return dict(
        retry_count=a.offer_retry_count,
        backoff_s=a.offer_backoff_ms / 1000.0,
        policy=t.backpressure,
        queue_limit=t.backpressure_queue_limit,
        connect_timeout=t.liveness_timeout_ms / 1000.0,
    )


def _aeron_dir(config: Config) -> str:
    from fixg.aeron.client import default_aeron_dir

    return config.aeron.aeron_dir or default_aeron_dir()


def _new_client(config: Config, name: str) -> Client:
    from fixg.aeron.client import BackpressurePolicy, Client

    return Client(
        _aeron_dir(config),
        driver_timeout_ms=config.aeron.driver_timeout_ms,
        client_name=name,
        backpressure=BackpressurePolicy.from_config(config.aeron),
        fragment_limit=config.aeron.fragment_limit,
    )


def _driver_alive(config: Config) -> bool:
    from fixg.aeron.cnc import is_driver_alive

    return is_driver_alive(_aeron_dir(config), config.aeron.driver_timeout_ms)


def _client_failed(client: Client, aeron_dir: str, timeout_ms: int) -> str:
    """Why ``client`` can no longer be used ("" while it can)."""
    fatal = client._fatal
    if fatal is not None:
        return str(fatal)
    age = client.driver_heartbeat_age_ms()
    if age is None:
        return f"the media driver's CnC file in {aeron_dir} is gone"
    if age > timeout_ms:
        return f"no heartbeat from the media driver in {aeron_dir} for {age} ms"
    return ""


_T = TypeVar("_T")


async def _in_thread(fn: Callable[..., _T], *args: Any, undo: Callable[[_T], None] | None = None) -> _T:
    """``fn(*args)`` in a worker thread. Cancelling the caller cannot stop a call inside
    libaeron, so the thread's work is shielded: a cancelled caller still waits until the thread
    is done (nothing may close the Aeron client under it), undoes what it produced with
    ``undo``, then is cancelled."""
    future = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            try:
                await asyncio.wait([future])
            except asyncio.CancelledError:
                continue
        if undo is not None and not future.cancelled() and future.exception() is None:
            try:
                undo(future.result())
            except (FixError, OSError) as exc:
                log.debug("undoing %s after a cancellation: %s", getattr(fn, "__name__", fn), exc)
        raise


def _close_quietly(obj: Any, what: str) -> None:
    if obj is None:
        return
    try:
        obj.close()
    except (FixError, OSError) as exc:
        log.debug("closing %s: %s", what, exc)


# ---------------------------------------------------------------------------------------------
# The Gateway's side


class AeronGatewayTransport:
    """The Gateway's end: subscribes to the command stream, makes a link (with its own event
    publication) for each client that says Hello, and hands it to ``on_link``.

    With no live media driver in ``aeron.dir`` at start, it launches the embedded driver with
    the ``[aeron]`` properties, owns it, and relaunches it if it dies.
    """

    def __init__(self, config: Config, on_link: Callable[[AeronLink], None]) -> None:
        self.config = config
        self._on_link = on_link
        self._aeron_dir = _aeron_dir(config)
        self._client: Client | None = None
        self._sub: Subscription | None = None
        self._links: dict[int, AeronLink] = {}
        self._task: asyncio.Task[None] | None = None
        self._driver: DriverHandle | None = None
        #: this gateway launched the media driver, so it relaunches it (even after a failed try)
        self._owns_driver = False
        self._opening: set[asyncio.Task[None]] = set()
        self.state = "DOWN"
        self.down_reason = "not started"
        self.unknown_link_frames = 0
        self.reconnects = 0
        self._closed = False

    # -- life --

    async def start(self) -> None:
        if not _driver_alive(self.config):
            await self._launch_driver()
        await self._connect()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fixg aeron gateway poller")

    async def aclose(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for task in list(self._opening):
            task.cancel()
        if self._opening:
            await asyncio.gather(*self._opening, return_exceptions=True)
        for link in list(self._links.values()):
            link.fail("gateway stopped")
        self._disconnect()
        driver, self._driver = self._driver, None
        if driver is not None:
            await asyncio.to_thread(driver.stop)

    async def _launch_driver(self) -> None:
        """Launch the embedded driver (in a thread: it spawns and waits for the driver)."""
        from fixg import driver

        a = self.config.aeron
        log.info("no media driver alive in %s: launching the embedded driver", self._aeron_dir)
        self._owns_driver = True
        start = functools.partial(driver.start, a.properties, aeron_dir=self._aeron_dir, properties_file=a.properties_file)
        self._driver = await _in_thread(start, undo=lambda d: d.stop())

    async def _connect(self) -> None:
        t = self.config.transport
        client = await _in_thread(
            _new_client, self.config, f"fixg gateway {self.config.gateway.name}", undo=lambda c: c.close()
        )
        try:
            sub = await _in_thread(client.add_subscription, t.channel, t.command_stream_id, undo=lambda s: s.close())
        except BaseException:
            client.close()
            raise
        self._sub = sub
        self._client = client
        self.state = "UP"
        self.down_reason = ""
        log.info("aeron transport up: commands on %s stream %d, events on stream %d (%s)",
                 t.channel, t.command_stream_id, t.event_stream_id, self._aeron_dir)

    def _disconnect(self) -> None:
        sub, self._sub = self._sub, None
        client, self._client = self._client, None
        _close_quietly(sub, "the command subscription")
        _close_quietly(client, "the aeron client")

    async def _go_down(self, reason: str) -> None:
        log.error("aeron transport down: %s; FIX sessions stay up, clients will reconnect", reason)
        self.state = "DOWN"
        self.down_reason = reason
        for link in list(self._links.values()):
            link.fail(f"transport down: {reason}")
        self._links.clear()
        # No worker thread may be inside the client (adding a publication) when it is closed.
        opening = list(self._opening)
        for task in opening:
            task.cancel()
        if opening:
            await asyncio.gather(*opening, return_exceptions=True)
        self._disconnect()

    # -- polling --

    async def _run(self) -> None:
        idle = AdaptiveIdle.from_name(self.config.aeron.idle_strategy)
        limit = self.config.aeron.fragment_limit
        check_every = 0.1
        next_check = 0.0
        loop = asyncio.get_running_loop()
        while True:
            if self._client is None:
                await self._reconnect()
                continue
            work = 0
            try:
                assert self._sub is not None
                work = self._sub.poll(self._on_fragment, limit)
                for link in list(self._links.values()):
                    if link._outq:
                        link.flush_queue()
            except TransportError:
                pass
            except AeronError as exc:
                await self._go_down(f"aeron error: {exc}")
                continue
            except Exception as exc:
                log.exception("aeron transport: the poller failed")
                await self._go_down(f"poller failed: {type(exc).__name__}: {exc}")
                continue
            now = loop.time()
            if now >= next_check:
                next_check = now + check_every
                try:
                    reason = _client_failed(self._client, self._aeron_dir, self.config.aeron.driver_timeout_ms)
                except Exception as exc:
                    log.exception("aeron transport: checking the aeron client failed")
                    reason = f"checking the aeron client failed: {type(exc).__name__}: {exc}"
                if reason:
                    await self._go_down(reason)
                    continue
            await idle.idle(work)

    async def _reconnect(self) -> None:
        while not self._closed:
            driver = self._driver
            if driver is not None and driver.returncode is not None:
                log.warning("the media driver this gateway launched exited (%s): relaunching it", driver.returncode)
                self._driver = None
                await _in_thread(driver.stop)
            if self._owns_driver and self._driver is None and not _driver_alive(self.config):
                try:
                    await self._launch_driver()
                except FixError as exc:
                    log.error("relaunching the media driver failed (trying again): %s", exc)
            if _driver_alive(self.config):
                try:
                    await self._connect()
                    self.reconnects += 1
                    return
                except FixError as exc:
                    log.warning("aeron transport: reconnecting failed: %s", exc)
            await asyncio.sleep(0.25)

    def _on_fragment(self, buffer: memoryview, header: Header) -> None:
        if len(buffer) < ENVELOPE.size + p.HEADER.size:
            log.warning("aeron transport: dropping a %d-byte message, too short for a frame", len(buffer))
            return
        (link_id,) = ENVELOPE.unpack_from(buffer, 0)
        frame = bytes(buffer[ENVELOPE.size:])
        link = self._links.get(link_id)
        if link is not None:
            link._deliver(frame)
            return
        if frame[1] != _HELLO_TYPE:
            # A client of an earlier gateway or of a link we dropped: its heartbeats go
            # unanswered, so it sees the silence and says Hello again on a new link.
            self.unknown_link_frames += 1
            return
        link = AeronLink(f"client link {link_id:#x}", link_id, on_close=self._forget, **_link_options(self.config))
        self._links[link_id] = link
        link._deliver(frame)
        task = asyncio.get_running_loop().create_task(self._open(link))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _open(self, link: AeronLink) -> None:
        client = self._client
        t = self.config.transport
        if client is None:
            link.fail("transport down")
            return
        channel = channel_with_session_id(t.channel, link.link_id & 0x7FFFFFFF)
        try:
            pub = await _in_thread(client.add_exclusive_publication, channel, t.event_stream_id, undo=lambda q: q.close())
        except FixError as exc:
            log.error("%s: cannot add the event publication %s: %s", link.name, channel, exc)
            link.fail(f"cannot add the event publication: {exc}")
            return
        if link.closed or self._client is not client:
            pub.close()
            return
        link.publication = pub
        self._on_link(link)

    def _forget(self, link: AeronLink) -> None:
        if self._links.get(link.link_id) is link:
            del self._links[link.link_id]

    # -- monitoring --

    def status(self) -> dict[str, Any]:
        sub = self._sub
        images = []
        if sub is not None:
            try:
                images = [{"session_id": img.session_id, "position": img.position} for img in sub.images()]
            except FixError:
                images = []
        links = {}
        for link in self._links.values():
            pub = link.publication
            links[link.link_id] = {
                "event_position": pub.position if pub is not None and not pub.is_closed else None,
                "connected": bool(pub is not None and not pub.is_closed and pub.is_connected),
                "frames_in": link.frames_in,
                "frames_out": link.frames_out,
                "queued": link.queued,
                "back_pressure_events": link.back_pressure_events,
            }
        client = self._client
        return {
            "state": self.state,
            "down_reason": self.down_reason,
            "aeron_dir": self._aeron_dir,
            "driver_heartbeat_age_ms": client.driver_heartbeat_age_ms() if client is not None else None,
            "driver_launched_by_gateway": self._owns_driver,
            "reconnects": self.reconnects,
            "command_images": images,
            "unknown_link_frames": self.unknown_link_frames,
            "links": links,
        }


# ---------------------------------------------------------------------------------------------
# The client's side


class AeronClientConnector:
    """Opens a FixClient's link to the Gateway named by ``config`` (its ``[transport]`` and
    ``[aeron]``). Each :meth:`open` is a new link (new link id, new Aeron client), so after a
    Gateway or driver restart the client simply opens again."""

    reconnects = True

    def __init__(self, config: Config) -> None:
        self.config = config
        self._aeron_dir = _aeron_dir(config)
        self._client: Client | None = None
        self._sub: Subscription | None = None
        self._link: AeronLink | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def liveness_timeout(self) -> float:
        return self.config.transport.liveness_timeout_ms / 1000.0

    async def open(self, name: str) -> AeronLink:
        await self.aclose()
        if not _driver_alive(self.config):
            raise TransportError(f"no media driver alive in {self._aeron_dir}")
        t = self.config.transport
        link_id = random.SystemRandom().randrange(1, 0x7FFFFFFF)
        client = await _in_thread(_new_client, self.config, f"fixg client {name}", undo=lambda c: c.close())
        sub: Subscription | None = None
        try:
            sub = await _in_thread(
                client.add_subscription, channel_with_session_id(t.channel, link_id), t.event_stream_id,
                undo=lambda s: s.close(),
            )  # fmt: skip
            pub = await _in_thread(
                client.add_exclusive_publication, t.channel, t.command_stream_id, undo=lambda q: q.close()
            )
        except BaseException:
            _close_quietly(sub, "the event subscription")
            _close_quietly(client, "the aeron client")
            raise
        link = AeronLink(f"{name} -> gateway", link_id, **_link_options(self.config))
        link.publication = pub
        self._client, self._sub, self._link = client, sub, link
        self._task = asyncio.get_running_loop().create_task(self._run(client, sub, link), name=f"fixg aeron {name}")
        # The Hello goes out once the command publication is connected to the gateway.
        deadline = time.monotonic() + self.liveness_timeout
        while not pub.is_connected:
            if time.monotonic() > deadline:
                await self.aclose()
                raise TransportError(f"no gateway subscribed to {t.channel} stream {t.command_stream_id}")
            await asyncio.sleep(0.005)
        return link

    async def aclose(self) -> None:
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.close()

    def close(self) -> None:
        """Close the link and the Aeron objects now (the poller, cancelled, polls no more)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        link, self._link = self._link, None
        if link is not None:
            link.close()
        sub, self._sub = self._sub, None
        client, self._client = self._client, None
        _close_quietly(sub, "the event subscription")
        _close_quietly(client, "the aeron client")

    async def _run(self, client: Client, sub: Subscription, link: AeronLink) -> None:
        idle = AdaptiveIdle.from_name(self.config.aeron.idle_strategy)
        limit = self.config.aeron.fragment_limit
        timeout_ms = self.config.aeron.driver_timeout_ms
        loop = asyncio.get_running_loop()
        next_check = 0.0

        def on_fragment(buffer: memoryview, header: Header) -> None:
            if len(buffer) < ENVELOPE.size + p.HEADER.size:
                return
            link._deliver(bytes(buffer[ENVELOPE.size:]))

        try:
            while not link.closed:
                work = sub.poll(on_fragment, limit)
                if link._outq:
                    link.flush_queue()
                now = loop.time()
                if now >= next_check:
                    next_check = now + 0.1
                    reason = _client_failed(client, self._aeron_dir, timeout_ms)
                    if reason:
                        link.fail(f"transport down: {reason}")
                        return
                await idle.idle(work)
        except (AeronError, DriverError) as exc:
            link.fail(f"transport down: {exc}")
        except TransportError:
            return
        except Exception as exc:
            log.exception("%s: the poller failed", link.name)
            link.fail(f"poller failed: {type(exc).__name__}: {exc}")
