"""Pythonic wrappers over libaeron's C client: client, publications, subscriptions, images,
counters.

Lifetimes follow the C API and are made safe for Python:

* :class:`Client` is a context manager. It always installs its own error handler (libaeron's
  default one calls ``exit()``); errors the client conductor reports are recorded, logged, and
  raised from the next call that cannot succeed because of them (a dead driver makes every
  ``poll``/``offer`` raise :class:`~fixg.errors.DriverError` instead of hanging).
* Closing the client closes every publication, subscription, counter and image it handed out,
  then the C client, then its context, in that order, on every path. Closing a resource twice,
  or after its client, is a no-op; using it afterwards raises :class:`ResourceClosedError`.
* Every ctypes callback (error handler, image handlers, fragment handlers) stays referenced by
  the client until ``aeron_close`` has joined the conductor thread, so C never calls freed code.
* An exception raised by a Python handler inside a poll is captured and re-raised by the poll
  call once C has returned; with ``poll``/``controlled_poll`` the fragment that raised is not
  consumed (the poll is aborted there), so nothing is lost.

Zero copy: ``offer`` passes ``bytes`` straight to C, and any other C-contiguous buffer
(``bytearray``, ``memoryview``, ``array``...) by address through the buffer protocol. Poll
handlers receive a read-only ``memoryview`` of the term buffer that is valid only during the
call (it is released afterwards); copy it (``bytes(view)``) to keep the data.
"""

from __future__ import annotations

import abc
import contextlib
import ctypes
import enum
import logging
import os
import struct
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Protocol, Self, TypeAlias

from fixg.aeron import _log, _memory, _writer
from fixg.aeron import ctypes_bindings as cb
from fixg.aeron.cnc import driver_heartbeat_age_ms
from fixg.aeron.loader import LibraryInfo, load_library
from fixg.errors import AeronError, DriverError, FixTimeoutError

__all__ = [
    "Action",
    "OfferResult",
    "BackpressurePolicy",
    "OfferFailedError",
    "ResourceClosedError",
    "Header",
    "HeaderValues",
    "PublicationConstants",
    "SubscriptionConstants",
    "ImageInfo",
    "CounterInfo",
    "BufferClaim",
    "Client",
    "Publication",
    "ExclusivePublication",
    "DirectExclusivePublication",
    "Subscription",
    "Image",
    "Counter",
    "CountersReader",
    "FragmentHandler",
    "ControlledFragmentHandler",
    "BlockHandler",
    "TermHandler",
    "ImageHandler",
    "Buffer",
    "default_aeron_dir",
    "FRAME_HEADER_LENGTH",
    "FRAME_ALIGNMENT",
    "FLAG_BEGIN",
    "FLAG_END",
    "FLAG_UNFRAGMENTED",
    "FRAME_TYPE_PADDING",
    "FRAME_TYPE_DATA",
    "iter_frames",
]

log = logging.getLogger(__name__)

FRAME_HEADER_LENGTH: Final = 32
FRAME_ALIGNMENT: Final = 32
FLAG_BEGIN: Final = 0x80
FLAG_END: Final = 0x40
FLAG_UNFRAGMENTED: Final = FLAG_BEGIN | FLAG_END
FRAME_TYPE_PADDING: Final = 0
FRAME_TYPE_DATA: Final = 1

# frame_length (int32), version (skipped), flags (uint8), type (int16) of the data header
_FRAME_PREFIX: Final = struct.Struct("<ixBh")
_ALIGN_MASK: Final = FRAME_ALIGNMENT - 1

_FATAL_CODES: Final = frozenset(
    {
        cb.AERON_CLIENT_ERROR_DRIVER_TIMEOUT,
        cb.AERON_CLIENT_ERROR_CLIENT_TIMEOUT,
        cb.AERON_CLIENT_ERROR_CONDUCTOR_SERVICE_TIMEOUT,
    }
)

Buffer: TypeAlias = "bytes | bytearray | memoryview"
_BYTES_TYPES: Final = frozenset((bytes, bytearray))


class Action(enum.IntEnum):
    """What a controlled handler tells the poll to do (``aeron_controlled_fragment_handler_action_t``)."""

    ABORT = cb.AERON_ACTION_ABORT
    BREAK = cb.AERON_ACTION_BREAK
    COMMIT = cb.AERON_ACTION_COMMIT
    CONTINUE = cb.AERON_ACTION_CONTINUE


_ACTIONS: Final = frozenset(int(a) for a in Action)
_ABORT: Final = int(Action.ABORT)
_CONTINUE: Final = int(Action.CONTINUE)


class OfferResult(enum.IntEnum):
    """The negative results of ``offer``/``try_claim`` (a positive result is the new position)."""

    NOT_CONNECTED = cb.AERON_PUBLICATION_NOT_CONNECTED
    BACK_PRESSURED = cb.AERON_PUBLICATION_BACK_PRESSURED
    ADMIN_ACTION = cb.AERON_PUBLICATION_ADMIN_ACTION
    CLOSED = cb.AERON_PUBLICATION_CLOSED
    MAX_POSITION_EXCEEDED = cb.AERON_PUBLICATION_MAX_POSITION_EXCEEDED
    ERROR = cb.AERON_PUBLICATION_ERROR

    @property
    def retryable(self) -> bool:
        return self in (OfferResult.NOT_CONNECTED, OfferResult.BACK_PRESSURED, OfferResult.ADMIN_ACTION)


class OfferFailedError(AeronError):
    """An offer or claim did not succeed; ``result`` says why, ``attempts`` how often it was tried."""

    def __init__(self, message: str, result: OfferResult, *, attempts: int = 1, errmsg: str = "",
                 published: int | None = None) -> None:
        self.result = result
        self.attempts = attempts
        #: for batched offers: how many of the messages were published before the failure
        self.published = published
        super().__init__(message, errcode=int(result), errmsg=errmsg)


class ResourceClosedError(AeronError):
    """A publication, subscription, image, counter or client was used after it was closed."""


@dataclass(frozen=True)
class BackpressurePolicy:
    """How ``offer`` and ``try_claim`` retry (the ``[aeron]`` ``offer_retry_count`` and
    ``offer_backoff_ms``): back pressure and not-connected are retried ``retry_count`` times
    with ``backoff_ms`` sleeps in between, admin actions at once; then OfferFailedError."""

    retry_count: int = 3
    backoff_ms: float = 1.0

    def __post_init__(self) -> None:
        if self.retry_count < 0:
            raise ValueError("retry_count must be >= 0")
        if self.backoff_ms < 0:
            raise ValueError("backoff_ms must be >= 0")

    @classmethod
    def from_config(cls, aeron: Any) -> BackpressurePolicy:
        """From an object with ``offer_retry_count`` and ``offer_backoff_ms`` (``[aeron]``)."""
        return cls(int(aeron.offer_retry_count), float(aeron.offer_backoff_ms))


def default_aeron_dir() -> str:
    """Where a client looks by default: ``$AERON_DIR``, else libaeron's default path."""
    env = os.environ.get("AERON_DIR")
    if env:
        return env
    api = load_library().bindings
    buf = ctypes.create_string_buffer(4096)
    n = api.aeron_default_path(buf, len(buf))
    if n < 0:
        raise AeronError("aeron_default_path failed", errcode=api.aeron_errcode(), errmsg=api.errmsg())
    return buf.value.decode()


# --- value objects ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeaderValues:
    frame_length: int
    version: int
    flags: int
    type: int
    term_offset: int
    session_id: int
    stream_id: int
    term_id: int
    reserved_value: int
    initial_term_id: int
    position_bits_to_shift: int


@dataclass(frozen=True)
class PublicationConstants:
    channel: str
    original_registration_id: int
    registration_id: int
    max_possible_position: int
    position_bits_to_shift: int
    term_buffer_length: int
    max_message_length: int
    max_payload_length: int
    stream_id: int
    session_id: int
    initial_term_id: int
    publication_limit_counter_id: int
    channel_status_indicator_id: int


@dataclass(frozen=True)
class SubscriptionConstants:
    channel: str
    registration_id: int
    stream_id: int
    channel_status_indicator_id: int


@dataclass(frozen=True)
class ImageInfo:
    """The constants of an image (``aeron_image_constants_t``)."""

    session_id: int
    correlation_id: int
    join_position: int
    source_identity: str
    position_bits_to_shift: int
    term_buffer_length: int
    mtu_length: int
    initial_term_id: int
    subscriber_position_id: int


@dataclass(frozen=True)
class CounterInfo:
    counter_id: int
    type_id: int
    value: int
    label: str
    key: bytes


