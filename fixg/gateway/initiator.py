"""Keeping an initiator session connected: connect with a time-out, several addresses in turn,
reconnect with exponential back-off, and only within the session schedule."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import Sequence
from typing import Any

from fixg.errors import FixTimeoutError, LocalProtocolError, SessionError
from fixg.fix import events as ev
from fixg.fix.events import SessionState
from fixg.fix.session import Session
from fixg.gateway.connection import EventHandler, SessionConnection

__all__ = ["Initiator"]

log = logging.getLogger(__name__)


class Initiator:
    """Connects ``session`` to ``addresses`` (default: the settings' SocketConnectHost/Port
    list), tried in turn, each with ``connect_timeout``; after a failed round or a lost
    connection it waits ``reconnect_interval`` seconds, doubling up to
    ``max_reconnect_interval``, back to the start after a successful Logon.

    ::

        async with Initiator(session, on_event=handler) as initiator:
            await initiator.wait_logged_on(5)
            initiator.send("D", fields)
    """

    def __init__(
        self,
        session: Session,
        *,
        addresses: Sequence[tuple[str, int]] | None = None,
        on_event: EventHandler | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        clock: Any = time.time,
    ) -> None:
        if session.settings.role != "initiator":
            raise LocalProtocolError(f"{session.key} is not an initiator session")
        self.session = session
        settings = session.settings
        self._addresses = list(addresses if addresses is not None else settings.socket_connect_hosts)
        if not self._addresses:
            raise LocalProtocolError(f"{session.key}: no address to connect to (SocketConnectHost)")
        self._on_event = on_event
        self._ssl = ssl_context
        self._server_hostname = server_hostname or settings.ssl_server_hostname
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self._logged_on = asyncio.Event()
        self.connection: SessionConnection | None = None
        self.connect_attempts = 0

    # ------------------------------------------------------------------ life

    async def start(self) -> None:
        if self._task is not None:
            raise LocalProtocolError("the initiator is already started")
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"fixg {self.session.key}")

    async def stop(self, *, logout_timeout: float | None = None) -> None:
        """Log out (bounded by LogoutTimeout), close, and stop reconnecting."""
        self._stopping = True
        self._wake.set()
        conn = self.connection
        if conn is not None:
            if self.session.state is SessionState.ACTIVE:
                conn.logout("Initiator shutting down")
            timeout = logout_timeout if logout_timeout is not None else self.session.settings.logout_timeout
            try:
                await asyncio.wait_for(asyncio.shield(conn.closed), timeout + 0.5)
            except asyncio.TimeoutError:
                conn.abort("logout timed out")
        task = self._task
        self._task = None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        if self.connection is not None:
            self.connection.abort("initiator stopped")
            await asyncio.wait([self.connection.closed], timeout=1.0)

    async def __aenter__(self) -> Initiator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_logged_on(self, timeout: float) -> None:
        """Until the session is logged on; :class:`~fixg.errors.FixTimeoutError` after
        ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._logged_on.wait(), timeout)
        except asyncio.TimeoutError:
            raise FixTimeoutError(f"{self.session.key}: not logged on within {timeout:g} s") from None

    # ------------------------------------------------------------------ commands

    def send(self, msg_type: str, fields: Any) -> int:
        """Send an application message (stored only while not logged on); its MsgSeqNum."""
        conn = self.connection
        if conn is not None and conn.session is not None and not conn.closed.done():
            return conn.send(msg_type, fields)
        return self.session.send(msg_type, fields, self._clock())

    def logout(self, text: str | None = None) -> None:
        conn = self.connection
        if conn is None:
            raise SessionError(f"{self.session.key} is not connected")
        conn.logout(text)

    # ------------------------------------------------------------------ internals

    def _event(self, session: Session, event: ev.Event) -> None:
        if type(event) is ev.LogonCompleted:
            self._logged_on.set()
        elif type(event) is ev.Disconnected:
            self._logged_on.clear()
        if self._on_event is not None:
            self._on_event(session, event)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _run(self) -> None:
        settings = self.session.settings
        loop = asyncio.get_running_loop()
        backoff = settings.reconnect_interval
        while not self._stopping:
            now = self._clock()
            schedule = self.session.schedule
            if not schedule.is_session_time(now):
                self.session.poll(now)
                change = schedule.next_change(now)
                wait = 60.0 if change is None else max(0.05, min(change - now, 3600.0))
                log.info("%s: outside session time; next attempt in %.0f s", self.session.key, wait)
                await self._sleep(wait)
                continue
            logged_on = False
            for host, port in self._addresses:
                if self._stopping:
                    return
                self.connect_attempts += 1
                conn = SessionConnection(
                    session=self.session,
                    on_event=self._event,
                    clock=self._clock,
                    initiate_logon=True,
                )
                try:
                    await asyncio.wait_for(
                        loop.create_connection(
                            functools.partial(_same, conn),
                            host,
                            port,
                            ssl=self._ssl,
                            server_hostname=(self._server_hostname or host) if self._ssl else None,
                        ),
                        settings.connect_timeout,
                    )
                except (OSError, asyncio.TimeoutError) as exc:
                    reason = "timed out" if isinstance(exc, asyncio.TimeoutError) else str(exc)
                    log.warning("%s: connect to %s:%d failed: %s", self.session.key, host, port, reason)
                    continue
                self.connection = conn
                log.info("%s: connected to %s:%d", self.session.key, host, port)
                reason = await conn.closed
                logged_on = logged_on or self._was_logged_on(conn)
                log.info("%s: disconnected from %s:%d: %s", self.session.key, host, port, reason)
                if self._stopping:
                    return
                break
            if logged_on:
                backoff = settings.reconnect_interval
            await self._sleep(backoff)
            if not logged_on:
                backoff = min(backoff * 2, settings.max_reconnect_interval)

    @staticmethod
    def _was_logged_on(conn: SessionConnection) -> bool:
        return conn.logged_on_once


def _same(conn: SessionConnection) -> SessionConnection:
    return conn
