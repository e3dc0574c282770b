"""FixClient: an application's asyncio handle on a Gateway.

::

    async with FixClient.connect(gateway, name="oms") as client:   # in process
    async with FixClient.connect(load_config("fixg.toml")) as client:   # over Aeron
        sid = await client.initiate_session("127.0.0.1", 9876, "BANK", "EXCH")
        await client.wait_state(sid, "ACTIVE", timeout=10)
        seq = await client.send(sid, "D", [(11, "ord-1"), (55, "IBM"), ...])
        async for event in client.events():
            ...

Every call is one protocol command (:mod:`fixg.transport.protocol`) with a correlation id,
answered by the Gateway's reply; a refusal raises :class:`CommandError` (a
:class:`~fixg.errors.SessionError`) carrying the :class:`~fixg.transport.protocol.ErrorCode`;
a lost link raises :class:`GatewayDisconnectedError` (a :class:`~fixg.errors.TransportError`).
Everything else the Gateway says (session state changes, application messages, rejects,
ownership changes, errors) comes out of :meth:`FixClient.events`, in order.

Over Aeron (``[transport] kind = "aeron"``) the client runs in its own process. When the link
is lost (Gateway restarted or gone silent, media driver down) it emits
``TransportStateChanged("DOWN")``, fails what was waiting for a reply with
:class:`GatewayDisconnectedError`, reconnects as soon as it can, claims back the sessions it
owned and emits ``TransportStateChanged("UP")``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
import json
from typing import TYPE_CHECKING, Any, Protocol

from fixg.config import Config
from fixg.errors import CodecError, ConfigError, FixTimeoutError, SessionError, TransportError
from fixg.fix.codec import encode_body
from fixg.transport import protocol as p
from fixg.transport.aeron import AeronClientConnector, BackPressuredError

if TYPE_CHECKING:
    from fixg.gateway.engine import Gateway

__all__ = ["FixClient", "CommandError", "SendError", "GatewayDisconnectedError"]

log = logging.getLogger(__name__)

_END = object()


class CommandError(SessionError):
    """The Gateway refused a command; ``code`` is an :class:`ErrorCode` value."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{text} (code {code})")
        self.code = code
        self.text = text


class SendError(CommandError):
    """The Gateway did not send an application message (``SendFailed``); nothing went out."""

    def __init__(self, code: int, text: str, session_id: int = 0) -> None:
        super().__init__(code, text)
        self.session_id = session_id


class GatewayDisconnectedError(TransportError):
    """The link to the Gateway is closed."""


class _Link(Protocol):
    @property
    def closed(self) -> bool: ...

    async def send(self, frame: bytes) -> None: ...

    async def receive(self) -> bytes: ...

    def close(self) -> None: ...