class Header:
    """The header of the fragment being handled; valid only during the handler call."""

    __slots__ = ("_api", "_ptr")

    def __init__(self, api: cb.AeronBindings) -> None:
        self._api = api
        self._ptr: int | None = None

    def _require(self) -> int:
        ptr = self._ptr
        if ptr is None:
            raise ResourceClosedError("a fragment header is only valid during the handler call")
        return ptr

    def values(self) -> HeaderValues:
        raw = cb.AeronHeaderValues()
        if self._api.aeron_header_values(self._require(), ctypes.byref(raw)) < 0:
            raise AeronError("aeron_header_values failed", errcode=self._api.aeron_errcode(),
                             errmsg=self._api.errmsg())
        f = raw.frame
        return HeaderValues(
            f.frame_length, f.version, f.flags, f.type, f.term_offset, f.session_id,
            f.stream_id, f.term_id, f.reserved_value, raw.initial_term_id,
            raw.position_bits_to_shift,
        )

    @property
    def position(self) -> int:
        """The stream position just after this fragment."""
        return int(self._api.aeron_header_position(self._require()))

    @property
    def session_id(self) -> int:
        return self.values().session_id

    @property
    def stream_id(self) -> int:
        return self.values().stream_id

    @property
    def flags(self) -> int:
        return self.values().flags

    @property
    def reserved_value(self) -> int:
        return self.values().reserved_value


class FragmentHandler(Protocol):
    def __call__(self, buffer: memoryview, header: Header) -> None: ...


class ControlledFragmentHandler(Protocol):
    def __call__(self, buffer: memoryview, header: Header) -> Action | int | None: ...


class TermHandler(Protocol):
    def __call__(self, term: memoryview, offset: int, length: int, header: Header) -> Action | int | None: ...


class BlockHandler(Protocol):
    def __call__(self, block: memoryview, session_id: int, term_id: int) -> None: ...


ImageHandler: TypeAlias = Callable[[ImageInfo], None]


def iter_frames(block: memoryview) -> Iterator[tuple[int, memoryview]]:
    """The data frames of a block delivered by ``block_poll``: ``(flags, payload)`` pairs.

    Padding frames are skipped. A message longer than the MTU arrives as several frames,
    flagged ``FLAG_BEGIN``, then none, then ``FLAG_END``; an unfragmented one has both.
    """
    offset = 0
    end = len(block) - FRAME_HEADER_LENGTH
    unpack = _FRAME_PREFIX.unpack_from
    while offset <= end:
        frame_length, flags, frame_type = unpack(block, offset)
        if frame_length <= 0:
            break
        if frame_type == FRAME_TYPE_DATA:
            yield flags, block[offset + FRAME_HEADER_LENGTH : offset + frame_length]
        offset += (frame_length + _ALIGN_MASK) & ~_ALIGN_MASK


# --- the client ---------------------------------------------------------------------------------


class _Closeable(Protocol):
    def _close_by_client(self) -> None: ...


