"""One listening port serving many FIX sessions, routed by CompIDs on Logon."""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import socket
import ssl
import time
from collections.abc import Iterable
from typing import Any

from fixg.errors import LocalProtocolError, SessionError, TransportError
from fixg.fix.events import SessionState
from fixg.fix.message import Message
from fixg.fix.session import Session
from fixg.fix.settings import SessionKey
from fixg.gateway.connection import EventHandler, SessionConnection

__all__ = ["Acceptor"]

log = logging.getLogger(__name__)

_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_ACCEPT_PAUSE = 1.0  # seconds without accepting after running out of descriptors or memory


class Acceptor:
    """Listens on ``host:port`` (port 0: any free port, see :attr:`port`) for the given
    sessions. A Logon is routed by (BeginString, TargetCompID, SenderCompID) to the session
    whose (BeginString, SenderCompID, TargetCompID) match; an unknown session, or one already
    connected, is refused with a Logout giving the reason. A connection that sends no Logon
    within ``logon_timeout`` seconds is closed.

    ::

        async with Acceptor(sessions, port=0, on_event=handler) as acceptor:
            acceptor.send(key, "8", fields)
    """

    def __init__(
        self,
        sessions: Iterable[Session],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_event: EventHandler | None = None,
        ssl_context: ssl.SSLContext | None = None,
        logon_timeout: float = 10.0,
        clock: Any = time.time,
    ) -> None:
        self._sessions: dict[tuple[str, str, str], Session] = {}
        for session in sessions:
            self.add_session(session)
        self._host = host
        self._port = port
        self._on_event = on_event
        self._ssl = ssl_context
        self._logon_timeout = logon_timeout
        self._clock = clock
        self._listeners: list[socket.socket] = []
        self._paused: dict[int, asyncio.TimerHandle] = {}  # listener fd -> when accepting resumes
        self._adopting: set[asyncio.Task[Any]] = set()
        self._connections: dict[SessionKey, SessionConnection] = {}
        self._all: set[SessionConnection] = set()

    # ------------------------------------------------------------------ sessions

    def add_session(self, session: Session) -> None:
        if session.settings.role != "acceptor":
            raise LocalProtocolError(f"{session.key} is not an acceptor session")
        k = session.key
        self._sessions[(k.begin_string, k.sender_comp_id, k.target_comp_id)] = session

    @property
    def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    def session(self, key: SessionKey) -> Session:
        try:
            return self._sessions[(key.begin_string, key.sender_comp_id, key.target_comp_id)]
        except KeyError:
            raise SessionError(f"no session {key}") from None

    def connection(self, key: SessionKey) -> SessionConnection | None:
        return self._connections.get(key)

    # ------------------------------------------------------------------ life

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose when 0 was asked for)."""
        if not self._listeners:
            raise LocalProtocolError("the acceptor is not listening")
        return int(self._listeners[0].getsockname()[1])

    async def start(self) -> None:
        # The acceptor runs its own listening sockets rather than asyncio.Server: a connection
        # accepted in the same loop round as Server.close() leaks its socket in CPython, and
        # stop() must be able to account for every connection it ever accepted.
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                self._host or None, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            for family, kind, proto, _name, address in dict.fromkeys(infos):
                sock = socket.socket(family, kind, proto)
                self._listeners.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.listen(128)
                sock.setblocking(False)
        except OSError as exc:
            self._close_listeners()
            raise TransportError(f"cannot listen on {self._host}:{self._port}: {exc}") from exc
        for sock in self._listeners:
            loop.add_reader(sock.fileno(), self._accept, sock)
        log.info("listening on %s:%d for %d sessions", self._host, self.port, len(self._sessions))

    async def stop(self, *, logout_timeout: float = 2.0) -> None:
        """Log out every logged-on session (bounded by ``logout_timeout``), then close all."""
        self._close_listeners()
        if self._adopting:  # accepted sockets becoming connections: let them finish
            await asyncio.wait(self._adopting)
        logging_out = []
        for conn in list(self._all):
            session = conn.session
            if session is not None and session.state is SessionState.ACTIVE:
                conn.logout("Acceptor shutting down")
                logging_out.append(conn.closed)
            else:
                conn.abort("acceptor stopped")
        if logging_out:
            await asyncio.wait(logging_out, timeout=logout_timeout)
        for conn in list(self._all):
            conn.abort("acceptor stopped")
        waiting = [conn.closed for conn in self._all]
        if waiting:
            await asyncio.wait(waiting, timeout=1.0)

    def _close_listeners(self) -> None:
        loop = asyncio.get_running_loop()
        for handle in self._paused.values():
            handle.cancel()
        self._paused.clear()
        for sock in self._listeners:
            if sock.fileno() >= 0:
                loop.remove_reader(sock.fileno())
            sock.close()
        self._listeners = []

    def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(64):  # a bounded batch per readiness callback
            try:
                sock, _address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # the peer gave up before we took it
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    # The connection stays pending, the listener readable: stop watching it
                    # for a second instead of spinning (as asyncio's own accept loop does).
                    log.error("accepting a connection failed: %s; trying again in %g s", exc, _ACCEPT_PAUSE)
                    fd = listener.fileno()
                    loop.remove_reader(fd)
                    self._paused[fd] = loop.call_later(_ACCEPT_PAUSE, self._resume, listener)
                else:
                    log.error("accepting a connection failed: %s", exc)
                return
            try:
                sock.setblocking(False)
                task = loop.create_task(self._adopt(sock))
            except BaseException:
                sock.close()
                raise
            self._adopting.add(task)
            task.add_done_callback(self._adopting.discard)

    def _resume(self, listener: socket.socket) -> None:
        fd = listener.fileno()
        self._paused.pop(fd, None)
        if fd >= 0 and listener in self._listeners:
            asyncio.get_running_loop().add_reader(fd, self._accept, listener)

    async def _adopt(self, sock: socket.socket) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(self._make_connection, sock)
        except Exception as exc:
            sock.close()
            log.error("setting up an accepted connection failed: %s", exc)
        except BaseException:
            sock.close()
            raise

    async def __aenter__(self) -> Acceptor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ commands

    def send(self, key: SessionKey, msg_type: str, fields: Any) -> int:
        """Send an application message on a session (stored only while it is not logged
        on); returns its MsgSeqNum."""
        conn = self._connections.get(key)
        if conn is not None and conn.session is not None:
            return conn.send(msg_type, fields)
        return self.session(key).send(msg_type, fields, self._clock())

    def logout(self, key: SessionKey, text: str | None = None) -> None:
        conn = self._connections.get(key)
        if conn is not None:
            conn.logout(text)

    # ------------------------------------------------------------------ internals

    def _make_connection(self) -> SessionConnection:
        conn = SessionConnection(
            resolver=self._resolve,
            on_event=self._on_event,
            clock=self._clock,
            logon_timeout=self._logon_timeout,
            server_tls=self._ssl,
        )
        self._all.add(conn)
        conn.closed.add_done_callback(functools.partial(self._forget, conn))
        return conn

    def _forget(self, conn: SessionConnection, _closed: object = None) -> None:
        self._all.discard(conn)
        session = conn.session
        if session is not None and self._connections.get(session.key) is conn:
            del self._connections[session.key]

    def _resolve(self, conn: SessionConnection, logon: Message) -> Session | str:
        begin = (logon.get(8) or b"").decode(errors="replace")
        sender = (logon.get(56) or b"").decode(errors="replace")
        target = (logon.get(49) or b"").decode(errors="replace")
        session = self._sessions.get((begin, sender, target))
        if session is None:
            log.warning("Logon from unknown session %s:%s->%s refused", begin, target, sender)
            return f"Unknown session {begin}:{target}->{sender}"
        if session.state is not SessionState.DISCONNECTED or session.key in self._connections:
            log.warning("%s: second connection refused: session already connected", session.key)
            return "Session already logged on"
        self._connections[session.key] = conn
        return session
