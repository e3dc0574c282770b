"""The archiver: records the Gateway's data and index streams, answers control requests.

One process, one thread, one duty-cycle loop on the media driver (an idle strategy between
cycles, never a busy spin)::

    poll the data and index subscriptions -> a frames record per data block, a message record
                                              per index entry (buffered) in their recordings
    flush (one write per recording) and fsync per policy -> advance the recorded-position counters
    publish the recorded-position and bytes counters (each cycle; a counter is written only on change)
    poll the control subscription -> answer requests; run replays in batches of replay_fragment_limit
    idle: index a recorded block (and always while more than INDEX_BACKLOG_LIMIT bytes wait)
    every 100 ms: the heartbeat counter, closing reply publications nobody uses any more

Between cycles the loop idles with the ``backoff`` strategy, or with ``replay_idle_strategy``
while replays are in progress. A request that cannot be read, or fails, is answered with an
ERROR reply (or ignored if it cannot be decoded): it never stops the archiver. Replies go out
through one queue per reply publication, so a requester that stopped reading delays only its
own replies (dropped after RESPONSE_CONNECT_TIMEOUT_S), and a replay that makes no progress for
that long is dropped.

Run it with ``fixg archive serve --config FILE``, or let the Gateway spawn it
(:func:`spawn`); ``python -m fixg.archive._child --settings JSON`` is what is spawned. A
spawned archiver watches a pipe from its parent: when the parent dies it records what is left
in the streams and exits. SIGTERM/SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import signal
import struct
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from fixg.archive import format as fmt
from fixg.archive.storage import Archive, Recording
from fixg.errors import AeronError, FixTimeoutError, StoreError

if TYPE_CHECKING:
    from fixg.aeron import Client, Counter, ExclusivePublication, Header, ImageInfo
    from fixg.config import Config

__all__ = ["ArchiverSettings", "Archiver", "ArchiverHandle", "spawn", "main"]

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 0.1
#: bytes of the data stream taken per image per duty cycle (at most): one frames record each, and
#: what a replay of one message from it reads back (and checks the CRC of)
DATA_BLOCK_LIMIT = 256 << 10
#: bytes recorded and not indexed yet past which the archiver indexes while busy too
INDEX_BACKLOG_LIMIT = 64 << 20
_FRAME_TERM_OFFSET = struct.Struct("<i")  # at byte 8
RESPONSE_CONNECT_TIMEOUT_S = 5.0
#: a reply publication with nothing queued, no replay, no subscriber and no use for this long is closed
RESPONSE_IDLE_CLOSE_S = 5.0
#: blocks polled from the other images when an image goes away, before its recording is stopped
GONE_DRAIN_POLLS = 8


@dataclass(frozen=True)
class ArchiverSettings:
    aeron_dir: str | None
    archive_dir: str
    archive_channel: str = "aeron:ipc"
    data_stream_id: int = 1001
    index_stream_id: int = 1002
    control_channel: str = "aeron:ipc"
    control_stream_id: int = 100
    fsync: str = "interval"
    fsync_interval_ms: int = 10
    segment_length: int = 64 << 20
    replay_fragment_limit: int = 1024
    replay_idle_strategy: str = "backoff"
    fragment_limit: int = 256
    driver_timeout_ms: int = 10_000

    @classmethod
    def from_config(cls, config: Config) -> ArchiverSettings:
        s, a = config.storage, config.aeron
        return cls(
            aeron_dir=a.aeron_dir, archive_dir=s.archive_dir, archive_channel=s.archive_channel,
            data_stream_id=s.data_stream_id, index_stream_id=s.index_stream_id,
            control_channel=a.control_channel, control_stream_id=a.control_stream_id,
            fsync=s.fsync, fsync_interval_ms=s.fsync_interval_ms, segment_length=s.segment_length,
            replay_fragment_limit=a.replay_fragment_limit, replay_idle_strategy=a.replay_idle_strategy,
            fragment_limit=a.fragment_limit, driver_timeout_ms=a.driver_timeout_ms,
        )  # fmt: skip


class _Replay:
    """A replay in progress: messages go out in batches, a back-pressured one is kept."""

    def __init__(self, correlation_id: int, pub: ExclusivePublication, items: Iterator[bytes]) -> None:
        self.correlation_id = correlation_id
        self.pub = pub
        self.items = items
        self.held: bytes | None = None
        self.count = 0
        self.done = False
        self.progress = time.monotonic()  # when a message last went out


class Archiver:
    """The archiver loop over an open :class:`Archive`."""

    def __init__(self, settings: ArchiverSettings) -> None:
        from fixg.aeron import Client, idle_strategy

        self.settings = settings
        self.archive = Archive(
            settings.archive_dir, segment_length=settings.segment_length, fsync=settings.fsync,
            fsync_interval_ms=settings.fsync_interval_ms,
        )  # fmt: skip
        self._stop = False
        self._parent_fd: int | None = None
        self._idle = idle_strategy("backoff")
        self._replay_idle = idle_strategy(settings.replay_idle_strategy)
        try:
            self.client: Client = Client(settings.aeron_dir, client_name="fixg-archiver",
                                         driver_timeout_ms=settings.driver_timeout_ms,
                                         fragment_limit=settings.fragment_limit)
        except BaseException:
            self.archive.close()
            raise
        try:
            self._joins: dict[tuple[int, int], int] = {}
            self._infos: dict[int, ImageInfo] = {}  # data stream images by session id
            #: stream id -> session ids of the images available now (image callbacks)
            self._images: dict[int, set[int]] = {settings.data_stream_id: set(), settings.index_stream_id: set()}
            self._gone: deque[tuple[int, int]] = deque()
            self._active: dict[tuple[int, int], Recording] = {}
            self._counters: dict[int, tuple[Counter, Counter]] = {}
            s = settings
            self.data_sub = self.client.add_subscription(
                s.archive_channel, s.data_stream_id,
                on_available_image=lambda i: self._available(s.data_stream_id, i),
                on_unavailable_image=lambda i: self._unavailable(s.data_stream_id, i),
            )  # fmt: skip
            self.index_sub = self.client.add_subscription(
                s.archive_channel, s.index_stream_id,
                on_available_image=lambda i: self._available(s.index_stream_id, i),
                on_unavailable_image=lambda i: self._unavailable(s.index_stream_id, i),
            )  # fmt: skip
            self.control_sub = self.client.add_subscription(s.control_channel, s.control_stream_id)
            self._responses: dict[int, ExclusivePublication] = {}
            self._response_used: dict[int, float] = {}  # reply stream id -> last use (monotonic)
            #: replies waiting for their publication (back-pressured or not connected yet), one
            #: queue per reply stream: (data, deadline)
            self._outbox: dict[int, deque[tuple[bytes, float]]] = {}
            self._replays: list[_Replay] = []
            self.heartbeat = self.client.add_counter(
                fmt.HEARTBEAT_COUNTER_TYPE, f"fixg archiver heartbeat pid={os.getpid()} dir={s.archive_dir}",
                fmt.COUNTER_KEY.pack(s.data_stream_id, 0, 0),
            )  # fmt: skip
            self.heartbeat.value = int(time.time() * 1000)
        except BaseException:
            self.client.close()
            self.archive.close()
            raise

    # -- recording ---------------------------------------------------------------------

    # The image handlers run on the Aeron client's conductor thread: they only replace whole
    # objects (atomic under the GIL); the loop thread reads them.
    def _available(self, stream_id: int, info: ImageInfo) -> None:
        self._joins[(stream_id, info.session_id)] = info.join_position
        if stream_id == self.settings.data_stream_id:
            self._infos[info.session_id] = info
        self._images[stream_id] = self._images[stream_id] | {info.session_id}

    def _unavailable(self, stream_id: int, info: ImageInfo) -> None:
        self._images[stream_id] = self._images[stream_id] - {info.session_id}
        self._gone.append((stream_id, info.session_id))

    def _recording(self, stream_id: int, session_id: int, position: int, length: int) -> Recording:
        rec = self._active.get((stream_id, session_id))
        if rec is None:
            kind = "data" if stream_id == self.settings.data_stream_id else "index"
            # a data recording starts where its first block does (a frames record is filed by position)
            start = position if kind == "data" else self._joins.get((stream_id, session_id), position - length)
            rec = self.archive.start_recording(kind, stream_id, session_id, self.settings.archive_channel, start)
            self._active[(stream_id, session_id)] = rec
            if kind == "data":
                key = fmt.COUNTER_KEY.pack(stream_id, session_id, rec.id)
                pos = self.client.add_counter(
                    fmt.RECORDED_POSITION_COUNTER_TYPE,
                    f"fixg recorded position: rec={rec.id} stream={stream_id} session={session_id}", key)
                size = self.client.add_counter(
                    fmt.RECORDING_BYTES_COUNTER_TYPE,
                    f"fixg recording bytes: rec={rec.id} stream={stream_id} session={session_id}", key)
                pos.value = rec.durable_position
                self._counters[rec.id] = (pos, size)
        return rec

    def _on_data(self, buffer: memoryview, header: Header) -> None:
        self._on_fragment(self.settings.data_stream_id, buffer, header)

    def _on_data_block(self, block: memoryview, session_id: int, term_id: int) -> None:
        """The data stream's hot path (``Subscription.block_poll``): a block of frames of one
        image, recorded by :meth:`Archive.record_block` with no call per message."""
        stream_id = self.settings.data_stream_id
        info = self._infos.get(session_id)
        if info is None:  # the image handler has not run yet
            image = self.data_sub.image_by_session_id(session_id)
            if image is None:
                raise StoreError(f"a block of the data stream from session {session_id}, which has no image")
            with image:
                info = self._infos[session_id] = image.info
        term_offset = _FRAME_TERM_OFFSET.unpack_from(block, 8)[0]
        position = ((term_id - info.initial_term_id) << info.position_bits_to_shift) + term_offset
        rec = self._active.get((stream_id, session_id))
        if rec is not None and rec.stop_position != position:
            # a discontinuity (a new image of the same session id): a new recording from here; the
            # Gateway sees a new recorded-position counter and republishes what is unrecorded
            log.warning("archiver: data from session %d at %d, recording %d ends at %d: a new recording",
                        session_id, position, rec.id, rec.stop_position)
            self._stop_recording((stream_id, session_id))
            rec = None
        if rec is None:
            rec = self._recording(stream_id, session_id, position, 0)
        self.archive.record_block(rec, block, position)

    def _on_index(self, buffer: memoryview, header: Header) -> None:
        self._on_fragment(self.settings.index_stream_id, buffer, header)

    def _on_fragment(self, stream_id: int, buffer: memoryview, header: Header) -> None:
        position = header.position
        images = self._images.get(stream_id)
        if images is not None and len(images) == 1:
            session_id = next(iter(images))  # one publisher: no need to read the header's fields
        else:
            session_id = header.values().session_id
        rec = self._active.get((stream_id, session_id))
        if rec is None:
            rec = self._recording(stream_id, session_id, position, len(buffer))
        self.archive.append(rec, position, buffer)

    def _stop_recording(self, key: tuple[int, int]) -> None:
        rec = self._active.pop(key, None)
        if rec is None:
            return
        self.archive.stop_recording(rec)
        counters = self._counters.pop(rec.id, None)
        if counters is not None:
            counters[0].value = rec.durable_position
            for c in counters:
                c.close()

    def _publish_positions(self) -> None:
        for rid, (pos, size) in self._counters.items():
            rec = self.archive.recordings[rid]
            if pos.value != rec.durable_position:
                pos.value = rec.durable_position
            size.value = rec.bytes_total + len(rec.pending)

    # -- control -----------------------------------------------------------------------

    def _response_pub(self, stream_id: int) -> ExclusivePublication:
        pub = self._responses.get(stream_id)
        if pub is None or pub.is_closed:
            pub = self.client.add_exclusive_publication(self.settings.control_channel, stream_id)
            self._responses[stream_id] = pub
        self._response_used[stream_id] = time.monotonic()
        return pub

    def _send(self, pub: ExclusivePublication, data: bytes) -> None:
        queue = self._outbox.get(pub.stream_id)
        if queue or self._try_offer(pub, data) < 0:
            if queue is None:
                queue = self._outbox[pub.stream_id] = deque()
            queue.append((data, time.monotonic() + RESPONSE_CONNECT_TIMEOUT_S))

    @staticmethod
    def _try_offer(pub: ExclusivePublication, data: bytes) -> int:
        """``pub.try_offer``; a publication that fails (closed under us) counts as never
        connected: its reply waits, then is dropped, like any other nobody reads."""
        try:
            return pub.try_offer(data)
        except AeronError as exc:
            log.warning("archiver: a reply on stream %d: %s", pub.stream_id, exc)
            return -1

    def _drain_outbox(self) -> int:
        work = 0
        for stream_id, queue in list(self._outbox.items()):
            pub = self._responses.get(stream_id)
            while queue and pub is not None:
                data, deadline = queue[0]
                if self._try_offer(pub, data) > 0:
                    queue.popleft()
                    work += 1
                elif time.monotonic() > deadline:
                    log.warning("archiver: dropping %d replies nobody reads (stream %d)", len(queue), stream_id)
                    queue.clear()  # the requester is gone: the rest would wait as long each
                else:
                    break
            if not queue or pub is None:
                del self._outbox[stream_id]
            else:
                self._response_used[stream_id] = time.monotonic()
        return work

    def _close_idle_responses(self, now: float) -> None:
        """Close the reply publications of requesters that are gone (a ``fixg archive`` run each):
        nothing queued, no replay, nobody subscribed, unused for RESPONSE_IDLE_CLOSE_S. The
        Gateway's stays: its subscription keeps it connected."""
        busy = {job.pub.stream_id for job in self._replays}
        for stream_id, pub in list(self._responses.items()):
            if stream_id in self._outbox or stream_id in busy:
                continue
            if now - self._response_used.get(stream_id, 0.0) < RESPONSE_IDLE_CLOSE_S:
                continue
            if not pub.is_closed and pub.is_connected:
                continue
            del self._responses[stream_id]
            self._response_used.pop(stream_id, None)
            try:
                pub.close()
            except AeronError as exc:
                log.warning("archiver: closing the reply publication of stream %d: %s", stream_id, exc)

    def _on_control(self, buffer: memoryview, header: Header) -> None:
        self.archive.index_deferred()  # every request sees everything recorded
        try:
            op, corr, stream, body = fmt.decode_request(buffer)
        except Exception as exc:  # struct.error, ValueError, ...: whatever a stray message causes
            log.warning("archiver: ignoring an unreadable control request (%d bytes): %s", len(buffer), exc)
            return
        try:
            pub = self._response_pub(stream)
        except Exception as exc:
            log.warning("archiver: no reply publication on stream %d for request %d: %s", stream, corr, exc)
            return
        try:
            reply = self._handle(op, corr, pub, body)
        except Exception as exc:  # a request that fails is answered, the archiver goes on
            log.warning("archiver: request %s (%d) failed: %s", op, corr, exc)
            self._send(pub, fmt.encode_reply(fmt.Reply.ERROR, corr, {"error": str(exc), "code": "failed"}))
            return
        if reply is not None:
            self._send(pub, fmt.encode_reply(fmt.Reply.OK, corr, reply))

    def _handle(self, op: fmt.Op, corr: int, pub: ExclusivePublication, body: dict[str, Any]) -> dict[str, Any] | None:
        archive = self.archive
        if op == fmt.Op.PING:
            return {"pid": os.getpid()}
        if op == fmt.Op.SESSIONS:
            return {"sessions": [s.to_json() for s in archive.sessions.values()]}
        if op == fmt.Op.RECORDINGS:
            return {"recordings": [r.describe() for r in sorted(archive.recordings.values(), key=lambda r: r.id)]}
        if op == fmt.Op.STATUS:
            out = archive.status()
            out["pid"] = os.getpid()
            out["active"] = [r.describe() for r in self._active.values()]
            out["replays_in_progress"] = len(self._replays)
            out["torn_bytes_truncated_at_start"] = archive.torn_bytes_truncated
            return out
        if op == fmt.Op.PURGE:
            deleted = archive.purge(int(body.get("keep_periods", 1)))
            return {"deleted": deleted}
        if op == fmt.Op.REPLAY:
            return self._start_replay(corr, pub, body)
        raise ValueError(f"unknown request {op}")

    def _start_replay(self, corr: int, pub: ExclusivePublication, body: dict[str, Any]) -> dict[str, Any] | None:
        archive = self.archive
        key = str(body["session"])
        direction = int(body.get("direction", fmt.DIR_OUT))
        begin, end = int(body.get("begin", 1)), int(body.get("end", 0))
        state = archive.sessions.get(key)
        if state is None:
            self._send(pub, fmt.encode_reply(fmt.Reply.ERROR, corr, {
                "error": f"the archive has no session {key!r}", "code": "unknown_session"}))
            return None
        seq_index = int(body.get("seq_index") or state.seq_index)
        slot = archive.lookup.get((key, direction, seq_index), {})
        if begin < 1 or (end and end < begin) or not any(begin <= n and (not end or n <= end) for n in slot):
            last = max(slot) if slot else 0
            self._send(pub, fmt.encode_reply(fmt.Reply.ERROR, corr, {
                "error": f"no messages {begin}..{end or 'end'} of {key} ({'out' if direction else 'in'}, "
                         f"sequence index {seq_index}) in the archive; it holds 1..{last}" if last else
                         f"no messages of {key} ({'out' if direction else 'in'}, sequence index {seq_index}) "
                         "in the archive",
                "code": "no_such_range", "last": last}))  # fmt: skip
            return None

        def items() -> Iterator[bytes]:
            for _n, position, payload in archive.replay(key, direction, seq_index, begin, end):
                yield fmt.encode_replay_data(corr, position, payload)

        self._replays.append(_Replay(corr, pub, items()))
        return None

    def _run_replays(self) -> int:
        work = 0
        limit = self.settings.replay_fragment_limit
        now = time.monotonic()
        for job in list(self._replays):
            sent = 0
            try:
                while sent < limit:
                    data = job.held
                    if data is None:
                        data = next(job.items, None)
                        if data is None:
                            job.done = True
                            break
                    if job.pub.try_offer(data) < 0:
                        job.held = data
                        break
                    job.held = None
                    job.count += 1
                    sent += 1
            except Exception as exc:  # reading the archive (StoreError), the publication (AeronError)
                log.warning("archiver: replay %d failed after %d messages: %s", job.correlation_id, job.count, exc)
                self._replays.remove(job)
                self._send(job.pub, fmt.encode_reply(fmt.Reply.ERROR, job.correlation_id,
                                                     {"error": f"the replay failed: {exc}", "code": "failed"}))
                continue
            work += sent
            if sent:
                job.progress = now
            if job.done:
                self._send(job.pub, fmt.encode_replay_end(job.correlation_id, job.count))
                self._replays.remove(job)
            elif now - job.progress > RESPONSE_CONNECT_TIMEOUT_S:
                log.warning("archiver: dropping replay %d: nobody has read it for %.0f s (stream %d)",
                            job.correlation_id, RESPONSE_CONNECT_TIMEOUT_S, job.pub.stream_id)
                self._replays.remove(job)
        return work

    # -- loop --------------------------------------------------------------------------

    def do_work(self) -> int:
        work = self.data_sub.block_poll(self._on_data_block, DATA_BLOCK_LIMIT)
        work += self.index_sub.poll(self._on_index, self.settings.fragment_limit)
        self.archive.flush()  # interval fsyncs happen when idle too
        self._publish_positions()
        while self._gone:
            key = self._gone.popleft()
            # what the gone image still had: a few polls (the other images' traffic must not
            # keep this loop going); a block of it that comes later starts a new recording
            for _ in range(GONE_DRAIN_POLLS):
                if key[0] == self.settings.data_stream_id:
                    polled = self.data_sub.block_poll(self._on_data_block, DATA_BLOCK_LIMIT)
                else:
                    polled = self.index_sub.poll(self._on_index, self.settings.fragment_limit)
                if not polled:
                    break
                self.archive.flush()
            self._stop_recording(key)
            self._publish_positions()
        # index what was recorded: a block per idle cycle, so that recording never waits long for
        # the index (a block of DATA_BLOCK_LIMIT is about a millisecond of work), and whatever it
        # takes, busy or not, to keep at most INDEX_BACKLOG_LIMIT bytes unindexed
        while self.archive.unindexed > INDEX_BACKLOG_LIMIT:
            work += 1 + self.archive.index_deferred(1)
        if not work:
            work += self.archive.index_deferred(1)
        work += self.control_sub.poll(self._on_control, 16)
        work += self._drain_outbox()
        work += self._run_replays()
        return work

    def run(self, ready: Any = None) -> None:
        try:
            last_beat = 0.0
            if ready is not None:
                ready(self)
            orphaned_at: float | None = None
            while not self._stop:
                work = self.do_work()
                now = time.monotonic()
                if now - last_beat >= HEARTBEAT_INTERVAL_S:
                    last_beat = now
                    self.heartbeat.value = int(time.time() * 1000)
                    self._close_idle_responses(now)
                    if orphaned_at is None and self._parent_gone():
                        log.warning("archiver: the parent process is gone; recording what is left, then exiting")
                        orphaned_at = now
                if orphaned_at is not None and (work == 0 and now - orphaned_at > 0.3 or now - orphaned_at > 5.0):
                    break
                # replay_idle_strategy: how the loop waits between cycles while replays run
                (self._replay_idle if self._replays else self._idle).idle(work)
        finally:
            self.close()

    def _parent_gone(self) -> bool:
        fd = self._parent_fd
        if fd is None:
            return False
        readable, _, _ = select.select([fd], [], [], 0)
        return bool(readable)

    def stop(self) -> None:
        self._stop = True

    def close(self) -> None:
        try:
            for _ in range(100):
                if not (self.data_sub.block_poll(self._on_data_block, DATA_BLOCK_LIMIT)
                        + self.index_sub.poll(self._on_index)):
                    break
            for key in list(self._active):
                self._stop_recording(key)
            self.archive.sync()
        finally:
            try:
                self.client.close()
            finally:
                self.archive.close()