class Client:
    """An Aeron client connected to the media driver of ``aeron_dir``.

    ``driver_timeout_ms`` is how long the driver may stay silent before the client declares it
    dead (libaeron's ``aeron.driver.timeout``); ``backpressure`` is the default offer policy of
    the publications it creates, ``fragment_limit`` the default of their polls.
    """

    def __init__(
        self,
        aeron_dir: str | os.PathLike[str] | None = None,
        *,
        driver_timeout_ms: int = 10_000,
        client_name: str | None = None,
        backpressure: BackpressurePolicy | None = None,
        fragment_limit: int = 256,
        resource_linger_ns: int | None = None,
        idle_sleep_ns: int | None = None,
        library: LibraryInfo | None = None,
        direct_poll: bool | None = None,
    ) -> None:
        if fragment_limit <= 0:
            raise ValueError("fragment_limit must be > 0")
        self.library = library if library is not None else load_library()
        api = self.library.bindings
        self._api = api
        self.backpressure = backpressure if backpressure is not None else BackpressurePolicy()
        self.fragment_limit = fragment_limit
        self.driver_timeout_ms = driver_timeout_ms
        if direct_poll and not _log.direct_supported():
            raise ValueError("direct_poll needs x86-64 (and FIXG_AERON_DIRECT not set to 0): see docs/aeron.md")
        #: Whether subscriptions poll with the callback-free Python reader by default.
        self.direct_poll = _log.direct_supported() if direct_poll is None else bool(direct_poll)
        self._lock = threading.Lock()
        self._errors: list[AeronError] = []
        self._fatal: AeronError | None = None
        self._resources: dict[int, _Closeable] = {}
        self._retained: list[object] = []
        self._aeron: int | None = None
        self._ctx: int | None = None
        self._error_handler = cb.ErrorHandler(self._on_error)

        ctx = ctypes.c_void_p()
        if api.aeron_context_init(ctypes.byref(ctx)) < 0:
            self._raise("aeron_context_init failed")
        self._ctx = ctx.value
        try:
            if aeron_dir is not None:
                self._check(api.aeron_context_set_dir(ctx, os.fsencode(aeron_dir)), "set dir")
            self._check(api.aeron_context_set_driver_timeout_ms(ctx, driver_timeout_ms), "set driver timeout")
            self._check(api.aeron_context_set_error_handler(ctx, self._error_handler, None), "set error handler")
            if client_name is not None:
                self._check(api.aeron_context_set_client_name(ctx, client_name.encode()), "set client name")
            if resource_linger_ns is not None:
                self._check(api.aeron_context_set_resource_linger_duration_ns(ctx, resource_linger_ns), "set linger")
            if idle_sleep_ns is not None:
                self._check(api.aeron_context_set_idle_sleep_duration_ns(ctx, idle_sleep_ns), "set idle sleep")
            raw_dir = api.aeron_context_get_dir(ctx)
            self.aeron_dir = raw_dir.decode() if raw_dir else ""
            aeron = ctypes.c_void_p()
            if api.aeron_init(ctypes.byref(aeron), ctx) < 0:
                raise DriverError(
                    f"cannot connect to a media driver in {self.aeron_dir}",
                    errcode=api.aeron_errcode(),
                    errmsg=api.errmsg(),
                )
            self._aeron = aeron.value
            if api.aeron_start(aeron) < 0:
                err = AeronError("aeron_start failed", errcode=api.aeron_errcode(), errmsg=api.errmsg())
                api.aeron_close(aeron)
                self._aeron = None
                raise err
        except BaseException:
            api.aeron_context_close(ctx)
            self._ctx = None
            raise
        log.debug("aeron client %d connected to %s", self.client_id, self.aeron_dir)

    # -- errors --

    def _raise(self, what: str) -> None:
        raise AeronError(what, errcode=self._api.aeron_errcode(), errmsg=self._api.errmsg())

    def _check(self, rc: int, what: str) -> None:
        if rc < 0:
            self._raise(f"aeron context: {what} failed")

    def _on_error(self, _clientd: int | None, errcode: int, message: bytes | None) -> None:
        # Runs on the client conductor thread. It must not raise into C.
        text = message.decode("utf-8", "replace").strip() if message else ""
        # libaeron reports these codes negated or not depending on the path: compare magnitudes.
        fatal = -abs(errcode) in _FATAL_CODES
        kind = DriverError if -abs(errcode) == cb.AERON_CLIENT_ERROR_DRIVER_TIMEOUT else AeronError
        what = "media driver is not responding" if fatal else "aeron client reported an error"
        error = kind(f"{what} ({self.aeron_dir})", errcode=errcode, errmsg=text)
        with self._lock:
            self._errors.append(error)
            if fatal and self._fatal is None:
                self._fatal = error
        log.warning("aeron client error %d: %s", errcode, text)

    @property
    def errors(self) -> list[AeronError]:
        """Every error the C client reported so far (oldest first)."""
        with self._lock:
            return list(self._errors)

    def take_errors(self) -> list[AeronError]:
        """Return and forget the errors reported so far."""
        with self._lock:
            errors, self._errors = self._errors, []
            return errors

    def check(self) -> None:
        """Raise the fatal error (driver gone) if there is one, else the oldest pending one."""
        if self._fatal is not None:
            raise self._fatal
        with self._lock:
            if self._errors:
                raise self._errors.pop(0)
        if self._aeron is None:
            raise ResourceClosedError("the aeron client is closed")

    def _closed_by_libaeron(self) -> AeronError | None:
        """If libaeron closed the client by itself (driver gone...), make that error fatal."""
        aeron = self._aeron
        if self._fatal is None and aeron is not None and self._api.aeron_is_closed(aeron):
            with self._lock:
                if self._fatal is None:
                    last = self._errors[-1] if self._errors else None
                    self._fatal = DriverError(
                        f"the aeron client was closed by libaeron ({self.aeron_dir})",
                        errcode=last.errcode if last else 0,
                        errmsg=last.errmsg if last else "",
                    )
        return self._fatal

    def _require(self) -> int:
        if self._fatal is not None:
            raise self._fatal
        aeron = self._aeron
        if aeron is None:
            raise ResourceClosedError("the aeron client is closed")
        return aeron

    # -- state --

    @property
    def is_closed(self) -> bool:
        """True once closed by us, or by libaeron itself (e.g. after a driver timeout)."""
        aeron = self._aeron
        return aeron is None or bool(self._api.aeron_is_closed(aeron))

    @property
    def client_id(self) -> int:
        return int(self._api.aeron_client_id(self._require()))

    def next_correlation_id(self) -> int:
        return int(self._api.aeron_next_correlation_id(self._require()))

    @property
    def counters(self) -> CountersReader:
        reader = self._api.aeron_counters_reader(self._require())
        if not reader:
            self._raise("aeron_counters_reader failed")
        return CountersReader(self, reader)

    def driver_heartbeat_age_ms(self) -> int | None:
        """Milliseconds since the driver last heartbeat (read from its CnC file)."""
        return driver_heartbeat_age_ms(self.aeron_dir)

    # -- registration --

    def _await(self, poll: Callable[[Any, Any], int], out: ctypes.c_void_p, pending: ctypes.c_void_p, what: str) -> int:
        deadline = time.monotonic() + self.driver_timeout_ms / 1000 + 5.0
        pause = 20e-6
        while True:
            rc = poll(ctypes.byref(out), pending)
            if rc > 0:
                if not out.value:
                    raise AeronError(f"{what}: libaeron returned no resource")
                return int(out.value)
            if rc < 0:
                raise AeronError(f"cannot {what}", errcode=self._api.aeron_errcode(), errmsg=self._api.errmsg())
            if self._fatal is not None:
                raise self._fatal
            if time.monotonic() > deadline:
                raise FixTimeoutError(f"{what}: no answer from the media driver in {self.aeron_dir}")
            time.sleep(pause)
            pause = min(pause * 2, 0.002)

    def _register(self, resource: _Closeable) -> None:
        with self._lock:
            self._resources[id(resource)] = resource

    def _forget(self, resource: _Closeable) -> None:
        with self._lock:
            self._resources.pop(id(resource), None)

    def add_publication(self, channel: str, stream_id: int) -> Publication:
        """A (concurrent) publication on ``channel``/``stream_id``, once the driver has it."""
        aeron = self._require()
        api = self._api
        pending = ctypes.c_void_p()
        if api.aeron_async_add_publication(ctypes.byref(pending), aeron, channel.encode(), stream_id) < 0:
            self._raise(f"cannot add publication {channel} stream {stream_id}")
        ptr = self._await(api.aeron_async_add_publication_poll, ctypes.c_void_p(), pending,
                          f"add publication {channel} stream {stream_id}")
        pub = Publication(self, ptr)
        self._register(pub)
        return pub

    def add_exclusive_publication(self, channel: str, stream_id: int, *,
                                  direct: bool | None = False) -> ExclusivePublication:
        """An exclusive (single-writer, faster) publication on ``channel``/``stream_id``.

        ``direct=True`` returns a :class:`DirectExclusivePublication`: its offers are appended
        to the mapped log by a Python writer, no ctypes call per message (``ValueError`` where
        :func:`fixg.aeron.direct_supported` is false, ``AeronError`` when the log cannot be
        mapped and checked); ``direct=None`` does so where supported and possible, else falls
        back to libaeron's offers; ``False`` (default): libaeron's offers."""
        if direct and not _log.direct_supported():
            raise ValueError("the direct writer needs x86-64 (and FIXG_AERON_DIRECT not set to 0): see docs/aeron.md")
        aeron = self._require()
        api = self._api
        pending = ctypes.c_void_p()
        if api.aeron_async_add_exclusive_publication(ctypes.byref(pending), aeron, channel.encode(), stream_id) < 0:
            self._raise(f"cannot add exclusive publication {channel} stream {stream_id}")
        ptr = self._await(api.aeron_async_add_exclusive_publication_poll, ctypes.c_void_p(), pending,
                          f"add exclusive publication {channel} stream {stream_id}")
        if direct is False or not _log.direct_supported():
            pub = ExclusivePublication(self, ptr)
        else:
            try:
                pub = DirectExclusivePublication(self, ptr)
            except (OSError, ValueError) as exc:
                if direct:
                    api.aeron_exclusive_publication_close(ptr, None, None)
                    raise AeronError(f"cannot map the log of exclusive publication {channel} stream "
                                     f"{stream_id} for the direct writer: {exc}") from exc
                log.debug("exclusive publication %s stream %d: libaeron's offers are used (%s)",
                          channel, stream_id, exc)
                pub = ExclusivePublication(self, ptr)
        self._register(pub)
        return pub

    def add_subscription(
        self,
        channel: str,
        stream_id: int,
        *,
        on_available_image: ImageHandler | None = None,
        on_unavailable_image: ImageHandler | None = None,
        direct: bool | None = None,
    ) -> Subscription:
        """A subscription on ``channel``/``stream_id``. The image handlers run on the client
        conductor thread; an exception there is re-raised by the subscription's next poll.

        ``direct`` (default: the client's ``direct_poll``) makes ``poll`` read the images' logs
        from Python (no ctypes call or callback per message) instead of libaeron's poll."""
        aeron = self._require()
        api = self._api
        if direct and not _log.direct_supported():
            raise ValueError("direct polling needs x86-64 (and FIXG_AERON_DIRECT not set to 0): see docs/aeron.md")
        sub = Subscription.__new__(Subscription)
        sub._init_callbacks(self, on_available_image, on_unavailable_image,
                            self.direct_poll if direct is None else bool(direct))
        pending = ctypes.c_void_p()
        if api.aeron_async_add_subscription(
            ctypes.byref(pending), aeron, channel.encode(), stream_id,
            sub._available_cb, None, sub._unavailable_cb, None,
        ) < 0:
            self._raise(f"cannot add subscription {channel} stream {stream_id}")
        # C may call the image handlers from now until the client is closed.
        self._retained.extend((sub._available_cb, sub._unavailable_cb))
        ptr = self._await(api.aeron_async_add_subscription_poll, ctypes.c_void_p(), pending,
                          f"add subscription {channel} stream {stream_id}")
        sub._init_resource(ptr)
        self._register(sub)
        return sub

    def add_counter(self, type_id: int, label: str, key: bytes = b"") -> Counter:
        """A counter allocated by the driver for this client (freed when closed)."""
        aeron = self._require()
        api = self._api
        raw_label = label.encode()
        pending = ctypes.c_void_p()
        if api.aeron_async_add_counter(
            ctypes.byref(pending), aeron, type_id, key or None, len(key), raw_label, len(raw_label)
        ) < 0:
            self._raise(f"cannot add counter {label!r}")
        registration_id = int(api.aeron_async_add_counter_get_registration_id(pending))
        ptr = self._await(api.aeron_async_add_counter_poll, ctypes.c_void_p(), pending, f"add counter {label!r}")
        counter_id = api.aeron_counters_reader_find_by_type_id_and_registration_id(
            api.aeron_counters_reader(aeron), type_id, registration_id
        )
        if counter_id == cb.AERON_NULL_COUNTER_ID:
            api.aeron_counter_close(ptr, None, None)
            raise AeronError(f"counter {label!r} (registration {registration_id}) is not in the counters file")
        counter = Counter(self, ptr, registration_id, int(counter_id))
        self._register(counter)
        return counter

    # -- lifecycle --

    def close(self) -> None:
        """Close every resource handed out, then the C client and its context. Idempotent."""
        with self._lock:
            resources = list(self._resources.values())
            self._resources.clear()
        try:
            for resource in reversed(resources):
                resource._close_by_client()
        finally:
            aeron, self._aeron = self._aeron, None
            ctx, self._ctx = self._ctx, None
            try:
                if aeron is not None:
                    self._api.aeron_close(aeron)
            finally:
                if ctx is not None:
                    self._api.aeron_context_close(ctx)
                # The conductor thread has been joined: C can no longer call back.
                self._retained.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._aeron is None else "open"
        return f"<fixg.aeron.Client {state} dir={self.aeron_dir!r}>"


# --- publications -------------------------------------------------------------------------------


