"""``fixg archive`` tools and ``fixg journal export/import``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from archive.archive_util import archive_config_text, wait_sessions

from fixg.aeron import BackpressurePolicy, Client
from fixg.archive import format as fmt
from fixg.archive.client import ArchiveClient, ArchiveRequestError
from fixg.archive.service import ArchiverHandle, ArchiverSettings
from fixg.archive.storage import Archive
from fixg.cli import main
from fixg.fix.codec import encode
from fixg.fix.settings import SessionKey
from fixg.store.base import Direction
from fixg.store.journal import JournalReader, JournalStoreFactory

KEY = SessionKey("FIX.4.4", "GW", "BANK")


def fix(seq: int, msg_type: str, text: str) -> bytes:
    return encode("FIX.4.4", msg_type, [(34, seq), (49, "GW"), (56, "BANK"), (58, text)])


def make_journal(root: Path) -> None:
    factory = JournalStoreFactory(root, fsync="never")
    try:
        store = factory.create(KEY, 1_700_000_000.0)
        for i in range(1, 6):
            store.append(Direction.OUTBOUND, i, fix(i, "D" if i % 2 else "8", f"p1-{i}"), 1_700_000_000.0 + i)
            store.next_sender_seq_num = i + 1
        store.append(Direction.INBOUND, 1, fix(1, "A", "in"), 1_700_000_010.0)
        store.next_target_seq_num = 2
        store.reset(1_700_000_100.0)  # a second period
        for i in range(1, 4):
            store.append(Direction.OUTBOUND, i, fix(i, "D", f"p2-{i}"), 1_700_000_100.0 + i)
            store.next_sender_seq_num = i + 1
        store.next_target_seq_num = 7  # a SequenceReset
        other = factory.create(SessionKey("FIX.4.2", "GW", "VENUE", "q1"), 1_700_000_000.0)
        other.append(Direction.OUTBOUND, 1, fix(1, "D", "venue"), 1_700_000_001.0)
        other.next_sender_seq_num = 2
    finally:
        factory.close()


def journal_content(root: Path) -> list[object]:
    reader = JournalReader(root)
    out: list[object] = []
    for d in reader.session_dirs():
        out.append(reader.summary(d))
        out.append([(r.seq_index, r.direction, r.seq_num, r.data, r.time)
                    for r in reader.records(d, all_periods=True) if r.kind == "msg"])
    return out


def test_journal_export_to_an_archive_and_import_back_is_lossless(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_journal(tmp_path / "journal")
    assert main(["journal", "export", "--journal", str(tmp_path / "journal"), "--archive", str(tmp_path / "archive")]) == 0
    assert "exported 10 messages of 2 sessions" in capsys.readouterr().out
    assert main(["journal", "import", "--archive", str(tmp_path / "archive"), "--journal", str(tmp_path / "back")]) == 0
    assert "imported 10 messages of 2 sessions" in capsys.readouterr().out
    assert journal_content(tmp_path / "back") == journal_content(tmp_path / "journal")
    # importing into a journal that already holds the sessions is refused
    assert main(["journal", "import", "--archive", str(tmp_path / "archive"), "--journal", str(tmp_path / "back")]) == 1
    assert "already holds" in capsys.readouterr().err


def test_archive_inspect_and_replay_from_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_journal(tmp_path / "journal")
    main(["journal", "export", "--journal", str(tmp_path / "journal"), "--archive", str(tmp_path / "a")])
    capsys.readouterr()
    assert main(["archive", "inspect", "--dir", str(tmp_path / "a"), "--session", "GW->BANK"]) == 0
    out = capsys.readouterr().out
    assert "rec    1 data" in out and "records 14" in out
    assert "FIX.4.4:GW->BANK               period 2  next sender 4  next target 7" in out
    lines = [line for line in out.splitlines() if " FIX.4.4:GW->BANK out " in line]
    assert len(lines) == 3 and "MsgType(35)=D" in lines[0] and "Text(58)=p2-1" in lines[0]  # the current period
    main(["archive", "inspect", "--dir", str(tmp_path / "a"), "--session", "GW->BANK", "--all-periods",
          "--msg-type", "8", "--direction", "out", "--from-seq", "2", "--to-seq", "4", "--raw"])
    out = capsys.readouterr().out
    msgs = [line for line in out.splitlines() if " out " in line]
    assert len(msgs) == 2 and all("35=8" in m for m in msgs)
    main(["archive", "inspect", "--dir", str(tmp_path / "a"), "--since", "2023-11-14T22:13:22", "--until",
          "2023-11-14T22:13:24", "--all-periods"])
    assert len([x for x in capsys.readouterr().out.splitlines() if " out " in x]) == 2
    assert main(["archive", "replay", "--dir", str(tmp_path / "a"), "--session", "FIX.4.4:GW->BANK",
                 "--from-seq", "2", "--seq-index", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("8=FIX.4.4|") and "|35=8|34=2|" in out[0] and len(out) == 4
    main(["archive", "replay", "--dir", str(tmp_path / "a"), "--session", "FIX.4.4:GW->BANK", "--format", "json"])
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(r["seq_num"], r["seq_index"], r["direction"]) for r in rows] == [(1, 2, "out"), (2, 2, "out"), (3, 2, "out")]
    assert rows[0]["message"] == fix(1, "D", "p2-1").decode()
    assert main(["archive", "replay", "--dir", str(tmp_path / "a"), "--session", "FIX.4.4:NOBODY->X"]) == 1
    assert "no session" in capsys.readouterr().err


@pytest.mark.aeron
def test_status_replay_and_purge_through_a_running_archiver(
    settings: ArchiverSettings, archivers: Callable[..., ArchiverHandle], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archivers(settings)
    config = tmp_path / "gw.toml"
    config.write_text(archive_config_text(settings.aeron_dir or "", Path(settings.archive_dir)))
    key = b"FIX.4.4:GW->BANK"
    with Client(settings.aeron_dir, backpressure=BackpressurePolicy(retry_count=10_000, backoff_ms=1)) as c:
        data = c.add_exclusive_publication("aeron:ipc", 1001)
        deadline = time.monotonic() + 10
        while not data.is_connected:
            assert time.monotonic() < deadline, "no archiver subscribed"
            time.sleep(0.002)
        for period in (1, 2):
            data.offer(fmt.encode_data(fmt.Kind.BEGIN, 0, key, period, 0, 0, 1.0))
            for i in range(1, 2001):
                data.offer(fmt.encode_data(fmt.Kind.MSG, 1, key, period, i, 0, float(i), fix(i, "D", f"{period}-{i}")))
        sub = c.add_subscription("aeron:ipc", 4242)
        wait_sessions(ArchiveClient(c, "aeron:ipc", 100, 7500), "FIX.4.4:GW->BANK", 2001)  # all recorded
        assert main(["archive", "status", "--config", str(config)]) == 0
        out = capsys.readouterr().out
        assert "recordings 1" in out and "RECORDING" in out and "counter recorded position rec 1" in out
        assert main(["archive", "status", "--config", str(config), "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["counters"]["recorded_position"][0]["value"] == data.position
        assert status["counters"]["bytes"][0]["value"] == status["recordings_detail"][0]["bytes"]
        assert main(["archive", "replay", "--config", str(config), "--session", "FIX.4.4:GW->BANK",
                     "--from-seq", "10", "--to-seq", "1500", "--progress"]) == 0
        captured = capsys.readouterr()
        lines = captured.out.splitlines()
        assert len(lines) == 1491 and "|34=10|" in lines[0] and "|58=2-10|" in lines[0]
        assert "replay: done, 1491 messages" in captured.err
        assert main(["archive", "replay", "--config", str(config), "--session", "FIX.4.4:GW->BANK",
                     "--from-seq", "1", "--to-seq", "5", "--channel", "aeron:ipc", "--stream-id", "4242"]) == 0
        got: list[bytes] = []
        deadline = time.monotonic() + 5
        while len(got) < 5 and time.monotonic() < deadline:
            if not sub.poll(lambda b, h: got.append(bytes(b))):
                time.sleep(0.001)
        assert [g.split(b"\x0158=")[1][:4] for g in got] == [b"2-1\x01", b"2-2\x01", b"2-3\x01", b"2-4\x01", b"2-5\x01"]
        assert main(["archive", "replay", "--config", str(config), "--session", "FIX.4.4:GW->BANK",
                     "--from-seq", "5000"]) == 1
        assert "no messages 5000..end" in capsys.readouterr().err
        # purge: the recording still holds period 2, and is active: nothing goes
        assert main(["archive", "purge", "--config", str(config)]) == 0
        assert "deleted recordings: none" in capsys.readouterr().out


def test_two_journal_imports_of_the_same_size_replay_their_own_messages(tmp_path: Path) -> None:
    """Imports all use publication session 0 and positions from 0: a lookup by (session id,
    position) would hand one session another's messages; the recording id tells them apart."""
    keys = [SessionKey("FIX.4.4", "A", "B"), SessionKey("FIX.4.4", "C", "D")]
    for n, key in enumerate(keys):
        factory = JournalStoreFactory(tmp_path / f"journal-{n}", fsync="never")
        try:
            store = factory.create(key, 1_700_000_000.0)
            for i in range(1, 4):  # the same sizes in both journals
                store.append(Direction.OUTBOUND, i, fix(i, "D", f"{key.sender_comp_id}-{i}"), 1_700_000_000.0 + i)
                store.next_sender_seq_num = i + 1
        finally:
            factory.close()
        assert main(["journal", "export", "--journal", str(tmp_path / f"journal-{n}"),
                     "--archive", str(tmp_path / "archive")]) == 0
    for archive in (Archive(tmp_path / "archive", readonly=True), Archive(tmp_path / "archive")):
        try:
            assert len(archive.recordings) == 2
            for key in keys:
                got = [fmt.decode_data(p).payload for _n, _pos, p in archive.replay(str(key), fmt.DIR_OUT, 1, 1, 0)]
                assert got == [fix(i, "D", f"{key.sender_comp_id}-{i}") for i in range(1, 4)], key
        finally:
            archive.close()


