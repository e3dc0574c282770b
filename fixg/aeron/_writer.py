"""A pure-Python writer for exclusive publications: appends to the mapped log buffer itself.

An exclusive publication has one writer, so its whole append state (term id, term offset, term
begin position, active partition) can live in the writer: libaeron keeps exactly that state in
its ``aeron_exclusive_publication_t`` and nothing else (the driver reads only the log: the term
tail counters, the active term count and the frames). fixg maps the publication's log
(``<aeron dir>/publications/<registration id>.logbuffer``) read-write a second time and
reproduces, step by step, what ``aeron_exclusive_publication.c`` /
``aeron_exclusive_publication.h`` (Aeron 1.53) do:

* the state is initialised as ``aeron_exclusive_publication_create`` does: partition from the
  active term count, term id and offset from that partition's raw tail;
* an offer checks ``position < limit`` (the publication-limit counter, one aligned 8-byte load),
  stores the new raw tail (``term_id << 32 | resulting offset``: one aligned 8-byte store), writes
  the header with ``frame_length = -length``, the payload, then ``frame_length`` (one aligned
  4-byte store, last);
* a message that does not fit in the rest of the term pads it (a PAD frame, its length stored
  last), then the term is rotated (next partition's tail set to ``next_term_id << 32``, then the
  active term count) and ``ADMIN_ACTION`` returned; ``MAX_POSITION_EXCEEDED`` instead when the
  next term would reach ``term_length << 31``;
* messages longer than the max payload are fragmented (BEGIN on the first frame, END on the
  last), each fragment published by its own last store of ``frame_length``;
* back pressure: ``MAX_POSITION_EXCEEDED``, ``BACK_PRESSURED`` when the log's ``is_connected``
  flag is 1, else ``NOT_CONNECTED``, as ``aeron_exclusive_publication_back_pressure_status``;
* a block of frames (the batched offer) is appended as ``aeron_append_block`` does: tail, then
  everything but the first frame's first 8 bytes, then those 8 bytes in one store.

Memory ordering: the same stores in the same order as libaeron, whose release stores on x86-64
are plain stores (x86-64 does not reorder a store with older stores; payload copies are
``memcpy``, as in libaeron). Hence only on x86-64, little-endian (:func:`_log.direct_supported`).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from collections.abc import Callable
from typing import Any, Final

from fixg.aeron import _log

__all__ = ["LogWriter", "fragmented_length"]

NOT_CONNECTED: Final = -1
BACK_PRESSURED: Final = -2
ADMIN_ACTION: Final = -3
CLOSED: Final = -4
MAX_POSITION_EXCEEDED: Final = -5
ERROR: Final = -6

_HEADER: Final = _log.HEADER_LENGTH
_VFT_DATA: Final = struct.pack("<bBh", 0, _log.FLAG_BEGIN | _log.FLAG_END, 1)
_VFT_PAD: Final = struct.pack("<bBh", 0, _log.FLAG_BEGIN | _log.FLAG_END, 0)
# frame length, version|flags|type, term offset, session id|stream id|term id|reserved value
_FRAME_HEADER: Final = struct.Struct("<i4si20s")
_WORD: Final = struct.Struct("<q")
_ACTIVE_TERM_COUNT_INT: Final = _log.META_ACTIVE_TERM_COUNT // 4
_IS_CONNECTED_INT: Final = _log.META_IS_CONNECTED // 4
_DEFAULT_FRAME_HEADER: Final = 320  # sizeof(aeron_logbuffer_metadata_t)
_EMPTY_LIMIT: Final = memoryview(bytes(8)).cast("q")  # limit 0: every offer takes the slow path


def _int32(value: int) -> int:
    return ((value + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def _raw_tail(term_id: int) -> int:
    """``(uint64_t)term_id << 32`` as the signed int64 the tail counter holds."""
    raw = (term_id & 0xFFFFFFFF) << 32
    return raw - (1 << 64) if raw >= 1 << 63 else raw


def fragmented_length(length: int, max_payload: int) -> int:
    """``aeron_logbuffer_compute_fragmented_length``: the aligned bytes a fragmented message takes."""
    full, rest = divmod(length, max_payload)
    last = (rest + _HEADER + 31) & -32 if rest else 0
    return full * ((max_payload + _HEADER + 31) & -32) + last


class LogWriter:
    """Appends to one exclusive publication's log. Not thread safe (neither is libaeron's)."""

    def __init__(self, path: str, *, registration_id: int, session_id: int, stream_id: int, initial_term_id: int,
                 term_length: int, mtu_length: int, max_message_length: int, limit_view: memoryview,
                 is_closed: Callable[[], bool] | None = None) -> None:
        with open(path, "r+b") as file:
            size = os.fstat(file.fileno()).st_size
            if size < _log.PARTITION_COUNT * term_length + _log._META_MIN_LENGTH:
                raise ValueError(f"{path}: {size} bytes is too short for terms of {term_length}")
            self._map = mmap.mmap(file.fileno(), size, access=mmap.ACCESS_WRITE)
        self.path = path
        view = memoryview(self._map)
        self._views: list[memoryview] = [view]
        meta = self._keep(view[_log.PARTITION_COUNT * term_length:])
        corr, initial, header_length, mtu, length, page = _log._META_IDS.unpack_from(meta, _log.META_CORRELATION_ID)
        expected = (registration_id, initial_term_id, _HEADER, mtu_length, term_length)
        actual = (corr, initial, header_length, mtu, length)
        default = bytes(meta[_DEFAULT_FRAME_HEADER:_DEFAULT_FRAME_HEADER + _HEADER])
        d_session, d_stream = struct.unpack_from("<ii", default, 12)
        if actual != expected or (d_session, d_stream) != (session_id, stream_id) or default[6] != 1:
            self.close()
            raise ValueError(f"{path}: log metadata {actual}, default header session/stream "
                             f"{(d_session, d_stream)} do not match the publication {expected}, "
                             f"{(session_id, stream_id)}")
        self.page_size = page
        self._tails = self._keep(meta[:24].cast("q"))
        self._meta32 = self._keep(meta[:256].cast("i"))
        self._terms = tuple(self._keep(view[i * term_length:(i + 1) * term_length]) for i in range(3))
        self._terms32 = tuple(self._keep(t.cast("i")) for t in self._terms)
        self._terms64 = tuple(self._keep(t.cast("q")) for t in self._terms)
        self._limit = limit_view
        self._is_closed = is_closed
        self._closed = False
        self.session_id = session_id
        self.stream_id = stream_id
        self.initial_term_id = initial_term_id
        self.term_length = term_length
        self.max_payload = mtu_length - _HEADER
        self.max_message_length = max_message_length
        self.pbits = term_length.bit_length() - 1
        self.max_possible_position = term_length << 31
        self.last_error = ""
        self._packers: dict[int, struct.Struct] = {}
        # aeron_exclusive_publication_create
        term_count = self._meta32[_ACTIVE_TERM_COUNT_INT]
        index = term_count % _log.PARTITION_COUNT
        raw_tail = self._tails[index]
        self._set_term(index, raw_tail >> 32)
        self._term_offset = raw_tail & 0xFFFFFFFF

    def _keep(self, view: memoryview) -> memoryview:
        self._views.append(view)
        return view

    def _set_term(self, index: int, term_id: int) -> None:
        self._index = index
        self._term_id = term_id
        self._term_begin = _int32(term_id - self.initial_term_id) << self.pbits
        self._term = self._terms[index]
        self._term32 = self._terms32[index]
        self._term64 = self._terms64[index]
        self._tail_base = _raw_tail(term_id)
        self._ids = struct.pack("<iiiq", self.session_id, self.stream_id, term_id, 0)

    # -- state --

    @property
    def position(self) -> int:
        """What ``aeron_exclusive_publication_position`` would say."""
        return CLOSED if self._closed else self._term_begin + self._term_offset

    @property
    def term_id(self) -> int:
        return self._term_id

    @property
    def term_offset(self) -> int:
        return self._term_offset

    @property
    def is_connected(self) -> bool:
        return not self._closed and self._meta32[_IS_CONNECTED_INT] == 1

    # -- offers --

    def offer(self, data: Any) -> int:
        """``aeron_exclusive_publication_offer``: the new position or a negative result."""
        term_offset = self._term_offset
        position = self._term_begin + term_offset
        if position < self._limit[0] and type(data) is bytes:
            length = len(data)
            packer = self._packers.get(length)  # only for lengths up to the max payload
            if packer is not None:
                resulting = term_offset + ((length + 63) & -32)
                self._tails[self._index] = self._tail_base + resulting
                if resulting <= self.term_length:
                    packer.pack_into(self._term, term_offset, -32 - length, _VFT_DATA, term_offset, self._ids, data)
                    self._term32[term_offset >> 2] = length + 32  # published: the last store
                    self._term_offset = resulting
                    return position + resulting - term_offset
                return self._end_of_term(term_offset)
        return self._offer_slow(data)

    def _offer_slow(self, data: Any) -> int:
        if self._closed or (self._is_closed is not None and self._is_closed()):
            return CLOSED
        if type(data) is not bytes:
            data = memoryview(data)
            if data.format != "B" or data.ndim != 1:
                data = data.cast("B")
        length = len(data)
        term_offset = self._term_offset
        position = self._term_begin + term_offset
        if position >= self._limit[0]:
            return self._back_pressure_status(position, length)
        if length <= self.max_payload:
            if type(data) is bytes and len(self._packers) < 4096:
                self._packers[length] = struct.Struct(f"<i4si20s{length}s")  # the fast path's next time
            aligned = (length + 63) & -32
            resulting = term_offset + aligned
            self._tails[self._index] = self._tail_base + resulting
            if resulting > self.term_length:
                return self._end_of_term(term_offset)
            self._write_frame(term_offset, data, _log.FLAG_BEGIN | _log.FLAG_END)
            self._term_offset = resulting
            return position + aligned
        if length > self.max_message_length:
            self.last_error = f"offer: length={length} > max_message_length={self.max_message_length}"
            return ERROR
        resulting = term_offset + fragmented_length(length, self.max_payload)
        self._tails[self._index] = self._tail_base + resulting
        if resulting > self.term_length:
            return self._end_of_term(term_offset)
        view = data if type(data) is memoryview else memoryview(data)
        max_payload = self.max_payload
        frame_offset = term_offset
        flags = _log.FLAG_BEGIN
        for start in range(0, length, max_payload):
            chunk = view[start:start + max_payload]
            if start + max_payload >= length:
                flags |= _log.FLAG_END
            self._write_frame(frame_offset, chunk, flags)
            frame_offset += (len(chunk) + 63) & -32
            flags = 0
        self._term_offset = resulting
        return position + (resulting - term_offset)

    def _write_frame(self, offset: int, payload: Any, flags: int) -> None:
        """Header (frame length negative), payload, then the frame length: the last store."""
        length = len(payload)
        vft = struct.pack("<bBh", 0, flags, 1)
        _FRAME_HEADER.pack_into(self._term, offset, -32 - length, vft, offset, self._ids)
        self._term[offset + 32:offset + 32 + length] = payload
        self._term32[offset >> 2] = length + 32

    def _end_of_term(self, term_offset: int) -> int:
        """``aeron_handle_end_of_log_condition`` then ``aeron_exclusive_publication_new_position``
        for a message that did not fit: pad the rest of the term, rotate, ADMIN_ACTION."""
        term_length = self.term_length
        if term_offset < term_length:
            padding = term_length - term_offset
            _FRAME_HEADER.pack_into(self._term, term_offset, -padding, _VFT_PAD, term_offset, self._ids)
            self._term32[term_offset >> 2] = padding
        # ">=": what the installed libaeron (1.53.0-SNAPSHOT) does, and Java's ExclusivePublication
        # (the C source in the index reads ">"); the tests compare the two at the last term
        if self._term_begin + term_length >= self.max_possible_position:
            return MAX_POSITION_EXCEEDED
        self._rotate()
        return ADMIN_ACTION

    def _rotate(self) -> None:
        """``aeron_exclusive_publication_rotate_term``."""
        next_term_id = _int32(self._term_id + 1)
        next_term_count = _int32(next_term_id - self.initial_term_id)
        next_index = next_term_count % _log.PARTITION_COUNT
        term_begin = self._term_begin + self.term_length
        self._set_term(next_index, next_term_id)
        self._term_begin = term_begin
        self._term_offset = 0
        self._tails[next_index] = self._tail_base
        self._meta32[_ACTIVE_TERM_COUNT_INT] = next_term_count  # release: after the tail

    def _back_pressure_status(self, position: int, length: int) -> int:
        if position + length >= self.max_possible_position:
            return MAX_POSITION_EXCEEDED
        return BACK_PRESSURED if self._meta32[_IS_CONNECTED_INT] == 1 else NOT_CONNECTED

    def append_padding(self, length: int) -> int:
        """``aeron_exclusive_publication_append_padding``."""
        if length > self.max_message_length:
            self.last_error = f"append_padding: length={length} > max_message_length={self.max_message_length}"
            return ERROR
        if self._closed or (self._is_closed is not None and self._is_closed()):
            return CLOSED
        term_offset = self._term_offset
        position = self._term_begin + term_offset
        if position >= self._limit[0]:
            return self._back_pressure_status(position, length)
        aligned = (length + 63) & -32
        resulting = term_offset + aligned
        self._tails[self._index] = self._tail_base + resulting
        if resulting > self.term_length:
            return self._end_of_term(term_offset)
        _FRAME_HEADER.pack_into(self._term, term_offset, -32 - length, _VFT_PAD, term_offset, self._ids)
        self._term32[term_offset >> 2] = length + 32
        self._term_offset = resulting
        return position + aligned

    def block_position(self) -> int:
        """The position a block would be appended at (after the rotation ``offer_block`` does
        first when the term is full), or CLOSED."""
        if self._closed:
            return CLOSED
        return self._term_begin + self._term_offset

    def append_block(self, block: bytearray, term_offset: int, term_id: int) -> int:
        """``aeron_exclusive_publication_offer_block``: whole frames for the rest of the active
        term, built for ``term_offset`` / ``term_id``; the new position or a negative result."""
        if self._closed or (self._is_closed is not None and self._is_closed()):
            return CLOSED
        if self._term_offset >= self.term_length:
            self._rotate()
        current = self._term_offset
        position = self._term_begin + current
        length = len(block)
        if position >= self._limit[0]:
            return self._back_pressure_status(position, length)
        if length > self.term_length - current or term_offset != current or term_id != self._term_id:
            self.last_error = (f"offer_block: block of {length} for term {term_id} offset {term_offset}, the "
                               f"publication is at term {self._term_id} offset {current}")
            return ERROR
        resulting = current + length
        self._tails[self._index] = self._tail_base + resulting
        source = memoryview(block)
        self._term[current + 8:resulting] = source[8:]
        first = _WORD.unpack_from(source)[0]
        source.release()
        self._term64[current >> 3] = first  # the first frame's length, version, flags, type: last
        self._term_offset = resulting
        return position + length

    # -- lifecycle --

    def close(self) -> None:
        """Stop writing (every later offer returns CLOSED) and unmap."""
        self._closed = True
        self._limit = _EMPTY_LIMIT
        self._packers.clear()
        for view in reversed(self._views):
            with contextlib.suppress(BufferError):
                view.release()
        with contextlib.suppress(BufferError):
            self._map.close()