class BufferClaim:
    """A range claimed in the log with ``try_claim``: write ``buffer``, then ``commit()``
    (``abort()`` to give it up). As a context manager it commits, or aborts on an exception."""

    __slots__ = ("_api", "_claim", "buffer", "position", "_done")

    def __init__(self, api: cb.AeronBindings, claim: cb.AeronBufferClaim, position: int) -> None:
        self._api = api
        self._claim = claim
        self.position = position
        self.buffer: memoryview = _memory.writable_view(int(claim.data), int(claim.length))
        self._done = False

    def _finish(self, func: Callable[[Any], int], what: str) -> None:
        if self._done:
            raise ResourceClosedError("this claim was already committed or aborted")
        self._done = True
        with contextlib.suppress(BufferError):  # the caller exported the view: it stays valid
            self.buffer.release()
        if func(ctypes.byref(self._claim)) < 0:
            raise AeronError(f"buffer claim {what} failed", errcode=self._api.aeron_errcode(),
                             errmsg=self._api.errmsg())

    def commit(self) -> None:
        self._finish(self._api.aeron_buffer_claim_commit, "commit")

    def abort(self) -> None:
        self._finish(self._api.aeron_buffer_claim_abort, "abort")

    def __enter__(self) -> BufferClaim:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._done:
            return
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class _ClientObject(abc.ABC):
    """The life cycle every client-owned Aeron object shares: closed once, by ``close()`` (or
    ``with``) or by its client closing first."""

    _client: Client
    _ptr: int | None

    @abc.abstractmethod
    def _close_by_client(self) -> None:
        """Release the C object (the client calls this when it closes first)."""

    def close(self) -> None:
        """Close (asynchronously in the driver). Idempotent."""
        if self._ptr is not None:
            self._client._forget(self)
            self._close_by_client()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Resource(_ClientObject):
    """What publications and subscriptions share besides their life cycle: their identity,
    read from their constants."""

    _kind = "resource"
    constants: Any

    @property
    def channel(self) -> str:
        return str(self.constants.channel)

    @property
    def stream_id(self) -> int:
        return int(self.constants.stream_id)

    @property
    def registration_id(self) -> int:
        return int(self.constants.registration_id)

    def _closed_error(self) -> ResourceClosedError:
        return ResourceClosedError(f"{self._kind} {self.channel} stream {self.stream_id} is closed")


class Publication(_Resource):
    """A concurrent publication (thread safe in C; many may share a session)."""

    _kind = "publication"
    constants: PublicationConstants

    _prefix = "aeron_publication"

    def __init__(self, client: Client, ptr: int) -> None:
        api = client._api
        self._client = client
        self._api = api
        self._ptr: int | None = ptr
        p = self._prefix
        self._offer = getattr(api, f"{p}_offer")
        self._offerv = getattr(api, f"{p}_offerv")
        self._try_claim = getattr(api, f"{p}_try_claim")
        self._position = getattr(api, f"{p}_position")
        self._position_limit = getattr(api, f"{p}_position_limit")
        self._is_connected = getattr(api, f"{p}_is_connected")
        self._is_closed = getattr(api, f"{p}_is_closed")
        self._channel_status = getattr(api, f"{p}_channel_status")
        self._close_fn = getattr(api, f"{p}_close")
        # The offer of bytes without argtypes conversions: the publication pointer and the
        # lengths are prebuilt ctypes objects, bytes go as char * (about a third cheaper).
        self._offer_raw = _OfferPrototype(_address_of_function(self._offer))
        self._cptr: ctypes.c_void_p | None = ctypes.c_void_p(ptr)
        self._sizes: dict[int, ctypes.c_size_t] = {}
        raw = cb.AeronPublicationConstants()
        if getattr(api, f"{p}_constants")(ptr, ctypes.byref(raw)) < 0:
            client._raise("cannot read publication constants")
        self.constants = PublicationConstants(
            channel=raw.channel.decode() if raw.channel else "",
            original_registration_id=raw.original_registration_id,
            registration_id=raw.registration_id,
            max_possible_position=raw.max_possible_position,
            position_bits_to_shift=raw.position_bits_to_shift,
            term_buffer_length=raw.term_buffer_length,
            max_message_length=raw.max_message_length,
            max_payload_length=raw.max_payload_length,
            stream_id=raw.stream_id,
            session_id=raw.session_id,
            initial_term_id=raw.initial_term_id,
            publication_limit_counter_id=raw.publication_limit_counter_id,
            channel_status_indicator_id=raw.channel_status_indicator_id,
        )
        self.policy = client.backpressure

    # -- properties --

    @property
    def session_id(self) -> int:
        return self.constants.session_id

    @property
    def max_payload_length(self) -> int:
        return self.constants.max_payload_length

    @property
    def max_message_length(self) -> int:
        return self.constants.max_message_length

    def _require(self) -> int:
        ptr = self._ptr
        if ptr is None:
            raise self._closed_error()
        return ptr

    @property
    def is_connected(self) -> bool:
        return bool(self._is_connected(self._require()))

    @property
    def is_closed(self) -> bool:
        ptr = self._ptr
        return ptr is None or bool(self._is_closed(ptr))

    @property
    def position(self) -> int:
        """The position the publication has reached (negative: an OfferResult)."""
        return int(self._position(self._require()))

    @property
    def position_limit(self) -> int:
        """The position beyond which offers are back pressured."""
        return int(self._position_limit(self._require()))

    @property
    def channel_status(self) -> int:
        """1 when the channel is active, -1 when it errored."""
        return int(self._channel_status(self._require()))

    # -- offering --

    def try_offer(self, data: Buffer) -> int:
        """One offer, no retry: the new position (> 0) or a negative :class:`OfferResult` value."""
        if type(data) is bytes:
            cptr = self._cptr
            if cptr is not None:
                size = self._sizes.get(len(data))
                if size is None:
                    size = self._size(len(data))
                result: int = self._offer_raw(cptr, data, size, None, None)
                return result
        ptr = self._ptr
        if ptr is None:
            raise self._closed_error()
        with _memory.address_of(data) as (address, length):
            return int(self._offer(ptr, address, length, None, None))

    def _size(self, length: int) -> ctypes.c_size_t:
        size = ctypes.c_size_t(length)
        if len(self._sizes) < 4096:
            self._sizes[length] = size
        return size

    def offer(self, data: Buffer, policy: BackpressurePolicy | None = None) -> int:
        """Offer one message (fragmented by Aeron if longer than the MTU) and return the new
        position; retries per ``policy`` (default: the client's), then raises
        :class:`OfferFailedError` (or the client's DriverError when the driver is gone)."""
        result = self.try_offer(data)
        if result > 0:
            return result
        return self._retry(lambda: self.try_offer(data), result, policy or self.policy, "offer")

    def offerv(self, buffers: Sequence[Buffer], policy: BackpressurePolicy | None = None) -> int:
        """Offer the concatenation of ``buffers`` as one message (gathered by C, no join)."""
        ptr = self._require()
        count = len(buffers)
        iov = (cb.AeronIovec * count)()
        with contextlib.ExitStack() as stack:
            for i, buffer in enumerate(buffers):
                if type(buffer) is bytes:
                    address = ctypes.cast(ctypes.c_char_p(buffer), ctypes.c_void_p).value or 0
                    length = len(buffer)
                else:
                    address, length = stack.enter_context(_memory.address_of(buffer))
                iov[i].iov_base = address
                iov[i].iov_len = length

            def attempt() -> int:
                return int(self._offerv(ptr, iov, count, None, None))

            result = attempt()
            if result > 0:
                return result
            return self._retry(attempt, result, policy or self.policy, "offerv")

    def try_claim(self, length: int, policy: BackpressurePolicy | None = None) -> BufferClaim:
        """Claim ``length`` bytes (at most ``max_payload_length``) to write in place."""
        ptr = self._require()
        if length > self.max_payload_length:
            raise ValueError(f"claim of {length} bytes exceeds max payload length {self.max_payload_length}")
        claim = cb.AeronBufferClaim()

        def attempt() -> int:
            return int(self._try_claim(ptr, length, ctypes.byref(claim)))

        result = attempt()
        if result <= 0:
            result = self._retry(attempt, result, policy or self.policy, "try_claim")
        return BufferClaim(self._api, claim, result)

    def _errmsg(self) -> str:
        return self._api.errmsg()

    def _retry(self, attempt: Callable[[], int], result: int, policy: BackpressurePolicy, what: str) -> int:
        attempts = 1
        while True:
            fatal = self._client._closed_by_libaeron()
            if fatal is not None:
                raise fatal
            code = OfferResult(result)
            if code is OfferResult.ERROR:
                raise OfferFailedError(f"{what} failed on {self.channel}", code, attempts=attempts,
                                       errmsg=self._errmsg())
            if not code.retryable:
                raise OfferFailedError(f"{what} failed on {self.channel}: {code.name}", code, attempts=attempts)
            if attempts > policy.retry_count:
                raise OfferFailedError(
                    f"{what} failed on {self.channel} stream {self.stream_id}: {code.name} "
                    f"after {attempts} attempts", code, attempts=attempts)
            if code is not OfferResult.ADMIN_ACTION and policy.backoff_ms > 0:
                time.sleep(policy.backoff_ms / 1000)
            result = attempt()
            attempts += 1
            if result > 0:
                return result

    # -- lifecycle --

    def _close_by_client(self) -> None:
        ptr, self._ptr = self._ptr, None
        self._cptr = None
        if ptr is not None:
            self._close_fn(ptr, None, None)

    def __repr__(self) -> str:
        return (f"<fixg.aeron.{type(self).__name__} {self.channel} stream={self.stream_id} "
                f"session={self.session_id}{' closed' if self._ptr is None else ''}>")