@pytest.mark.aeron
def test_purge_deletes_a_stopped_recording_of_an_old_period(
    settings: ArchiverSettings, archivers: Callable[..., ArchiverHandle], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archivers(settings)
    config = tmp_path / "gw.toml"
    config.write_text(archive_config_text(settings.aeron_dir or "", Path(settings.archive_dir)))
    key = b"FIX.4.4:GW->BANK"
    root = Path(settings.archive_dir)
    with Client(settings.aeron_dir, backpressure=BackpressurePolicy(retry_count=10_000, backoff_ms=1)) as c:
        ac = ArchiveClient(c, "aeron:ipc", 100, 7600)
        for period in (1, 2):  # one publication (one recording) per period, like two Gateway runs
            data = c.add_exclusive_publication("aeron:ipc", 1001)
            deadline = time.monotonic() + 10
            while not data.is_connected:
                assert time.monotonic() < deadline, "no archiver subscribed"
                time.sleep(0.002)
            data.offer(fmt.encode_data(fmt.Kind.BEGIN, 0, key, period, 0, 0, float(period)))
            for i in range(1, 11):
                data.offer(fmt.encode_data(fmt.Kind.MSG, 1, key, period, i, 0, float(i), fix(i, "D", f"{period}-{i}")))
            wait_sessions(ac, key.decode(), 11)
            data.close()
        deadline = time.monotonic() + 10  # until the first recording is stopped (its image gone)
        while not (recs := ac.request(fmt.Op.RECORDINGS)["recordings"]) or recs[0]["stop_time"] is None:
            assert time.monotonic() < deadline, "the first recording was not stopped"
            time.sleep(0.02)
        first = recs[0]["id"]
        assert list(root.glob(f"rec-{first:08d}-*.seg"))
        assert [r.number for _p, r in ac.replay(key.decode(), 1, 1, 0, seq_index=1)] == list(range(1, 11))
        assert main(["archive", "purge", "--config", str(config), "--keep", "1"]) == 0
        assert f"deleted recordings: {first}" in capsys.readouterr().out
        assert not list(root.glob(f"rec-{first:08d}-*.seg"))
        with pytest.raises(ArchiveRequestError) as info:
            list(ac.replay(key.decode(), 1, 1, 0, seq_index=1))
        assert info.value.code == "no_such_range"
        assert [r.number for _p, r in ac.replay(key.decode(), 1, 1, 0)] == list(range(1, 11))  # period 2 stays
