from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fixg.errors import StoreError
from fixg.fix.settings import SessionKey
from fixg.store.base import Direction
from fixg.store.journal import JournalReader, JournalStore, JournalStoreFactory, session_dir_name

KEY = SessionKey("FIX.4.4", "GW", "VENUE")
OUT, IN = Direction.OUTBOUND, Direction.INBOUND


def msg(seq: int, extra: bytes = b"") -> bytes:
    return b"8=FIX.4.4\x019=5\x0135=D\x0134=%d\x01%s10=000\x01" % (seq, extra)


def open_store(root: Path, **kw: object) -> JournalStore:
    return JournalStoreFactory(root, **kw).create(KEY, 1000.0)  # type: ignore[arg-type]


def test_append_read_and_sequence_numbers(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        assert (store.next_sender_seq_num, store.next_target_seq_num) == (1, 1)
        for seq in range(1, 6):
            store.append(OUT, seq, msg(seq), 1000.0 + seq)
            store.next_sender_seq_num = seq + 1
        store.append(IN, 1, msg(1), 1001.0)
        store.next_target_seq_num = 2
        assert [s for s, _ in store.read_range(OUT, 2, 4)] == [2, 3, 4]
        assert [s for s, _ in store.read_range(OUT, 4, 0)] == [4, 5]
        assert list(store.read_range(OUT, 7, 9)) == []
        assert dict(store.read_range(IN, 1, 1)) == {1: msg(1)}
        assert (store.next_sender_seq_num, store.next_target_seq_num) == (6, 2)
    finally:
        store.close()


def test_every_byte_value_survives(tmp_path: Path) -> None:
    payload = bytes(range(256)) + "é€".encode() + b'"\\\n\r'
    data = msg(1, b"95=%d\x0196=%s\x01" % (len(payload), payload))
    store = open_store(tmp_path)
    store.append(OUT, 1, data, 1.0)
    store.close()
    store = open_store(tmp_path)
    try:
        assert dict(store.read_range(OUT, 1, 1)) == {1: data}
    finally:
        store.close()


def test_restart_keeps_messages_and_sequence_numbers(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    for seq in range(1, 4):
        store.append(OUT, seq, msg(seq), 2.0)
        store.next_sender_seq_num = seq + 1
    store.next_target_seq_num = 42  # e.g. a SequenceReset-GapFill: needs an explicit record
    store.close()
    store = open_store(tmp_path)
    try:
        assert (store.next_sender_seq_num, store.next_target_seq_num) == (4, 42)
        assert [s for s, _ in store.read_range(OUT, 1, 0)] == [1, 2, 3]
        assert store.creation_time == 1000.0
    finally:
        store.close()


def _journal_file(root: Path) -> Path:
    (path,) = (root / session_dir_name(KEY)).glob("journal-*.jsonl")
    return path


def test_missing_or_stale_index_is_rebuilt_from_the_journal(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    for seq in range(1, 4):
        store.append(OUT, seq, msg(seq), 3.0)
        store.next_sender_seq_num = seq + 1
    store.close()  # index covers 1..3
    index = tmp_path / session_dir_name(KEY) / "index.json"
    stale = index.read_bytes()
    store = open_store(tmp_path)
    for seq in range(4, 7):
        store.append(OUT, seq, msg(seq), 4.0)
        store.next_sender_seq_num = seq + 1
    store._release()  # a crash: no checkpoint written, then an old index put back
    index.write_bytes(stale)
    store = open_store(tmp_path)
    try:
        assert store.next_sender_seq_num == 7
        assert [s for s, _ in store.read_range(OUT, 1, 0)] == [1, 2, 3, 4, 5, 6]
    finally:
        store.close()
    index.unlink()
    store = open_store(tmp_path)
    try:
        assert store.next_sender_seq_num == 7
        assert dict(store.read_range(OUT, 5, 5)) == {5: msg(5)}
    finally:
        store.close()
    index.write_text("{not json")
    store = open_store(tmp_path)
    try:
        assert store.next_sender_seq_num == 7
    finally:
        store.close()


def test_torn_last_record_is_truncated_and_nothing_before_it_lost(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    for seq in range(1, 4):
        store.append(OUT, seq, msg(seq), 5.0)
        store.next_sender_seq_num = seq + 1
    store._release()
    path = _journal_file(tmp_path)
    good = path.stat().st_size
    with path.open("ab") as fh:
        fh.write(b'{"r":"msg","k":"FIX.4.4:GW->VENUE","i":1,"d":"out","n":4,"t":5.0,"m":"8=FI')
    store = open_store(tmp_path)
    try:
        assert path.stat().st_size == good
        assert store.next_sender_seq_num == 4
        assert [s for s, _ in store.read_range(OUT, 1, 0)] == [1, 2, 3]
        store.append(OUT, 4, msg(4), 6.0)
    finally:
        store.close()
    assert all(json.loads(line) for line in path.read_bytes().splitlines())


def test_damage_before_the_last_record_is_an_error_not_a_silent_loss(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    for seq in range(1, 4):
        store.append(OUT, seq, msg(seq), 5.0)
    store._release()
    (tmp_path / session_dir_name(KEY) / "index.json").unlink()
    path = _journal_file(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b"garbage\n"
    path.write_bytes(b"".join(lines))
    with pytest.raises(StoreError, match="corrupt journal record at byte"):
        open_store(tmp_path)


WRITER = textwrap.dedent(
    """
    import sys, time
    from fixg.fix.settings import SessionKey
    from fixg.store.base import Direction
    from fixg.store.journal import JournalStoreFactory
    store = JournalStoreFactory(sys.argv[1], fsync="never").create(SessionKey("FIX.4.4", "GW", "VENUE"), 1.0)
    seq = 1
    while True:
        data = b"8=FIX.4.4\\x019=5\\x0135=D\\x0134=%d\\x0158=" % seq + b"x" * 2000 + b"\\x0110=000\\x01"
        store.append(Direction.OUTBOUND, seq, data, time.time())
        store.next_sender_seq_num = seq + 1
        if seq == 200:
            print("ready", flush=True)
        seq += 1
    """
)


def test_kill_9_mid_stream_loses_nothing_written(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    store = open_store(tmp_path)
    try:
        nxt = store.next_sender_seq_num
        assert nxt > 200
        stored = [s for s, _ in store.read_range(OUT, 1, 0)]
        assert stored == list(range(1, nxt))  # contiguous, nothing lost before the tear
        store.append(OUT, nxt, msg(nxt), 9.0)
    finally:
        store.close()


def test_reset_rotates_and_retention_removes_old_periods(tmp_path: Path) -> None:
    store = open_store(tmp_path, retain_periods=2)
    try:
        store.append(OUT, 1, msg(1), 1.0)
        store.next_sender_seq_num = 2
        store.reset(2000.0)
        assert store.seq_index == 2
        assert (store.next_sender_seq_num, store.next_target_seq_num) == (1, 1)
        assert list(store.read_range(OUT, 1, 0)) == []
        assert store.creation_time == 2000.0
        store.append(OUT, 1, msg(1, b"58=second\x01"), 2001.0)
        store.reset(3000.0)
        names = sorted(p.name for p in store.directory.glob("journal-*.jsonl"))
        assert names == ["journal-000002.jsonl", "journal-000003.jsonl"]
    finally:
        store.close()
    store = open_store(tmp_path)
    try:
        assert store.seq_index == 3 and store.creation_time == 3000.0
    finally:
        store.close()


def test_sequence_numbers_not_persisted_when_configured(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.append(OUT, 1, msg(1), 1.0)
    store.next_sender_seq_num = 2
    store.close()
    store = open_store(tmp_path, persist_sequence_numbers=False)
    try:
        assert store.seq_index == 2 and store.next_sender_seq_num == 1
    finally:
        store.close()


def test_one_process_per_journal(tmp_path: Path) -> None:
    first = open_store(tmp_path)
    try:
        with pytest.raises(StoreError, match="in use by another process"):
            JournalStore(tmp_path / session_dir_name(KEY), KEY, 1.0)
    finally:
        first.close()
    open_store(tmp_path).close()  # released on close


def test_unusable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot open the journal"):
        open_store(blocker)


FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from fixg.errors import StoreError
    from fixg.fix.settings import SessionKey
    from fixg.store.base import Direction
    from fixg.store.journal import JournalStoreFactory
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    store = JournalStoreFactory(sys.argv[1], fsync="never").create(SessionKey("FIX.4.4", "GW", "VENUE"), 1.0)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20000, hard))
    seq = 1
    try:
        while True:
            store.append(Direction.OUTBOUND, seq, b"8=FIX.4.4\\x0158=" + b"y" * 700 + b"\\x01", 1.0)
            store.next_sender_seq_num = seq + 1
            seq += 1
    except StoreError as exc:
        print(seq, exc)
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    store.close()
    """
)


def test_full_disk_gives_a_clear_error_and_no_torn_record(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    failed_seq, message = out.stdout.split(" ", 1)
    assert "cannot write to the journal" in message
    store = open_store(tmp_path)
    try:
        assert store.next_sender_seq_num == int(failed_seq)
        assert [s for s, _ in store.read_range(OUT, 1, 0)] == list(range(1, int(failed_seq)))
    finally:
        store.close()


def test_fsync_policies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    for policy, expected in (("always", 10), ("never", 0)):
        store = open_store(tmp_path / policy, fsync=policy)
        calls.clear()
        for seq in range(1, 11):
            store.append(OUT, seq, msg(seq), 10.0 + seq)
        assert len(calls) == expected, policy
        store.close()
    store = open_store(tmp_path / "interval", fsync="interval", fsync_interval_ms=1000)
    calls.clear()
    store.append(OUT, 1, msg(1), 1000.1)
    store.append(OUT, 2, msg(2), 1000.2)
    assert calls == []  # within the interval
    assert store.unsynced
    store.poll(1001.5)  # past it: one fsync, on the fsync thread
    deadline = time.monotonic() + 5
    while store.unsynced:
        assert time.monotonic() < deadline
        time.sleep(0.001)
        store.poll(1001.6)
    assert len(calls) == 1
    store.close()


def test_unsynced_says_what_the_policy_has_not_made_durable_yet(tmp_path: Path) -> None:
    for policy in ("always", "never"):  # nothing ever waits for an fsync
        factory = JournalStoreFactory(tmp_path / policy, fsync=policy)
        factory.create(KEY, 1000.0).append(OUT, 1, msg(1), 1000.0)
        assert factory.unsynced == 0, policy
        factory.close()
    factory = JournalStoreFactory(tmp_path / "interval", fsync="interval", fsync_interval_ms=5)
    store = factory.create(KEY, 1000.0)
    store.append(OUT, 1, msg(1), time.monotonic())
    assert factory.unsynced == 1
    deadline = time.monotonic() + 5
    while factory.unsynced:  # the Gateway's timer: an fsync once the interval is over
        assert time.monotonic() < deadline
        factory.poll(time.monotonic())
        time.sleep(0.001)
    store.append(OUT, 2, msg(2), time.monotonic() + 1)  # past the interval: fsynced on the fsync thread
    assert factory.unsynced == 1
    while factory.unsynced:
        assert time.monotonic() < deadline
        factory.poll(time.monotonic() + 1)
        time.sleep(0.001)
    factory.close()


def test_reader_summarises_without_modifying(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    for seq in range(1, 4):
        store.append(OUT, seq, msg(seq), 1.0)
        store.next_sender_seq_num = seq + 1
    store.append(IN, 1, msg(1), 1.0)
    store.next_target_seq_num = 2
    reader = JournalReader(tmp_path)
    (session,) = reader.session_dirs()
    summary = reader.summary(session)
    assert summary == {
        "session": "FIX.4.4:GW->VENUE", "seq_index": 1, "next_sender_seq_num": 4,
        "next_target_seq_num": 2, "sent": 3, "received": 1,
    }  # fmt: skip
    kinds = [r.kind for r in reader.records(session)]
    assert kinds == ["begin", "msg", "msg", "msg", "msg"]
    store.close()


def test_the_interval_timer_does_not_wait_for_the_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``poll`` (the Gateway's timer, on its event loop) hands the fsync to the fsync thread."""
    import threading

    store = open_store(tmp_path, fsync="interval", fsync_interval_ms=1000)
    store.append(OUT, 1, msg(1), 1000.1)
    release = threading.Event()
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (release.wait(10), real(fd))[1])
    store.poll(1001.5)  # an fsync is due: it starts, blocked on the "disk" until released
    assert store.unsynced  # poll returned while the fsync still runs
    release.set()
    deadline = time.monotonic() + 5
    while store.unsynced:
        assert time.monotonic() < deadline
        time.sleep(0.001)
        store.poll(1001.6)
    store.close()
