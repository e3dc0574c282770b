"""The file journal: fixg's default message store.

Layout, one directory per session under the journal root::

    <root>/<session-dir>/
        journal-000001.jsonl     append-only records of sequence index 1 (a session period)
        journal-000002.jsonl     ... a new file at every sequence reset (rotation)
        index.json               cache: seqnum -> byte offset, next seqnums, bytes covered
        LOCK                     held (flock) while a store has the session open

Each line of a journal file is one JSON record::

    {"r":"begin","k":KEY,"i":2,"t":1732700000.5}                       first line of a file
    {"r":"msg","k":KEY,"i":2,"d":"out","n":17,"t":...,"m":"8=FIX.4.4\\u00019=..."}
    {"r":"seq","k":KEY,"i":2,"t":...,"s":18,"a":5}                      next sender / target

``m`` holds the message bytes decoded as Latin-1, which JSON carries losslessly (every byte
0-255 maps to one code point), so data fields with SOH or binary content survive.

The journal files are the source of truth. ``index.json`` is a cache written atomically
(write to a temporary file, fsync, rename, fsync the directory); at start-up it is checked
against the journal and whatever it does not cover is rebuilt by reading the journal. A
record that was torn by a crash (the last line, incomplete) is truncated away; damage anywhere
else is reported as a :class:`~fixg.errors.StoreError`, never silently dropped.

Sequence numbers: a ``msg`` record of sequence number N implies that the next number in its
direction is at least N+1; a ``seq`` record is written only when the session sets a number that
differs from what the records already imply (a SequenceReset, a gap fill, a manual reset).

Durability (``fsync``): every record reaches the operating system (one ``write``) before the
call returns, so a crash of the process loses nothing. ``"always"`` also fsyncs every record
(survives power loss, costs a disk flush per message), ``"interval"`` fsyncs at most every
``fsync_interval_ms`` and from :meth:`JournalStore.poll` (a power loss can lose that window),
``"never"`` leaves it to the OS.
"""

from __future__ import annotations

import errno
import threading
from concurrent.futures import Future, ThreadPoolExecutor
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fixg.errors import StoreError
from fixg.fix.settings import SessionKey
from fixg.store.base import Direction, SequencedStore, lock_directory

__all__ = ["JournalStore", "JournalStoreFactory", "JournalRecord", "JournalReader", "session_dir_name"]

log = logging.getLogger(__name__)

INDEX_VERSION = 1
SEGMENT_RE = re.compile(r"^journal-(\d{6,})\.jsonl$")
#: write index.json after this many records even if nobody asks (bounds start-up rebuild work)
CHECKPOINT_RECORDS = 50_000
_DIRS = {Direction.INBOUND: "in", Direction.OUTBOUND: "out"}
_DIRS_BACK = {"in": Direction.INBOUND, "out": Direction.OUTBOUND}
_DIR_BYTES = {d: name.encode() for d, name in _DIRS.items()}
_OUTBOUND = Direction.OUTBOUND
_json_str: Callable[[str], str] = json.encoder.encode_basestring_ascii


_fsync_pool: ThreadPoolExecutor | None = None
_fsync_pool_lock = threading.Lock()
_fsync_pool_users = 0  # open journals that have used the pool: its thread ends with the last


def _background_fsync(fd: int, first: bool) -> Future[None]:
    """fsync ``fd`` on the journals' fsync thread (os.fsync lets the event loop run).
    ``first``: the calling journal's first use of the pool."""
    global _fsync_pool, _fsync_pool_users
    with _fsync_pool_lock:
        if _fsync_pool is None:
            _fsync_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fixg-journal-fsync")
        if first:
            _fsync_pool_users += 1
        return _fsync_pool.submit(os.fsync, fd)


def _fsync_pool_done() -> None:
    """A journal that used the pool is closed; the last one stops its thread."""
    global _fsync_pool, _fsync_pool_users
    with _fsync_pool_lock:
        _fsync_pool_users -= 1
        if _fsync_pool_users <= 0 and _fsync_pool is not None:
            _fsync_pool.shutdown(wait=False)
            _fsync_pool, _fsync_pool_users = None, 0


