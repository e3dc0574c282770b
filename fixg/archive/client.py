"""Talking to the archiver over its control stream: requests with correlation ids, replies,
and replays delivered on the requester's response stream.

``ArchiveClient`` is synchronous: it offers the request and polls for the answer with the
configured idle strategy, up to a time-out. The Gateway's archive store and the ``fixg archive``
tools use it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from fixg.archive import format as fmt
from fixg.errors import FixTimeoutError, StoreError

if TYPE_CHECKING:
    from fixg.aeron import Client, Header

__all__ = ["ArchiveClient", "ArchiveRequestError", "tool_response_stream_id"]


class ArchiveRequestError(StoreError):
    """The archiver refused a request; ``code`` says why (``unknown_session``,
    ``no_such_range``, ``failed``)."""

    def __init__(self, message: str, code: str = "failed", details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details or {}


def tool_response_stream_id() -> int:
    """A response stream id for a short-lived tool (unlikely to meet another one's)."""
    return 0x4000_0000 + (os.getpid() % 0x10000) * 0x100 + int.from_bytes(os.urandom(1), "little")


class ArchiveClient:
    """Requests to the archiver on ``control_channel``/``control_stream_id``; replies come on
    ``control_channel``/``response_stream_id``."""

    def __init__(self, client: Client, control_channel: str, control_stream_id: int, response_stream_id: int,
                 *, timeout_s: float = 5.0, idle: str = "backoff", fragment_limit: int = 1024) -> None:
        from fixg.aeron import idle_strategy

        self.client = client
        self.timeout_s = timeout_s
        self.response_stream_id = response_stream_id
        self.fragment_limit = fragment_limit
        self._idle_name = idle
        self._idle = idle_strategy(idle)
        self.sub = client.add_subscription(control_channel, response_stream_id)
        try:
            self.pub = client.add_publication(control_channel, control_stream_id)
        except BaseException:
            self.sub.close()
            raise

    def close(self) -> None:
        self.pub.close()
        self.sub.close()

    def _offer(self, op: fmt.Op, body: dict[str, Any], deadline: float) -> int:
        corr = self.client.next_correlation_id()
        data = fmt.encode_request(op, corr, self.response_stream_id, body)
        self._idle.reset()
        while self.pub.try_offer(data) < 0:
            if time.monotonic() > deadline:
                raise FixTimeoutError("no archiver is listening on the control stream "
                                      f"({self.pub.channel} stream {self.pub.stream_id})")
            self._idle.idle(0)
        return corr

    def request(self, op: fmt.Op, body: dict[str, Any] | None = None, timeout_s: float | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        corr = self._offer(op, body or {}, deadline)
        found: list[tuple[fmt.Reply, Any]] = []

        def handler(buffer: memoryview, header: Header) -> None:
            kind, c, reply = fmt.decode_reply(buffer)
            if c == corr:
                found.append((kind, reply))

        self._idle.reset()
        while not found:
            if time.monotonic() > deadline:
                raise FixTimeoutError(f"the archiver did not answer request {op.name} in time")
            self._idle.idle(self.sub.poll(handler, self.fragment_limit))
        kind, reply = found[0]
        if kind == fmt.Reply.ERROR:
            raise ArchiveRequestError(str(reply.get("error")), str(reply.get("code", "failed")), reply)
        assert isinstance(reply, dict)
        return reply

    def replay(self, session: str, direction: int, begin: int, end: int, *, seq_index: int | None = None,
               timeout_s: float | None = None,
               progress: Callable[[int], None] | None = None) -> Iterator[tuple[int, fmt.DataRecord]]:
        """(end position, record) of the stored messages of ``session`` with
        ``begin <= seqnum <= end`` (end 0: to the last) in ``direction``, ascending. The
        time-out applies to each wait for more data, not to the whole replay."""
        wait = self.timeout_s if timeout_s is None else timeout_s
        body = {"session": session, "direction": direction, "begin": begin, "end": end, "seq_index": seq_index}
        corr = self._offer(fmt.Op.REPLAY, body, time.monotonic() + wait)
        batch: list[tuple[int, fmt.DataRecord]] = []
        state: dict[str, Any] = {}

        def handler(buffer: memoryview, header: Header) -> None:
            kind, c, reply = fmt.decode_reply(buffer)
            if c != corr:
                return
            if kind == fmt.Reply.REPLAY_DATA:
                batch.append(reply)
            elif kind == fmt.Reply.REPLAY_END:
                state["end"] = reply
            elif kind == fmt.Reply.ERROR:
                state["error"] = reply

        count = 0
        deadline = time.monotonic() + wait
        self._idle.reset()
        while True:
            n = self.sub.poll(handler, self.fragment_limit)
            if batch:
                count += len(batch)
                yield from batch
                batch.clear()
                deadline = time.monotonic() + wait
                if progress is not None:
                    progress(count)
            if "error" in state:
                err = state["error"]
                raise ArchiveRequestError(str(err.get("error")), str(err.get("code", "failed")), err)
            if "end" in state:
                return
            if time.monotonic() > deadline:
                raise FixTimeoutError(f"the archiver stopped answering replay {corr} of {session}")
            self._idle.idle(n)