# ----------------------------------------------------------------------------------------
# The child process


class ArchiverHandle:
    """An archiver process spawned by :func:`spawn`."""

    def __init__(self, process: subprocess.Popen[bytes], parent_w: int, info: dict[str, Any]) -> None:
        self.process = process
        self.pid = process.pid
        self.info = info
        self._parent_w = parent_w

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._close_fds()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("archiver %d did not stop in %.1f s: killing it", self.pid, timeout_s)
                self.process.kill()
                self.process.wait()
        self._close_fds()

    def _close_fds(self) -> None:
        if self._parent_w >= 0:
            os.close(self._parent_w)
            self._parent_w = -1
        if self.process.stdout is not None:
            self.process.stdout.close()


def spawn(settings: ArchiverSettings, *, timeout_s: float = 10.0) -> ArchiverHandle:
    """Start an archiver child process; returns once it serves (its subscriptions and counters
    are in place). It exits by itself, after recording what is left, when this process dies."""
    parent_r, parent_w = os.pipe()
    env = dict(os.environ)
    # the child imports the same fixg as this process (a source tree or an installed one)
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "fixg.archive._child", "--settings", json.dumps(asdict(settings)),
             "--parent-fd", str(parent_r)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, pass_fds=(parent_r,), env=env,
            # not in the parent's process group: a Ctrl-C there must not stop the archiver before the
            # parent has logged its sessions out (and recorded it); the pipe ends it with the parent
            start_new_session=True,
        )  # fmt: skip
    except OSError:
        os.close(parent_w)
        raise
    finally:
        os.close(parent_r)
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    line = b""
    fd = process.stdout.fileno()
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        readable, _, _ = select.select([fd], [], [], max(0.0, left))
        if not readable:
            process.kill()
            process.wait()
            process.stdout.close()
            os.close(parent_w)
            raise FixTimeoutError(f"the archiver did not start within {timeout_s} s")
        chunk = os.read(fd, 4096)
        if not chunk:
            code = process.wait()
            process.stdout.close()
            os.close(parent_w)
            raise StoreError(f"the archiver exited with status {code} before it was ready (see its log above)")
        line += chunk
    info = json.loads(line)
    return ArchiverHandle(process, parent_w, info)


