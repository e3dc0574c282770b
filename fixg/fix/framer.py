"""Cut a TCP byte stream into FIX frames, sans-IO.

Feed it chunks of any size with :meth:`Framer.feed` and take frames out with
:meth:`Framer.next_frame` (or iterate)::

    framer = Framer()
    framer.feed(chunk)
    for item in framer:
        if isinstance(item, FrameGarbled):
            ...  # FIX: ignore a garbled message (item.error says why)
        else:
            message = decode(item, dictionary, verify=False)  # 9 and 10 already checked

Rules:

* Bytes before ``8=FIX`` are junk: skipped and counted in :attr:`Framer.junk_bytes`.
* A frame's extent comes from BodyLength(9). If the bytes there are not ``<SOH>10=NNN<SOH>``
  (BodyLength wrong) or CheckSum(10) does not match, a :class:`FrameGarbled` is returned and
  the framer resynchronises at the next ``8=FIX``.
* A frame longer than ``max_frame_size`` raises :class:`~fixg.errors.FrameTooLargeError` as
  soon as its BodyLength is read; nothing of it is buffered and the framer stays usable (it
  resynchronises at the next ``8=FIX``).
* Work per byte is constant: 1-byte chunks cost no re-scanning of the buffer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, NoReturn
from zlib import adler32

from fixg.errors import (
    BodyLengthError,
    ChecksumError,
    CodecError,
    FrameTooLargeError,
    GarbledMessageError,
)
from fixg.fix.codec import checksum

__all__ = ["Framer", "FrameGarbled", "GarbledFrame", "DEFAULT_MAX_FRAME_SIZE"]

DEFAULT_MAX_FRAME_SIZE: Final = 1 << 20

_SYNC: Final = b"8=FIX"
_MAX_BEGIN_STRING: Final = 16  # bytes of BeginString's value before its SOH
_MAX_LENGTH_DIGITS: Final = 9
_TRAILER: Final = 7  # b"10=NNN\x01"
_HEAD_RE: Final = re.compile(rb"8=FIX[^\x01]{0,11}\x019=([0-9]{1,9})\x01")


@dataclass(frozen=True, slots=True)
class FrameGarbled:
    """A frame that was cut out but is not a valid FIX frame.

    ``data`` holds the frame's bytes as far as they were examined (the whole frame when only
    the CheckSum was wrong), ``error`` says what is wrong (its ``offset`` counts from the
    frame's start) and ``stream_offset`` is where the frame began in the stream.
    """

    data: bytes
    error: CodecError
    stream_offset: int


#: The name used in the design notes; the same class.
GarbledFrame = FrameGarbled


class Framer:
    """Splits a byte stream into FIX frames (``bytes``) and :class:`FrameGarbled` records."""

    __slots__ = (
        "max_frame_size",
        "frames",
        "garbled_frames",
        "junk_bytes",
        "oversized_frames",
        "_buf",
        "_pos",
        "_base",
        "_covered",
        "_need",
    )

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if type(max_frame_size) is not int or max_frame_size < 32:
            raise ValueError(f"max_frame_size must be an int >= 32, not {max_frame_size!r}")
        self.max_frame_size = max_frame_size
        #: Whole, valid frames returned so far.
        self.frames = 0
        #: :class:`FrameGarbled` records returned so far.
        self.garbled_frames = 0
        #: Bytes skipped outside any frame (before ``8=FIX``).
        self.junk_bytes = 0
        #: Frames refused with :class:`~fixg.errors.FrameTooLargeError`.
        self.oversized_frames = 0
        self._buf: bytes | bytearray = b""
        self._pos = 0  # start of the unread part of _buf
        self._base = 0  # stream offset of _buf[0]
        self._covered = 0  # _buf index up to which bytes belong to a reported garbled frame
        self._need = 0  # total length of the frame at _pos, once its header has been read

    # ------------------------------------------------------------------ input

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes received from the stream."""
        if not data:
            return
        buf = self._buf
        pos = self._pos
        rest = len(buf) - pos
        self._base += pos
        self._covered = max(0, self._covered - pos)
        self._pos = 0
        if rest <= 0:
            # Everything so far was consumed: keep the chunk itself, no copy.
            self._buf = data if type(data) is bytes else bytes(data)
        elif len(data) >= rest:
            # A big chunk after a small remainder: one immutable buffer, so frames are cut
            # out of it with a single copy. Costs at most twice the chunk: linear overall.
            self._buf = b"".join((memoryview(buf)[pos:], data))
        elif isinstance(buf, bytearray):
            # Small pieces (down to single bytes) are appended in place.
            del buf[:pos]  # O(1): bytearray moves its start
            buf += data
        else:
            grown = bytearray(memoryview(buf)[pos:])
            grown += data
            self._buf = grown

    @property
    def buffered(self) -> int:
        """Bytes held, waiting for the rest of a frame."""
        return len(self._buf) - self._pos

    @property
    def stream_offset(self) -> int:
        """Stream offset of the next unread byte."""
        return self._base + self._pos

    # ------------------------------------------------------------------ output

    def __iter__(self) -> Iterator[bytes | FrameGarbled]:
        while True:
            item = self.next_frame()
            if item is None:
                return
            yield item

    def _skip(self, pos: int, to: int) -> None:
        """Move the read position from ``pos`` to ``to``, counting junk."""
        if to > pos:
            start = max(pos, self._covered)
            if to > start:
                self.junk_bytes += to - start
        self._pos = to

    def _garbled(self, start: int, end: int, error: CodecError) -> FrameGarbled:
        """Report the bytes start..end as a garbled frame; resync after ``start``."""
        buf = self._buf
        self._covered = max(self._covered, end)
        self._pos = start + 1
        self._need = 0
        self.garbled_frames += 1
        return FrameGarbled(bytes(buf[start:end]), error, self._base + start)

    def next_frame(self) -> bytes | FrameGarbled | None:
        """The next whole frame, a :class:`FrameGarbled`, or None when more bytes are needed.

        Raises :class:`~fixg.errors.FrameTooLargeError` (``offset`` = stream offset of the
        frame) for a frame over ``max_frame_size``; call again to carry on after it.
        """
        buf = self._buf
        pos = self._pos
        need = self._need
        if not need:
            head = _HEAD_RE.match(buf, pos)
            if head is not None:
                need = head.end() - pos + int(head[1]) + _TRAILER
                if need > self.max_frame_size:
                    self._too_large(pos, need)
            else:
                found = self._header()
                if type(found) is not int:
                    return found  # type: ignore[return-value]
                need = found
                pos = self._pos
            if pos + need > len(buf):
                self._pos = pos
                self._need = need
                return None
        elif pos + need > len(buf):
            return None
        end = pos + need
        self._need = 0
        trailer = end - _TRAILER
        if not buf.startswith(b"\x0110=", trailer - 1) or buf[end - 1] != 1:
            # BodyLength is wrong: the frame is garbled up to the next 8=FIX (if one starts
            # inside the claimed extent) or to the claimed end.
            nxt = buf.find(_SYNC, pos + 1, end)
            return self._garbled(
                pos,
                nxt if nxt >= 0 else end,
                BodyLengthError(
                    "BodyLength(9) does not lead to <SOH>10=NNN<SOH>", tag=9, offset=0
                ),
            )
        frame = buf[pos:end]
        if type(frame) is not bytes:
            frame = bytes(frame)
        digits = frame[-4:-1]
        # CheckSum: adler32's low half is 1 + the byte sum while that stays below 65521;
        # the trailer's own bytes (b"10=" + digits + SOH = 159 + the digits) are taken off.
        if need <= 256 or (need <= 515 and frame.isascii()):
            actual = ((adler32(frame) & 0xFFFF) - 160 - frame[-4] - frame[-3] - frame[-2]) & 0xFF
        else:
            actual = checksum(frame[:-_TRAILER])
        if not digits.isdigit() or int(digits) != actual:
            self._covered = max(self._covered, end)
            self._pos = end
            self.garbled_frames += 1
            return FrameGarbled(
                frame,
                ChecksumError(
                    f"CheckSum(10)={digits!r} but the bytes sum to {actual:03d}",
                    tag=10,
                    offset=need - _TRAILER,
                ),
                self._base + pos,
            )
        self._pos = end
        self.frames += 1
        return frame

    def _header(self) -> int | FrameGarbled | None:
        """Careful reading of a frame's start: skip junk up to ``8=FIX``, wait for a partial
        header, report a garbled one. Returns the frame's total length (``_pos`` then at its
        start), or what :meth:`next_frame` should return."""
        buf = self._buf
        n = len(buf)
        pos = self._pos
        if not buf.startswith(_SYNC, pos):
            while True:
                found = buf.find(_SYNC, pos)
                if found >= 0:
                    break
                # Keep a tail that may be the start of b"8=FIX".
                keep = max(pos, n - len(_SYNC) + 1)
                while keep < n and not _SYNC.startswith(bytes(buf[keep:n])):
                    keep += 1
                self._skip(pos, keep)
                return None
            self._skip(pos, found)
            pos = found
        # Header: 8=FIX...<SOH>9=<digits><SOH>
        end8 = buf.find(b"\x01", pos + 5, pos + 3 + _MAX_BEGIN_STRING)
        if end8 < 0:
            if n - pos < 3 + _MAX_BEGIN_STRING:
                return None
            return self._garbled(
                pos,
                pos + 3 + _MAX_BEGIN_STRING,
                GarbledMessageError("BeginString(8) is not terminated", tag=8, offset=0),
            )
        if n < end8 + 3:
            return None
        if buf[end8 + 1 : end8 + 3] != b"9=":
            return self._garbled(
                pos,
                end8 + 3,
                GarbledMessageError(
                    "BodyLength(9) is not the second field", tag=9, offset=end8 + 1 - pos
                ),
            )
        limit = end8 + 4 + _MAX_LENGTH_DIGITS
        end9 = buf.find(b"\x01", end8 + 3, limit)
        if end9 < 0:
            if n < limit:
                return None
            digits = buf[end8 + 3 : limit]
            if digits.isdigit():
                self._too_large(pos, None)
            return self._garbled(
                pos,
                limit,
                BodyLengthError("BodyLength(9) is not a number", tag=9, offset=end8 + 1 - pos),
            )
        digits = buf[end8 + 3 : end9]
        if not digits.isdigit():
            return self._garbled(
                pos,
                end9 + 1,
                BodyLengthError(
                    f"BodyLength(9) is not a number: {bytes(digits)!r}",
                    tag=9,
                    offset=end8 + 1 - pos,
                ),
            )
        need = end9 + 1 - pos + int(digits) + _TRAILER
        if need > self.max_frame_size:
            self._too_large(pos, need)
        self._pos = pos
        return need

    def _too_large(self, pos: int, need: int | None) -> NoReturn:
        self._pos = pos + 1
        self._covered = max(self._covered, pos + 1)
        self._need = 0
        self.oversized_frames += 1
        size = "more than 10**9" if need is None else str(need)
        raise FrameTooLargeError(
            f"frame of {size} bytes exceeds the maximum of {self.max_frame_size}",
            tag=9,
            offset=self._base + pos,
        )
