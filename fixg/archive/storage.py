"""The archive on disk: recordings in segment files, the catalog, recovery, and what the
archiver derives from the records (each session's sequence state and the seqnum lookup).

Layout of an archive directory::

    catalog.json                 recordings: id, kind, stream, publication session, channel,
                                 start/stop positions and times, segment numbers (atomic writes)
    rec-00000001-000000.seg      records of recording 1, first segment
    rec-00000001-000001.seg      ... a new segment when one reaches ``segment_length`` bytes
    LOCK                         held (flock) by the archiver that writes the directory

A record is ``<I length><I crc32><q end position> payload`` (see :mod:`fixg.archive.format`):
a *frames record* holds a block of the data stream's Aeron frames as they were in the log (the
archiver's recordings, :meth:`Archive.record_block`), a *message record* one data record or
index entry. At start-up every segment is scanned: the records are checked (length and CRC) and
indexed. A torn record at the end of a recording's last segment is truncated away and the
catalog's stop position set from what is really there, but only where a crash mid-write can
have left it: the recording was still open (no stop time in the catalog) and the record is
either cut short (its declared length, at most ``segment_length`` or 64 MiB if that is
larger, runs past the end of the last segment) or fails its CRC with nothing but zeros after it. Damage anywhere else (a stopped
recording, a length no writer could have declared, a missing segment file other than the
last) is a :class:`~fixg.errors.StoreError` naming the file and byte. Read-only opening
(inspection tools) takes no lock and changes nothing: a torn tail is skipped.

The seqnum lookup maps each message to (recording id, end position): recordings can share a
publication session id and positions (journal imports all start at 0), a recording id cannot.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import time
import zlib
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fixg.archive import format as fmt
from fixg.errors import StoreError
from fixg.store.base import lock_directory

__all__ = ["Archive", "Recording", "SessionState"]

log = logging.getLogger(__name__)

CATALOG = "catalog.json"
CATALOG_VERSION = 1
_HDR = fmt.SEGMENT_HEADER
_PACK_HDR = _HDR.pack
_PACK_Q = struct.Struct("<q").pack
_CRC32 = zlib.crc32
#: a data record's kind, direction, key length, sequence index, number and the key itself, for
#: a key of the given length (the key is read with the header: one unpack)
_DATA_HEAD: dict[int, struct.Struct] = {}


def _data_head(key_length: int) -> struct.Struct:
    head = _DATA_HEAD.get(key_length)
    if head is None:
        head = _DATA_HEAD[key_length] = struct.Struct(f"<BBHIq16x{key_length}s")
    return head
_DATA_SIZE = fmt.DATA_HEADER_SIZE
_FRAME = struct.Struct("<i xBH")  # an Aeron frame header's length, flags and type
_FRAMES = fmt.FRAMES_FLAG
_MASK = fmt.LENGTH_MASK
#: frames records read back, by (recording id, segment, file offset): a replay reads a block once
_BLOCK_CACHE_SIZE = 8
#: segment files kept open for reading (least recently used closed first)
_READ_FDS = 64


def _whole_frames(block: memoryview, limit: int) -> int:
    """The length of the longest run of whole frames at the start of ``block`` that fits in
    ``limit`` bytes (0 if the first frame is longer)."""
    offset = 0
    unpack_frame = _FRAME.unpack_from
    while offset < len(block):
        step = (unpack_frame(block, offset)[0] + 31) & -32
        if step <= 0:
            raise StoreError(f"a block with a frame of length {step} at byte {offset}")
        if offset + step > limit:
            return offset
        offset += step
    return offset


def segment_name(recording_id: int, segment: int) -> str:
    return f"rec-{recording_id:08d}-{segment:06d}.seg"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_all(fds: list[int]) -> None:
    for fd in fds:
        os.fsync(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


@dataclass
class Recording:
    """One recorded stream image: a data or index publication of one Gateway run."""

    id: int
    kind: str  # "data" | "index"
    stream_id: int
    session_id: int
    channel: str
    start_position: int
    stop_position: int
    start_time: float
    stop_time: float | None = None
    segments: list[int] = field(default_factory=lambda: [0])
    # in memory
    #: end position of each message -> where it is: (segment, file offset) of a message record,
    #: (segment, file offset, frame offset in the payload) of a message in a frames record
    offsets: dict[int, tuple[int, ...]] = field(default_factory=dict, repr=False)
    size: int = 0  # bytes of the last segment on disk (written)
    bytes_total: int = 0
    pending: bytearray = field(default_factory=bytearray, repr=False)
    written_position: int = 0  # end position of the last record written to the OS
    durable_position: int = 0  # end position of the last record fsynced (or written: fsync never)
    fd: int = -1
    dirty: bool = False
    periods: set[tuple[str, int]] = field(default_factory=set, repr=False)
    #: (raw key, direction, sequence index) -> (session state, lookup slot) of MSG records of
    #: the session's current period seen in this recording: what :meth:`Archive._index_frames` updates
    hot: dict[tuple[bytes, int, int], tuple[SessionState, dict[int, tuple[int, int]]]] = field(
        default_factory=dict, repr=False)
    head: struct.Struct | None = field(default=None, repr=False)  # a data recording's record header + key
    #: a message in fragments being indexed: where its first frame is, what came so far
    partial: tuple[tuple[int, int, int], bytearray] | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        return self.stop_time is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "stream_id": self.stream_id, "session_id": self.session_id,
            "channel": self.channel, "start_position": self.start_position, "stop_position": self.stop_position,
            "start_time": self.start_time, "stop_time": self.stop_time, "segments": list(self.segments),
        }  # fmt: skip

    def describe(self) -> dict[str, Any]:
        out = self.to_json()
        out.update(bytes=self.bytes_total, records=len(self.offsets), active=self.active,
                   recorded_position=self.durable_position)
        return out


@dataclass
class SessionState:
    """What the archive says about a session's current sequence index."""

    key: str
    seq_index: int = 0
    creation_time: float = 0.0
    next_sender: int = 1
    next_target: int = 1
    sent: int = 0
    received: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.key, "seq_index": self.seq_index, "creation_time": self.creation_time,
            "next_sender_seq_num": self.next_sender, "next_target_seq_num": self.next_target,
            "sent": self.sent, "received": self.received,
        }  # fmt: skip