def serve(settings: ArchiverSettings, *, parent_fd: int | None = None, announce: bool = False) -> int:
    archiver = Archiver(settings)
    archiver._parent_fd = parent_fd

    def on_signal(_sig: int, _frame: Any) -> None:
        archiver.stop()

    old = [signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)]
    try:
        def ready(a: Archiver) -> None:
            info = {"ready": True, "pid": os.getpid(), "heartbeat_counter_id": a.heartbeat.counter_id,
                    "archive_dir": settings.archive_dir}
            if announce:
                sys.stdout.write(json.dumps(info) + "\n")
                sys.stdout.flush()
            else:
                print(f"fixg archiver: recording {settings.archive_channel} streams {settings.data_stream_id}/"
                      f"{settings.index_stream_id} into {settings.archive_dir}; control {settings.control_channel} "
                      f"stream {settings.control_stream_id}", flush=True)

        archiver.run(ready)
    finally:
        for sig, handler in zip((signal.SIGTERM, signal.SIGINT), old):
            signal.signal(sig, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fixg.archive._child")
    parser.add_argument("--settings", required=True)
    parser.add_argument("--parent-fd", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="fixg archiver %(process)d: %(levelname)s %(message)s")
    settings = ArchiverSettings(**json.loads(args.settings))
    try:
        return serve(settings, parent_fd=args.parent_fd, announce=True)
    except (StoreError, AeronError) as exc:
        print(f"fixg archiver: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
