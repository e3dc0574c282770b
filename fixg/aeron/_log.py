"""Aeron's log buffers read and framed from Python: the callback-free poll and batched offers.

**Reading** (:class:`ImageReader`): an image's log buffer (three term buffers and the log
metadata, ``aeron_logbuffer_descriptor.h``) is a file the media driver creates,
``<aeron dir>/publications/<registration id>.logbuffer`` for IPC and
``<aeron dir>/images/<correlation id>.logbuffer`` for network images; the image's
``correlation_id`` names it. fixg maps it a second time, read-only, with :mod:`mmap` (so a view
of it can never point at unmapped memory, whatever libaeron does with its own mapping), checks
that the metadata agrees with the image's constants, and walks the frames with memoryview
indexing: no ctypes call and no callback per message. The consumer position is the image's
*subscriber position* counter, in the counters file libaeron maps: it is read and written
(once per poll, when something was consumed) as one aligned 8-byte memoryview item, exactly
what ``aeron_image_poll`` does with ``aeron_counter_set_release``. Before writing it the
counter's record state is checked to be ``ALLOCATED``: the driver frees the counter when the
image goes away and keeps freed counters unused for a while, so a write can never land in a
counter that was reused for something else.

Memory ordering: a publisher writes a frame's header and payload, then its ``frame_length``
with a release store (negative or zero before). The reader loads ``frame_length`` first (one
aligned 4-byte load: memoryview items of format ``i`` are read with one ``memcpy`` of 4 bytes),
stops at a length <= 0, and only then reads the header's other fields and the payload. On
x86-64 (TSO: loads are not reordered with older loads, stores not with older loads or stores)
that is enough. Elsewhere (aarch64 and others, whose loads may be reordered without an acquire
barrier, which Python cannot issue) :func:`direct_supported` is false and fixg uses libaeron's
own poll.

**Writing** (:func:`frame_block`): whole Aeron data frames (``aeron_data_header_t``: frame
length, version, flags BEGIN|END, type DATA, term offset, session id, stream id, term id,
reserved value; each frame 32-byte aligned) built in a bytearray, for
``aeron_exclusive_publication_offer_block``.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import platform
import struct
import sys
from array import array
from collections.abc import Callable, Sequence
from itertools import accumulate, chain, repeat
from typing import Any, Final

__all__ = [
    "HEADER_LENGTH",
    "PARTITION_COUNT",
    "direct_supported",
    "log_buffer_paths",
    "LogBuffer",
    "ImageReader",
    "frame_block",
]

HEADER_LENGTH: Final = 32
PARTITION_COUNT: Final = 3
_ALIGN: Final = 31

FLAG_BEGIN: Final = 0x80
FLAG_END: Final = 0x40
_UNFRAGMENTED: Final = FLAG_BEGIN | FLAG_END
_TYPE_PADDING: Final = 0
_TYPE_DATA: Final = 1
_VERSION: Final = 0

# aeron_logbuffer_metadata_t (aeron_logbuffer_descriptor.h), offsets in the metadata section
# that follows the three terms: checked against the image constants when a log is mapped.
META_TERM_TAIL_COUNTERS: Final = 0
META_ACTIVE_TERM_COUNT: Final = 24
META_END_OF_STREAM_POSITION: Final = 128
META_IS_CONNECTED: Final = 136
META_CORRELATION_ID: Final = 256
META_INITIAL_TERM_ID: Final = 264
META_DEFAULT_FRAME_HEADER_LENGTH: Final = 268
META_MTU_LENGTH: Final = 272
META_TERM_LENGTH: Final = 276
META_PAGE_SIZE: Final = 280
_META_MIN_LENGTH: Final = 512
_META_IDS: Final = struct.Struct("<qiiiii")

# aeron_counter_metadata_descriptor_t records are 512 bytes; state (int32) then type id (int32).
COUNTER_METADATA_LENGTH: Final = 512
COUNTER_RECORD_ALLOCATED: Final = 1

#: Actions (aeron_controlled_fragment_handler_action_t)
ABORT: Final = 1
BREAK: Final = 2
COMMIT: Final = 3
CONTINUE: Final = 4
_ACTIONS: Final = frozenset((ABORT, BREAK, COMMIT, CONTINUE))

# the header fields after frame_length, for Header.values(): version, flags, type, term offset,
# session id, stream id, term id, reserved value
_HEADER_REST: Final = struct.Struct("<bBhiiiiq")
# a frame header for frame_block: frame length, version|flags|type, term offset, the rest
_FRAME: Final = struct.Struct("<i4si20s")
_PADS: Final = tuple(bytes(n) for n in range(32))


def direct_supported() -> bool:
    """Whether the callback-free poll may be used here: x86-64 (see the module doc), a
    little-endian CPython, and not disabled with ``FIXG_AERON_DIRECT=0``."""
    if os.environ.get("FIXG_AERON_DIRECT", "").strip().lower() in ("0", "false", "no", "off"):
        return False
    return sys.byteorder == "little" and platform.machine().lower() in ("x86_64", "amd64")


def log_buffer_paths(aeron_dir: str, correlation_id: int) -> tuple[str, str]:
    """Where the driver keeps the log of an image with this correlation id (IPC, network)."""
    name = f"{correlation_id}.logbuffer"
    return os.path.join(aeron_dir, "publications", name), os.path.join(aeron_dir, "images", name)


class LogBuffer:
    """A read-only mapping of one log buffer file, checked against what the image says."""

    __slots__ = ("path", "term_length", "initial_term_id", "mtu_length", "_map", "_view", "terms", "metadata")

    def __init__(self, path: str, *, correlation_id: int, term_length: int, initial_term_id: int,
                 mtu_length: int) -> None:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size < PARTITION_COUNT * term_length + _META_MIN_LENGTH:
                raise ValueError(f"{path}: {size} bytes is too short for terms of {term_length}")
            self._map = mmap.mmap(file.fileno(), size, access=mmap.ACCESS_READ)
        self.path = path
        view = memoryview(self._map)
        self._view = view
        meta_offset = PARTITION_COUNT * term_length
        self.metadata = view[meta_offset:]
        corr, initial, header_length, mtu, length, _page = _META_IDS.unpack_from(self.metadata, META_CORRELATION_ID)
        expected = (correlation_id, initial_term_id, HEADER_LENGTH, mtu_length, term_length)
        if (corr, initial, header_length, mtu, length) != expected:
            self.close()
            raise ValueError(f"{path}: log metadata {(corr, initial, header_length, mtu, length)} "
                             f"does not match the image {expected}")
        self.term_length = term_length
        self.initial_term_id = initial_term_id
        self.mtu_length = mtu_length
        self.terms = tuple(view[i * term_length:(i + 1) * term_length] for i in range(PARTITION_COUNT))

    def close(self) -> None:
        """Unmap, unless a view of it is still exported (then the GC unmaps it later)."""
        views = [*getattr(self, "terms", ()), getattr(self, "metadata", None), getattr(self, "_view", None)]
        for v in views:
            if v is not None:
                with contextlib.suppress(BufferError):
                    v.release()
        with contextlib.suppress(BufferError):
            self._map.close()


class FrameHeader:
    """The header of the fragment being handled by the callback-free poll (same API as
    :class:`fixg.aeron.Header`); valid only during the handler call."""

    __slots__ = ("_term", "_offset", "_begin", "_initial_term_id", "_pbits", "_assembled")

    def __init__(self, initial_term_id: int, pbits: int) -> None:
        self._term: memoryview | None = None
        self._offset = 0
        self._begin = 0
        self._initial_term_id = initial_term_id
        self._pbits = pbits
        # a reassembled message: (first fragment's term offset, message length), as libaeron's
        # assembler presents it (the first fragment's header, flags BEGIN|END, the whole length)
        self._assembled: tuple[int, int] | None = None

    def _fields(self) -> tuple[int, tuple[Any, ...]]:
        term = self._term
        if term is None:
            from fixg.aeron.client import ResourceClosedError

            raise ResourceClosedError("a fragment header is only valid during the handler call")
        offset = self._offset
        frame_length: int = term[offset:offset + 4].cast("i")[0]
        rest = _HEADER_REST.unpack_from(term, offset + 4)
        assembled = self._assembled
        if assembled is not None:
            version, _flags, frame_type, _offset, session_id, stream_id, term_id, reserved = rest
            rest = (version, _UNFRAGMENTED, frame_type, assembled[0], session_id, stream_id, term_id, reserved)
            frame_length = assembled[1] + HEADER_LENGTH
        return frame_length, rest

    def values(self) -> Any:
        from fixg.aeron.client import HeaderValues

        frame_length, rest = self._fields()
        version, flags, frame_type, term_offset, session_id, stream_id, term_id, reserved = rest
        return HeaderValues(frame_length, version, flags, frame_type, term_offset, session_id, stream_id, term_id,
                            reserved, self._initial_term_id, self._pbits)

    @property
    def position(self) -> int:
        """The stream position just after this fragment (the last one of a reassembled message)."""
        term = self._term
        if term is None:
            self._fields()  # raises
        offset = self._offset
        frame_length: int = term[offset:offset + 4].cast("i")[0]  # type: ignore[index]
        return self._begin + ((offset + frame_length + _ALIGN) & ~_ALIGN)

    @property
    def term_offset(self) -> int:
        return int(self._fields()[1][3])

    @property
    def term_id(self) -> int:
        return int(self._fields()[1][6])

    @property
    def session_id(self) -> int:
        return int(self._fields()[1][4])

    @property
    def stream_id(self) -> int:
        return int(self._fields()[1][5])

    @property
    def flags(self) -> int:
        return int(self._fields()[1][1])

    @property
    def reserved_value(self) -> int:
        return int(self._fields()[1][7])


class ImageReader:
    """Polls one image from Python: walks its mapped log from the subscriber position and
    advances the position counter once per poll. Fragments are reassembled per image."""

    __slots__ = ("session_id", "correlation_id", "log", "_terms", "_terms32", "_term_length", "_mask",
                 "_pbits", "_position", "_state", "_header", "_builder", "_closed", "_terms64", "_first_offset")

    def __init__(self, log: LogBuffer, *, session_id: int, correlation_id: int, position_bits_to_shift: int,
                 position_view: memoryview, state_view: memoryview) -> None:
        self.session_id = session_id
        self.correlation_id = correlation_id
        self.log = log
        self._terms = log.terms
        self._terms32 = tuple(t.cast("i") for t in log.terms)
        self._terms64 = tuple(t.cast("q") for t in log.terms)
        self._term_length = log.term_length
        self._mask = log.term_length - 1
        self._pbits = position_bits_to_shift
        self._position = position_view  # format "q", one item: the subscriber position counter
        self._state = state_view  # format "i": the counter record's state
        self._header = FrameHeader(log.initial_term_id, position_bits_to_shift)
        self._builder: bytearray | None = None
        self._first_offset = 0
        self._closed = False

    @property
    def position(self) -> int:
        return int(self._position[0])

    def _commit(self, position: int) -> None:
        if self._state[0] == COUNTER_RECORD_ALLOCATED and not self._closed:
            self._position[0] = position

    def poll(self, handler: Callable[[memoryview, Any], Any], fragment_limit: int) -> int:
        """Deliver up to ``fragment_limit`` fragments' worth of messages; the fragments consumed."""
        if self._closed:
            return 0
        position: int = self._position[0]
        offset = position & self._mask
        index = (position >> self._pbits) % PARTITION_COUNT
        term64 = self._terms64[index]
        # The first 8 bytes of a frame are read with one aligned 8-byte load (frames are 32-byte
        # aligned): frame_length in the low half, then version, flags and type.
        word = term64[offset >> 3]
        frame_length = word & 0xFFFFFFFF
        if not 0 < frame_length < 0x80000000:  # 0 or negative: nothing (complete) there yet
            return 0
        term = self._terms[index]
        capacity = self._term_length
        begin = position - offset
        start = offset
        header = self._header
        header._term = term
        header._begin = begin
        remaining = fragment_limit
        whole = 0x1C0 << 40  # version 0, flags BEGIN|END, type DATA, above the frame length
        try:
            while True:
                length = word - whole
                if 0 < length < 0x80000000:  # a whole message, complete: the common case
                    header._offset = offset
                    view = term[offset + 32:offset + length]
                    result = handler(view, header)
                    try:
                        view.release()
                    except BufferError:  # the handler exported it: it cannot be released
                        pass
                    if result is not None and result != 4:
                        result = self._action(result)
                        if result == 1:  # ABORT: not consumed
                            break
                        offset += (length + 31) & -32
                        remaining -= 1
                        if result == 2:  # BREAK
                            break
                        self._commit(begin + offset)  # COMMIT
                        start = offset
                    else:
                        offset += (length + 31) & -32
                        remaining -= 1
                else:
                    frame_length = word & 0xFFFFFFFF
                    if not 0 < frame_length < 0x80000000:  # 0 or negative: not complete yet
                        break
                    if word >> 48 == 0:  # padding: consumed, not counted
                        offset += (frame_length + 31) & -32
                    else:
                        result = self._fragment(term, offset, frame_length, (word >> 40) & 0xFF, handler)
                        if result == 1:
                            break
                        offset += (frame_length + 31) & -32
                        remaining -= 1
                        if result != 4:
                            if result == 2:
                                break
                            self._commit(begin + offset)
                            start = offset
                if remaining <= 0 or offset >= capacity:
                    break
                word = term64[offset >> 3]
        finally:
            header._term = None
            if offset != start:
                self._commit(begin + offset)
        return fragment_limit - remaining

    def poll_term(self, handler: Callable[[memoryview, int, int, Any], Any], fragment_limit: int) -> int:
        """Like :meth:`poll`, but a whole message is delivered as ``handler(term, offset, length,
        header)``: the term buffer (a view valid during this poll) and where the payload is in
        it, which spares a memoryview per message. A reassembled message is delivered as
        ``(message, 0, len(message), header)``."""
        if self._closed:
            return 0
        position: int = self._position[0]
        offset = position & self._mask
        index = (position >> self._pbits) % PARTITION_COUNT
        term64 = self._terms64[index]
        word = term64[offset >> 3]
        frame_length = word & 0xFFFFFFFF
        if not 0 < frame_length < 0x80000000:
            return 0
        term = self._terms[index]
        view = term[:]
        capacity = self._term_length
        begin = position - offset
        start = offset
        header = self._header
        header._term = term
        header._begin = begin
        remaining = fragment_limit
        whole = 0x1C0 << 40
        try:
            while True:
                length = word - whole
                if 0 < length < 0x80000000:
                    header._offset = offset
                    result = handler(view, offset + 32, length - 32, header)
                    if result is not None and result != 4:
                        result = self._action(result)
                        if result == 1:
                            break
                        offset += (length + 31) & -32
                        remaining -= 1
                        if result == 2:
                            break
                        self._commit(begin + offset)
                        start = offset
                    else:
                        offset += (length + 31) & -32
                        remaining -= 1
                else:
                    frame_length = word & 0xFFFFFFFF
                    if not 0 < frame_length < 0x80000000:
                        break
                    if word >> 48 == 0:
                        offset += (frame_length + 31) & -32
                    else:
                        result = self._fragment(term, offset, frame_length, (word >> 40) & 0xFF, handler, True)
                        if result == 1:
                            break
                        offset += (frame_length + 31) & -32
                        remaining -= 1
                        if result != 4:
                            if result == 2:
                                break
                            self._commit(begin + offset)
                            start = offset
                if remaining <= 0 or offset >= capacity:
                    break
                word = term64[offset >> 3]
        finally:
            header._term = None
            _release(view)
            if offset != start:
                self._commit(begin + offset)
        return fragment_limit - remaining

    @staticmethod
    def _action(result: Any) -> int:
        if result in _ACTIONS:
            return int(result)
        raise TypeError(f"fragment handler returned {result!r}, not an Action or None")

    def _fragment(self, term: memoryview, offset: int, frame_length: int, flags: int,
                  handler: Callable[..., Any], term_style: bool = False) -> int:
        """Handle one fragment of a fragmented message; the action (CONTINUE when the message
        is not complete yet). On ABORT or an exception the fragment is not consumed."""
        payload = term[offset + HEADER_LENGTH:offset + frame_length]
        if flags & FLAG_BEGIN:
            self._builder = bytearray(payload)
            self._first_offset = offset
            return CONTINUE
        builder = self._builder
        if builder is None:  # joined in the middle of a message: skip to the next BEGIN
            return CONTINUE
        if not flags & FLAG_END:
            builder += payload
            return CONTINUE
        mark = len(builder)
        builder += payload
        view = memoryview(builder).toreadonly()
        header = self._header
        header._offset = offset
        header._assembled = (self._first_offset, len(builder))
        try:
            result = handler(view, 0, len(view), header) if term_style else handler(view, header)
        except BaseException:
            _release(view)
            self._rollback(builder, mark)
            raise
        finally:
            header._assembled = None
        _release(view)
        if result is None:
            result = CONTINUE
        elif result not in _ACTIONS:
            self._rollback(builder, mark)
            raise TypeError(f"fragment handler returned {result!r}, not an Action or None")
        if result == ABORT:
            self._rollback(builder, mark)
        else:
            self._builder = None
        return int(result)

    def _rollback(self, builder: bytearray, mark: int) -> None:
        try:
            del builder[mark:]
        except BufferError:  # the handler kept an export of the message: start a new builder
            self._builder = bytearray(builder[:mark])

    def close(self) -> None:
        self._closed = True
        self._header._term = None
        for v in (*self._terms32, *self._terms64):
            with contextlib.suppress(BufferError):
                v.release()
        self.log.close()