_NO_STATE = SessionState("")  # a placeholder until record_block has found an entry

#: (session key, direction, sequence index) -> seqnum -> (recording id, end position)
Lookup = dict[tuple[str, int, int], dict[int, tuple[int, int]]]


class Archive:
    """An archive directory, opened for recording (the archiver) or read-only (tools)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        segment_length: int = 64 << 20,
        fsync: str = "interval",
        fsync_interval_ms: int = 10,
        readonly: bool = False,
    ) -> None:
        if fsync not in ("always", "interval", "never"):
            raise StoreError(f"unknown fsync policy {fsync!r}")
        self.root = Path(root)
        self.segment_length = segment_length
        self.fsync = fsync
        self.fsync_interval = fsync_interval_ms / 1000.0
        self.readonly = readonly
        self.recordings: dict[int, Recording] = {}
        self.sessions: dict[str, SessionState] = {}
        self.lookup: Lookup = {}
        self.torn_bytes_truncated = 0
        self._lock_fd = -1
        self._next_id = 1
        self._last_sync = time.monotonic()
        self._read_fds: OrderedDict[tuple[int, int], int] = OrderedDict()  # an LRU of _READ_FDS
        self._executor: ThreadPoolExecutor | None = None
        self._sync_future: Future[None] | None = None
        self._sync_targets: list[tuple[Recording, int]] = []
        #: frames records written by record_block, not indexed yet:
        #: (recording, segment, file offset, payload, end position)
        self._deferred: deque[tuple[Recording, int, int, bytes, int]] = deque()
        self._deferred_bytes = 0
        self._blocks: OrderedDict[tuple[int, int, int], tuple[int, bytes]] = OrderedDict()
        try:
            if readonly:
                if not self.root.is_dir():
                    raise StoreError(f"no archive at {self.root}")
            else:
                self.root.mkdir(parents=True, exist_ok=True)
                self._lock()
            self._recover()
        except OSError as exc:
            self.close()
            raise StoreError(f"cannot open the archive {self.root}: {exc.strerror or exc}") from exc
        except BaseException:
            self.close()
            raise

    # -- opening -----------------------------------------------------------------------

    def _lock(self) -> None:
        self._lock_fd = lock_directory(self.root, f"the archive {self.root} is in use by another archiver")

    def _recover(self) -> None:
        try:
            raw = (self.root / CATALOG).read_bytes()
        except FileNotFoundError:
            raw = b""
        if raw:
            try:
                obj = json.loads(raw)
                if obj.get("version") != CATALOG_VERSION:
                    raise ValueError(f"catalog version {obj.get('version')!r}")
                entries = obj["recordings"]
                self._next_id = int(obj.get("next_id", 1))
            except (ValueError, KeyError, TypeError) as exc:
                raise StoreError(f"{self.root / CATALOG}: unreadable catalog: {exc}") from exc
            for e in entries:
                rec = Recording(
                    int(e["id"]), str(e["kind"]), int(e["stream_id"]), int(e["session_id"]), str(e["channel"]),
                    int(e["start_position"]), int(e["stop_position"]), float(e["start_time"]),
                    None if e.get("stop_time") is None else float(e["stop_time"]), [int(s) for s in e["segments"]],
                )  # fmt: skip
                self.recordings[rec.id] = rec
                self._next_id = max(self._next_id, rec.id + 1)
        changed = False
        # data recordings first: their entries are authoritative, and an index entry (publication
        # session id, position) is resolved against the data recordings already scanned
        ordered = sorted(self.recordings.values(), key=lambda r: (r.kind != "data", r.id))
        for rec in ordered:
            before = (rec.stop_position, rec.stop_time)
            self._scan_recording(rec)
            if rec.stop_time is None and not self.readonly:
                rec.stop_time = time.time()  # the archiver that recorded it is gone
            changed |= before != (rec.stop_position, rec.stop_time)
        if changed and not self.readonly:
            self._write_catalog()

    def _scan_recording(self, rec: Recording) -> None:
        position = rec.start_position
        was_open = rec.stop_time is None  # only a recording open at a crash can end torn
        for i, seg in enumerate(rec.segments):
            path = self.root / segment_name(rec.id, seg)
            last = i == len(rec.segments) - 1
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                if not last:
                    raise StoreError(f"{path}: missing (segment {seg} of recording {rec.id}; later ones exist)") from None
                if not self.readonly:
                    path.touch()  # created and cataloged, never written (never reopened for writing)
                    _fsync_dir(self.root)
                data = b""
            offset = 0
            view = memoryview(data)
            while offset < len(data):
                if offset + _HDR.size > len(data):
                    if not (last and was_open):
                        raise StoreError(f"{path}: a record header cut short at byte {offset} (recording "
                                         f"{rec.id} {'stopped' if not was_open else 'open'}, segment {seg})")
                    break
                length, check, pos = _HDR.unpack_from(data, offset)
                frames = length & _FRAMES
                length &= _MASK
                end = offset + _HDR.size + length
                if end > len(data):
                    # a write cut short, or a damaged length field: only the first is a torn tail
                    if not (last and was_open and length <= max(self.segment_length, 64 << 20)):
                        raise StoreError(f"{path}: the record at byte {offset} declares {length} bytes, past the end "
                                         f"of the file ({len(data) - offset - _HDR.size} follow; recording {rec.id} "
                                         f"{'stopped' if not was_open else 'open'})")
                    break
                payload = view[offset + _HDR.size : end]
                if fmt.crc(pos, payload) != check:
                    if data[end:].strip(b"\0") or not (last and was_open):  # not a write cut short
                        raise StoreError(f"{path}: corrupt record at byte {offset} ({len(data) - end} bytes "
                                         f"of the recording follow it; recording {rec.id} "
                                         f"{'stopped' if not was_open else 'open'})")
                    break
                if frames:
                    self._index_frames(rec, seg, offset, payload, pos)
                else:
                    rec.offsets[pos] = (seg, offset)
                    self._apply(rec, pos, payload)
                position = pos
                offset = end
            if offset < len(data):
                if not last:
                    raise StoreError(f"{path}: corrupt record at byte {offset} (not at the end of the recording)")
                torn = len(data) - offset
                if not self.readonly:
                    log.warning("archive %s: truncating a torn record at byte %d (%d bytes)", path, offset, torn)
                    with open(path, "r+b") as fh:
                        fh.truncate(offset)
                        fh.flush()
                        os.fsync(fh.fileno())
                    self.torn_bytes_truncated += torn
            rec.bytes_total += offset
            rec.size = offset
            view.release()
        rec.stop_position = max(position, rec.start_position)
        rec.written_position = rec.durable_position = rec.stop_position
        rec.hot.clear()  # only a recording in progress keeps its entries
        rec.partial = None  # a message the recording never finished

    def _apply(self, rec: Recording, position: int, payload: bytes | bytearray | memoryview) -> None:
        if rec.kind == "index":
            e = fmt.decode_index(payload)
            rec.periods.add((e.key, e.seq_index))
            # another publisher's entry: (publication session id, position) means the newest data
            # recording of that session holding the position; none (yet): dropped, the data's own
            # index covers it when the data arrives. Data-derived entries win.
            target = self._resolve(e.session_id, e.position)
            if target is not None:
                self.lookup.setdefault((e.key, e.direction, e.seq_index), {}).setdefault(e.seq_num, (target, e.position))
            return
        try:
            kind, direction, seq_index, number, second, when, key = fmt.decode_data_header(payload)
        except StoreError as exc:
            raise StoreError(f"{self.root}: recording {rec.id} at position {position}: {exc}") from exc
        period = (key, seq_index)
        if period not in rec.periods:
            rec.periods.add(period)
        state = self.sessions.get(key)
        if state is None:
            state = self.sessions[key] = SessionState(key)
        if kind == fmt.Kind.BEGIN:
            if seq_index > state.seq_index:
                state.seq_index, state.creation_time = seq_index, when
                state.next_sender = state.next_target = 1
                state.sent = state.received = 0
                for r in self.recordings.values():
                    r.hot.clear()  # entries of the old period must go through here again
            return
        if seq_index != state.seq_index:
            return  # a late copy from an older period
        if kind == fmt.Kind.MSG:
            slot_key = (key, direction, seq_index)
            slot = self.lookup.get(slot_key)
            if slot is None:
                slot = self.lookup[slot_key] = {}
            slot[number] = (rec.id, position)  # the last copy of a seqnum counts (like the journal)
            raw = key.encode()
            rec.hot[(raw, direction, seq_index)] = (state, slot)
            if rec.head is None:
                rec.head = _data_head(len(raw))
            if direction == fmt.DIR_OUT:
                state.sent += 1
                if number >= state.next_sender:
                    state.next_sender = number + 1
            else:
                state.received += 1
                if number >= state.next_target:
                    state.next_target = number + 1
        else:
            state.next_sender, state.next_target = number, second

    # -- recording -----------------------------------------------------------------------

    def start_recording(self, kind: str, stream_id: int, session_id: int, channel: str, start_position: int) -> Recording:
        self._writable()
        rec = Recording(self._next_id, kind, stream_id, session_id, channel, start_position, start_position,
                        time.time())  # fmt: skip
        rec.written_position = rec.durable_position = start_position
        self._next_id += 1
        self._open_segment(rec, 0)  # (a StoreError: not cataloged)
        self.recordings[rec.id] = rec
        self._write_catalog()
        log.info("archive %s: recording %d (%s) of stream %d session %d from position %d",
                 self.root, rec.id, kind, stream_id, session_id, start_position)
        return rec

    def _open_segment(self, rec: Recording, seg: int) -> None:
        if rec.fd >= 0:
            os.close(rec.fd)
            rec.fd = -1
        path = self.root / segment_name(rec.id, seg)
        try:
            # always a new file: recordings are never reopened for writing, so one that exists is
            # left over from something else and is not appended to
            rec.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
            rec.size = 0
            if seg not in rec.segments:
                rec.segments.append(seg)
            _fsync_dir(self.root)
        except OSError as exc:
            raise StoreError(f"cannot create {path}: {exc.strerror or exc}") from exc

    def append(self, rec: Recording, position: int, payload: bytes | memoryview) -> None:
        """Add one record (buffered until :meth:`flush`) and apply it."""
        if self._deferred:
            self.index_deferred()  # in order
        length = _HDR.size + len(payload)
        offset = rec.size + len(rec.pending)
        if offset > 0 and offset + length > self.segment_length:
            self._rotate(rec)
            offset = 0
        rec.pending += fmt.encode_segment_record(position, payload)
        rec.offsets[position] = (rec.segments[-1], offset)
        rec.stop_position = position
        self._apply(rec, position, payload)

    def record_block(self, rec: Recording, block: Any, position: int) -> None:
        """Record ``block``, contiguous Aeron frames of ``rec``'s image starting at stream
        ``position`` (``Subscription.block_poll``): the archiver's hot path.

        The block is stored as it is, as one *frames record* (one CRC, one copy; split at a frame
        boundary where a segment is full): nothing is done per message here. The messages are
        *indexed* (offsets, seqnum lookup, session state) later by :meth:`index_deferred`, when
        the archiver is idle or before it answers a request, so the durable position does not
        wait for the index.
        """
        if position != rec.stop_position:
            # a gap (or an overlap): the frames would be filed under wrong positions. The archiver
            # starts a new recording at a discontinuity, so this is a bug, not a stream event.
            raise StoreError(f"{self.root}: recording {rec.id} ends at {rec.stop_position}, "
                             f"not at {position} where the block starts")
        view = block if isinstance(block, memoryview) else memoryview(block)
        limit = self.segment_length
        while len(view):
            size = rec.size + len(rec.pending)  # file offset of the record
            room = limit - size - _HDR.size
            n = len(view)
            if n > room:
                n = _whole_frames(view, room)
                if n == 0:
                    if size > 0:
                        self._rotate(rec)
                        continue
                    n = min(len(view), (_FRAME.unpack_from(view)[0] + 31) & -32)  # a frame longer than a segment
            piece = bytes(view[:n])
            position += n
            pending = rec.pending
            pending += _PACK_HDR(n | _FRAMES, _CRC32(piece, _CRC32(_PACK_Q(position))), position)
            pending += piece
            rec.stop_position = position
            self._deferred.append((rec, rec.segments[-1], size, piece, position))
            self._deferred_bytes += n
            view = view[n:]

    def _rotate(self, rec: Recording) -> None:
        """Close the recording's segment (written and fsynced) and start the next one."""
        self._flush_one(rec)
        self._sync_one(rec)
        self._open_segment(rec, rec.segments[-1] + 1)
        self._write_catalog()

    def index_deferred(self, blocks: int = 0) -> int:
        """Index the frames records :meth:`record_block` wrote, all of them or the oldest
        ``blocks``; returns how many messages."""
        deferred = self._deferred
        count = 0
        while deferred:
            rec, seg, offset, payload, position = deferred.popleft()
            self._deferred_bytes -= len(payload)
            count += self._index_frames(rec, seg, offset, payload, position)
            blocks -= 1
            if blocks == 0:
                break
        return count

    @property
    def unindexed(self) -> int:
        """Bytes of frames records written and not indexed yet."""
        return self._deferred_bytes

    def _index_frames(self, rec: Recording, seg: int, record_offset: int, payload: Any, end_position: int) -> int:
        """Index the messages of a frames record (at ``record_offset`` of segment ``seg``,
        ending at stream position ``end_position``); returns how many.

        A MSG record of a session's current period updates the session state and the lookup
        through ``rec.hot``, reusing the last message's entry (an unpack of the frame header, an
        unpack of the data header and key, two dict updates); anything else goes through
        :meth:`_apply`. A message in fragments is put together in ``rec.partial``, across records.
        """
        offsets = rec.offsets
        hot = rec.hot
        rid = rec.id
        head = rec.head
        hsize, hklen = (head.size, head.size - _DATA_SIZE) if head is not None else (1 << 62, -1)
        last_key: bytes | None = None  # the hot entry of the last MSG record: key, direction, seq index
        last_direction = last_seq_index = -1
        state = _NO_STATE
        slot: dict[int, tuple[int, int]] = {}
        unpack_frame = _FRAME.unpack_from
        size = len(payload)
        base = end_position - size  # the stream position of the record's first frame
        offset = 0
        count = 0
        while offset < size:
            frame_length, flags, frame_type = unpack_frame(payload, offset)
            if frame_length <= 0:
                raise StoreError(f"{self.root}: recording {rec.id} segment {seg} byte {record_offset}: "
                                 f"a frame of length {frame_length} at {offset}")
            frame = offset
            offset += (frame_length + 31) & -32
            if frame_type != 1:
                continue  # padding
            start = frame + 32
            stop = frame + frame_length
            position = base + offset
            if flags & 0xC0 != 0xC0:  # a fragment
                if flags & 0x80:
                    rec.partial = ((seg, record_offset, frame), bytearray(payload[start:stop]))
                    continue
                if rec.partial is None:
                    continue  # the rest of a message begun before the recording
                rec.partial[1].extend(payload[start:stop])
                if not flags & 0x40:
                    continue
                where, message = rec.partial
                rec.partial = None
                offsets[position] = where
                count += 1
                last_key = None
                self._apply(rec, position, message)
                head = rec.head
                hsize, hklen = (head.size, head.size - _DATA_SIZE) if head is not None else (1 << 62, -1)
                continue
            offsets[position] = (seg, record_offset, frame)
            count += 1
            if stop - start >= hsize:
                kind, direction, klen, seq_index, number, key = head.unpack_from(payload, start)  # type: ignore[union-attr]
                if kind == 1 and klen == hklen:
                    if key != last_key or direction != last_direction or seq_index != last_seq_index:
                        entry = hot.get((key, direction, seq_index))
                        if entry is None:
                            self._apply(rec, position, payload[start:stop])
                            continue
                        state, slot = entry
                        last_key, last_direction, last_seq_index = key, direction, seq_index
                    slot[number] = (rid, position)  # the last copy counts
                    if direction:
                        state.sent += 1
                        if number >= state.next_sender:
                            state.next_sender = number + 1
                    else:
                        state.received += 1
                        if number >= state.next_target:
                            state.next_target = number + 1
                    continue
                if kind == 1 and stop - start >= _DATA_SIZE + klen:
                    rec.head = _data_head(klen)  # another key length than the last record's
            last_key = None  # a BEGIN may clear rec.hot
            self._apply(rec, position, payload[start:stop])
            head = rec.head
            hsize, hklen = (head.size, head.size - _DATA_SIZE) if head is not None else (1 << 62, -1)
        return count

    def _flush_one(self, rec: Recording) -> None:
        if not rec.pending:
            return
        data = rec.pending
        try:
            written = os.write(rec.fd, data)
            if written < len(data):
                view = memoryview(data)
                try:
                    while written < len(data):
                        written += os.write(rec.fd, view[written:])
                finally:
                    view.release()
        except OSError as exc:
            raise StoreError(f"cannot write recording {rec.id} in {self.root}: {exc.strerror}") from exc
        rec.size += len(data)
        rec.bytes_total += len(data)
        rec.pending.clear()
        rec.written_position = rec.stop_position
        rec.dirty = True
        if self.fsync == "never":
            rec.durable_position = rec.written_position

    def _sync_one(self, rec: Recording) -> None:
        self._reap_sync(wait=True)  # no fsync of this recording's file still runs in the background
        if rec.dirty and rec.fd >= 0:
            try:
                os.fsync(rec.fd)
            except OSError as exc:
                raise StoreError(f"cannot fsync recording {rec.id} in {self.root}: {exc.strerror}") from exc
            rec.dirty = False
        rec.durable_position = rec.written_position

    def flush(self, now: float | None = None) -> None:
        """Write what was appended; fsync per the policy. Durable positions advance."""
        now = time.monotonic() if now is None else now
        active = [r for r in self.recordings.values() if r.fd >= 0]
        for rec in active:
            self._flush_one(rec)
        if self.fsync == "always":
            for rec in active:
                self._sync_one(rec)
            self._last_sync = now
        elif self.fsync == "interval":
            self._reap_sync(wait=False)
            if self._sync_future is None and now - self._last_sync >= self.fsync_interval:
                self._last_sync = now
                self._start_sync(active)

    # "interval": the fsyncs run on a thread (os.fsync releases the GIL), so recording goes on
    # meanwhile; the durable positions advance, to what was written when the fsync started,
    # once it has returned. Anything that closes or fsyncs a file itself waits for it first.

    def _start_sync(self, active: list[Recording]) -> None:
        targets = []
        for rec in active:
            if rec.dirty:
                targets.append((rec, rec.fd, rec.written_position))
                rec.dirty = False
            else:
                rec.durable_position = rec.written_position  # already fsynced
        if not targets:
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="fixg-archive-fsync")
        fds = [fd for _rec, fd, _pos in targets]
        self._sync_targets = [(rec, pos) for rec, _fd, pos in targets]
        self._sync_future = self._executor.submit(_fsync_all, fds)

    def _reap_sync(self, *, wait: bool) -> None:
        future = self._sync_future
        if future is None or not (wait or future.done()):
            return
        self._sync_future = None
        targets, self._sync_targets = self._sync_targets, []
        try:
            future.result()
        except OSError as exc:
            for rec, _pos in targets:
                rec.dirty = True
            raise StoreError(f"cannot fsync a recording in {self.root}: {exc.strerror}") from exc
        for rec, pos in targets:
            if pos > rec.durable_position:
                rec.durable_position = pos

    def sync(self) -> None:
        for rec in self.recordings.values():
            if rec.fd >= 0:
                self._flush_one(rec)
                self._sync_one(rec)

    def stop_recording(self, rec: Recording) -> None:
        self.index_deferred()
        self._flush_one(rec)
        self._sync_one(rec)
        if rec.fd >= 0:
            os.close(rec.fd)
            rec.fd = -1
        rec.stop_time = time.time()
        self._write_catalog()
        log.info("archive %s: recording %d stopped at position %d", self.root, rec.id, rec.stop_position)

    def _write_catalog(self) -> None:
        obj = {"version": CATALOG_VERSION, "next_id": self._next_id,
               "recordings": [r.to_json() for r in sorted(self.recordings.values(), key=lambda r: r.id)]}
        try:
            _atomic_write(self.root / CATALOG, json.dumps(obj, indent=1).encode())
        except OSError as exc:
            raise StoreError(f"cannot write {self.root / CATALOG}: {exc.strerror}") from exc

    def _writable(self) -> None:
        if self.readonly:
            raise StoreError(f"the archive {self.root} is open read-only")

    # -- reading -----------------------------------------------------------------------

    def read(self, rec: Recording, position: int) -> bytes | None:
        """The payload of the message of ``rec`` ending at ``position`` (None if absent)."""
        where = rec.offsets.get(position)
        if where is None:
            return None
        if len(where) == 3:
            return self._read_frames(rec, *where)
        seg, offset = where
        got = self._record(rec, seg, offset)
        if got is None or got[0] != position:
            raise StoreError(f"recording {rec.id} segment {seg}: no record ending at {position} at byte {offset}")
        return bytes(got[1])

    def _read_frames(self, rec: Recording, seg: int, offset: int, frame: int) -> bytes:
        """A message in frames records: the frame at ``frame`` of the record at ``offset`` of
        segment ``seg``, and, for a message in fragments, the frames after it up to its END."""
        got = self._record(rec, seg, offset)
        if got is None:
            raise StoreError(f"recording {rec.id} segment {seg}: no record at byte {offset}")
        payload = got[1]
        frame_length, flags, _type = _FRAME.unpack_from(payload, frame)
        if flags & 0xC0 == 0xC0:
            return bytes(payload[frame + 32 : frame + frame_length])
        parts: list[bytes] = []
        while True:
            while frame < len(payload):
                frame_length, flags, frame_type = _FRAME.unpack_from(payload, frame)
                if frame_type == 1:
                    parts.append(bytes(payload[frame + 32 : frame + frame_length]))
                    if flags & 0x40:
                        return b"".join(parts)
                frame += (frame_length + 31) & -32
            offset += _HDR.size + len(payload)  # the message goes on in the next record
            got = self._record(rec, seg, offset)
            if got is None:
                i = rec.segments.index(seg) + 1
                if i < len(rec.segments):
                    seg, offset = rec.segments[i], 0
                    got = self._record(rec, seg, offset)
            if got is None:
                raise StoreError(f"recording {rec.id}: a message in fragments ends after segment {seg}")
            payload, frame = got[1], 0

    def _record(self, rec: Recording, seg: int, offset: int) -> tuple[int, bytes] | None:
        """(end position, payload) of the record at ``offset`` of segment ``seg``, CRC checked;
        None at the end of the segment. Frames records read from the files are cached."""
        if seg == rec.segments[-1] and rec.fd >= 0 and offset >= rec.size:
            start = offset - rec.size  # still in the write buffer
            if start >= len(rec.pending):
                return None
            length, _check, pos = _HDR.unpack_from(rec.pending, start)
            length &= _MASK
            return pos, bytes(rec.pending[start + _HDR.size : start + _HDR.size + length])
        key = (rec.id, seg, offset)
        cached = self._blocks.get(key)
        if cached is not None:
            self._blocks.move_to_end(key)
            return cached
        fds = self._read_fds
        fd = fds.get((rec.id, seg))
        try:
            if fd is None:
                fd = os.open(self.root / segment_name(rec.id, seg), os.O_RDONLY)
                fds[(rec.id, seg)] = fd
                if len(fds) > _READ_FDS:
                    os.close(fds.popitem(last=False)[1])
            else:
                fds.move_to_end((rec.id, seg))
            head = os.pread(fd, _HDR.size, offset)
            if not head:
                return None
            length, check, pos = _HDR.unpack(head)
            frames = length & _FRAMES
            length &= _MASK
            payload = os.pread(fd, length, offset + _HDR.size)
        except (OSError, struct.error) as exc:
            raise StoreError(f"cannot read recording {rec.id} segment {seg} at {offset}: {exc}") from exc
        if len(payload) != length or fmt.crc(pos, payload) != check:
            raise StoreError(f"recording {rec.id} segment {seg}: bad record at byte {offset}")
        if not frames:
            return pos, payload
        self._blocks[key] = (pos, payload)
        if len(self._blocks) > _BLOCK_CACHE_SIZE:
            self._blocks.popitem(last=False)
        return pos, payload

    def _resolve(self, session_id: int, position: int) -> int | None:
        """The id of the newest data recording of publication session ``session_id`` that holds a
        message ending at ``position`` (for index-stream entries)."""
        for rec in reversed(self.recordings.values()):  # in id order: the catalog's, then new ones
            if rec.kind == "data" and rec.session_id == session_id and position in rec.offsets:
                return rec.id
        return None

    def replay(self, key: str, direction: int, seq_index: int, begin: int, end: int) -> Iterator[tuple[int, int, bytes]]:
        """(seqnum, position, data record) of stored messages with begin <= seqnum <= end
        (end 0: no upper bound), ascending."""
        self.index_deferred()
        slot = self.lookup.get((key, direction, seq_index), {})
        nums = sorted(n for n in slot if n >= begin and (end == 0 or n <= end))
        for n in nums:
            rec_id, position = slot[n]
            rec = self.recordings.get(rec_id)
            if rec is None:
                continue  # its recording was purged
            payload = self.read(rec, position)
            if payload is None:
                continue
            yield n, position, payload

    def records(self, rec: Recording) -> Iterator[tuple[int, bytes]]:
        """Every (end position, payload) of a recording, in order."""
        self.index_deferred()
        for position in list(rec.offsets):
            payload = self.read(rec, position)
            if payload is not None:
                yield position, payload

    # -- management ----------------------------------------------------------------------

    def purge(self, keep_periods: int) -> list[int]:
        """Forget the sequence periods of every session but the last ``keep_periods`` and
        delete the stopped recordings that hold nothing else. Returns the deleted ids."""
        self.index_deferred()
        self._writable()
        keep_periods = max(1, keep_periods)
        kept: set[tuple[str, int]] = set()
        for key, state in self.sessions.items():
            for i in range(max(1, state.seq_index - keep_periods + 1), state.seq_index + 1):
                kept.add((key, i))
        for slot_key in list(self.lookup):
            if (slot_key[0], slot_key[2]) not in kept:
                del self.lookup[slot_key]
        for r in self.recordings.values():
            r.hot.clear()
        deleted = [r.id for r in self.recordings.values() if not r.active and not r.periods & kept]
        for rid in deleted:
            rec = self.recordings.pop(rid)
            for seg in rec.segments:
                fd = self._read_fds.pop((rid, seg), None)
                if fd is not None:
                    os.close(fd)
            for block in [k for k in self._blocks if k[0] == rid]:
                del self._blocks[block]
        self._write_catalog()
        for rid in deleted:
            for path in self.root.glob(f"rec-{rid:08d}-*.seg"):
                path.unlink()
        return deleted

    def status(self) -> dict[str, Any]:
        self.index_deferred()
        total = sum(r.bytes_total for r in self.recordings.values())
        return {
            "archive_dir": str(self.root), "recordings": len(self.recordings), "bytes": total,
            "sessions": len(self.sessions), "fsync": self.fsync, "segment_length": self.segment_length,
        }  # fmt: skip

    def close(self) -> None:
        """Flush, fsync and close every recording, then the read fds and the lock: each step is
        tried whatever failed before it; the first error is raised at the end."""
        errors: list[BaseException] = []
        for rec in self.recordings.values():
            if rec.fd >= 0:
                try:
                    self._flush_one(rec)
                    self._sync_one(rec)
                except BaseException as exc:
                    errors.append(exc)
                try:
                    os.close(rec.fd)
                except OSError as exc:
                    errors.append(StoreError(f"cannot close recording {rec.id} in {self.root}: {exc.strerror}"))
                rec.fd = -1
        if self._executor is not None:
            try:
                self._executor.shutdown(wait=True)
            except BaseException as exc:
                errors.append(exc)
            self._executor = None
        for fd in self._read_fds.values():
            try:
                os.close(fd)
            except OSError as exc:
                errors.append(exc)
        self._read_fds.clear()
        if self._lock_fd >= 0:
            try:
                os.close(self._lock_fd)
            except OSError as exc:
                errors.append(exc)
            self._lock_fd = -1
        if errors:
            raise errors[0]