def _forget_fsync_pool() -> None:
    # A forked child has none of the parent's threads: it starts its own pool when it needs one.
    global _fsync_pool, _fsync_pool_lock, _fsync_pool_users
    _fsync_pool = None
    _fsync_pool_lock = threading.Lock()
    _fsync_pool_users = 0


os.register_at_fork(after_in_child=_forget_fsync_pool)


def session_dir_name(key: SessionKey) -> str:
    """A file-system-safe, collision-free directory name for a session key."""
    text = str(key)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace("->", "_to_"))[:80]
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return f"{safe}-{digest}"


def _segment_name(index: int) -> str:
    return f"journal-{index:06d}.jsonl"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """One decoded journal line (``kind`` is "begin", "msg" or "seq")."""

    kind: str
    session: str
    seq_index: int
    time: float
    offset: int
    direction: Direction | None = None
    seq_num: int | None = None
    data: bytes | None = None
    next_sender: int | None = None
    next_target: int | None = None


def _parse_record(line: bytes, offset: int, path: Path) -> JournalRecord:
    try:
        obj = json.loads(line)
        kind = obj["r"]
        common = (obj["k"], int(obj["i"]), float(obj["t"]), offset)
        if kind == "msg":
            return JournalRecord(
                "msg", *common, direction=_DIRS_BACK[obj["d"]], seq_num=int(obj["n"]),
                data=obj["m"].encode("latin-1"),
            )  # fmt: skip
        if kind == "seq":
            return JournalRecord("seq", *common, next_sender=int(obj["s"]), next_target=int(obj["a"]))
        if kind == "begin":
            return JournalRecord("begin", *common)
        raise ValueError(f"unknown record kind {kind!r}")
    except (ValueError, KeyError, TypeError, UnicodeEncodeError, AttributeError) as exc:
        raise StoreError(f"{path}: corrupt journal record at byte {offset}: {exc}") from exc


def _scan(path: Path, start: int) -> tuple[list[JournalRecord], int, int]:
    """Records of ``path`` from byte ``start``; returns (records, end of the last good record,
    file size). Only the last line may be incomplete or unreadable (a torn write)."""
    records: list[JournalRecord] = []
    with path.open("rb") as fh:
        fh.seek(start)
        data = fh.read()
    size = start + len(data)
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            break  # torn: no newline at the end
        line = data[pos:nl]
        try:
            records.append(_parse_record(line, start + pos, path))
        except StoreError:
            if data.find(b"\n", nl + 1) < 0:
                break  # the last complete line is unreadable and nothing follows it: torn
            raise
        pos = nl + 1
    return records, start + pos, size