def _release(view: memoryview) -> None:
    try:
        view.release()
    except BufferError:  # the handler exported it: it cannot be released
        pass


def _offset_terms(count: int) -> tuple[int, int]:
    """(S, T) with S = sum(1 << 32 i) and T = sum(i << 32 i), i < count: the little-endian int32
    array ``term_offset + i * step`` is ``(term_offset * S + step * T).to_bytes(4 * count)``."""
    terms = _OFFSET_TERMS.get(count)
    if terms is None:
        terms = (int.from_bytes(array("I", [1] * count).tobytes(), "little"),
                 int.from_bytes(array("I", range(count)).tobytes(), "little"))
        if len(_OFFSET_TERMS) < 4096:
            _OFFSET_TERMS[count] = terms
    return terms


_OFFSET_TERMS: dict[int, tuple[int, int]] = {}


def frame_block(messages: Sequence[Any], lengths: Sequence[int], term_offset: int, session_id: int,
                stream_id: int, term_id: int) -> bytearray:
    """Aeron data frames for ``messages`` (each at most the max payload length), starting at
    ``term_offset``: one bytearray for ``aeron_exclusive_publication_offer_block``."""
    count = len(lengths)
    tail = struct.pack("<iiiq", session_id, stream_id, term_id, 0)
    first = lengths[0]
    if lengths.count(first) == count:
        # all the same length: one join, then every frame's term offset with one strided store
        frame_length = first + HEADER_LENGTH
        aligned = (frame_length + _ALIGN) & ~_ALIGN
        head = _FRAME.pack(frame_length, _VFT, 0, tail)
        pad = _PADS[aligned - frame_length]
        block = bytearray(head + (pad + head).join(messages) + pad)
        s, t = _offset_terms(count)
        offsets = memoryview((term_offset * s + aligned * t).to_bytes(4 * count, "little")).cast("i")
        words = memoryview(block).cast("i")
        words[2::aligned >> 2] = offsets
        words.release()
        return block
    frame_lengths = [n + HEADER_LENGTH for n in lengths]
    aligned_lengths = [(n + _ALIGN) & ~_ALIGN for n in frame_lengths]
    term_offsets = accumulate(aligned_lengths[:-1], initial=term_offset)
    headers = map(_FRAME.pack, frame_lengths, repeat(_VFT), term_offsets, repeat(tail))
    pads = map(_PADS.__getitem__, [a - f for a, f in zip(aligned_lengths, frame_lengths)])
    return bytearray(b"".join(chain.from_iterable(zip(headers, messages, pads))))


_VFT: Final = struct.pack("<bBh", _VERSION, _UNFRAGMENTED, _TYPE_DATA)
