"""Driving a sans-IO :class:`~fixg.fix.session.Session` over an asyncio transport.

:class:`SessionConnection` is an :class:`asyncio.Protocol`: bytes from the socket go through a
:class:`~fixg.fix.framer.Framer` into the session, the session's frames go out with one
``transport.write`` per batch, one timer handle follows :meth:`Session.next_deadline`, and the
session's events go to the application callback. Nothing in here waits on a peer, so a slow or
stuck counterparty never holds up another session: when more than ``max_outbound_buffer`` bytes
are queued for a peer that does not read, the connection is dropped with a log line that says
so.

An acceptor's connection starts without a session: the first frame (which must be a Logon) is
given to a *resolver* that picks the session by CompIDs or names the reason to refuse it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, Protocol

from fixg.errors import CodecError, FrameTooLargeError, LocalProtocolError
from fixg.fix import events as ev
from fixg.fix.codec import decode
from fixg.fix.events import SessionState
from fixg.fix.framer import Framer, FrameGarbled
from fixg.fix.message import Message
from fixg.fix.dictionary import BUILTIN_NAMES, DataDictionary, load_builtin
from fixg.fix.session import Authenticator, Session, make_validator, refusal_logout
from fixg.fix.settings import SessionSettings
from fixg.store.base import MessageStore

__all__ = [
    "create_session",
    "load_dictionary",
    "EventHandler",
    "Resolver",
    "SessionConnection",
    "EventQueue",
]

log = logging.getLogger(__name__)

#: Called with the session and each of its events, in order, on the event loop's thread.
EventHandler = Callable[[Session, ev.Event], None]

#: An acceptor's choice for a first frame: the session to bind, or the reason to refuse.
Resolver = Callable[["SessionConnection", Message], "Session | str"]


#: Seconds a closing connection may take to flush what is queued before it is dropped.
_CLOSE_GRACE = 5.0


def load_dictionary(settings: SessionSettings) -> DataDictionary | None:
    """The dictionary a session validates with: none when UseDataDictionary is off; for
    FIXT.1.1 TransportDataDictionary + AppDataDictionary (XML) or the built-in FIX.5.0SP2 one;
    else DataDictionary (an XML path or a built-in name) or the built-in of the BeginString."""
    if not settings.use_data_dictionary:
        return None
    if settings.begin_string == "FIXT.1.1":
        if settings.app_data_dictionary:
            return DataDictionary.from_xml(
                settings.app_data_dictionary, transport=settings.transport_data_dictionary
            )
        return load_builtin(settings.data_dictionary or "FIXT.1.1")
    name = settings.data_dictionary
    if name is None:
        return load_builtin(settings.begin_string) if settings.begin_string in BUILTIN_NAMES else None
    if name in BUILTIN_NAMES:
        return load_builtin(name)
    return DataDictionary.from_xml(name)


def create_session(
    settings: SessionSettings,
    store: MessageStore,
    *,
    authenticate: Authenticator | None = None,
    dictionary: DataDictionary | None = None,
) -> Session:
    """A :class:`Session` with the dictionary and validation its settings ask for."""
    if dictionary is None:
        dictionary = load_dictionary(settings)
    return Session(
        settings,
        store,
        dictionary=dictionary,
        validate=None if dictionary is None else make_validator(settings, dictionary),
        authenticate=authenticate,
    )


class _Clock(Protocol):
    def __call__(self) -> float: ...


class EventQueue:
    """An :data:`EventHandler` that queues ``(session, event)`` for ``async for``.

    Unbounded on purpose: the session must never wait on the application; an application
    that falls behind sees its memory grow, not its FIX sessions time out.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[Session, ev.Event]] = asyncio.Queue()

    def __call__(self, session: Session, event: ev.Event) -> None:
        self._queue.put_nowait((session, event))

    async def get(self) -> tuple[Session, ev.Event]:
        return await self._queue.get()

    def get_nowait(self) -> tuple[Session, ev.Event]:
        return self._queue.get_nowait()

    def empty(self) -> bool:
        return self._queue.empty()

    def __aiter__(self) -> EventQueue:
        return self

    async def __anext__(self) -> tuple[Session, ev.Event]:
        return await self._queue.get()