class ExclusivePublication(Publication):
    """A publication with a single writer (not thread safe; faster, supports padding and
    batched offers)."""

    _prefix = "aeron_exclusive_publication"

    #: Largest block handed to libaeron in one ``offer_block`` call by the batched offers.
    max_batch_bytes: int = 1 << 20

    def __init__(self, client: Client, ptr: int) -> None:
        super().__init__(client, ptr)
        c = self.constants
        self._offer_block = self._api.aeron_exclusive_publication_offer_block
        self._mask = c.term_buffer_length - 1
        self._pbits = c.position_bits_to_shift
        self._limit_view: memoryview | None = None
        limit = self._api.aeron_counters_reader_addr(self._api.aeron_counters_reader(client._require()),
                                                     c.publication_limit_counter_id)
        if limit:
            self._limit_view = _memory.view(ctypes.addressof(limit.contents), 8).cast("q")

    @property
    def is_direct(self) -> bool:
        """Whether offers are appended by fixg's Python writer (:class:`DirectExclusivePublication`)."""
        return False

    def try_offer_batch(self, messages: Sequence[Buffer]) -> int:
        """Publish a prefix of ``messages`` (each one message) in as few libaeron calls as
        possible: consecutive messages are framed in Python into one block of Aeron data
        frames and handed over with one ``aeron_exclusive_publication_offer_block`` call per
        term (and per publication window). Returns how many messages were published (> 0),
        or, when none could be, a negative :class:`OfferResult` value (0 for no messages).

        A batch stops short on back pressure (at the publication limit), not connected, etc.
        Messages longer than ``max_payload_length`` (fragmented) and a message that does not
        fit in the rest of the term (the term is padded and rotated) go through ``offer``.
        """
        ptr = self._ptr
        if ptr is None:
            raise ResourceClosedError(f"publication {self.channel} stream {self.stream_id} is closed")
        count = len(messages)
        if count == 0:
            return 0
        if set(map(type, messages)) <= _BYTES_TYPES:
            lengths = list(map(len, messages))
        else:
            lengths = [memoryview(m).nbytes for m in messages]
        c = self.constants
        max_payload = c.max_payload_length
        term_length = c.term_buffer_length
        first = lengths[0]
        uniform = lengths.count(first) == count
        if uniform:
            size = (first + 63) & -32  # the aligned frame: header, payload, padding
            stop = 0 if first > max_payload else count
            cumulative: list[int] = []
        else:
            cumulative = list(accumulate([(n + 63) & -32 for n in lengths]))
            stop = count
            if max(lengths) > max_payload:
                stop = next(i for i, n in enumerate(lengths) if n > max_payload)
        limit_view = self._limit_view
        done = 0
        while done < count:
            position = self._block_position(ptr)
            if position < 0:
                return done or position
            term_offset = position & self._mask
            room = term_length - term_offset
            # the window up to the publication limit; at least one message, so that libaeron
            # reports back pressure (or accepts one message) like offer does
            budget = min(room, self.max_batch_bytes)
            if limit_view is not None:
                budget = min(budget, limit_view[0] - position)
            if done >= stop:
                end = done  # a message longer than the max payload: fragmented by libaeron
            elif uniform:
                end = done + min(stop - done, max(budget, 0) // size)
                if end == done and size <= room:
                    end = done + 1
            else:
                base = cumulative[done - 1] if done else 0
                end = bisect_right(cumulative, base + max(budget, 0), done, stop)
                if end == done and cumulative[done] - base <= room:
                    end = done + 1
            if end == done:
                # one message through libaeron's offer: fragmentation, end-of-term padding
                result = self.try_offer(messages[done])
                if result == OfferResult.ADMIN_ACTION:
                    result = self.try_offer(messages[done])
                if result < 0:
                    return done or result
                done += 1
                if done >= stop and stop < count and not uniform:
                    big = [i for i, n in enumerate(lengths[done:], done) if n > max_payload]
                    stop = big[0] if big else count
                elif uniform and first > max_payload:
                    stop = 0
                continue
            term_id = _writer._int32(c.initial_term_id + (position >> self._pbits))
            block = _log.frame_block(messages[done:end] if done or end < count else messages,
                                     lengths[done:end] if done or end < count else lengths,
                                     term_offset, c.session_id, c.stream_id, term_id)
            result = self._append_block(ptr, block, term_offset, term_id)
            if result < 0:
                if result == OfferResult.ERROR:
                    raise OfferFailedError(f"offer_batch failed on {self.channel}", OfferResult.ERROR,
                                           errmsg=self._errmsg())
                return done or result
            done = end
        return done

    def _block_position(self, ptr: int) -> int:
        return int(self._position(ptr))

    def _append_block(self, ptr: int, block: bytearray, term_offset: int, term_id: int) -> int:
        with _memory.address_of(block) as (address, length):
            return int(self._offer_block(ptr, address, length))

    def offer_batch(self, messages: Sequence[Buffer], policy: BackpressurePolicy | None = None) -> int:
        """Publish every message of ``messages`` in order (see :meth:`try_offer_batch`),
        retrying back pressure and not-connected per ``policy`` (admin actions at once); return
        the new position. Raises :class:`OfferFailedError`, whose ``published`` says how many
        of the messages went out before it gave up."""
        policy = policy or self.policy
        count = len(messages)
        done = 0
        attempts = 1
        while done < count:
            result = self.try_offer_batch(messages[done:] if done else messages)
            if result > 0:
                done += result
                attempts = 1
                continue
            fatal = self._client._closed_by_libaeron()
            if fatal is not None:
                raise fatal
            code = OfferResult(result)
            if not code.retryable or attempts > policy.retry_count:
                raise OfferFailedError(
                    f"offer_batch failed on {self.channel} stream {self.stream_id}: {code.name} after "
                    f"{attempts} attempts, {done} of {count} messages published",
                    code, attempts=attempts, published=done)
            if code is not OfferResult.ADMIN_ACTION and policy.backoff_ms > 0:
                time.sleep(policy.backoff_ms / 1000)
            attempts += 1
        return self.position

    def append_padding(self, length: int) -> int:
        """Append a padding record of ``length`` bytes; the new position or an OfferResult."""
        return int(self._api.aeron_exclusive_publication_append_padding(self._require(), length))


class DirectExclusivePublication(ExclusivePublication):
    """An exclusive publication whose appends are made by a Python writer over the mapped log
    (:class:`fixg.aeron._writer.LogWriter`): ``try_offer``, ``offer``, ``offerv``,
    ``try_offer_batch``, ``offer_batch`` and ``append_padding`` make no ctypes call per message
    (none at all unless back pressured). libaeron's ``aeron_exclusive_publication_t`` is never
    used to append (its cached term offset would diverge from the log): ``position`` is the
    writer's, ``try_claim`` is not available, and ``close()`` stops the writer and releases the
    C publication. Results are libaeron's: the new position or a negative :class:`OfferResult`.
    """

    def __init__(self, client: Client, ptr: int) -> None:
        super().__init__(client, ptr)
        if self._limit_view is None:
            raise ValueError("the publication limit counter cannot be read")
        c = self.constants
        path = os.path.join(client.aeron_dir, "publications", f"{c.registration_id}.logbuffer")
        is_closed = self._is_closed
        self._writer = _writer.LogWriter(
            path, registration_id=c.registration_id, session_id=c.session_id, stream_id=c.stream_id,
            initial_term_id=c.initial_term_id, term_length=c.term_buffer_length,
            mtu_length=c.max_payload_length + _log.HEADER_LENGTH, max_message_length=c.max_message_length,
            limit_view=self._limit_view, is_closed=lambda: bool(is_closed(ptr)))
        if self._writer.position != int(self._position(ptr)):
            self._writer.close()
            raise ValueError("the log's tail does not agree with libaeron's publication position")
        #: ``try_offer(data) -> int``: the writer's offer itself (no Python layer in between).
        self.try_offer = self._writer.offer  # type: ignore[method-assign]

    @property
    def is_direct(self) -> bool:
        return True

    @property
    def position(self) -> int:
        self._require()
        return self._writer.position

    @property
    def is_connected(self) -> bool:
        self._require()
        return self._writer.is_connected

    def _errmsg(self) -> str:
        return self._writer.last_error

    def offerv(self, buffers: Sequence[Buffer], policy: BackpressurePolicy | None = None) -> int:
        """Offer the concatenation of ``buffers`` as one message (joined in Python)."""
        self._require()
        data = b"".join(buffers)
        return self.offer(data, policy)

    def try_claim(self, length: int, policy: BackpressurePolicy | None = None) -> BufferClaim:
        raise TypeError("try_claim is not available on a direct exclusive publication: use offer")

    def append_padding(self, length: int) -> int:
        self._require()
        return self._writer.append_padding(length)

    def _block_position(self, ptr: int) -> int:
        return self._writer.block_position()

    def _append_block(self, ptr: int, block: bytearray, term_offset: int, term_id: int) -> int:
        return self._writer.append_block(block, term_offset, term_id)

    def _closed_offer(self, data: Buffer) -> int:
        raise ResourceClosedError(f"publication {self.channel} stream {self.stream_id} is closed")

    def _close_by_client(self) -> None:
        self._writer.close()
        self.try_offer = self._closed_offer  # type: ignore[method-assign]
        super()._close_by_client()


# --- subscriptions and images -------------------------------------------------------------------


class _Poller:
    """Shared delivery machinery of subscriptions and images: the fragment/block callbacks,
    captured exceptions and the reusable header."""

    _api: cb.AeronBindings
    _client: Client

    def _init_poller(self) -> None:
        self._handler: Callable[[memoryview, Header], Any] | None = None
        self._block_handler: BlockHandler | None = None
        self._error: BaseException | None = None
        self._block_errors: list[BaseException] = []
        self._header = Header(self._api)
        self._deliver_cb = cb.ControlledFragmentHandler(self._deliver)
        self._raw_cb = cb.ControlledFragmentHandler(self._deliver)
        self._block_cb = cb.BlockHandler(self._on_block)
        self._client._retained.extend((self._deliver_cb, self._raw_cb, self._block_cb))

    def _deliver(self, _clientd: int | None, buffer: int | None, length: int, header: int | None) -> int:
        if self._error is not None:
            return _ABORT
        view = _memory.view(buffer or 0, length)
        hdr = self._header
        hdr._ptr = header
        try:
            result = self._handler(view, hdr)  # type: ignore[misc]
        except BaseException as exc:  # re-raised by the poll call, never swallowed
            self._error = exc
            return _ABORT
        finally:
            hdr._ptr = None
            with contextlib.suppress(BufferError):  # the handler exported the view: cannot release
                view.release()
        if result is None:
            return _CONTINUE
        if result in _ACTIONS:
            return int(result)
        self._error = TypeError(f"fragment handler returned {result!r}, not an Action or None")
        return _ABORT

    def _on_block(self, _clientd: int | None, buffer: int | None, length: int, session_id: int, term_id: int) -> None:
        view = _memory.view(buffer or 0, length)
        try:
            self._block_handler(view, session_id, term_id)  # type: ignore[misc]
        except BaseException as exc:  # re-raised by block_poll, never swallowed
            self._block_errors.append(exc)
        finally:
            with contextlib.suppress(BufferError):
                view.release()

    def _finish_poll(self, count: int, what: str) -> int:
        self._handler = None
        error, self._error = self._error, None
        if error is not None:
            raise error
        if count == 0:
            fatal = self._client._closed_by_libaeron()
            if fatal is not None:
                raise fatal
        if count < 0:
            raise AeronError(f"{what} failed", errcode=self._api.aeron_errcode(), errmsg=self._api.errmsg())
        return count

    def _finish_block_poll(self, count: int, what: str) -> int:
        self._block_handler = None
        errors, self._block_errors = self._block_errors, []
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise BaseExceptionGroup(f"{len(errors)} block handlers raised in one {what}", errors)
        if count == 0:
            fatal = self._client._closed_by_libaeron()
            if fatal is not None:
                raise fatal
        if count < 0:
            raise AeronError(f"{what} failed", errcode=self._api.aeron_errcode(), errmsg=self._api.errmsg())
        return count


#: ``int64_t (*)(...)`` with no argtypes: called with a c_void_p, bytes, a c_size_t and NULLs.
_OfferPrototype: Final = ctypes.CFUNCTYPE(ctypes.c_int64)


def _address_of_function(func: Any) -> int:
    address = ctypes.cast(func, ctypes.c_void_p).value
    if not address:
        raise AeronError(f"no address for {func!r}")
    return int(address)


def _image_info(api: cb.AeronBindings, image: int) -> ImageInfo:
    raw = cb.AeronImageConstants()
    if api.aeron_image_constants(image, ctypes.byref(raw)) < 0:
        raise AeronError("cannot read image constants", errcode=api.aeron_errcode(), errmsg=api.errmsg())
    return ImageInfo(
        session_id=raw.session_id,
        correlation_id=raw.correlation_id,
        join_position=raw.join_position,
        source_identity=raw.source_identity.decode() if raw.source_identity else "",
        position_bits_to_shift=raw.position_bits_to_shift,
        term_buffer_length=raw.term_buffer_length,
        mtu_length=raw.mtu_length,
        initial_term_id=raw.initial_term_id,
        subscriber_position_id=raw.subscriber_position_id,
    )


class _ImageSource(Protocol):
    correlation_id: int

    def poll(self, handler: Any, fragment_limit: int) -> int: ...

    def poll_term(self, handler: Any, fragment_limit: int) -> int: ...

    def close(self) -> None: ...


class _LibraryImage:
    """An image polled through libaeron, in a direct subscription (its log could not be mapped)."""

    __slots__ = ("image", "correlation_id")

    def __init__(self, image: Image, correlation_id: int) -> None:
        self.image = image
        self.correlation_id = correlation_id

    def poll(self, handler: Any, fragment_limit: int) -> int:
        return self.image.poll(handler, fragment_limit)

    def poll_term(self, handler: Any, fragment_limit: int) -> int:
        return self.image.poll(lambda b, h: handler(b, 0, len(b), h), fragment_limit)

    def close(self) -> None:
        self.image.close()


def _counter_views(api: cb.AeronBindings, reader: int, counter_id: int) -> tuple[memoryview, memoryview] | None:
    """(value as one ``q`` item, record state as ``i`` items: state, type id) of a subscriber
    position counter in the counters file libaeron maps for the client's lifetime; None when
    the counter is not an allocated subscriber position."""
    value = api.aeron_counters_reader_addr(reader, counter_id)
    buffers = cb.AeronCountersReaderBuffers()
    if not value or api.aeron_counters_reader_get_buffers(reader, ctypes.byref(buffers)) < 0:
        return None
    record = _log.COUNTER_METADATA_LENGTH * counter_id
    if not buffers.metadata or record + _log.COUNTER_METADATA_LENGTH > buffers.metadata_length:
        return None
    state = _memory.view(int(buffers.metadata) + record, 8).cast("i")
    if state[0] != _log.COUNTER_RECORD_ALLOCATED or state[1] != CountersReader.SUBSCRIBER_POSITION_TYPE_ID:
        return None
    position = _memory.writable_view(ctypes.addressof(value.contents), 8).cast("q")
    return position, state


class Subscription(_Poller, _Resource):
    """A subscription: poll it for messages (reassembled by libaeron's fragment assembler),
    fragments, or whole blocks of the log (``block_poll``, the fast path)."""

    _kind = "subscription"
    constants: SubscriptionConstants

    def _init_callbacks(
        self, client: Client, on_available: ImageHandler | None, on_unavailable: ImageHandler | None,
        direct: bool = False,
    ) -> None:
        self._client = client
        self._api = client._api
        self._ptr: int | None = None
        self._assembler: int | None = None
        self._on_available_image = on_available
        self._on_unavailable_image = on_unavailable
        self._image_errors: list[BaseException] = []
        # callback-free polling: image events queued by the conductor thread, applied by poll
        self._direct = direct
        self._image_events: list[tuple[bool, ImageInfo]] = []
        self._readers: list[_ImageSource] = []
        self._single: _log.ImageReader | None = None  # set by polls while it is the only image
        self._round_robin = 0
        self._idle_polls = 0
        self._available_cb = cb.OnAvailableImage(self._image_event(True))
        self._unavailable_cb = cb.OnUnavailableImage(self._image_event(False))
        self._init_poller()

    def _image_event(self, available: bool) -> Callable[[int | None, int | None, int | None], None]:
        def on_image(_clientd: int | None, _subscription: int | None, image: int | None) -> None:
            handler = self._on_available_image if available else self._on_unavailable_image
            if not image or (handler is None and not self._direct):
                return
            try:
                info = _image_info(self._api, image)
                if self._direct:
                    with self._client._lock:
                        self._image_events.append((available, info))
                        self._single = None
                if handler is not None:
                    handler(info)
            except BaseException as exc:  # conductor thread: re-raised by the next poll
                with self._client._lock:
                    self._image_errors.append(exc)
                    self._single = None

        return on_image

    # -- callback-free polling --

    @property
    def is_direct(self) -> bool:
        """Whether ``poll`` reads the logs from Python (see :class:`fixg.aeron._log.ImageReader`)."""
        return self._direct

    def _apply_image_events(self) -> None:
        with self._client._lock:
            events, self._image_events = self._image_events, []
        for available, info in events:
            if available:
                source = self._open_source(info)
                if source is not None:
                    self._readers = [*self._readers, source]
            else:
                gone = [r for r in self._readers if r.correlation_id == info.correlation_id]
                self._readers = [r for r in self._readers if r.correlation_id != info.correlation_id]
                for reader in gone:
                    reader.close()

    def _open_source(self, info: ImageInfo) -> _ImageSource | None:
        """A Python reader over the image's mapped log, or libaeron's image poll when the log
        cannot be mapped and checked (then the image is polled through ctypes)."""
        client = self._client
        api = self._api
        aeron = client._require()
        reader = api.aeron_counters_reader(aeron)
        log_buffer: _log.LogBuffer | None = None
        why = ""
        for path in _log.log_buffer_paths(client.aeron_dir, info.correlation_id):
            try:
                log_buffer = _log.LogBuffer(path, correlation_id=info.correlation_id,
                                            term_length=info.term_buffer_length,
                                            initial_term_id=info.initial_term_id, mtu_length=info.mtu_length)
                break
            except FileNotFoundError:
                why = f"no log buffer file for correlation id {info.correlation_id}"
            except (OSError, ValueError) as exc:
                why = str(exc)
                break
        if log_buffer is not None:
            views = _counter_views(api, reader, info.subscriber_position_id)
            if views is not None:
                return _log.ImageReader(log_buffer, session_id=info.session_id, correlation_id=info.correlation_id,
                                        position_bits_to_shift=info.position_bits_to_shift,
                                        position_view=views[0], state_view=views[1])
            log_buffer.close()
            why = f"subscriber position counter {info.subscriber_position_id} not as expected"
        log.debug("image %d of %s: libaeron's poll is used (%s)", info.session_id, self.channel, why)
        image = api.aeron_subscription_image_by_session_id(self._require(), info.session_id)
        if not image:
            return None
        return _LibraryImage(Image(self, image), info.correlation_id)

    def term_poll(self, handler: TermHandler, fragment_limit: int | None = None) -> int:
        """The fastest poll: whole messages (reassembled) as ``handler(term, offset, length,
        header)`` where ``term[offset:offset + length]`` is the payload; ``term`` is a read-only
        view of the term buffer valid only during this call (released afterwards; copy what
        you keep), so no object is made per message. The handler may return an
        :class:`Action` like with :meth:`controlled_poll`. Needs :attr:`is_direct`; otherwise
        it adapts :meth:`poll` (one view per message)."""
        reader = self._single
        if reader is not None and self._client._fatal is None:
            # one image, read from Python, nothing pending: the busy-poll fast path
            count: int = reader.poll_term(handler, fragment_limit or self._client.fragment_limit)
            if count == 0:
                self._idle_check()
            return count
        limit = fragment_limit or self._client.fragment_limit
        if self._direct:
            return self._direct_poll(handler, limit, True)
        return self.library_poll(lambda b, h: handler(b, 0, len(b), h), limit)

    def _direct_poll(self, handler: Any, fragment_limit: int, term_style: bool = False) -> int:
        self._require()
        if self._image_events:
            self._apply_image_events()
        readers = self._readers
        if len(readers) == 1:
            reader = readers[0]
            count = (reader.poll_term if term_style else reader.poll)(handler, fragment_limit)
        elif not readers:
            count = 0
        else:
            start = self._round_robin
            if start >= len(readers):
                start = 0
            self._round_robin = start + 1
            count = 0
            for reader in (*readers[start:], *readers[:start]):
                count += (reader.poll_term if term_style else reader.poll)(handler, fragment_limit - count)
                if count >= fragment_limit:
                    break
        if len(readers) == 1 and isinstance(readers[0], _log.ImageReader):
            with self._client._lock:  # the conductor thread resets it with every image event
                if not self._image_events and not self._image_errors and self._ptr is not None:
                    self._single = readers[0]
        if count == 0:
            self._idle_check()
        return count

    def _idle_check(self) -> None:
        # libaeron closes a client whose driver died (the error handler usually says so first):
        # asked once every 256 polls that found nothing, to keep busy polling cheap
        self._idle_polls += 1
        if self._idle_polls & 255 == 0:
            fatal = self._client._closed_by_libaeron()
            if fatal is not None:
                raise fatal

    def _init_resource(self, ptr: int) -> None:
        api = self._api
        self._ptr = ptr
        assembler = ctypes.c_void_p()
        if api.aeron_controlled_fragment_assembler_create(ctypes.byref(assembler), self._deliver_cb, None) < 0:
            err = AeronError("cannot create a fragment assembler", errcode=api.aeron_errcode(), errmsg=api.errmsg())
            api.aeron_subscription_close(ptr, None, None)
            self._ptr = None
            raise err
        self._assembler = assembler.value
        self._assembler_handler = cb.ControlledFragmentHandler(
            _address_of_function(api.aeron_controlled_fragment_assembler_handler)
        )
        self._controlled_poll = api.aeron_subscription_controlled_poll
        self._block_poll_fn = api.aeron_subscription_block_poll
        raw = cb.AeronSubscriptionConstants()
        if api.aeron_subscription_constants(ptr, ctypes.byref(raw)) < 0:
            self._client._raise("cannot read subscription constants")
        self.constants = SubscriptionConstants(
            channel=raw.channel.decode() if raw.channel else "",
            registration_id=raw.registration_id,
            stream_id=raw.stream_id,
            channel_status_indicator_id=raw.channel_status_indicator_id,
        )

    def _require(self) -> int:
        ptr = self._ptr
        if ptr is None:
            raise self._closed_error()
        client = self._client
        if client._fatal is not None:
            raise client._fatal
        if self._image_errors:
            with client._lock:
                error = self._image_errors.pop(0)
            raise error
        return ptr

    @property
    def is_connected(self) -> bool:
        return bool(self._api.aeron_subscription_is_connected(self._require()))

    @property
    def is_closed(self) -> bool:
        ptr = self._ptr
        return ptr is None or bool(self._api.aeron_subscription_is_closed(ptr))

    @property
    def image_count(self) -> int:
        return int(self._api.aeron_subscription_image_count(self._require()))

    @property
    def channel_status(self) -> int:
        return int(self._api.aeron_subscription_channel_status(self._require()))

    # -- polling --

    def poll(self, handler: FragmentHandler | ControlledFragmentHandler, fragment_limit: int | None = None) -> int:
        """Deliver whole messages (fragments reassembled) to ``handler(buffer, header)``;
        return the number of fragments consumed. Callback-free (the logs read from Python)
        when :attr:`is_direct`, else libaeron's controlled poll and fragment assembler."""
        reader = self._single
        if reader is not None and self._client._fatal is None:
            count: int = reader.poll(handler, fragment_limit or self._client.fragment_limit)
            if count == 0:
                self._idle_check()
            return count
        if self._direct:
            return self._direct_poll(handler, fragment_limit or self._client.fragment_limit)
        return self.library_poll(handler, fragment_limit)

    def library_poll(self, handler: FragmentHandler | ControlledFragmentHandler,
                     fragment_limit: int | None = None) -> int:
        """:meth:`poll` through libaeron (``aeron_subscription_controlled_poll`` with its
        fragment assembler, one ctypes callback per message), whatever :attr:`is_direct` says."""
        ptr = self._require()
        self._handler = handler
        try:
            count = self._controlled_poll(
                ptr, self._assembler_handler, self._assembler, fragment_limit or self._client.fragment_limit
            )
        finally:
            self._handler = None
        return self._finish_poll(count, "subscription poll")

    def controlled_poll(self, handler: ControlledFragmentHandler, fragment_limit: int | None = None) -> int:
        """Like :meth:`poll`, but ``handler`` returns an :class:`Action` (None = CONTINUE)."""
        return self.poll(handler, fragment_limit)

    def poll_fragments(self, handler: FragmentHandler, fragment_limit: int | None = None) -> int:
        """Deliver raw fragments, without reassembly (see ``Header.flags``)."""
        ptr = self._require()
        self._handler = handler
        try:
            count = self._controlled_poll(ptr, self._raw_cb, None, fragment_limit or self._client.fragment_limit)
        finally:
            self._handler = None
        return self._finish_poll(count, "subscription poll")

    def block_poll(self, handler: BlockHandler, block_length_limit: int = 1 << 20) -> int:
        """Deliver contiguous blocks of the log, one call per image, to
        ``handler(block, session_id, term_id)`` (see :func:`iter_frames`); return bytes consumed.
        Every block is delivered even if a handler raises; the exception is re-raised after."""
        ptr = self._require()
        self._block_handler = handler
        try:
            count = self._block_poll_fn(ptr, self._block_cb, None, block_length_limit)
        finally:
            self._block_handler = None
        return self._finish_block_poll(count, "subscription block poll")

    # -- images --

    def images(self) -> list[Image]:
        """The images currently connected (each must be closed, e.g. ``with``)."""
        ptr = self._require()
        found: list[Image] = []
        for index in range(self._api.aeron_subscription_image_count(ptr)):
            image = self._api.aeron_subscription_image_at_index(ptr, index)
            if image:
                found.append(Image(self, image))
        return found

    def image_by_session_id(self, session_id: int) -> Image | None:
        image = self._api.aeron_subscription_image_by_session_id(self._require(), session_id)
        return Image(self, image) if image else None

    # -- lifecycle --

    def _close_by_client(self) -> None:
        ptr, self._ptr = self._ptr, None
        assembler, self._assembler = self._assembler, None
        readers, self._readers = self._readers, []
        self._single = None
        try:
            for reader in readers:
                reader.close()
            if ptr is not None:
                self._api.aeron_subscription_close(ptr, None, None)
        finally:
            if assembler is not None:
                self._api.aeron_controlled_fragment_assembler_delete(assembler)

    def __repr__(self) -> str:
        return (f"<fixg.aeron.Subscription {self.channel} stream={self.stream_id}"
                f"{' closed' if self._ptr is None else ''}>")


class Image(_Poller, _ClientObject):
    """One publisher's stream within a subscription. Retained from the subscription until
    closed (``with sub.image_by_session_id(s) as image:``)."""

    def __init__(self, subscription: Subscription, ptr: int) -> None:
        self._subscription = subscription
        self._client = subscription._client
        self._api = subscription._api
        self._ptr: int | None = ptr
        self._assembler: int | None = None
        self._init_poller()
        api = self._api
        try:
            self.info = _image_info(api, ptr)
            assembler = ctypes.c_void_p()
            if api.aeron_image_controlled_fragment_assembler_create(ctypes.byref(assembler), self._deliver_cb, None) < 0:
                raise AeronError("cannot create an image fragment assembler", errcode=api.aeron_errcode(),
                                 errmsg=api.errmsg())
            self._assembler = assembler.value
        except BaseException:
            self._release()
            raise
        self._assembler_handler = cb.ControlledFragmentHandler(
            _address_of_function(api.aeron_image_controlled_fragment_assembler_handler)
        )
        self._client._register(self)

    @property
    def session_id(self) -> int:
        return self.info.session_id

    def _require(self) -> int:
        ptr = self._ptr
        if ptr is None:
            raise ResourceClosedError(f"image of session {self.info.session_id} is closed")
        if self._client._fatal is not None:
            raise self._client._fatal
        return ptr

    @property
    def position(self) -> int:
        return int(self._api.aeron_image_position(self._require()))

    @property
    def is_end_of_stream(self) -> bool:
        return bool(self._api.aeron_image_is_end_of_stream(self._require()))

    @property
    def end_of_stream_position(self) -> int:
        return int(self._api.aeron_image_end_of_stream_position(self._require()))

    @property
    def is_closed(self) -> bool:
        ptr = self._ptr
        return ptr is None or bool(self._api.aeron_image_is_closed(ptr))

    def poll(self, handler: FragmentHandler | ControlledFragmentHandler, fragment_limit: int | None = None) -> int:
        ptr = self._require()
        self._handler = handler
        try:
            count = self._api.aeron_image_controlled_poll(
                ptr, self._assembler_handler, self._assembler, fragment_limit or self._client.fragment_limit
            )
        finally:
            self._handler = None
        return self._finish_poll(count, "image poll")

    def controlled_poll(self, handler: ControlledFragmentHandler, fragment_limit: int | None = None) -> int:
        return self.poll(handler, fragment_limit)

    def block_poll(self, handler: BlockHandler, block_length_limit: int = 1 << 20) -> int:
        ptr = self._require()
        self._block_handler = handler
        try:
            count = self._api.aeron_image_block_poll(ptr, self._block_cb, None, block_length_limit)
        finally:
            self._block_handler = None
        return self._finish_block_poll(count, "image block poll")

    def _release(self) -> None:
        ptr, self._ptr = self._ptr, None
        assembler, self._assembler = self._assembler, None
        try:
            sub_ptr = self._subscription._ptr
            if ptr is not None and sub_ptr is not None:
                self._api.aeron_subscription_image_release(sub_ptr, ptr)
        finally:
            if assembler is not None:
                self._api.aeron_image_controlled_fragment_assembler_delete(assembler)

    def _close_by_client(self) -> None:
        self._release()


# --- counters -----------------------------------------------------------------------------------


class Counter(_ClientObject):
    """A counter this client allocated (``Client.add_counter``)."""

    def __init__(self, client: Client, ptr: int, registration_id: int, counter_id: int) -> None:
        self._client = client
        self._api = client._api
        self._ptr: int | None = ptr
        self.registration_id = registration_id
        self.counter_id = counter_id
        self._addr = self._api.aeron_counter_addr(ptr)

    def _value_ptr(self) -> Any:
        if self._ptr is None:
            raise ResourceClosedError(f"counter {self.counter_id} is closed")
        return self._addr

    @property
    def value(self) -> int:
        return int(self._value_ptr()[0])

    @value.setter
    def value(self, new: int) -> None:
        self._value_ptr()[0] = new

    def increment(self, delta: int = 1) -> int:
        """Add ``delta`` (single writer) and return the new value."""
        addr = self._value_ptr()
        addr[0] = addr[0] + delta
        return int(addr[0])

    @property
    def is_closed(self) -> bool:
        ptr = self._ptr
        return ptr is None or bool(self._api.aeron_counter_is_closed(ptr))

    def _close_by_client(self) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            self._api.aeron_counter_close(ptr, None, None)


class CountersReader:
    """Read access to all the driver's counters (stream positions, heartbeats, errors...)."""

    #: Counter type ids of Aeron's own counters that fixg reads.
    PUBLISHER_LIMIT_TYPE_ID: Final = 1
    SENDER_POSITION_TYPE_ID: Final = 2
    RECEIVER_HWM_TYPE_ID: Final = 3
    SUBSCRIBER_POSITION_TYPE_ID: Final = 4
    RECEIVER_POSITION_TYPE_ID: Final = 5
    CLIENT_HEARTBEAT_TIMESTAMP_TYPE_ID: Final = 11
    PUBLISHER_POSITION_TYPE_ID: Final = 12

    def __init__(self, client: Client, reader: int) -> None:
        self._client = client
        self._api = client._api
        self._reader = reader

    def _r(self) -> int:
        self._client._require()
        return self._reader

    @property
    def max_counter_id(self) -> int:
        return int(self._api.aeron_counters_reader_max_counter_id(self._r()))

    def value(self, counter_id: int) -> int:
        addr = self._api.aeron_counters_reader_addr(self._r(), counter_id)
        if not addr:
            raise AeronError(f"no counter {counter_id}")
        return int(addr[0])

    def _int_field(self, func: Callable[..., int], counter_id: int, ctype: Any, what: str) -> int:
        out = ctype()
        if func(self._r(), counter_id, ctypes.byref(out)) < 0:
            raise AeronError(f"cannot read {what} of counter {counter_id}", errcode=self._api.aeron_errcode(),
                             errmsg=self._api.errmsg())
        return int(out.value)

    def state(self, counter_id: int) -> int:
        return self._int_field(self._api.aeron_counters_reader_counter_state, counter_id, ctypes.c_int32, "state")

    def type_id(self, counter_id: int) -> int:
        return self._int_field(self._api.aeron_counters_reader_counter_type_id, counter_id, ctypes.c_int32, "type id")

    def registration_id(self, counter_id: int) -> int:
        return self._int_field(self._api.aeron_counters_reader_counter_registration_id, counter_id,
                               ctypes.c_int64, "registration id")

    def owner_id(self, counter_id: int) -> int:
        return self._int_field(self._api.aeron_counters_reader_counter_owner_id, counter_id, ctypes.c_int64,
                               "owner id")

    def reference_id(self, counter_id: int) -> int:
        return self._int_field(self._api.aeron_counters_reader_counter_reference_id, counter_id,
                               ctypes.c_int64, "reference id")

    def label(self, counter_id: int) -> str:
        buf = ctypes.create_string_buffer(cb.AERON_COUNTER_MAX_LABEL_LENGTH + 1)
        n = self._api.aeron_counters_reader_counter_label(self._r(), counter_id, buf, len(buf))
        if n < 0:
            raise AeronError(f"cannot read label of counter {counter_id}", errcode=self._api.aeron_errcode(),
                             errmsg=self._api.errmsg())
        return buf.raw[:n].decode("utf-8", "replace")

    def find(self, type_id: int, registration_id: int) -> int | None:
        """The id of the counter with this type and registration id, or None."""
        found = self._api.aeron_counters_reader_find_by_type_id_and_registration_id(self._r(), type_id, registration_id)
        return None if found == cb.AERON_NULL_COUNTER_ID else int(found)

    def counters(self) -> list[CounterInfo]:
        """Every allocated counter."""
        found: list[CounterInfo] = []
        errors: list[BaseException] = []

        def visit(value: int, counter_id: int, type_id: int, key: int | None, key_length: int,
                  label: int | None, label_length: int, _clientd: int | None) -> None:
            try:
                found.append(CounterInfo(
                    counter_id=counter_id,
                    type_id=type_id,
                    value=value,
                    label=ctypes.string_at(label, label_length).decode("utf-8", "replace") if label else "",
                    key=ctypes.string_at(key, key_length) if key else b"",
                ))
            except BaseException as exc:  # re-raised below
                errors.append(exc)

        callback = cb.CountersForeachFunc(visit)
        self._api.aeron_counters_reader_foreach_counter(self._r(), callback, None)
        if errors:
            raise errors[0]
        return found
