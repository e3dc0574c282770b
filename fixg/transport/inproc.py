"""The in-process carrier of the Gateway <-> FixClient protocol: a pair of bounded asyncio
queues per client carrying *encoded* protocol frames (the same bytes the Aeron carrier
publishes), so a client sees exactly the protocol it would see across processes.

Backpressure: :meth:`InprocEndpoint.send` awaits while the peer's queue is full. Closing either
end wakes the other with :class:`~fixg.errors.TransportError` once it has drained what was
queued before the close.
"""

from __future__ import annotations

import asyncio

from fixg.errors import TransportError

__all__ = ["InprocLink", "InprocEndpoint"]

_CLOSED = b""  # never a valid frame (a frame has at least a 16-byte header)


class InprocEndpoint:
    """One end of a link: sends into the peer's queue, receives from its own."""

    def __init__(self, name: str, inbox: asyncio.Queue[bytes], outbox: asyncio.Queue[bytes]) -> None:
        self.name = name
        self._inbox = inbox
        self._outbox = outbox
        self._closed = False
        self._peer_closed = False
        self.peer: InprocEndpoint | None = None

    @property
    def closed(self) -> bool:
        """True once this end was closed or the peer's close was received."""
        return self._closed or self._peer_closed

    async def send(self, frame: bytes) -> None:
        """Queue one frame for the peer, waiting while its queue is full."""
        if self._closed or self._peer_closed or (self.peer is not None and self.peer._closed):
            raise TransportError(f"{self.name}: link closed")
        if not frame:
            raise TransportError(f"{self.name}: empty frame")
        await self._outbox.put(frame)

    def try_send(self, frame: bytes) -> bool:
        """Queue one frame if there is room now; False when the peer's queue is full."""
        if self._closed or self._peer_closed or (self.peer is not None and self.peer._closed):
            raise TransportError(f"{self.name}: link closed")
        try:
            self._outbox.put_nowait(frame)
        except asyncio.QueueFull:
            return False
        return True

    async def receive(self) -> bytes:
        """The next frame from the peer; :class:`TransportError` once the link is closed."""
        if self._closed:
            raise TransportError(f"{self.name}: link closed")
        if self._peer_closed and self._inbox.empty():
            raise TransportError(f"{self.name}: link closed by peer")
        frame = await self._inbox.get()
        if frame is _CLOSED or not frame:
            self._peer_closed = True
            raise TransportError(f"{self.name}: link closed by peer")
        return frame

    def close(self) -> None:
        """Close this end; the peer gets :class:`TransportError` after draining. Idempotent."""
        if self._closed:
            return
        self._closed = True
        # The close marker must get through even when the queue is full: make room for it by
        # growing the bound by one (the queue is never read by us again).
        outbox = self._outbox
        outbox._maxsize += 1  # type: ignore[attr-defined]
        outbox.put_nowait(_CLOSED)
        # Wake a receiver of our own (a reader task blocked on our inbox).
        inbox = self._inbox
        inbox._maxsize += 1  # type: ignore[attr-defined]
        inbox.put_nowait(_CLOSED)


class InprocLink:
    """A bounded queue pair: ``client`` sends commands, ``gateway`` sends events."""

    def __init__(self, name: str, queue_size: int = 4096) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        commands: asyncio.Queue[bytes] = asyncio.Queue(queue_size)
        events: asyncio.Queue[bytes] = asyncio.Queue(queue_size)
        self.client = InprocEndpoint(f"{name} (client)", events, commands)
        self.gateway = InprocEndpoint(f"{name} (gateway)", commands, events)
        self.client.peer = self.gateway
        self.gateway.peer = self.client
