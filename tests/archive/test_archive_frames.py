"""The archive's frames records (``Archive.record_block``) on real files, with Aeron frames
built here: blocks stored as they are, messages in fragments across blocks and segments,
padding, segment rotation at frame boundaries, reading back before and after a reopen, a torn
block at the end. No media driver: this is the storage format alone."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from fixg.archive import format as fmt
from fixg.archive.storage import Archive, segment_name
from fixg.errors import StoreError

KEY = b"FIX.4.4:GW->BANK"
_FRAME_HEADER = struct.Struct("<iBBHiiiiq")  # length, version, flags, type, term offset, session, stream, term id, reserved
BEGIN, END = 0x80, 0x40


def _frame(flags: int, payload: bytes, frame_type: int = 1) -> bytes:
    raw = _FRAME_HEADER.pack(32 + len(payload), 0, flags, frame_type, 0, 7, 1001, 0, 0) + payload
    return raw + bytes(-len(raw) % 32)


def frames(record: bytes, mtu_payload: int) -> bytes:
    """The frames a publication writes for one message: whole, or BEGIN ... END fragments."""
    if len(record) <= mtu_payload:
        return _frame(BEGIN | END, record)
    parts = [record[i : i + mtu_payload] for i in range(0, len(record), mtu_payload)]
    return b"".join(_frame((BEGIN if i == 0 else 0) | (END if i == len(parts) - 1 else 0), p)
                    for i, p in enumerate(parts))


def padding(length: int) -> bytes:
    return _FRAME_HEADER.pack(length, 0, BEGIN | END, 0, 0, 7, 1001, 0, 0) + bytes(length - 32)


def data(seq: int, body: bytes) -> bytes:
    return fmt.encode_data(fmt.Kind.MSG, fmt.DIR_OUT, KEY, 1, seq, 0, float(seq), body)


def stream(bodies: dict[int, bytes]) -> bytes:
    """A data stream: a BEGIN, the messages (MTU 1 KiB payloads), a padding frame in the middle."""
    out = [frames(fmt.encode_data(fmt.Kind.BEGIN, 0, KEY, 1, 0, 0, 1.0), 1024)]
    for seq, body in bodies.items():
        out.append(frames(data(seq, body), 1024))
        if seq == len(bodies) // 2:
            out.append(padding(96))
    return b"".join(out)


def blocks(raw: bytes, size: int) -> list[bytes]:
    """``raw`` cut into blocks of about ``size`` bytes at frame boundaries, as block_poll does."""
    out, start, offset = [], 0, 0
    while offset < len(raw):
        offset += (struct.unpack_from("<i", raw, offset)[0] + 31) & -32
        if offset - start >= size or offset == len(raw):
            out.append(raw[start:offset])
            start = offset
    return out


BODIES = {i: bytes([65 + i % 26]) * (50 + (i * 397) % 3500) for i in range(1, 201)}


def record(root: Path, block_size: int, segment_length: int) -> tuple[int, int]:
    """Record ``BODIES`` in blocks; returns (recording id, end position)."""
    archive = Archive(root, segment_length=segment_length, fsync="never")
    try:
        rec = archive.start_recording("data", 1001, 7, "aeron:ipc", 0)
        position = 0
        for block in blocks(stream(BODIES), block_size):
            archive.record_block(rec, memoryview(block), position)
            position += len(block)
            archive.flush()
        assert rec.durable_position == position  # durable before anything was indexed
        replayed = {n: fmt.decode_data(p).payload for n, _pos, p in archive.replay(KEY.decode(), 1, 1, 1, 0)}
        assert replayed == BODIES
        archive.stop_recording(rec)
        return rec.id, position
    finally:
        archive.close()


@pytest.mark.parametrize("block_size", [64, 3000, 1 << 20])
def test_blocks_come_back_message_by_message_before_and_after_a_reopen(tmp_path: Path, block_size: int) -> None:
    rid, end = record(tmp_path, block_size, 64 << 20)
    archive = Archive(tmp_path, readonly=True)
    try:
        rec = archive.recordings[rid]
        assert rec.stop_position == end
        state = archive.sessions[KEY.decode()]
        assert (state.next_sender, state.sent) == (201, 200)
        assert {n: fmt.decode_data(p).payload for n, _pos, p in archive.replay(KEY.decode(), 1, 1, 1, 0)} == BODIES
        assert [n for n, _pos, _p in archive.replay(KEY.decode(), 1, 1, 150, 152)] == [150, 151, 152]
        # one record per block, not per message: the file holds the stream plus a header a block
        size = (tmp_path / segment_name(rid, 0)).stat().st_size
        assert size == end + fmt.SEGMENT_HEADER.size * len(blocks(stream(BODIES), block_size))
    finally:
        archive.close()


def test_a_full_segment_is_cut_at_a_frame_boundary_and_fragments_span_segments(tmp_path: Path) -> None:
    rid, end = record(tmp_path, 1 << 20, 8192)
    archive = Archive(tmp_path)
    try:
        rec = archive.recordings[rid]
        assert len(rec.segments) > 40
        for seg in rec.segments:
            assert (tmp_path / segment_name(rid, seg)).stat().st_size <= 8192
        assert rec.stop_position == end
        assert {n: fmt.decode_data(p).payload for n, _pos, p in archive.replay(KEY.decode(), 1, 1, 1, 0)} == BODIES
    finally:
        archive.close()


def crashed(root: Path, rid: int) -> None:
    """Make recording ``rid`` look like its archiver died while recording (no stop time)."""
    catalog = json.loads((root / "catalog.json").read_text())
    for r in catalog["recordings"]:
        if r["id"] == rid:
            r["stop_time"] = None
    (root / "catalog.json").write_text(json.dumps(catalog))


def test_a_torn_block_at_the_end_is_truncated_and_the_rest_replays(tmp_path: Path) -> None:
    rid, end = record(tmp_path, 3000, 64 << 20)
    last = tmp_path / segment_name(rid, 0)
    whole = last.stat().st_size
    torn = frames(data(201, b"torn" * 100), 1024)
    with open(last, "ab") as fh:  # a block whose write never completed
        fh.write(fmt.SEGMENT_HEADER.pack(len(torn) | fmt.FRAMES_FLAG, 0, end + len(torn)) + torn[:100])
    with pytest.raises(StoreError, match=r"rec-00000001-000000.seg: the record at byte \d+ declares .* stopped"):
        Archive(tmp_path)  # a stopped recording cannot end torn: that is damage
    assert last.stat().st_size == whole + fmt.SEGMENT_HEADER.size + 100  # and nothing was changed
    crashed(tmp_path, rid)
    archive = Archive(tmp_path)
    try:
        assert archive.torn_bytes_truncated == fmt.SEGMENT_HEADER.size + 100
        assert last.stat().st_size == whole
        assert archive.sessions[KEY.decode()].next_sender == 201
        assert len(list(archive.replay(KEY.decode(), 1, 1, 1, 0))) == 200
    finally:
        archive.close()


def test_a_flipped_length_bit_in_a_stopped_recording_is_an_error_not_a_torn_tail(tmp_path: Path) -> None:
    rid, _end = record(tmp_path, 3000, 64 << 20)
    path = tmp_path / segment_name(rid, 0)
    raw = bytearray(path.read_bytes())
    raw[2] ^= 0x10  # the first record's length + 1 MiB: it seems to run past the end of the file
    path.write_bytes(bytes(raw))
    for readonly in (True, False):
        with pytest.raises(StoreError, match=r"rec-00000001-000000.seg: the record at byte 0 declares .* stopped"):
            Archive(tmp_path, readonly=readonly)
    assert path.read_bytes() == raw  # nothing truncated
    raw[2] ^= 0x10
    raw[3] ^= 0x10  # + 256 MiB: no writer declares that, even in a recording open at a crash
    path.write_bytes(bytes(raw))
    crashed(tmp_path, rid)
    with pytest.raises(StoreError, match=r"rec-00000001-000000.seg: the record at byte 0 declares .* open"):
        Archive(tmp_path)
    assert path.read_bytes() == raw


def test_a_missing_segment_before_the_last_is_an_error(tmp_path: Path) -> None:
    rid, _end = record(tmp_path, 3000, 100_000)
    (tmp_path / segment_name(rid, 1)).unlink()
    with pytest.raises(StoreError, match=r"rec-00000001-000001.seg: missing"):
        Archive(tmp_path, readonly=True)


def test_a_damaged_block_in_the_middle_is_an_error_not_a_silent_gap(tmp_path: Path) -> None:
    rid, _end = record(tmp_path, 3000, 64 << 20)
    path = tmp_path / segment_name(rid, 0)
    raw = bytearray(path.read_bytes())
    raw[fmt.SEGMENT_HEADER.size + 40] ^= 0xFF  # inside the first block
    path.write_bytes(bytes(raw))
    with pytest.raises(StoreError, match="corrupt record at byte 0 .* follow it"):
        Archive(tmp_path, readonly=True)


def test_indexing_is_deferred_and_goes_a_block_at_a_time(tmp_path: Path) -> None:
    archive = Archive(tmp_path, fsync="never")
    try:
        rec = archive.start_recording("data", 1001, 7, "aeron:ipc", 0)
        position = 0
        parts = blocks(stream(BODIES), 20_000)
        for block in parts:
            archive.record_block(rec, memoryview(block), position)
            position += len(block)
        archive.flush()
        assert rec.durable_position == position  # recorded and durable...
        assert archive.unindexed == position and KEY.decode() not in archive.sessions  # ...not indexed
        first = archive.index_deferred(1)
        assert 0 < first < 200 and archive.unindexed == position - len(parts[0])
        assert archive.index_deferred() == 201 - first  # the BEGIN and the 200 messages
        assert archive.unindexed == 0 and archive.sessions[KEY.decode()].next_sender == 201
    finally:
        archive.close()


def test_a_new_segment_never_appends_to_a_file_left_there(tmp_path: Path) -> None:
    (tmp_path / segment_name(1, 0)).write_bytes(b"left over")
    archive = Archive(tmp_path, fsync="never")
    try:
        with pytest.raises(StoreError, match=r"cannot create .*rec-00000001-000000.seg"):
            archive.start_recording("data", 1001, 7, "aeron:ipc", 0)
        assert archive.recordings == {}  # not cataloged
    finally:
        archive.close()
    assert (tmp_path / segment_name(1, 0)).read_bytes() == b"left over"


def test_reading_many_segments_keeps_at_most_64_files_open(tmp_path: Path) -> None:
    rid, _end = record(tmp_path, 3000, 4096)  # about a hundred segments
    archive = Archive(tmp_path, readonly=True)
    try:
        assert len(archive.recordings[rid].segments) > 64
        assert len(list(archive.replay(KEY.decode(), 1, 1, 1, 0))) == 200
        assert len(archive._read_fds) == 64
    finally:
        archive.close()


def test_a_block_that_does_not_continue_the_recording_is_refused(tmp_path: Path) -> None:
    archive = Archive(tmp_path, fsync="never")
    try:
        rec = archive.start_recording("data", 1001, 7, "aeron:ipc", 0)
        first, second = blocks(stream(BODIES), 20_000)[:2]
        archive.record_block(rec, memoryview(first), 0)
        with pytest.raises(StoreError, match=f"recording 1 ends at {len(first)}, not at {len(first) + 32}"):
            archive.record_block(rec, memoryview(second), len(first) + 32)  # a gap
        archive.record_block(rec, memoryview(second), len(first))
        assert rec.stop_position == len(first) + len(second)
    finally:
        archive.close()
