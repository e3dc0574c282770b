"""Moving messages between the file journal and the archive, both ways, offline (no archiver
may be recording into the archive; the journal may not be open by a Gateway).

- :func:`journal_to_archive` appends every record of every period of a journal to an archive
  as one new recording (channel ``import:journal``, positions laid out like an Aeron stream's);
- :func:`archive_to_journal` rebuilds a journal from an archive: every period of every session,
  messages in recorded order (copies republished after an archiver outage are skipped), and
  the sequence numbers the archive says.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from fixg.archive import format as fmt
from fixg.archive.storage import Archive
from fixg.errors import StoreError
from fixg.fix.settings import SessionKey
from fixg.store.base import Direction
from fixg.store.journal import SEGMENT_RE, JournalReader, JournalStore, session_dir_name

__all__ = ["journal_to_archive", "archive_to_journal", "data_records"]

_DIR = {Direction.INBOUND: fmt.DIR_IN, Direction.OUTBOUND: fmt.DIR_OUT}


def _aligned(length: int) -> int:
    return (length + 32 + 31) & ~31  # an Aeron data frame: 32-byte header, 32-byte alignment


def journal_to_archive(journal: str | os.PathLike[str], archive_dir: str | os.PathLike[str]) -> dict[str, int]:
    """Append the whole journal to the archive; returns counts (sessions, messages, records)."""
    reader = JournalReader(journal)
    archive = Archive(archive_dir, fsync="never")
    counts = {"sessions": 0, "messages": 0, "records": 0}
    try:
        rec = archive.start_recording("data", 0, 0, "import:journal", 0)
        position = 0
        for session_dir in reader.session_dirs():
            counts["sessions"] += 1
            for r in reader.records(session_dir, all_periods=True):
                key = r.session.encode()
                if r.kind == "begin":
                    payload = fmt.encode_data(fmt.Kind.BEGIN, 0, key, r.seq_index, 0, 0, r.time)
                elif r.kind == "msg":
                    assert r.direction is not None and r.seq_num is not None and r.data is not None
                    payload = fmt.encode_data(fmt.Kind.MSG, _DIR[r.direction], key, r.seq_index, r.seq_num, 0,
                                              r.time, r.data)
                    counts["messages"] += 1
                else:
                    assert r.next_sender is not None and r.next_target is not None
                    payload = fmt.encode_data(fmt.Kind.SEQ, 0, key, r.seq_index, r.next_sender, r.next_target, r.time)
                position += _aligned(len(payload))
                archive.append(rec, position, payload)
                counts["records"] += 1
        archive.stop_recording(rec)
    finally:
        archive.close()
    return counts


def data_records(archive: Archive) -> Iterator[tuple[int, int, fmt.DataRecord]]:
    """(recording id, position, record) of every data recording, in recording order."""
    for rec in sorted(archive.recordings.values(), key=lambda r: r.id):
        if rec.kind != "data":
            continue
        for position, payload in archive.records(rec):
            yield rec.id, position, fmt.decode_data(payload)


def archive_to_journal(archive_dir: str | os.PathLike[str], journal: str | os.PathLike[str]) -> dict[str, int]:
    """Write the archive's sessions into a journal that holds none of them yet."""
    archive = Archive(archive_dir, readonly=True)
    root = Path(journal)
    stores: dict[str, JournalStore] = {}
    seen: dict[str, set[tuple[int, int]]] = {}
    counts = {"sessions": 0, "messages": 0}
    try:
        for _rid, _pos, r in data_records(archive):
            store = stores.get(r.key)
            if store is None:
                if r.kind != fmt.Kind.BEGIN:
                    continue  # the session's start was purged: its next period begins with a BEGIN
                directory = root / session_dir_name(_parse_key(r.key))
                if directory.is_dir() and any(SEGMENT_RE.match(n) for n in os.listdir(directory)):
                    raise StoreError(f"the journal already holds {r.key} ({directory}); import into an empty one")
                store = stores[r.key] = JournalStore(directory, _parse_key(r.key), r.time, fsync="never")
                seen[r.key] = set()
                counts["sessions"] += 1
                if r.seq_index > 1:
                    _advance(store, r.seq_index, r.time)
                continue
            if r.kind == fmt.Kind.BEGIN:
                if r.seq_index > store.seq_index:
                    _advance(store, r.seq_index, r.time)
                    seen[r.key] = set()
                continue
            if r.seq_index != store.seq_index:
                continue
            if r.kind == fmt.Kind.MSG:
                if (r.direction, r.number) in seen[r.key]:
                    continue  # a copy republished after an archiver outage
                seen[r.key].add((r.direction, r.number))
                store.append(Direction.OUTBOUND if r.direction == fmt.DIR_OUT else Direction.INBOUND,
                             r.number, r.payload, r.time)
                counts["messages"] += 1
            else:
                store.next_sender_seq_num = r.number
                store.next_target_seq_num = r.second
        for key, store in stores.items():
            state = archive.sessions[key]
            if store.next_sender_seq_num != state.next_sender:
                store.next_sender_seq_num = state.next_sender
            if store.next_target_seq_num != state.next_target:
                store.next_target_seq_num = state.next_target
    finally:
        errors = []
        for store in stores.values():
            try:
                store.close()
            except StoreError as exc:
                errors.append(exc)
        archive.close()
        if errors:
            raise errors[0]
    return counts


def _advance(store: JournalStore, seq_index: int, now: float) -> None:
    while store.seq_index < seq_index:
        store.reset(now)


def _parse_key(text: str) -> SessionKey:
    begin, _, rest = text.partition(":")
    sender, _, target = rest.partition("->")
    target, _, qualifier = target.partition(":")
    if not (begin and sender and target):
        raise StoreError(f"not a session key: {text!r}")
    return SessionKey(begin, sender, target, qualifier or None)