class SessionConnection(asyncio.Protocol):
    """One TCP (or TLS) connection carrying one FIX session."""

    def __init__(
        self,
        *,
        session: Session | None = None,
        resolver: Resolver | None = None,
        on_event: EventHandler | None = None,
        clock: _Clock = time.time,
        logon_timeout: float = 10.0,
        max_message_size: int = 1024 * 1024,
        initiate_logon: bool = False,
        server_tls: ssl.SSLContext | None = None,
    ) -> None:
        if (session is None) == (resolver is None):
            raise LocalProtocolError("a connection needs a session or a resolver, not both")
        self.session = session
        self._resolver = resolver
        self._on_event = on_event
        self._clock = clock
        self._logon_timeout = logon_timeout
        self._framer = Framer(session.settings.max_message_size if session else max_message_size)
        self._initiate_logon = initiate_logon
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._closing = False
        self._abort_handle: asyncio.TimerHandle | None = None
        self._flushing = False
        # Acceptor-side TLS is started here, not by the server, so that a connection still
        # in its handshake is ours to abort and to wait for (see _handshake).
        self._server_tls = server_tls
        self._raw: asyncio.Transport | None = None
        self._handshake_task: asyncio.Task[None] | None = None
        self._early: list[bytes] | None = None  # decrypted before _handshake resumed
        self.closed: asyncio.Future[str] = self._loop.create_future()
        self.peer = "?"
        self.close_reason = ""
        self.logged_on_once = False
        #: perf_counter_ns() when the bytes being processed arrived (latency metrics)
        self.received_ns = 0

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self._closing:  # closed while the TLS handshake was still going on
            transport.abort()
            return
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if self._server_tls is not None and self._handshake_task is None:
            # Plain TCP so far: upgrade first; _handshake comes back here with the TLS
            # transport. The Logon timer covers the handshake.
            transport.pause_reading()
            self._early = []
            self._raw = transport
            self._handshake_task = self._loop.create_task(self._handshake(transport, self._server_tls))
            if self.session is None:
                self._arm_at(self._loop.time() + self._logon_timeout)
            return
        self._raw = None
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        session = self.session
        if session is None:
            # Acceptor side, session unknown until the Logon: bounded time to get it.
            self._arm_at(self._loop.time() + self._logon_timeout)
            return
        high = session.settings.max_outbound_buffer
        transport.set_write_buffer_limits(high=high)
        now = self._clock()
        session.connection_made(now)
        if self._initiate_logon:
            session.logon(now)
        self._flush()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        if self._early is not None:
            self._early.append(data)
            return
        self.received_ns = time.perf_counter_ns()
        framer = self._framer
        try:
            framer.feed(data)
            session = self.session
            for item in framer:
                if session is None:
                    session = self._bind(item)
                    if session is None:
                        return
                now = self._clock()
                if isinstance(item, FrameGarbled):
                    session.receive_garbled(str(item.error), now)
                else:
                    session.receive_frame(item, now, verified=True)
                if self._closing:
                    break
        except FrameTooLargeError as exc:
            log.error("%s: %s; closing", self.peer, exc)
            self._close(f"frame too large: {exc}")
            return
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if self._abort_handle is not None:
            self._abort_handle.cancel()
            self._abort_handle = None
        reason = self.close_reason or (f"connection lost: {exc}" if exc else "connection closed by peer")
        self.close_reason = reason
        session = self.session
        if session is not None and session.state is not SessionState.DISCONNECTED:
            session.connection_lost(self._clock(), reason)
            self._deliver()
        self._transport = None
        if not self.closed.done():
            self.closed.set_result(reason)

    async def _handshake(self, raw: asyncio.Transport, context: ssl.SSLContext) -> None:
        reason = ""
        try:
            tls = await self._loop.start_tls(
                raw, self, context, server_side=True, ssl_handshake_timeout=self._logon_timeout
            )
            if tls is None:  # the connection went away during the handshake
                reason = self.close_reason or "connection closed during the TLS handshake"
            elif not self._closing:
                early, self._early = self._early or [], None
                self.connection_made(tls)
                for data in early:
                    self.data_received(data)
            else:
                tls.abort()  # closed locally while the handshake finished: connection_lost follows
        except (OSError, ssl.SSLError, ConnectionError, TimeoutError) as exc:
            reason = self.close_reason or f"TLS handshake failed: {exc}"
            log.warning("%s: TLS handshake failed: %s", self.peer, exc)
        finally:
            self._raw = None
            self._early = None
        if reason:
            # start_tls has closed the raw transport and run its connection_lost by now.
            raw.abort()
            self._cancel_timer()
            self._closing = True
            self.close_reason = reason
            if not self.closed.done():
                self.closed.set_result(reason)

    def pause_writing(self) -> None:
        # The transport's buffer passed MaxOutboundBuffer: the peer is not reading.
        transport = self._transport
        size = transport.get_write_buffer_size() if transport is not None else 0
        key = self.session.key if self.session is not None else self.peer
        log.error(
            "%s: peer %s is not reading: %d bytes queued, over MaxOutboundBuffer; disconnecting",
            key, self.peer, size,
        )
        self._close(f"peer not reading ({size} bytes queued)", abort=True)

    def resume_writing(self) -> None:
        return

    # ------------------------------------------------------------------ commands

    def send(self, msg_type: str, fields: Any, *, flush: bool = True) -> int:
        """Send an application message; returns its MsgSeqNum. With ``flush=False`` the frame
        waits for the next :meth:`flush` (or the next write of this connection), so that a
        burst costs one write. Sent from an event callback, it goes out with the write round
        that delivered the event."""
        session = self._require_session()
        seq = session.send(msg_type, fields, self._clock())
        if flush:
            self._flush()
        return seq

    def flush(self) -> None:
        """Write what :meth:`send` with ``flush=False`` left pending."""
        self._flush()

    def logout(self, text: str | None = None) -> None:
        """Start the Logout handshake; :attr:`closed` completes when the connection is gone."""
        session = self._require_session()
        session.logout(self._clock(), text)
        self._flush()

    def test_request(self, test_req_id: str | None = None) -> str:
        """Send a TestRequest now; returns its TestReqID."""
        test_req_id = self._require_session().test_request(self._clock(), test_req_id)
        self._flush()
        return test_req_id

    def sequence_reset(self, new_seq_no: int) -> None:
        """Send a SequenceReset in Reset mode (see :meth:`Session.sequence_reset`)."""
        self._require_session().sequence_reset(self._clock(), new_seq_no)
        self._flush()

    def write_raw(self, data: bytes) -> None:
        """Write ``data`` as it is, bypassing the session (diagnostics and tests only: the
        counterparty sees whatever it is, sequence numbers untouched)."""
        self._write(data)

    def abort(self, reason: str = "closed locally") -> None:
        """Close at once, without a Logout."""
        self._close(reason, abort=True)

    # ------------------------------------------------------------------ internals

    def _require_session(self) -> Session:
        if self.session is None:
            raise LocalProtocolError("no session is bound to this connection yet")
        return self.session

    def _bind(self, item: Any) -> Session | None:
        """The first frame on an acceptor's connection picks the session."""
        assert self._resolver is not None
        if type(item) is FrameGarbled:
            log.warning("%s: garbled first frame ignored: %s", self.peer, item.error)
            return None
        try:
            logon = decode(item)
        except CodecError as exc:
            log.warning("%s: undecodable first frame, closing: %s", self.peer, exc)
            self._close("undecodable first frame")
            return None
        if logon.get(35) != b"A":
            log.warning("%s: first message is not a Logon, closing", self.peer)
            self._write(refusal_logout(logon, "First message is not a Logon", self._clock()))
            self._close("first message not a Logon")
            return None
        choice = self._resolver(self, logon)
        if isinstance(choice, str):
            log.warning("%s: Logon refused: %s", self.peer, choice)
            self._write(refusal_logout(logon, choice, self._clock()))
            self._close(f"Logon refused: {choice}")
            return None
        self._cancel_timer()
        self.session = choice
        assert self._transport is not None
        self._transport.set_write_buffer_limits(high=choice.settings.max_outbound_buffer)
        choice.connection_made(self._clock())
        return choice

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def _flush(self) -> None:
        """Write what the session has to send, then hand its events to the application; what
        the application sends from its callback goes out in the same write round."""
        session = self.session
        if session is None:
            return
        if self._flushing:
            return  # the outer flush loop picks it up
        self._flushing = True
        try:
            while True:
                out = session.data_to_send()
                if out:
                    transport = self._transport
                    if transport is not None and not transport.is_closing():
                        data = out[0] if len(out) == 1 else b"".join(out)
                        # a store may hold frames back until they are durable (the archive's
                        # hold_until_recorded); it calls the write itself then
                        hold = getattr(session.store, "hold", None)
                        if hold is None or not hold(functools.partial(self._write, data)):
                            transport.write(data)
                if not self._deliver():
                    break
        finally:
            self._flushing = False
        if not self._closing:
            deadline = session.next_deadline()
            if deadline is None:
                self._cancel_timer()
            else:
                self._arm_at(self._loop.time() + max(0.0, deadline - self._clock()))

    def _deliver(self) -> bool:
        """Hand the session's events to the application; False when there were none."""
        session = self.session
        if session is None:
            return False
        events = session.next_events()
        if not events:
            return False
        on_event = self._on_event
        for event in events:
            if isinstance(event, ev.DisconnectRequested):
                self._close(event.reason)
            elif isinstance(event, ev.LogonCompleted):
                self.logged_on_once = True
            if on_event is not None:
                on_event(session, event)
        return True

    def _arm_at(self, when: float) -> None:
        armed = self._timer_at
        if armed is not None and armed <= when and self._timer is not None:
            return  # an earlier wake-up is already armed; it re-arms after polling
        self._cancel_timer()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self._closing:
            return
        session = self.session
        if session is None:
            log.warning("%s: no Logon within %g s; closing", self.peer, self._logon_timeout)
            self._close(f"no Logon within {self._logon_timeout:g} s")
            return
        session.poll(self._clock())
        self._flush()

    def _close(self, reason: str, *, abort: bool = False) -> None:
        if self._closing:
            if abort and self._transport is not None:
                self._transport.abort()  # a graceful close still flushing: cut it short
            return
        self._closing = True
        self.close_reason = reason
        self._cancel_timer()
        transport = self._transport
        if transport is None:
            if self._raw is not None:
                # Still in the TLS handshake: _handshake resolves `closed` once it is undone.
                self._raw.abort()
                return
            if not self.closed.done():
                self.closed.set_result(reason)
            return
        if abort:
            transport.abort()
        else:
            transport.close()  # sends what is buffered first
            # ... unless the peer never reads it: then drop the connection anyway.
            self._abort_handle = self._loop.call_later(_CLOSE_GRACE, transport.abort)
