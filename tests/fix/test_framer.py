"""The stream framer: any chunking, junk, garbled frames and resynchronisation, size limit."""

from __future__ import annotations

import pytest

from fixg.errors import BodyLengthError, ChecksumError, FrameTooLargeError, GarbledMessageError
from fixg.fix.codec import decode, encode
from fixg.fix.framer import Framer, FrameGarbled, GarbledFrame


def message(seq: int, text: str = "hello") -> bytes:
    return encode("FIX.4.4", "D", [(49, "S"), (56, "T"), (34, seq), (58, text)])


def drain(framer: Framer) -> list[bytes | FrameGarbled]:
    return list(framer)


def seqs(items: list[bytes | FrameGarbled]) -> list[int | str]:
    return [decode(i).seq_num if isinstance(i, bytes) else "garbled" for i in items]


def feed_in_chunks(framer: Framer, stream: bytes, size: int) -> list[bytes | FrameGarbled]:
    out: list[bytes | FrameGarbled] = []
    for start in range(0, len(stream), size):
        framer.feed(stream[start : start + size])
        out.extend(framer)
    return out


MESSAGES = [message(i, "x" * i) for i in range(1, 8)]
STREAM = b"".join(MESSAGES)


def test_one_frame() -> None:
    framer = Framer()
    assert framer.next_frame() is None
    framer.feed(MESSAGES[0])
    assert framer.next_frame() == MESSAGES[0]
    assert framer.next_frame() is None
    assert (framer.frames, framer.garbled_frames, framer.junk_bytes) == (1, 0, 0)
    assert framer.buffered == 0
    assert framer.stream_offset == len(MESSAGES[0])


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000, len(STREAM)])
def test_any_chunking_gives_the_same_frames(size: int) -> None:
    framer = Framer()
    assert feed_in_chunks(framer, STREAM, size) == MESSAGES
    assert framer.frames == len(MESSAGES)
    assert framer.buffered == 0


def test_many_messages_per_chunk_and_split_across_chunks() -> None:
    framer = Framer()
    cut = len(STREAM) // 2 + 3
    framer.feed(STREAM[:cut])
    first = drain(framer)
    framer.feed(STREAM[cut:])
    assert first + drain(framer) == MESSAGES
    assert 0 < len(first) < len(MESSAGES)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_buffer_types(kind: type) -> None:
    framer = Framer()
    framer.feed(kind(STREAM[:10]))
    framer.feed(kind(STREAM[10:]))
    assert drain(framer) == MESSAGES


def test_junk_before_frames_is_skipped_and_counted() -> None:
    framer = Framer()
    stream = b"garbage\r\n" + MESSAGES[0] + b"8=FI" + b"more" + MESSAGES[1] + b"8=F"
    assert feed_in_chunks(framer, stream, 1) == MESSAGES[:2]
    # "8=F" at the end may be a frame's start: held, not yet junk
    assert framer.junk_bytes == len(b"garbage\r\n") + len(b"8=FImore")
    assert framer.buffered == 3
    framer.feed(b"oo")
    assert drain(framer) == []
    assert framer.junk_bytes == len(b"garbage\r\n8=FImore8=Foo")


def test_junk_is_not_buffered() -> None:
    framer = Framer()
    for _ in range(1000):
        framer.feed(b"no frame here; 8=FIT 9=1 ")
        assert drain(framer) == []
        assert framer.buffered <= 4
    assert framer.junk_bytes == 1000 * 25


def test_bad_checksum_is_garbled_and_the_next_frame_is_read() -> None:
    bad = bytearray(MESSAGES[1])
    bad[-2] = ord("0") + (bad[-2] - ord("0") + 1) % 10
    stream = MESSAGES[0] + bytes(bad) + MESSAGES[2]
    for size in (1, 5, len(stream)):
        framer = Framer()
        items = feed_in_chunks(framer, stream, size)
        assert seqs(items) == [1, "garbled", 3]
        garbled = items[1]
        assert isinstance(garbled, FrameGarbled)
        assert garbled.data == bytes(bad)
        assert isinstance(garbled.error, ChecksumError)
        assert garbled.error.tag == 10
        assert garbled.error.offset == len(bad) - 7
        assert garbled.stream_offset == len(MESSAGES[0])
        assert (framer.frames, framer.garbled_frames, framer.junk_bytes) == (2, 1, 0)