class _InprocConnector:
    reconnects = False

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def open(self, name: str) -> _Link:
        return self.gateway.connect_inproc(name)

    def close(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def encode_fields(fields: Iterable[tuple[int, Any]] | bytes) -> bytes:
    """Body fields as the protocol carries them: ``tag=value<SOH>...``."""
    if isinstance(fields, (bytes, bytearray)):
        return bytes(fields)
    body = encode_body(list(fields))
    return body[1:] + b"\x01" if body.startswith(b"\x01") else body


class FixClient:
    """A client of one Gateway. Use ``async with FixClient.connect(gw) as client`` (or
    ``await client.start()`` / ``await client.aclose()``)."""

    def __init__(
        self,
        gateway: Gateway | Config,
        *,
        name: str = "client",
        heartbeat_interval_ms: int | None = None,
        request_timeout: float = 30.0,
    ) -> None:
        config = gateway if isinstance(gateway, Config) else gateway.config
        self._connector: _InprocConnector | AeronClientConnector
        if isinstance(gateway, Config):
            if config.transport.kind != "aeron":
                raise ConfigError(
                    'a Gateway on the in-process transport (kind = "inproc") is reached through '
                    'its Gateway object; across processes use [transport] kind = "aeron"',
                    file=config.source, key="transport.kind",
                )  # fmt: skip
            self._connector = AeronClientConnector(config)
        else:
            self._connector = _InprocConnector(gateway)
        self.config = config
        self.name = name
        self._hb_interval = (
            heartbeat_interval_ms
            if heartbeat_interval_ms is not None
            else config.transport.heartbeat_interval_ms
        ) / 1000.0
        self._timeout = request_timeout
        self._liveness = config.transport.liveness_timeout_ms / 1000.0
        self._last_heard = 0.0
        self._endpoint: _Link | None = None
        #: the link that got its Welcome: only its loss means "reconnect"
        self._established: _Link | None = None
        #: sessions this client owns and claims back after a reconnection
        self.owned: set[int] = set()
        self.transport_state = "DOWN"
        self.reconnections = 0
        self._received = 0  # ApplicationMessageReceived on the current link (acknowledged)
        self._corr = itertools.count(1)
        self._pending: dict[int, asyncio.Future[p.Event]] = {}
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._states: dict[int, str] = {}
        self._state_changed = asyncio.Event()
        self._closed = False
        self.client_id = 0
        self.gateway_name = ""
        self.gateway_epoch = 0

    @classmethod
    def connect(cls, gateway: Gateway | Config, *, name: str = "client", **kw: Any) -> FixClient:
        """A client of ``gateway`` (a Gateway object in this process, or the Config of a
        Gateway reached over Aeron), connected on ``async with`` (or :meth:`start`)."""
        return cls(gateway, name=name, **kw)

    # ------------------------------------------------------------------ life

    async def start(self) -> FixClient:
        if self._endpoint is not None:
            raise TransportError("the client is already started")
        try:
            await self._open()
        except BaseException:
            await self.aclose()  # nothing of this client keeps running
            raise
        loop = asyncio.get_running_loop()
        self._track(loop.create_task(self._heartbeat(), name=f"fixg client {self.name} hb"))
        return self

    def _track(self, task: asyncio.Task[None]) -> None:
        """Keep ``task`` for aclose() to cancel, forgetting those already done."""
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(task)

    async def _open(self) -> None:
        """Open a link, say Hello, and start reading it."""
        endpoint = self._endpoint = await self._connector.open(self.name)
        self._received = 0
        loop = asyncio.get_running_loop()
        self._last_heard = loop.time()
        self._track(loop.create_task(self._read(endpoint), name=f"fixg client {self.name}"))
        try:
            welcome = await self._request(p.Hello(
                self.name, p.PROTOCOL_VERSION, int(self._hb_interval * 1000),
                self.client_id, self.gateway_epoch,
            ))  # fmt: skip
        except BaseException:
            # Never established: its reader ends quietly (the caller decides what next).
            endpoint.close()
            raise
        assert isinstance(welcome, p.Welcome)
        self._established = endpoint
        self.client_id = welcome.client_id
        self.gateway_name = welcome.gateway_name
        self.gateway_epoch = welcome.gateway_epoch
        self.transport_state = "UP"

    async def aclose(self) -> None:
        """Say Goodbye (the Gateway releases this client's sessions at once) and close."""
        if self._closed:
            return
        self._closed = True
        endpoint = self._endpoint
        if endpoint is not None and not endpoint.closed:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 1.0
            try:
                await asyncio.wait_for(endpoint.send(p.encode(p.Goodbye(self.client_id, self._received))), 1.0)
                # Under backpressure = "queue" the Goodbye may only be queued: let it go out.
                while getattr(endpoint, "queued", 0) and not endpoint.closed and loop.time() < deadline:
                    await asyncio.sleep(0.005)
            except (TransportError, asyncio.TimeoutError):
                pass
            endpoint.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._connector.aclose()
        self._fail_all("client closed")
        self._events.put_nowait(_END)

    async def __aenter__(self) -> FixClient:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def abandon(self) -> None:
        """Drop the link without a Goodbye and stop heart-beating, as a crashed client would
        (for tests and fail-over drills): the Gateway keeps this client's sessions until its
        client time-out."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        if self._endpoint is not None:
            self._endpoint.close()
        self._connector.close()  # the Aeron client and subscription too
        self._fail_all("client abandoned")
        self._events.put_nowait(_END)

    # ------------------------------------------------------------------ commands

    async def initiate_session(
        self,
        host: str,
        port: int,
        sender_comp_id: str,
        target_comp_id: str,
        *,
        begin_string: str = "FIX.4.4",
        heart_bt_int: int = 30,
        username: str | None = None,
        password: str | None = None,
        reset_seq_num: bool = False,
        default_appl_ver_id: str | None = None,
        more_addresses: Sequence[tuple[str, int]] = (),
    ) -> int:
        """Have the Gateway connect and log on; returns the session id (this client owns it).
        The Logon's outcome arrives as SessionStateChanged events (see :meth:`wait_state`)."""
        addresses = tuple(p.Address(h, pt) for h, pt in ((host, port), *more_addresses))
        reply = await self._request(p.InitiateSession(
            addresses, begin_string, sender_comp_id, target_comp_id, heart_bt_int,
            username, password, reset_seq_num, default_appl_ver_id,
        ))  # fmt: skip
        assert isinstance(reply, p.CommandCompleted)
        self.owned.add(reply.session_id)
        return reply.session_id

    async def submit(
        self, session_id: int, msg_type: str, fields: Iterable[tuple[int, Any]] | bytes
    ) -> asyncio.Future[p.Event]:
        """Queue an application message to the Gateway (waiting while the link is full) and
        return the future of its reply, for pipelining; :meth:`result_seq_num` turns that
        reply into the MsgSeqNum or raises."""
        command = p.SendMessage(session_id, msg_type, encode_fields(fields))
        return await self._submit(command)

    @staticmethod
    def result_seq_num(reply: p.Event) -> int:
        if isinstance(reply, p.SendCompleted):
            return reply.seq_num
        if isinstance(reply, p.SendFailed):
            raise SendError(reply.code, reply.text, reply.session_id)
        if isinstance(reply, p.CommandFailed):
            raise SendError(reply.code, reply.text)
        raise TransportError(f"unexpected reply {type(reply).__name__}")

    async def send(self, session_id: int, msg_type: str, fields: Iterable[tuple[int, Any]] | bytes) -> int:
        """Send an application message; the Gateway stamps header, MsgSeqNum and SendingTime.
        Returns the MsgSeqNum once the message is persisted and handed to the connection;
        raises :class:`SendError` when it was not sent."""
        future = await self.submit(session_id, msg_type, fields)
        return self.result_seq_num(await self._wait(future))

    async def logout(self, session_id: int, text: str | None = None) -> None:
        """Log the session out (an initiator session also stops reconnecting)."""
        await self._request(p.LogoutSession(session_id, text))

    async def disconnect(self, session_id: int) -> None:
        """Drop the session's connection without a Logout (an initiator stops reconnecting)."""
        await self._request(p.DisconnectSession(session_id))

    async def claim(self, session_id: int = 0, *, key: str | None = None) -> int:
        """Become the owner of a session (by id, or by key such as "FIX.4.4:GW->CLIENT");
        messages kept while it had no owner follow. Returns the session id."""
        reply = await self._request(p.ClaimSession(session_id, key))
        assert isinstance(reply, p.CommandCompleted)
        self.owned.add(reply.session_id)
        return reply.session_id

    async def release(self, session_id: int) -> None:
        await self._request(p.ReleaseSession(session_id))
        self.owned.discard(session_id)

    async def status(self) -> dict[str, Any]:
        """The Gateway's health and metrics (see :meth:`Gateway.status`)."""
        reply = await self._request(p.StatusRequest())
        assert isinstance(reply, p.StatusReport)
        document: dict[str, Any] = json.loads(reply.document)
        return document

    async def list_sessions(self) -> tuple[p.SessionInfo, ...]:
        reply = await self._request(p.ListSessions())
        assert isinstance(reply, p.SessionList)
        return reply.sessions

    async def reset_sequence_numbers(self, session_id: int) -> None:
        """Start a new sequence index (both sides at 1) on a session that is not logged on."""
        await self._request(p.ResetSequenceNumbers(session_id))

    async def wait_state(self, session_id: int, state: str = "ACTIVE", timeout: float = 10.0) -> None:
        """Until the last SessionStateChanged seen for the session says ``state``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._states.get(session_id) != state:
            left = deadline - loop.time()
            if left <= 0:
                raise FixTimeoutError(
                    f"session {session_id} not {state} within {timeout:g} s "
                    f"(it is {self._states.get(session_id, 'unknown')})"
                )
            self._state_changed.clear()
            try:
                await asyncio.wait_for(self._state_changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def send_frame(self, frame: bytes) -> None:
        """Put raw bytes on the link as a command frame (diagnostics and tests)."""
        await self._link().send(frame)

    async def events(self) -> AsyncIterator[p.Event]:
        """Events in order, until the client is closed or the link is lost."""
        while True:
            item = await self._events.get()
            if item is _END:
                self._events.put_nowait(_END)
                return
            yield item

    async def next_event(self, timeout: float | None = None) -> p.Event:
        """The next event; :class:`FixTimeoutError` after ``timeout`` seconds."""
        try:
            item = await asyncio.wait_for(self._events.get(), timeout)
        except asyncio.TimeoutError:
            raise FixTimeoutError(f"no event within {timeout:g} s") from None
        if item is _END:
            self._events.put_nowait(_END)
            raise GatewayDisconnectedError("the client is closed")
        return item  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ internals

    def _link(self) -> _Link:
        if self._endpoint is None or self._closed:
            raise GatewayDisconnectedError("the client is not connected")
        return self._endpoint

    async def _submit(self, command: p.Command) -> asyncio.Future[p.Event]:
        endpoint = self._link()
        corr = next(self._corr)
        future: asyncio.Future[p.Event] = asyncio.get_running_loop().create_future()
        self._pending[corr] = future
        try:
            frame = p.encode(command, corr)
        except CodecError:
            del self._pending[corr]
            raise
        try:
            await endpoint.send(frame)
        except BackPressuredError as exc:
            self._pending.pop(corr, None)
            if isinstance(command, p.SendMessage):
                raise SendError(p.ErrorCode.BACK_PRESSURED, str(exc), command.session_id) from None
            raise CommandError(p.ErrorCode.BACK_PRESSURED, str(exc)) from None
        except TransportError as exc:
            self._pending.pop(corr, None)
            raise GatewayDisconnectedError(str(exc)) from None
        return future

    async def _wait(self, future: asyncio.Future[p.Event]) -> p.Event:
        try:
            return await asyncio.wait_for(asyncio.shield(future), self._timeout)
        except asyncio.TimeoutError:
            raise FixTimeoutError(f"no reply from the gateway within {self._timeout:g} s") from None

    async def _request(self, command: p.Command) -> p.Event:
        reply = await self._wait(await self._submit(command))
        if isinstance(reply, p.CommandFailed):
            raise CommandError(reply.code, reply.text)
        if isinstance(reply, p.SendFailed):
            raise SendError(reply.code, reply.text, reply.session_id)
        return reply

    def _fail_all(self, reason: str) -> None:
        pending = self._pending
        self._pending = {}
        for future in pending.values():
            if not future.done():
                future.set_exception(GatewayDisconnectedError(reason))
                future.exception()  # retrieved: nobody may be waiting

    async def _read(self, endpoint: _Link) -> None:
        try:
            while True:
                frame = await endpoint.receive()
                self._last_heard = asyncio.get_running_loop().time()
                try:
                    event = p.decode(frame)
                except CodecError as exc:
                    log.error("%s: malformed event from the gateway: %s", self.name, exc)
                    self._events.put_nowait(p.ErrorReported(p.ErrorCode.MALFORMED_COMMAND, f"malformed event: {exc}"))
                    continue
                if type(event) is p.Welcome:
                    # Known before anything that follows it on the link is looked at.
                    self.client_id = event.client_id
                    self.gateway_epoch = event.gateway_epoch
                corr = event.correlation_id
                if corr:
                    future = self._pending.pop(corr, None)
                    if future is not None:
                        if not future.done():
                            future.set_result(event)  # type: ignore[arg-type]
                        continue
                if type(event) is p.ApplicationMessageReceived:
                    self._received += 1
                elif isinstance(event, p.SessionStateChanged):
                    self._states[event.session_id] = event.state
                    self._state_changed.set()
                elif isinstance(event, p.GatewayHeartbeat):
                    continue
                elif isinstance(event, p.OwnershipChanged):
                    if event.owner_client_id == self.client_id:
                        self.owned.add(event.session_id)
                    elif event.owner_client_id:
                        self.owned.discard(event.session_id)  # taken over by another client
                self._events.put_nowait(event)
        except TransportError as exc:
            if endpoint is self._endpoint:
                self._fail_all("link to the gateway lost")
            if self._closed or endpoint is not self._established:
                # Closed by aclose()/abandon() (they end events()), or a link that never got
                # its Welcome (whoever opened it handles that) or was superseded: nothing to do.
                return
            self._established = None
            log.warning("%s: link to the gateway lost: %s", self.name, exc)
            if not self._connector.reconnects:
                self._events.put_nowait(_END)
                return
            self.transport_state = "DOWN"
            self._events.put_nowait(p.TransportStateChanged("DOWN", str(exc)))
            self._track(asyncio.get_running_loop().create_task(self._reconnect(), name=f"fixg client {self.name} reconnect"))

    async def _reconnect(self) -> None:
        """Open a new link until one works, then claim back the sessions this client owned."""
        delay = 0.1
        while not self._closed:
            try:
                await self._open()
            except (TransportError, FixTimeoutError, SessionError) as exc:
                log.info("%s: reconnecting: %s", self.name, exc)
                await self._connector.aclose()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            break
        if self._closed:
            return
        self.reconnections += 1
        lost = []
        for session_id in sorted(self.owned):
            try:
                await self._request(p.ClaimSession(session_id, None))
            except CommandError as exc:
                lost.append(session_id)
                log.warning("%s: session %d not claimed back: %s", self.name, session_id, exc)
                self._events.put_nowait(p.ErrorReported(exc.code, f"session {session_id} not claimed back: {exc.text}", session_id))
            except FixTimeoutError as exc:
                # Still ours as far as we know: claimed again after the next reconnection.
                log.warning("%s: session %d not claimed back: %s", self.name, session_id, exc)
                self._events.put_nowait(p.ErrorReported(p.ErrorCode.INTERNAL, f"session {session_id} not claimed back: {exc}", session_id))
            except TransportError:
                return  # lost again: that link's reader starts over
        self.owned.difference_update(lost)
        log.info("%s: reconnected to gateway %s as client %d", self.name, self.gateway_name, self.client_id)
        self._events.put_nowait(p.TransportStateChanged("UP", f"client {self.client_id}"))

    async def _heartbeat(self) -> None:
        """Heartbeat the Gateway; a Gateway silent for ``[transport] liveness_timeout_ms``
        (it heartbeats every ``heartbeat_interval_ms`` when idle) counts as gone."""
        interval = self._hb_interval
        loop = asyncio.get_running_loop()
        self._last_heard = loop.time()
        while True:
            await asyncio.sleep(interval)
            endpoint = self._endpoint
            if endpoint is None or endpoint.closed or self.transport_state != "UP":
                if self._closed or not self._connector.reconnects:
                    return
                continue  # reconnecting
            if loop.time() - self._last_heard > self._liveness:
                log.error("%s: nothing from the gateway for %.1f s; closing the link",
                          self.name, loop.time() - self._last_heard)
                endpoint.close()  # the reader sees the close and fails what waits
                if not self._connector.reconnects:
                    return
                continue
            try:
                await endpoint.send(p.encode(p.Heartbeat(self.client_id, self._received)))
            except TransportError as exc:  # back-pressured, or the link just closed
                log.debug("%s: heartbeat not sent: %s", self.name, exc)