class JournalStore(SequencedStore):
    """The journal of one session. Made by :class:`JournalStoreFactory`."""

    def __init__(
        self,
        directory: Path,
        key: SessionKey,
        now: float,
        *,
        fsync: str = "interval",
        fsync_interval_ms: int = 10,
        persist_sequence_numbers: bool = True,
        retain_periods: int = 0,
    ) -> None:
        if fsync not in ("always", "interval", "never"):
            raise StoreError(f"unknown fsync policy {fsync!r}")
        self._dir = directory
        self._key = key
        self._key_json = json.dumps(str(key)).encode()
        self._fsync = fsync
        self._fsync_interval = fsync_interval_ms / 1000.0
        self._retain = retain_periods
        self._fd = -1
        self._lock_fd = -1
        self._closed = False
        self._last_fsync = now
        self._dirty = False
        #: the interval policy's fsync running on the fsync thread, if any
        self._pending_sync: Future[None] | None = None
        self._uses_fsync_pool = False
        self._records_since_checkpoint = 0
        # state
        self._seq_index = 0
        self._creation_time = now
        self._offsets: dict[Direction, dict[int, int]] = {Direction.INBOUND: {}, Direction.OUTBOUND: {}}
        self._next = {Direction.OUTBOUND: 1, Direction.INBOUND: 1}
        self._implied = {Direction.OUTBOUND: 1, Direction.INBOUND: 1}
        self._size = 0
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            self._lock()
            self._recover(now)
            used = any(self._offsets.values()) or set(self._next.values()) != {1}
            if not persist_sequence_numbers and used:
                self._rotate(now)  # every start is a new sequence: a new period
        except OSError as exc:
            self._release()
            raise StoreError(f"cannot open the journal in {self._dir}: {exc.strerror or exc}") from exc
        except BaseException:
            self._release()
            raise

    # -- opening -------------------------------------------------------------------------

    def _lock(self) -> None:
        self._lock_fd = lock_directory(self._dir, f"the journal {self._dir} is in use by another process")

    def _segments(self) -> list[int]:
        found = []
        for name in os.listdir(self._dir):
            m = SEGMENT_RE.match(name)
            if m:
                found.append(int(m.group(1)))
        return sorted(found)

    def _recover(self, now: float) -> None:
        segments = self._segments()
        if not segments:
            self._open_segment(1, now)
            return
        self._seq_index = segments[-1]
        path = self._dir / _segment_name(self._seq_index)
        start = self._load_index(path)
        records, good_end, size = _scan(path, start)
        if good_end < size:
            log.warning(
                "journal %s: truncating a torn record at byte %d (%d bytes)", path, good_end, size - good_end
            )
            with path.open("r+b") as fh:
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())
        for rec in records:
            self._apply(rec)
        self._size = good_end
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        if self._size == 0:
            self._write(self._begin_line(now))
        if records:
            self._checkpoint()

    def _load_index(self, segment: Path) -> int:
        """Load index.json if it describes ``segment``; returns the byte offset it covers."""
        try:
            raw = (self._dir / "index.json").read_bytes()
        except FileNotFoundError:
            return 0
        try:
            obj = json.loads(raw)
            if obj.get("version") != INDEX_VERSION or obj.get("segment") != segment.name:
                return 0
            covered = int(obj["covered"])
            if covered > segment.stat().st_size:
                return 0  # the journal was truncated below what the index saw: rebuild
            offsets = {
                d: {int(s): int(o) for s, o in obj["offsets"][name]} for d, name in _DIRS.items()
            }
            self._creation_time = float(obj["creation_time"])
            self._next = {Direction.OUTBOUND: int(obj["next_sender"]), Direction.INBOUND: int(obj["next_target"])}
            self._implied = dict(self._next)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("journal %s: ignoring an unreadable index.json (%s); rebuilding", self._dir, exc)
            self._next = {Direction.OUTBOUND: 1, Direction.INBOUND: 1}
            self._implied = dict(self._next)
            return 0
        self._offsets = offsets
        return covered

    def _apply(self, rec: JournalRecord) -> None:
        if rec.seq_index != self._seq_index:
            raise StoreError(
                f"{self._dir}: record at byte {rec.offset} belongs to sequence index "
                f"{rec.seq_index}, not {self._seq_index}"
            )
        if rec.kind == "begin":
            self._creation_time = rec.time
        elif rec.kind == "msg":
            assert rec.direction is not None and rec.seq_num is not None
            self._offsets[rec.direction][rec.seq_num] = rec.offset
            nxt = max(self._implied[rec.direction], rec.seq_num + 1)
            self._implied[rec.direction] = self._next[rec.direction] = nxt
        else:
            assert rec.next_sender is not None and rec.next_target is not None
            self._next[Direction.OUTBOUND] = self._implied[Direction.OUTBOUND] = rec.next_sender
            self._next[Direction.INBOUND] = self._implied[Direction.INBOUND] = rec.next_target

    def _begin_line(self, now: float) -> bytes:
        return b'{"r":"begin","k":%s,"i":%d,"t":%r}\n' % (self._key_json, self._seq_index, now)

    def _open_segment(self, index: int, now: float) -> None:
        self._seq_index = index
        path = self._dir / _segment_name(index)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        _fsync_dir(self._dir)
        self._size = 0
        self._offsets = {Direction.INBOUND: {}, Direction.OUTBOUND: {}}
        self._next = {Direction.OUTBOUND: 1, Direction.INBOUND: 1}
        self._implied = dict(self._next)
        self._creation_time = now
        self._write(self._begin_line(now))
        self._sync()
        self._checkpoint()

    # -- writing ---------------------------------------------------------------------------

    def _write(self, line: bytes) -> int:
        """Append one record with a single write; returns its offset. On failure the file is cut
        back to where it was, so a failed record never leaves a torn line behind."""
        offset = self._size
        try:
            written = os.write(self._fd, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, f"short write ({written} of {len(line)} bytes)")
        except OSError as exc:
            try:
                os.ftruncate(self._fd, offset)
            except OSError:
                log.error("journal %s: could not cut back a failed record at byte %d", self._dir, offset)
            raise StoreError(
                f"cannot write to the journal {self._dir / _segment_name(self._seq_index)}: "
                f"{exc.strerror or exc}"
            ) from exc
        self._size = offset + written
        self._dirty = True
        self._records_since_checkpoint += 1
        return offset

    def _after_write(self, now: float) -> None:
        if self._fsync == "always":
            self._sync(now)
        elif self._fsync == "interval" and now - self._last_fsync >= self._fsync_interval:
            self._sync_behind(now)
        if self._records_since_checkpoint >= CHECKPOINT_RECORDS:
            self._checkpoint()

    def _sync_behind(self, now: float) -> None:
        """The interval policy after a write: fsync what was written on the fsync thread, so
        the writer does not wait for the disk (one fsync at a time; a failed one is raised by
        the write, poll or sync after it)."""
        if self._reap():
            return  # still at it: the next write (or poll) past the interval tries again
        if self._dirty:
            self._pending_sync = _background_fsync(self._fd, not self._uses_fsync_pool)
            self._uses_fsync_pool = True
            self._dirty = False
        self._last_fsync = now

    def _reap(self) -> bool:
        """Collect a finished background fsync (raising if it failed); True while one runs."""
        pending = self._pending_sync
        if pending is None:
            return False
        if not pending.done():
            return True
        self._pending_sync = None
        self._raise_failed(pending)
        return False

    def _raise_failed(self, done: Future[None]) -> None:
        exc = done.exception()
        if exc is not None:
            self._dirty = True  # not known to be on disk: the next sync tries again
            strerror = exc.strerror if isinstance(exc, OSError) else None
            raise StoreError(f"cannot fsync the journal {self._dir}: {strerror or exc}") from exc

    def _wait_sync(self) -> None:
        """Wait for the fsync running on the fsync thread; raise if it failed."""
        pending = self._pending_sync
        if pending is not None:
            self._pending_sync = None
            pending.exception()  # waits
            self._raise_failed(pending)

    def _sync(self, now: float | None = None) -> None:
        self._wait_sync()
        if self._dirty:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise StoreError(f"cannot fsync the journal {self._dir}: {exc.strerror}") from exc
            self._dirty = False
        if now is not None:
            self._last_fsync = now

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the journal {self._dir} is closed")

    def append(self, direction: Direction, seq_num: int, data: bytes, now: float) -> None:
        if self._closed:
            self._check_open()
        # json.dumps of a str is this function's result (ensure_ascii), without the wrapper.
        line = b'{"r":"msg","k":%s,"i":%d,"d":"%s","n":%d,"t":%r,"m":%s}\n' % (
            self._key_json, self._seq_index, b"out" if direction is _OUTBOUND else b"in", seq_num, now,
            _json_str(data.decode("latin-1")).encode(),
        )  # fmt: skip
        offset = self._write(line)
        self._offsets[direction][seq_num] = offset
        implied = self._implied
        if seq_num >= implied[direction]:
            implied[direction] = seq_num + 1
        self._after_write(now)

    def _set_next(self, direction: Direction, value: int) -> None:
        self._check_open()
        if value < 1:
            raise StoreError(f"sequence numbers start at 1, not {value}")
        self._next[direction] = value
        if value != self._implied[direction]:
            now = time.time()
            nxt_s, nxt_t = self._next[Direction.OUTBOUND], self._next[Direction.INBOUND]
            self._write(
                b'{"r":"seq","k":%s,"i":%d,"t":%r,"s":%d,"a":%d}\n'
                % (self._key_json, self._seq_index, now, nxt_s, nxt_t)
            )
            self._implied[Direction.OUTBOUND], self._implied[Direction.INBOUND] = nxt_s, nxt_t
            self._after_write(now)

    @property
    def directory(self) -> Path:
        return self._dir

    # -- reading ---------------------------------------------------------------------------

    def read_range(self, direction: Direction, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        self._check_open()
        offsets = self._offsets[direction]
        if not offsets:
            return iter(())
        last = max(offsets) if end == 0 else end
        if last - begin + 1 <= len(offsets):
            wanted = [(s, offsets[s]) for s in range(begin, last + 1) if s in offsets]
        else:
            wanted = sorted((s, o) for s, o in offsets.items() if begin <= s <= last)
        return iter(self._read_at(wanted))

    def _read_at(self, wanted: list[tuple[int, int]]) -> list[tuple[int, bytes]]:
        if not wanted:
            return []
        path = self._dir / _segment_name(self._seq_index)
        out = []
        try:
            with path.open("rb") as fh:
                for seq, offset in wanted:
                    fh.seek(offset)
                    rec = _parse_record(fh.readline(), offset, path)
                    if rec.kind != "msg" or rec.seq_num != seq or rec.data is None:
                        raise StoreError(f"{path}: the index points at the wrong record for {seq}")
                    out.append((seq, rec.data))
        except OSError as exc:
            raise StoreError(f"cannot read the journal {path}: {exc.strerror}") from exc
        return out

    # -- lifecycle -------------------------------------------------------------------------

    def reset(self, now: float) -> None:
        """Start a new sequence index in a new journal file (rotation); older files beyond
        ``retain_periods`` are deleted."""
        self._check_open()
        self._rotate(now)

    def _rotate(self, now: float) -> None:
        self._sync(now)
        os.close(self._fd)
        self._fd = -1
        self._open_segment(self._seq_index + 1, now)
        if self._retain > 0:
            for index in self._segments()[: -self._retain]:
                os.unlink(self._dir / _segment_name(index))
                log.info("journal %s: removed period %d (retention %d)", self._dir, index, self._retain)

    def refresh(self) -> None:
        """Re-read sequence numbers and the index from the journal files."""
        self._check_open()
        self._sync()
        os.close(self._fd)
        self._fd = -1
        self._offsets = {Direction.INBOUND: {}, Direction.OUTBOUND: {}}
        self._next = {Direction.OUTBOUND: 1, Direction.INBOUND: 1}
        self._implied = dict(self._next)
        self._recover(time.time())

    def poll(self, now: float) -> None:
        """Timer hook for the ``interval`` policy: fsync what is older than the interval, on the
        fsync thread (the event loop does not wait for the disk)."""
        if self._closed or self._fsync != "interval":
            return
        if not self._reap() and self._dirty and now - self._last_fsync >= self._fsync_interval:
            self._sync_behind(now)

    @property
    def unsynced(self) -> bool:
        """Records are written that the fsync policy has not made durable yet: not fsynced, or
        their fsync still runs (always False under ``"never"``, which makes nothing wait)."""
        return self._fsync != "never" and (self._dirty or self._pending_sync is not None)

    def sync(self) -> None:
        """Make every record written so far durable now."""
        self._check_open()
        self._sync()

    def _checkpoint(self) -> None:
        obj = {
            "version": INDEX_VERSION,
            "session": str(self._key),
            "segment": _segment_name(self._seq_index),
            "seq_index": self._seq_index,
            "covered": self._size,
            "creation_time": self._creation_time,
            "next_sender": self._next[Direction.OUTBOUND],
            "next_target": self._next[Direction.INBOUND],
            "offsets": {name: sorted(self._offsets[d].items()) for d, name in _DIRS.items()},
        }
        self._sync()
        try:
            _atomic_write(self._dir / "index.json", json.dumps(obj, separators=(",", ":")).encode())
        except OSError as exc:
            raise StoreError(f"cannot write {self._dir / 'index.json'}: {exc.strerror}") from exc
        self._records_since_checkpoint = 0

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._fd >= 0:
                self._checkpoint()
        finally:
            self._release()

    def _release(self) -> None:
        pending, self._pending_sync = self._pending_sync, None
        if pending is not None:
            pending.exception()  # wait: never close the descriptor under a running fsync
        if self._uses_fsync_pool:
            self._uses_fsync_pool = False
            _fsync_pool_done()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = -1


class JournalStoreFactory:
    """Makes the :class:`JournalStore` of each session under one journal root directory, and
    hands the same open store back for the same key."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        fsync: str = "interval",
        fsync_interval_ms: int = 10,
        persist_sequence_numbers: bool = True,
        retain_periods: int = 0,
    ) -> None:
        self.root = Path(root)
        self._options = dict(
            fsync=fsync, fsync_interval_ms=fsync_interval_ms,
            persist_sequence_numbers=persist_sequence_numbers, retain_periods=retain_periods,
        )  # fmt: skip
        self._stores: dict[SessionKey, JournalStore] = {}

    def create(self, key: SessionKey, now: float) -> JournalStore:
        store = self._stores.get(key)
        if store is None or store._closed:
            store = JournalStore(self.root / session_dir_name(key), key, now, **self._options)  # type: ignore[arg-type]
            self._stores[key] = store
        return store

    def poll(self, now: float) -> None:
        for store in self._stores.values():
            store.poll(now)

    @property
    def unsynced(self) -> int:
        """Stores with records their fsync policy has not made durable yet (see ``poll``)."""
        return sum(1 for store in self._stores.values() if store.unsynced)

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        errors = []
        for store in self._stores.values():
            try:
                store.close()
            except StoreError as exc:
                errors.append(exc)
        self._stores.clear()
        if errors:
            raise errors[0]


class JournalReader:
    """Read-only access to a journal root, for inspection tools. Takes no lock and never
    modifies anything (a torn tail is skipped, not truncated)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise StoreError(f"no journal at {self.root}")

    def session_dirs(self) -> list[Path]:
        return sorted(p for p in self.root.iterdir() if p.is_dir() and any(p.glob("journal-*.jsonl")))

    def records(self, session_dir: Path, *, all_periods: bool = False) -> Iterator[JournalRecord]:
        indexes = sorted(
            int(m.group(1)) for m in (SEGMENT_RE.match(n) for n in os.listdir(session_dir)) if m
        )
        if not all_periods:
            indexes = indexes[-1:]
        for index in indexes:
            records, _, _ = _scan(session_dir / _segment_name(index), 0)
            yield from records

    def summary(self, session_dir: Path) -> dict[str, object]:
        """Session key, current sequence index, next sender/target numbers and message counts."""
        key = ""
        index = 0
        nxt = {Direction.OUTBOUND: 1, Direction.INBOUND: 1}
        counts = {Direction.OUTBOUND: 0, Direction.INBOUND: 0}
        for rec in self.records(session_dir):
            key, index = rec.session, rec.seq_index
            if rec.kind == "msg" and rec.direction is not None and rec.seq_num is not None:
                counts[rec.direction] += 1
                nxt[rec.direction] = max(nxt[rec.direction], rec.seq_num + 1)
            elif rec.kind == "seq" and rec.next_sender is not None and rec.next_target is not None:
                nxt = {Direction.OUTBOUND: rec.next_sender, Direction.INBOUND: rec.next_target}
        return {
            "session": key, "seq_index": index,
            "next_sender_seq_num": nxt[Direction.OUTBOUND], "next_target_seq_num": nxt[Direction.INBOUND],
            "sent": counts[Direction.OUTBOUND], "received": counts[Direction.INBOUND],
        }  # fmt: skip