def test_body_length_too_small_resyncs_at_the_next_frame() -> None:
    short = MESSAGES[1].replace(b"9=26\x01", b"9=20\x01", 1)
    assert short != MESSAGES[1]
    framer = Framer()
    items = feed_in_chunks(framer, MESSAGES[0] + short + MESSAGES[2], 3)
    assert seqs(items) == [1, "garbled", 3]
    garbled = items[1]
    assert isinstance(garbled, FrameGarbled)
    assert isinstance(garbled.error, BodyLengthError)
    assert garbled.error.tag == 9
    assert short.startswith(garbled.data)
    # the rest of the short frame, after the extent BodyLength claimed, is junk
    assert framer.junk_bytes == len(short) - len(garbled.data)


def test_body_length_too_large_resyncs_at_the_next_frame() -> None:
    long = MESSAGES[1].replace(b"9=26\x01", b"9=40\x01", 1)
    framer = Framer()
    items = feed_in_chunks(framer, MESSAGES[0] + long + MESSAGES[2] + MESSAGES[3], 1)
    assert seqs(items) == [1, "garbled", 3, 4]
    garbled = items[1]
    assert isinstance(garbled, FrameGarbled)
    assert garbled.data == long  # up to where the next frame starts
    assert framer.junk_bytes == 0


@pytest.mark.parametrize(
    ("head", "error"),
    [
        (b"8=FIX.4.4\x0135=D\x01", GarbledMessageError),  # no BodyLength
        (b"8=FIX.4.4\x019=1x\x01", BodyLengthError),
        (b"8=FIX.4.4.4.4.4.4.4.4.4.4", GarbledMessageError),  # BeginString not terminated
        (b"8=FIX.4.4\x019=12345678X", BodyLengthError),
    ],
)
def test_garbled_header(head: bytes, error: type[Exception]) -> None:
    framer = Framer()
    items = feed_in_chunks(framer, head + MESSAGES[0], 1)
    assert seqs(items) == ["garbled", 1]
    assert isinstance(items[0], FrameGarbled)
    assert isinstance(items[0].error, error)
    assert head.startswith(items[0].data) or items[0].data.startswith(head[:10])


def test_oversize_frame_is_an_error_at_once_and_the_framer_recovers() -> None:
    framer = Framer(max_frame_size=100)
    big = message(2, "y" * 200)
    framer.feed(MESSAGES[0] + big[:30])  # the header alone says it is too big
    assert framer.next_frame() == MESSAGES[0]
    with pytest.raises(FrameTooLargeError) as info:
        framer.next_frame()
    assert info.value.tag == 9
    assert info.value.offset == len(MESSAGES[0])
    framer.feed(big[30:] + MESSAGES[2])
    assert drain(framer) == [MESSAGES[2]]
    assert framer.oversized_frames == 1
    assert framer.buffered == 0
    assert framer.junk_bytes == len(big) - 1


def test_oversize_frame_with_a_huge_length() -> None:
    framer = Framer()
    framer.feed(b"8=FIX.4.4\x019=99999999999999")
    with pytest.raises(FrameTooLargeError):
        framer.next_frame()
    framer.feed(b"\x01" + MESSAGES[0])
    assert drain(framer) == [MESSAGES[0]]


def test_oversize_by_one_byte() -> None:
    exact = Framer(max_frame_size=len(MESSAGES[0]))
    exact.feed(MESSAGES[0])
    assert exact.next_frame() == MESSAGES[0]
    tight = Framer(max_frame_size=len(MESSAGES[0]) - 1)
    tight.feed(MESSAGES[0])
    with pytest.raises(FrameTooLargeError):
        tight.next_frame()


def test_a_partial_frame_is_held_until_complete() -> None:
    framer = Framer()
    frame = MESSAGES[4]
    for i, byte in enumerate(frame[:-1]):
        framer.feed(bytes([byte]))
        assert framer.next_frame() is None
        assert framer.buffered == i + 1
    framer.feed(frame[-1:])
    assert framer.next_frame() == frame


def test_frames_may_contain_data_fields_with_soh() -> None:
    data = b"\x018=FIX.4.4\x019=5\x0110=000\x01"
    frame = encode("FIX.4.4", "D", [(49, "S"), (96, data)])
    framer = Framer()
    assert feed_in_chunks(framer, frame + MESSAGES[0], 2) == [frame, MESSAGES[0]]
    assert decode(frame).get(96) == data


def test_garbled_frame_alias_and_record() -> None:
    assert GarbledFrame is FrameGarbled
    record = FrameGarbled(b"x", ChecksumError("bad", tag=10, offset=0), 5)
    with pytest.raises(AttributeError):
        record.data = b"y"  # type: ignore[misc]


def test_max_frame_size_is_checked() -> None:
    with pytest.raises(ValueError):
        Framer(max_frame_size=10)
