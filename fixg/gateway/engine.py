"""The Gateway: owns the FIX sessions of its configuration (and those FixClients initiate),
runs their state machines over TCP, persists every message in the journal, and serves
FixClients over the Gateway <-> FixClient protocol (:mod:`fixg.transport.protocol`).

::

    async with Gateway(load_config("gw.toml")) as gw:
        async with FixClient.connect(gw, name="app") as client:
            ...

Ownership: a session has at most one owning client. The client that initiates a session owns
it; others claim (:class:`ClaimSession`) and release (:class:`ReleaseSession`) it. A client
that says Goodbye loses its sessions at once; one that goes silent (no command or heartbeat for
``[gateway] client_timeout_ms``) loses them then. Either way the FIX session stays up: the
Gateway keeps heart-beating, and application messages that arrive with no owner are kept for
the next owner (at most ``unowned_buffer_limit``) or, with ``unowned_message_policy =
"reject"`` (or a full buffer), answered with a BusinessMessageReject(j).

Outbound: a :class:`SendMessage` is stamped (header, MsgSeqNum, SendingTime) and appended to the
journal by the session before its bytes go to the connection; only then is the client told
:class:`SendCompleted`. A store failure becomes ``SendFailed(STORE_FAILED)`` and nothing is
sent.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from fixg.config import Config
from fixg.errors import CodecError, ConfigError, FixError, LocalProtocolError, StoreError, TransportError
from fixg.fix import events as ev
from fixg.fix.codec import encode_message
from fixg.fix.events import SessionState
from fixg.fix.session import ADMIN_MSG_TYPES, Session
from fixg.fix.settings import SessionKey, SessionSettings
from fixg.gateway.acceptor import Acceptor
from fixg.gateway.connection import SessionConnection, create_session
from fixg.gateway.initiator import Initiator
from fixg.gateway.tls import client_context, server_context
from fixg.store.factory import GatewayStoreFactory, open_store_factory
from fixg.metrics import LatencyStages
from fixg.transport import protocol as p
from fixg.transport.aeron import AeronGatewayTransport, AeronLink, BackPressuredError
from fixg.transport.inproc import InprocEndpoint, InprocLink

__all__ = ["Gateway", "session_id_of", "parse_body"]

log = logging.getLogger(__name__)


def session_id_of(key: SessionKey) -> int:
    """The stable u64 id of a session: the same key gives the same id in every run."""
    digest = hashlib.blake2b(str(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1


def parse_body(body: bytes) -> list[tuple[int, bytes]]:
    """``tag=value<SOH>...`` into pairs; :class:`CodecError` when it is not that."""
    fields: list[tuple[int, bytes]] = []
    for item in body.split(b"\x01"):
        if not item:
            continue
        tag, eq, value = item.partition(b"=")
        if not eq or not tag.isdigit() or not value:
            raise CodecError(f"bad body field {item[:40]!r}")
        fields.append((int(tag), value))
    if not fields:
        raise CodecError("empty message body")
    return fields


@dataclass(eq=False)
class _Sess:
    id: int
    session: Session
    acceptor: Acceptor | None = None
    initiator: Initiator | None = None
    owner: int = 0
    buffer: collections.deque[p.ApplicationMessageReceived] = field(default_factory=collections.deque)
    last_reason: str | None = None

    @property
    def key(self) -> SessionKey:
        return self.session.key


@dataclass(eq=False)
class _Client:
    id: int
    name: str
    endpoint: InprocEndpoint | AeronLink
    last_seen: float
    pending: collections.deque[p.Event] = field(default_factory=collections.deque)
    #: perf_counter_ns() of each pending event's emission, in step with ``pending``
    pending_ns: collections.deque[int] = field(default_factory=collections.deque)
    #: application messages handed to the link and not yet acknowledged by the client's
    #: heartbeat (``Heartbeat.received``), numbered from 1 on this link
    unacked: collections.deque[tuple[int, p.ApplicationMessageReceived]] = field(default_factory=collections.deque)
    app_sent: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    connected: bool = True
    expired: bool = False
    blocked: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Gateway:
    """The engine. ``async with Gateway(config) as gw`` starts listening and connecting;
    leaving the block (or :meth:`aclose`) logs every session out and flushes the journal."""

    def __init__(self, config: Config, *, clock: Any = time.time) -> None:
        self.config = config
        self._clock = clock
        self._gw = config.gateway
        self._sessions: dict[int, _Sess] = {}
        self._by_key: dict[SessionKey, _Sess] = {}
        self._clients: dict[int, _Client] = {}
        self._next_client = 1
        self._acceptors: dict[int | None, Acceptor] = {}
        self._factory: GatewayStoreFactory | None = None
        self._timer: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self._client_tasks: set[asyncio.Task[Any]] = set()
        self._dirty: set[SessionConnection] = set()
        self._flush_scheduled = False
        self._started = False
        self._closed = False
        self.epoch = time.time_ns()
        self.latency = LatencyStages()
        self._command_ns = 0
        self._aeron: AeronGatewayTransport | None = None

    # ------------------------------------------------------------------ life

    @property
    def name(self) -> str:
        return self._gw.name

    @property
    def journal_path(self) -> str:
        return os.fspath(self.config.storage.path)

    @property
    def port(self) -> int:
        """The port of the ``[gateway] accept_port`` acceptor (the actual one if 0 was asked)."""
        acceptor = self._acceptors.get(None)
        if acceptor is None:
            raise LocalProtocolError("this gateway has no acceptor on [gateway] accept_port")
        return acceptor.port

    def session_port(self, key: SessionKey) -> int:
        """The port the acceptor session ``key`` is reached on."""
        s = self._by_key.get(key)
        if s is None or s.acceptor is None:
            raise LocalProtocolError(f"{key} is not an acceptor session of this gateway")
        return s.acceptor.port

    def session_id(self, key: SessionKey) -> int:
        s = self._by_key.get(key)
        if s is None:
            raise LocalProtocolError(f"no session {key}")
        return s.id

    def session(self, session_id: int) -> Session:
        return self._sessions[session_id].session

    async def start(self) -> None:
        if self._started:
            raise LocalProtocolError("the gateway is already started")
        self._started = True
        storage = self.config.storage
        self._factory = await open_store_factory(self.config)
        try:
            groups: dict[int | None, list[Session]] = {}
            initiators: list[_Sess] = []
            for settings in self.config.sessions:
                s = self._add_session(settings)
                if settings.is_initiator:
                    initiators.append(s)
                else:
                    port = settings.socket_accept_port
                    groups.setdefault(port if port != self._gw.accept_port else None, []).append(s.session)
            for port, sessions in groups.items():
                ssl_settings = next((x.settings for x in sessions if x.settings.socket_use_ssl), None)
                acceptor = Acceptor(
                    sessions,
                    host=self._gw.accept_host if port is None else sessions[0].settings.socket_accept_host,
                    port=(self._gw.accept_port or 0) if port is None else port,
                    on_event=self._on_fix_event,
                    ssl_context=server_context(ssl_settings) if ssl_settings else None,
                    logon_timeout=self._gw.logon_timeout,
                    clock=self._clock,
                )
                await acceptor.start()
                self._acceptors[port] = acceptor
                for session in sessions:
                    self._by_key[session.key].acceptor = acceptor
            for s in initiators:
                await self._start_initiator(s)
            if self.config.transport.kind == "aeron":
                self._aeron = AeronGatewayTransport(self.config, self._attach_aeron)
                await self._aeron.start()
        except BaseException:
            await self.aclose()
            raise
        self._timer = asyncio.get_running_loop().create_task(self._tick(), name="fixg gateway timer")
        log.info("gateway %s started: %d sessions, journal %s", self.name, len(self._sessions), storage.path)

    async def aclose(self) -> None:
        """Log out every session (bounded by LogoutTimeout), stop listening, close the client
        links and flush and close the journal. Idempotent."""
        if self._closed:
            return
        self._closed = True
        stops = [s.initiator.stop() for s in self._sessions.values() if s.initiator is not None]
        stops += [a.stop() for a in self._acceptors.values()]
        if stops:
            await asyncio.gather(*stops, return_exceptions=True)
        for s in self._sessions.values():
            s.initiator = None
        self._acceptors.clear()
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._side_tasks):
            task.cancel()
        for client in list(self._clients.values()):
            await self._drain_and_close(client)
        tasks = list(self._client_tasks) + list(self._side_tasks)
        if self._timer is not None:
            tasks.append(self._timer)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._clients.clear()
        if self._aeron is not None:
            await self._aeron.aclose()
            self._aeron = None
        if self._factory is not None:
            await self._factory.aclose()
        log.info("gateway %s stopped", self.name)

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ clients

    def connect_inproc(self, name: str) -> InprocEndpoint:
        """Attach a client over a new in-process link; returns the client's end."""
        if not self._started or self._closed:
            raise TransportError("the gateway is not running")
        link = InprocLink(name, self.config.transport.queue_size)
        self._attach(link.gateway, name)
        return link.client

    def _attach_aeron(self, link: AeronLink) -> None:
        if self._closed:
            link.close()
            return
        self._attach(link, link.name)

    def _attach(self, endpoint: InprocEndpoint | AeronLink, name: str) -> None:
        loop = asyncio.get_running_loop()
        client = _Client(self._next_client, name, endpoint, loop.time())
        self._next_client += 1
        self._clients[client.id] = client
        client.tasks.append(loop.create_task(self._read(client), name=f"fixg client {name} reader"))
        client.tasks.append(loop.create_task(self._write(client), name=f"fixg client {name} writer"))
        for task in client.tasks:
            self._client_tasks.add(task)
            task.add_done_callback(self._client_tasks.discard)
        log.info("client %d (%s) attached", client.id, name)

    async def _drain_and_close(self, client: _Client) -> None:
        if client.connected and client.pending:
            client.wake.set()
            for _ in range(100):
                if not client.pending:
                    break
                await asyncio.sleep(0.01)
        client.connected = False
        client.endpoint.close()

    def _emit(self, client: _Client, event: p.Event) -> None:
        if not client.connected:
            self._requeue(event)
            return
        client.pending.append(event)
        client.pending_ns.append(time.perf_counter_ns())
        client.wake.set()
        transport = self.config.transport
        # Only a client whose link is full counts as behind (a burst, such as the buffer
        # handed over on a claim, may exceed the limit for a moment).
        limit = transport.queue_size if transport.backpressure == "error" else transport.backpressure_queue_limit
        if client.blocked and len(client.pending) > limit:
            log.error("client %d (%s): %d events not taken; dropping the client", client.id, client.name, len(client.pending))
            self._client_gone(client, evicted=True)

    def _broadcast(self, event: p.Event) -> None:
        for client in list(self._clients.values()):
            if client.connected:
                self._emit(client, event)

    def _requeue(self, event: p.Event) -> None:
        """An application message that did not reach its client goes back to its session's
        buffer, for the next owner."""
        if isinstance(event, p.ApplicationMessageReceived):
            s = self._sessions.get(event.session_id)
            if s is not None:
                s.buffer.append(event)

    async def _write(self, client: _Client) -> None:
        endpoint = client.endpoint
        pending = client.pending
        pending_ns = client.pending_ns
        delivered = self.latency.fix_in_delivered
        perf_ns = time.perf_counter_ns
        try:
            while True:
                await client.wake.wait()
                client.wake.clear()
                while pending:
                    event = pending[0]
                    try:
                        frame = p.encode(event)
                    except CodecError as exc:
                        # Never kill the writer over one event: say so instead, drop it.
                        log.error("client %d (%s): cannot encode %s: %s; dropped",
                                  client.id, client.name, type(event).__name__, exc)
                        text = f"{type(event).__name__} not encodable, dropped: {exc}"
                        corr = event.correlation_id
                        event = (
                            p.CommandFailed(p.ErrorCode.INTERNAL, text, correlation_id=corr)
                            if corr else p.ErrorReported(p.ErrorCode.INTERNAL, text, getattr(event, "session_id", 0))
                        )  # fmt: skip
                        pending[0] = event
                        frame = p.encode(event)
                    if not endpoint.try_send(frame):
                        client.blocked = True  # the client is not taking its events
                        await endpoint.send(frame)
                        client.blocked = False
                    pending.popleft()
                    emitted = pending_ns.popleft() if pending_ns else 0
                    if type(event) is p.ApplicationMessageReceived:
                        client.app_sent += 1
                        client.unacked.append((client.app_sent, event))
                        if emitted:
                            delivered.record(perf_ns() - emitted)
        except TransportError as exc:
            # A client that does not take its events (BackPressuredError) is evicted: its
            # sessions are released at once.
            self._client_gone(client, evicted=isinstance(exc, BackPressuredError))
        except Exception:
            log.exception("client %d (%s): event writer failed; dropping the client", client.id, client.name)
            self._client_gone(client)

    async def _read(self, client: _Client) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await client.endpoint.receive()
                client.last_seen = loop.time()
                if client.expired:
                    client.expired = False
                    log.info("client %d (%s) is back (its sessions were released)", client.id, client.name)
                try:
                    command = p.decode(frame)
                except CodecError as exc:
                    corr = _correlation_id(frame)
                    text = f"malformed command: {exc}"
                    log.warning("client %d (%s): %s", client.id, client.name, text)
                    if corr:
                        self._emit(client, p.CommandFailed(p.ErrorCode.MALFORMED_COMMAND, text, correlation_id=corr))
                    else:
                        self._emit(client, p.ErrorReported(p.ErrorCode.MALFORMED_COMMAND, text))
                    continue
                if not isinstance(command, p.Command):
                    self._emit(client, p.CommandFailed(
                        p.ErrorCode.MALFORMED_COMMAND,
                        f"{type(command).__name__} is an event, not a command",
                        correlation_id=command.correlation_id,
                    ))
                    continue
                if isinstance(command, p.Goodbye):
                    self._acknowledge(client, command.received)
                    log.info("client %d (%s) said goodbye", client.id, client.name)
                    self._release_all(client)
                    self._client_gone(client)
                    return
                self._command_ns = time.perf_counter_ns()
                self._dispatch(client, command)
        except TransportError:
            self._client_gone(client)
        except Exception:
            log.exception("client %d (%s): command reader failed; dropping the client", client.id, client.name)
            self._client_gone(client)

    def _client_gone(self, client: _Client, *, evicted: bool = False) -> None:
        """The link to ``client`` is gone. Its sessions stay owned until the client timeout
        (it may have died; a Goodbye released them already) unless it was evicted."""
        if not client.connected:
            return
        client.connected = False
        # What the client did not acknowledge, then what never left: older than anything
        # buffered since, so to the front of the sessions' buffers (at least once: the next
        # owner may see again a message the lost client had received; MsgSeqNum tells).
        pending = [event for _, event in client.unacked] + list(client.pending)
        client.unacked.clear()
        client.pending.clear()
        client.pending_ns.clear()
        for event in reversed(pending):
            if isinstance(event, p.ApplicationMessageReceived):
                s = self._sessions.get(event.session_id)
                if s is not None:
                    s.buffer.appendleft(event)
        if evicted:
            self._release_all(client)
        client.endpoint.close()
        if not any(s.owner == client.id for s in self._sessions.values()):
            self._clients.pop(client.id, None)
        log.info("client %d (%s) disconnected", client.id, client.name)

    def _release_all(self, client: _Client) -> None:
        for s in self._sessions.values():
            if s.owner == client.id:
                self._set_owner(s, 0)

    def _set_owner(self, s: _Sess, owner: int) -> None:
        if s.owner == owner:
            return
        s.owner = owner
        log.info("%s: owner is now %s", s.key, owner or "nobody")
        self._broadcast(p.OwnershipChanged(s.id, owner))
        if owner:
            client = self._clients.get(owner)
            if client is not None:
                while s.buffer and client.connected and s.owner == owner:
                    self._emit(client, s.buffer.popleft())

    # ------------------------------------------------------------------ commands

    def _dispatch(self, client: _Client, command: p.Command) -> None:
        corr = command.correlation_id
        try:
            handler = _HANDLERS.get(type(command))
            if handler is None:
                raise _Failed(p.ErrorCode.MALFORMED_COMMAND, f"unexpected command {type(command).__name__}")
            reply = handler(self, client, command)
        except _Failed as exc:
            reply = p.CommandFailed(exc.code, exc.text)
        except (LocalProtocolError, ValueError) as exc:
            reply = p.CommandFailed(p.ErrorCode.INVALID_MESSAGE, str(exc))
        except FixError as exc:
            log.error("client %d: %s failed: %s", client.id, type(command).__name__, exc)
            reply = p.CommandFailed(p.ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")
        if reply is not None:
            if isinstance(command, p.SendMessage) and isinstance(reply, p.CommandFailed):
                reply = p.SendFailed(command.session_id, reply.code, reply.text)
            self._emit(client, _with_corr(reply, corr))

    def _lookup(self, session_id: int) -> _Sess:
        s = self._sessions.get(session_id)
        if s is None:
            raise _Failed(p.ErrorCode.UNKNOWN_SESSION, f"unknown session id {session_id}")
        return s

    def _check_owner(self, client: _Client, s: _Sess, *, required: bool) -> None:
        if s.owner == client.id:
            return
        if s.owner:
            raise _Failed(p.ErrorCode.NOT_OWNER, f"{s.key} is owned by client {s.owner}")
        if required:
            raise _Failed(p.ErrorCode.NOT_OWNER, f"{s.key} has no owner; claim it first")

    def _on_hello(self, client: _Client, cmd: p.Hello) -> p.Event | None:
        if cmd.protocol_version != p.PROTOCOL_VERSION:
            raise _Failed(p.ErrorCode.UNSUPPORTED_VERSION,
                          f"protocol version {cmd.protocol_version}; this gateway speaks {p.PROTOCOL_VERSION}")
        client.name = cmd.client_name or client.name
        previous = self._clients.get(cmd.previous_client_id) if cmd.previous_epoch == self.epoch else None
        if previous is not None and previous is not client and previous.connected:
            # The client gave up on its old link before we noticed (it timed out first, or we
            # stalled): that link is dead to it, retire it now so the sessions move over.
            log.info("client %d (%s) reconnected while its old link looked alive: retiring that link",
                     previous.id, previous.name)
            self._client_gone(previous)
        if previous is not None and previous is not client and not previous.connected:
            # The same application back on a new link: its sessions move over (after the
            # Welcome, with what was kept for them) instead of waiting for the time-out.
            handed = [s for s in self._sessions.values() if s.owner == previous.id]
            self._clients.pop(previous.id, None)
            log.info("client %d (%s) is client %d reconnected: %d sessions handed over",
                     client.id, client.name, previous.id, len(handed))
            welcome = p.Welcome(client.id, self.name, p.PROTOCOL_VERSION, self.epoch, correlation_id=cmd.correlation_id)
            self._emit(client, welcome)
            for s in handed:
                self._set_owner(s, client.id)
            return None
        return p.Welcome(client.id, self.name, p.PROTOCOL_VERSION, self.epoch)

    def _on_heartbeat(self, client: _Client, cmd: p.Heartbeat) -> None:
        self._acknowledge(client, cmd.received)
        return None

    @staticmethod
    def _acknowledge(client: _Client, received: int) -> None:
        unacked = client.unacked
        while unacked and unacked[0][0] <= received:
            unacked.popleft()

    def _on_status(self, client: _Client, cmd: p.StatusRequest) -> p.Event:
        return p.StatusReport(json.dumps(self.status(), sort_keys=True).encode())

    def status(self) -> dict[str, Any]:
        """Health and metrics: clients (link state, last heard, queued events), sessions
        (state, sequence numbers, owner, buffered messages), the Aeron transport's stream
        positions, and the per-stage latency histograms (see :class:`LatencyStages`)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        clients = []
        for c in self._clients.values():
            entry: dict[str, Any] = {
                "id": c.id, "name": c.name, "connected": c.connected, "expired": c.expired,
                "last_heard_ms": round((now - c.last_seen) * 1000), "pending_events": len(c.pending),
                "blocked": c.blocked, "transport": "aeron" if isinstance(c.endpoint, AeronLink) else "inproc",
            }  # fmt: skip
            if isinstance(c.endpoint, AeronLink):
                entry["link_id"] = c.endpoint.link_id
            clients.append(entry)
        sessions = []
        for s in self._sessions.values():
            session = s.session
            sessions.append({
                "id": s.id, "key": str(s.key), "state": session.state.name, "owner": s.owner,
                "next_sender_seq_num": session.store.next_sender_seq_num,
                "next_target_seq_num": session.store.next_target_seq_num,
                "buffered": len(s.buffer),
            })  # fmt: skip
        return {
            "gateway": self.name,
            "epoch": self.epoch,
            "pid": os.getpid(),
            "transport": self.config.transport.kind,
            "aeron": self._aeron.status() if self._aeron is not None else None,
            "clients": clients,
            "sessions": sessions,
            "latency": self.latency.summary(),
        }

    def _on_send(self, client: _Client, cmd: p.SendMessage) -> p.Event:
        s = self._lookup(cmd.session_id)
        self._check_owner(client, s, required=True)
        limit = min(self._gw.max_message_size, s.session.settings.max_message_size)
        if len(cmd.body) + 128 > limit:
            raise _Failed(p.ErrorCode.MESSAGE_TOO_LARGE,
                          f"message body of {len(cmd.body)} bytes exceeds max_message_size {limit}")
        if not cmd.msg_type or cmd.msg_type in ADMIN_MSG_TYPES:
            raise _Failed(p.ErrorCode.INVALID_MESSAGE, f"MsgType {cmd.msg_type!r} is not an application message")
        # The body as it came, when the session can write it as it is (the common case).
        fields: Any = s.session.pre_encode(cmd.body)
        if fields is None:
            try:
                fields = parse_body(cmd.body)
            except CodecError as exc:
                raise _Failed(p.ErrorCode.INVALID_MESSAGE, str(exc)) from None
        conn = self._connection(s)
        try:
            if conn is not None:
                seq = conn.send(cmd.msg_type, fields, flush=False)
                self._mark_dirty(conn)
            else:
                seq = s.session.send(cmd.msg_type, fields, self._clock())
        except StoreError as exc:
            log.error("%s: message not sent, the store failed: %s", s.key, exc)
            raise _Failed(p.ErrorCode.STORE_FAILED, f"not sent: {exc}") from None
        except LocalProtocolError as exc:
            raise _Failed(p.ErrorCode.SESSION_NOT_ACTIVE, str(exc)) from None
        if conn is not None:
            self.latency.client_out_sent.record(time.perf_counter_ns() - self._command_ns)
        return p.SendCompleted(s.id, seq, correlation_id=cmd.correlation_id)

    def _on_claim(self, client: _Client, cmd: p.ClaimSession) -> p.Event | None:
        if cmd.session_id:
            s = self._lookup(cmd.session_id)
        else:
            s = next((x for x in self._sessions.values() if str(x.key) == cmd.key), None)  # type: ignore[assignment]
            if s is None:
                raise _Failed(p.ErrorCode.UNKNOWN_SESSION, f"unknown session {cmd.key}")
        if s.owner and s.owner != client.id:
            raise _Failed(p.ErrorCode.ALREADY_OWNED, f"{s.key} is owned by client {s.owner}")
        # The reply first, then the buffered messages (via _set_owner).
        self._emit(client, p.CommandCompleted(s.id, correlation_id=cmd.correlation_id))
        self._set_owner(s, client.id)
        return None

    def _on_release(self, client: _Client, cmd: p.ReleaseSession) -> p.Event:
        s = self._lookup(cmd.session_id)
        if s.owner != client.id:
            raise _Failed(p.ErrorCode.NOT_OWNER, f"{s.key} is not owned by this client")
        self._set_owner(s, 0)
        return p.CommandCompleted(s.id)

    def _on_list(self, client: _Client, cmd: p.ListSessions) -> p.Event:
        infos = []
        for s in self._sessions.values():
            session = s.session
            infos.append(p.SessionInfo(
                s.id, str(s.key), session.state.name, session.next_sender_seq_num,
                session.next_target_seq_num, s.owner, self._connection(s) is not None,
            ))  # fmt: skip
        return p.SessionList(tuple(infos))

    def _on_reset(self, client: _Client, cmd: p.ResetSequenceNumbers) -> p.Event:
        s = self._lookup(cmd.session_id)
        self._check_owner(client, s, required=False)
        try:
            s.session.reset_sequence_numbers(self._clock())
        except LocalProtocolError as exc:
            raise _Failed(p.ErrorCode.SESSION_ACTIVE, str(exc)) from None
        return p.CommandCompleted(s.id)

    def _stop_initiator(self, client: _Client, s: _Sess, correlation_id: int) -> None:
        """Stop the session's initiator (Logout, then no reconnect) in the background and
        answer the command once it has stopped."""
        initiator, s.initiator = s.initiator, None
        if initiator is None:
            return

        async def stop() -> None:
            await initiator.stop()
            self._emit(client, p.CommandCompleted(s.id, correlation_id=correlation_id))

        self._spawn(stop())

    def _on_logout(self, client: _Client, cmd: p.LogoutSession) -> p.Event | None:
        s = self._lookup(cmd.session_id)
        self._check_owner(client, s, required=False)
        if s.initiator is not None:
            self._stop_initiator(client, s, cmd.correlation_id)
            return None
        conn = self._connection(s)
        if conn is None or s.session.state is not SessionState.ACTIVE:
            raise _Failed(p.ErrorCode.SESSION_NOT_ACTIVE, f"{s.key} is not logged on")
        conn.logout(cmd.text)
        return p.CommandCompleted(s.id)

    def _on_disconnect(self, client: _Client, cmd: p.DisconnectSession) -> p.Event | None:
        s = self._lookup(cmd.session_id)
        self._check_owner(client, s, required=False)
        conn = self._connection(s)
        if conn is not None:
            conn.abort("disconnected by a client")
        if s.initiator is not None:
            self._stop_initiator(client, s, cmd.correlation_id)
            return None
        if conn is None:
            raise _Failed(p.ErrorCode.NOT_CONNECTED, f"{s.key} is not connected")
        return p.CommandCompleted(s.id)

    def _on_initiate(self, client: _Client, cmd: p.InitiateSession) -> p.Event | None:
        if not cmd.addresses:
            raise _Failed(p.ErrorCode.INVALID_MESSAGE, "no address to connect to")
        settings = SessionSettings(
            cmd.begin_string, cmd.sender_comp_id, cmd.target_comp_id, "initiator",
            heart_bt_int=cmd.heart_bt_int, username=cmd.username, password=cmd.password,
            reset_on_logon=cmd.reset_seq_num, default_appl_ver_id=cmd.default_appl_ver_id,
            socket_connect_hosts=tuple((a.host, a.port) for a in cmd.addresses),
            max_message_size=self._gw.max_message_size, max_outbound_buffer=self._gw.max_outbound_buffer,
        )  # fmt: skip
        existing = self._by_key.get(settings.key)
        if existing is not None:
            if existing.acceptor is not None or existing.initiator is not None:
                raise _Failed(p.ErrorCode.DUPLICATE_SESSION, f"{settings.key} is already running")
            if existing.owner and existing.owner != client.id:
                raise _Failed(p.ErrorCode.ALREADY_OWNED, f"{settings.key} is owned by client {existing.owner}")
            del self._sessions[existing.id]
            del self._by_key[existing.key]
        s = self._add_session(settings)
        if existing is not None:
            s.buffer = existing.buffer
            s.owner = existing.owner
        self._emit(client, p.CommandCompleted(s.id, correlation_id=cmd.correlation_id))
        self._set_owner(s, client.id)
        self._spawn(self._start_initiator(s))
        return None

    # ------------------------------------------------------------------ sessions

    def _add_session(self, settings: SessionSettings) -> _Sess:
        assert self._factory is not None
        if settings.key in self._by_key:
            raise ConfigError(f"duplicate session {settings.key}", file=self.config.source)
        store = self._factory.create(settings.key, self._clock())
        session = create_session(settings, store)
        s = _Sess(session_id_of(settings.key), session)
        self._sessions[s.id] = s
        self._by_key[settings.key] = s
        return s

    async def _start_initiator(self, s: _Sess) -> None:
        settings = s.session.settings
        initiator = Initiator(
            s.session,
            on_event=self._on_fix_event,
            ssl_context=client_context(settings) if settings.socket_use_ssl else None,
            clock=self._clock,
        )
        s.initiator = initiator
        await initiator.start()

    def _connection(self, s: _Sess) -> SessionConnection | None:
        if s.acceptor is not None:
            conn = s.acceptor.connection(s.key)
        elif s.initiator is not None:
            conn = s.initiator.connection
        else:
            return None
        if conn is None or conn.session is not s.session or conn.closed.done():
            return None
        return conn

    def _mark_dirty(self, conn: SessionConnection) -> None:
        self._dirty.add(conn)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_dirty)

    def _flush_dirty(self) -> None:
        self._flush_scheduled = False
        dirty = self._dirty
        self._dirty = set()
        for conn in dirty:
            conn.flush()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    def _on_fix_event(self, session: Session, event: ev.Event) -> None:
        s = self._by_key.get(session.key)
        if s is None or s.session is not session:
            return
        kind = type(event)
        if kind is ev.MessageReceived:
            msg = event.message  # type: ignore[attr-defined]
            data = msg.frame or encode_message(msg)
            msg_type = (msg.get(35) or b"").decode("latin-1")
            seq = int(msg.get(34) or 0)
            app = p.ApplicationMessageReceived(s.id, seq, msg_type, data, event.poss_dup)  # type: ignore[attr-defined]
            conn = self._connection(s)
            if conn is not None and conn.received_ns:
                self.latency.fix_in_processed.record(time.perf_counter_ns() - conn.received_ns)
            self._deliver(s, app, msg, msg_type, seq)
            if msg_type == "j":
                owner = self._clients.get(s.owner)
                if owner is not None and owner.connected:
                    self._emit(owner, p.RejectReceived(
                        s.id, int(msg.get(45) or 0), _opt_int(msg.get(380)), None,
                        p.clip_text(_opt_str(msg.get(58))), business=True,
                    ))  # fmt: skip
        elif kind is ev.SessionStateChanged:
            new = event.new  # type: ignore[attr-defined]
            reason = s.last_reason if new is SessionState.DISCONNECTED else None
            if new is SessionState.DISCONNECTED:
                s.last_reason = None
            self._broadcast(p.SessionStateChanged(s.id, str(s.key), new.name, p.clip_text(reason)))
        elif kind is ev.Disconnected or kind is ev.LogonRefused:
            # The Disconnected that follows a Logout says only "Logout received": keep the
            # reason with the counterparty's Text(58).
            if not (kind is ev.Disconnected and s.last_reason and s.last_reason.startswith("Logout received: ")):
                s.last_reason = event.reason  # type: ignore[attr-defined]
        elif kind is ev.LogoutReceived:
            s.last_reason = f"Logout received: {event.text}" if event.text else "Logout received"  # type: ignore[attr-defined]
        elif kind is ev.RejectReceived:
            owner = self._clients.get(s.owner)
            if owner is not None and owner.connected:
                self._emit(owner, p.RejectReceived(
                    s.id, event.ref_seq_num or 0, event.reason, event.ref_tag_id,  # type: ignore[attr-defined]
                    p.clip_text(event.text),  # type: ignore[attr-defined]
                ))  # fmt: skip

    def _deliver(self, s: _Sess, app: p.ApplicationMessageReceived, msg: Any, msg_type: str, seq: int) -> None:
        owner = self._clients.get(s.owner) if s.owner else None
        if owner is not None and owner.connected:
            while s.buffer and owner.connected:  # keep the order behind anything buffered
                self._emit(owner, s.buffer.popleft())
            if owner.connected:
                self._emit(owner, app)
                return
        policy = self._gw.unowned_message_policy
        # Owned by a client whose link is gone: kept for it (or the next owner) whatever the
        # policy, until its time-out.
        if (policy == "buffer" or s.owner) and len(s.buffer) < self._gw.unowned_buffer_limit:
            s.buffer.append(app)
            return
        text = "No application owns this session" if policy == "reject" else "Application buffer full"
        log.warning("%s: %s: rejecting %s %d", s.key, text, msg_type, seq)
        conn = self._connection(s)
        if conn is not None and msg_type != "j" and s.session.settings.begin_string >= "FIX.4.2":
            fields: list[tuple[int, Any]] = [(45, seq), (372, msg_type), (380, 4), (58, text)]
            clordid = msg.get(11)
            if clordid is not None:
                fields.insert(2, (379, clordid))
            conn.send("j", fields, flush=False)
            self._mark_dirty(conn)

    # ------------------------------------------------------------------ timer

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        storage = self.config.storage
        tick = max(0.005, min(storage.fsync_interval_ms / 1000.0, 0.05))
        hb_interval = self.config.transport.heartbeat_interval_ms / 1000.0
        timeout = self._gw.client_timeout_ms / 1000.0
        next_hb = loop.time() + hb_interval
        while True:
            await asyncio.sleep(tick)
            assert self._factory is not None
            try:
                self._factory.poll(self._clock())
            except StoreError as exc:
                log.error("journal flush failed: %s", exc)
                self._broadcast(p.ErrorReported(p.ErrorCode.STORE_FAILED, f"journal flush failed: {exc}"))
            now = loop.time()
            for client in list(self._clients.values()):
                if not client.expired and now - client.last_seen > timeout:
                    client.expired = True
                    owned = [s for s in self._sessions.values() if s.owner == client.id]
                    if owned or client.connected:
                        log.warning("client %d (%s) silent for %.1f s: releasing %d sessions",
                                    client.id, client.name, now - client.last_seen, len(owned))
                    for s in owned:
                        self._set_owner(s, 0)
                    if isinstance(client.endpoint, AeronLink):
                        # A client process that went silent: free its link (and publication);
                        # if it is alive after all it says Hello again on a new link.
                        self._client_gone(client)
                    if not client.connected:
                        self._clients.pop(client.id, None)
            if now >= next_hb:
                next_hb = now + hb_interval
                for client in list(self._clients.values()):
                    if client.connected and not client.pending:
                        self._emit(client, p.GatewayHeartbeat(self.epoch))


class _Failed(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


_HANDLERS: dict[type, Any] = {
    p.Hello: Gateway._on_hello,
    p.Heartbeat: Gateway._on_heartbeat,
    p.StatusRequest: Gateway._on_status,
    p.SendMessage: Gateway._on_send,
    p.ClaimSession: Gateway._on_claim,
    p.ReleaseSession: Gateway._on_release,
    p.ListSessions: Gateway._on_list,
    p.ResetSequenceNumbers: Gateway._on_reset,
    p.LogoutSession: Gateway._on_logout,
    p.DisconnectSession: Gateway._on_disconnect,
    p.InitiateSession: Gateway._on_initiate,
}


def _with_corr(event: p.Event, corr: int) -> p.Event:
    if event.correlation_id == corr:
        return event
    import dataclasses

    return dataclasses.replace(event, correlation_id=corr)


def _correlation_id(frame: bytes) -> int:
    if len(frame) >= p.HEADER.size:
        return int(p.HEADER.unpack_from(frame, 0)[4])
    return 0


def _opt_int(value: bytes | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _opt_str(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None
