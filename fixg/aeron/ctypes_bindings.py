"""Raw ctypes declarations of the parts of libaeron's C API that fixg uses.

Everything here mirrors ``aeronc.h`` (the C client) and ``aeronmd.h`` (the embedded C media
driver) exactly: the structures that cross the boundary by value or by pointer have the same
layout (``tests/aeron/test_bindings.py`` reads real values back through them), and every
function gets explicit ``argtypes`` and ``restype`` so that no pointer is ever truncated to a C
``int``.

Nothing in this module loads a library: :func:`bind` takes a :class:`ctypes.CDLL` found by
:mod:`fixg.aeron.loader` and returns an :class:`AeronBindings` whose attributes are the declared
functions. The driver API is optional (a client-only ``libaeron.so`` does not carry it), so
``AeronBindings.has_driver_api`` says whether the ``aeron_driver_*`` functions are there.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = [
    "AERON_NULL_VALUE",
    "AERON_CLIENT_ERROR_DRIVER_TIMEOUT",
    "AERON_CLIENT_ERROR_CLIENT_TIMEOUT",
    "AERON_CLIENT_ERROR_CONDUCTOR_SERVICE_TIMEOUT",
    "AERON_CLIENT_ERROR_BUFFER_FULL",
    "AERON_PUBLICATION_NOT_CONNECTED",
    "AERON_PUBLICATION_BACK_PRESSURED",
    "AERON_PUBLICATION_ADMIN_ACTION",
    "AERON_PUBLICATION_CLOSED",
    "AERON_PUBLICATION_MAX_POSITION_EXCEEDED",
    "AERON_PUBLICATION_ERROR",
    "AERON_ACTION_ABORT",
    "AERON_ACTION_BREAK",
    "AERON_ACTION_COMMIT",
    "AERON_ACTION_CONTINUE",
    "AERON_THREADING_MODE_DEDICATED",
    "AERON_THREADING_MODE_SHARED_NETWORK",
    "AERON_THREADING_MODE_SHARED",
    "AERON_THREADING_MODE_INVOKER",
    "AERON_NULL_COUNTER_ID",
    "AERON_COUNTER_RECORD_UNUSED",
    "AERON_COUNTER_RECORD_ALLOCATED",
    "AERON_COUNTER_RECORD_RECLAIMED",
    "AERON_COUNTER_MAX_LABEL_LENGTH",
    "AERON_COUNTER_MAX_KEY_LENGTH",
    "AeronHeaderValuesFrame",
    "AeronHeaderValues",
    "AeronPublicationConstants",
    "AeronSubscriptionConstants",
    "AeronImageConstants",
    "AeronBufferClaim",
    "AeronIovec",
    "AeronCountersReaderBuffers",
    "ErrorHandler",
    "NotificationHandler",
    "FragmentHandler",
    "ControlledFragmentHandler",
    "BlockHandler",
    "OnAvailableImage",
    "OnUnavailableImage",
    "ReservedValueSupplier",
    "LogFunc",
    "CountersForeachFunc",
    "AeronBindings",
    "CLIENT_FUNCTIONS",
    "DRIVER_FUNCTIONS",
    "bind",
]

# --- constants (aeronc.h) -----------------------------------------------------------------------

AERON_NULL_VALUE: Final = -1

AERON_CLIENT_ERROR_DRIVER_TIMEOUT: Final = -1000
AERON_CLIENT_ERROR_CLIENT_TIMEOUT: Final = -1001
AERON_CLIENT_ERROR_CONDUCTOR_SERVICE_TIMEOUT: Final = -1002
AERON_CLIENT_ERROR_BUFFER_FULL: Final = -1003

AERON_PUBLICATION_NOT_CONNECTED: Final = -1
AERON_PUBLICATION_BACK_PRESSURED: Final = -2
AERON_PUBLICATION_ADMIN_ACTION: Final = -3
AERON_PUBLICATION_CLOSED: Final = -4
AERON_PUBLICATION_MAX_POSITION_EXCEEDED: Final = -5
AERON_PUBLICATION_ERROR: Final = -6

AERON_ACTION_ABORT: Final = 1
AERON_ACTION_BREAK: Final = 2
AERON_ACTION_COMMIT: Final = 3
AERON_ACTION_CONTINUE: Final = 4

# aeronmd.h: enum aeron_threading_mode_enum
AERON_THREADING_MODE_DEDICATED: Final = 0
AERON_THREADING_MODE_SHARED_NETWORK: Final = 1
AERON_THREADING_MODE_SHARED: Final = 2
AERON_THREADING_MODE_INVOKER: Final = 3

AERON_NULL_COUNTER_ID: Final = -1
AERON_COUNTER_RECORD_UNUSED: Final = 0
AERON_COUNTER_RECORD_ALLOCATED: Final = 1
AERON_COUNTER_RECORD_RECLAIMED: Final = -1

_CACHE_LINE: Final = 64
# sizeof(((aeron_counter_metadata_descriptor_t *)NULL)->label) and ->key
AERON_COUNTER_MAX_LABEL_LENGTH: Final = 6 * _CACHE_LINE - 4
AERON_COUNTER_MAX_KEY_LENGTH: Final = 2 * _CACHE_LINE - 2 * 4 - 8

# --- structures ---------------------------------------------------------------------------------

c_int32_p = ctypes.POINTER(ctypes.c_int32)
c_int64_p = ctypes.POINTER(ctypes.c_int64)
c_uint16_p = ctypes.POINTER(ctypes.c_uint16)
c_void_pp = ctypes.POINTER(ctypes.c_void_p)


class AeronHeaderValuesFrame(ctypes.Structure):
    """``aeron_header_values_frame_t`` (``#pragma pack(4)``): the 32-byte Aeron data header."""

    _pack_ = 4
    _fields_ = [
        ("frame_length", ctypes.c_int32),
        ("version", ctypes.c_int8),
        ("flags", ctypes.c_uint8),
        ("type", ctypes.c_int16),
        ("term_offset", ctypes.c_int32),
        ("session_id", ctypes.c_int32),
        ("stream_id", ctypes.c_int32),
        ("term_id", ctypes.c_int32),
        ("reserved_value", ctypes.c_int64),
    ]


class AeronHeaderValues(ctypes.Structure):
    """``aeron_header_values_t`` (``#pragma pack(4)``): 44 bytes on LP64."""

    _pack_ = 4
    _fields_ = [
        ("frame", AeronHeaderValuesFrame),
        ("initial_term_id", ctypes.c_int32),
        ("position_bits_to_shift", ctypes.c_size_t),
    ]


class AeronPublicationConstants(ctypes.Structure):
    """``aeron_publication_constants_t``."""

    _fields_ = [
        ("channel", ctypes.c_char_p),
        ("original_registration_id", ctypes.c_int64),
        ("registration_id", ctypes.c_int64),
        ("max_possible_position", ctypes.c_int64),
        ("position_bits_to_shift", ctypes.c_size_t),
        ("term_buffer_length", ctypes.c_size_t),
        ("max_message_length", ctypes.c_size_t),
        ("max_payload_length", ctypes.c_size_t),
        ("stream_id", ctypes.c_int32),
        ("session_id", ctypes.c_int32),
        ("initial_term_id", ctypes.c_int32),
        ("publication_limit_counter_id", ctypes.c_int32),
        ("channel_status_indicator_id", ctypes.c_int32),
    ]


class AeronSubscriptionConstants(ctypes.Structure):
    """``aeron_subscription_constants_t``."""

    _fields_ = [
        ("channel", ctypes.c_char_p),
        ("on_available_image", ctypes.c_void_p),
        ("on_unavailable_image", ctypes.c_void_p),
        ("registration_id", ctypes.c_int64),
        ("stream_id", ctypes.c_int32),
        ("channel_status_indicator_id", ctypes.c_int32),
    ]


class AeronImageConstants(ctypes.Structure):
    """``aeron_image_constants_t``."""

    _fields_ = [
        ("subscription", ctypes.c_void_p),
        ("source_identity", ctypes.c_char_p),
        ("correlation_id", ctypes.c_int64),
        ("join_position", ctypes.c_int64),
        ("position_bits_to_shift", ctypes.c_size_t),
        ("term_buffer_length", ctypes.c_size_t),
        ("mtu_length", ctypes.c_size_t),
        ("session_id", ctypes.c_int32),
        ("initial_term_id", ctypes.c_int32),
        ("subscriber_position_id", ctypes.c_int32),
    ]


# aeron_counter_constants_t is deliberately not declared: its layout changed between releases
# (1.53 inserts an int64 between registration_id and counter_id), so a struct sized for one
# release overflows with the other. fixg gets a counter's registration id from
# aeron_async_add_counter_get_registration_id and its id from the counters reader instead.


class AeronBufferClaim(ctypes.Structure):
    """``aeron_buffer_claim_t``: where a ``try_claim`` lets the caller write in place."""

    _fields_ = [
        ("frame_header", ctypes.c_void_p),
        ("data", ctypes.c_void_p),
        ("length", ctypes.c_size_t),
    ]


class AeronIovec(ctypes.Structure):
    """``aeron_iovec_t``."""

    _fields_ = [
        ("iov_base", ctypes.c_void_p),
        ("iov_len", ctypes.c_size_t),
    ]


class AeronCountersReaderBuffers(ctypes.Structure):
    """``aeron_counters_reader_buffers_t``."""

    _fields_ = [
        ("values", ctypes.c_void_p),
        ("metadata", ctypes.c_void_p),
        ("values_length", ctypes.c_size_t),
        ("metadata_length", ctypes.c_size_t),
    ]


# --- callback types -----------------------------------------------------------------------------
# Buffers arrive as c_void_p (a Python int): the wrappers turn them into memoryviews themselves.

ErrorHandler = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p)
NotificationHandler = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
FragmentHandler = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p
)
ControlledFragmentHandler = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p
)
BlockHandler = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int32, ctypes.c_int32
)
OnAvailableImage = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
OnUnavailableImage = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
ReservedValueSupplier = ctypes.CFUNCTYPE(
    ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t
)
LogFunc = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
CountersForeachFunc = ctypes.CFUNCTYPE(
    None,
    ctypes.c_int64,
    ctypes.c_int32,
    ctypes.c_int32,
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_void_p,
)

# --- function table -----------------------------------------------------------------------------
# Optional callbacks that fixg always passes as NULL (the reserved value supplier of offers, the
# on-close-complete notification of close calls) are declared as void pointers so that None
# is accepted; the callback types above document their signatures.

_v = ctypes.c_void_p
_vp = c_void_pp
_i = ctypes.c_int
_i32 = ctypes.c_int32
_i64 = ctypes.c_int64
_u64 = ctypes.c_uint64
_sz = ctypes.c_size_t
_b = ctypes.c_bool
_s = ctypes.c_char_p
_long = ctypes.c_long

Signature = tuple[Any, Sequence[Any]]

#: name -> (restype, argtypes) for the C client API (aeronc.h).
CLIENT_FUNCTIONS: Final[Mapping[str, Signature]] = {
    # errors and versions
    "aeron_errcode": (_i, ()),
    "aeron_errmsg": (_s, ()),
    "aeron_version_full": (_s, ()),
    "aeron_version_text": (_s, ()),
    "aeron_version_major": (_i, ()),
    "aeron_version_minor": (_i, ()),
    "aeron_version_patch": (_i, ()),
    "aeron_version_gitsha": (_s, ()),
    "aeron_nano_clock": (_i64, ()),
    "aeron_epoch_clock": (_i64, ()),
    "aeron_default_path": (_i, (ctypes.c_char_p, _sz)),
    # CnC / driver liveness
    "aeron_is_driver_active": (_b, (_s, _i64, LogFunc)),
    "aeron_context_request_driver_termination": (_i, (_s, _v, _sz)),
    # context
    "aeron_context_init": (_i, (_vp,)),
    "aeron_context_close": (_i, (_v,)),
    "aeron_context_set_dir": (_i, (_v, _s)),
    "aeron_context_get_dir": (_s, (_v,)),
    "aeron_context_set_driver_timeout_ms": (_i, (_v, _u64)),
    "aeron_context_get_driver_timeout_ms": (_u64, (_v,)),
    "aeron_context_set_keepalive_interval_ns": (_i, (_v, _u64)),
    "aeron_context_set_resource_linger_duration_ns": (_i, (_v, _u64)),
    "aeron_context_set_idle_sleep_duration_ns": (_i, (_v, _u64)),
    "aeron_context_set_pre_touch_mapped_memory": (_i, (_v, _b)),
    "aeron_context_set_client_name": (_i, (_v, _s)),
    "aeron_context_get_client_name": (_s, (_v,)),
    "aeron_context_set_error_handler": (_i, (_v, ErrorHandler, _v)),
    "aeron_context_set_use_conductor_agent_invoker": (_i, (_v, _b)),
    # client lifecycle
    "aeron_init": (_i, (_vp, _v)),
    "aeron_start": (_i, (_v,)),
    "aeron_main_do_work": (_i, (_v,)),
    "aeron_close": (_i, (_v,)),
    "aeron_is_closed": (_b, (_v,)),
    "aeron_context": (_v, (_v,)),
    "aeron_client_id": (_i64, (_v,)),
    "aeron_next_correlation_id": (_i64, (_v,)),
    "aeron_counters_reader": (_v, (_v,)),
    # async add / remove
    "aeron_async_add_publication": (_i, (_vp, _v, _s, _i32)),
    "aeron_async_add_publication_poll": (_i, (_vp, _v)),
    "aeron_async_add_exclusive_publication": (_i, (_vp, _v, _s, _i32)),
    "aeron_async_add_exclusive_publication_poll": (_i, (_vp, _v)),
    "aeron_async_add_subscription": (
        _i,
        (_vp, _v, _s, _i32, OnAvailableImage, _v, OnUnavailableImage, _v),
    ),
    "aeron_async_add_subscription_poll": (_i, (_vp, _v)),
    "aeron_async_add_counter": (_i, (_vp, _v, _i32, _v, _sz, _s, _sz)),
    "aeron_async_add_counter_poll": (_i, (_vp, _v)),
    "aeron_async_add_publication_get_registration_id": (_i64, (_v,)),
    "aeron_async_add_subscription_get_registration_id": (_i64, (_v,)),
    "aeron_async_add_counter_get_registration_id": (_i64, (_v,)),
    # publications
    "aeron_publication_offer": (_i64, (_v, _v, _sz, _v, _v)),
    "aeron_publication_offerv": (_i64, (_v, ctypes.POINTER(AeronIovec), _sz, _v, _v)),
    "aeron_publication_try_claim": (_i64, (_v, _sz, ctypes.POINTER(AeronBufferClaim))),
    "aeron_publication_channel_status": (_i64, (_v,)),
    "aeron_publication_is_closed": (_b, (_v,)),
    "aeron_publication_is_connected": (_b, (_v,)),
    "aeron_publication_constants": (_i, (_v, ctypes.POINTER(AeronPublicationConstants))),
    "aeron_publication_position": (_i64, (_v,)),
    "aeron_publication_position_limit": (_i64, (_v,)),
    "aeron_publication_close": (_i, (_v, _v, _v)),
    "aeron_publication_channel": (_s, (_v,)),
    "aeron_publication_stream_id": (_i32, (_v,)),
    "aeron_publication_session_id": (_i32, (_v,)),
    "aeron_buffer_claim_commit": (_i, (ctypes.POINTER(AeronBufferClaim),)),
    "aeron_buffer_claim_abort": (_i, (ctypes.POINTER(AeronBufferClaim),)),
    # exclusive publications
    "aeron_exclusive_publication_offer": (_i64, (_v, _v, _sz, _v, _v)),
    "aeron_exclusive_publication_offerv": (
        _i64,
        (_v, ctypes.POINTER(AeronIovec), _sz, _v, _v),
    ),
    "aeron_exclusive_publication_try_claim": (_i64, (_v, _sz, ctypes.POINTER(AeronBufferClaim))),
    "aeron_exclusive_publication_append_padding": (_i64, (_v, _sz)),
    "aeron_exclusive_publication_offer_block": (_i64, (_v, _v, _sz)),
    "aeron_exclusive_publication_channel_status": (_i64, (_v,)),
    "aeron_exclusive_publication_constants": (_i, (_v, ctypes.POINTER(AeronPublicationConstants))),
    "aeron_exclusive_publication_position": (_i64, (_v,)),
    "aeron_exclusive_publication_position_limit": (_i64, (_v,)),
    "aeron_exclusive_publication_close": (_i, (_v, _v, _v)),
    "aeron_exclusive_publication_is_closed": (_b, (_v,)),
    "aeron_exclusive_publication_is_connected": (_b, (_v,)),
    # subscriptions
    "aeron_subscription_poll": (_i, (_v, FragmentHandler, _v, _sz)),
    "aeron_subscription_controlled_poll": (_i, (_v, ControlledFragmentHandler, _v, _sz)),
    "aeron_subscription_block_poll": (_long, (_v, BlockHandler, _v, _sz)),
    "aeron_subscription_is_connected": (_b, (_v,)),
    "aeron_subscription_constants": (_i, (_v, ctypes.POINTER(AeronSubscriptionConstants))),
    "aeron_subscription_image_count": (_i, (_v,)),
    "aeron_subscription_image_by_session_id": (_v, (_v, _i32)),
    "aeron_subscription_image_at_index": (_v, (_v, _sz)),
    "aeron_subscription_image_release": (_i, (_v, _v)),
    "aeron_subscription_is_closed": (_b, (_v,)),
    "aeron_subscription_channel_status": (_i64, (_v,)),
    "aeron_subscription_close": (_i, (_v, _v, _v)),
    # images
    "aeron_image_constants": (_i, (_v, ctypes.POINTER(AeronImageConstants))),
    "aeron_image_position": (_i64, (_v,)),
    "aeron_image_is_end_of_stream": (_b, (_v,)),
    "aeron_image_end_of_stream_position": (_i64, (_v,)),
    "aeron_image_active_transport_count": (_i, (_v,)),
    "aeron_image_poll": (_i, (_v, FragmentHandler, _v, _sz)),
    "aeron_image_controlled_poll": (_i, (_v, ControlledFragmentHandler, _v, _sz)),
    "aeron_image_bounded_poll": (_i, (_v, FragmentHandler, _v, _i64, _sz)),
    "aeron_image_block_poll": (_i, (_v, BlockHandler, _v, _sz)),
    "aeron_image_is_closed": (_b, (_v,)),
    # fragment assemblers
    "aeron_fragment_assembler_create": (_i, (_vp, FragmentHandler, _v)),
    "aeron_fragment_assembler_delete": (_i, (_v,)),
    "aeron_fragment_assembler_handler": (None, (_v, _v, _sz, _v)),
    "aeron_controlled_fragment_assembler_create": (_i, (_vp, ControlledFragmentHandler, _v)),
    "aeron_controlled_fragment_assembler_delete": (_i, (_v,)),
    "aeron_controlled_fragment_assembler_handler": (_i, (_v, _v, _sz, _v)),
    "aeron_image_fragment_assembler_create": (_i, (_vp, FragmentHandler, _v)),
    "aeron_image_fragment_assembler_delete": (_i, (_v,)),
    "aeron_image_fragment_assembler_handler": (None, (_v, _v, _sz, _v)),
    "aeron_image_controlled_fragment_assembler_create": (_i, (_vp, ControlledFragmentHandler, _v)),
    "aeron_image_controlled_fragment_assembler_delete": (_i, (_v,)),
    "aeron_image_controlled_fragment_assembler_handler": (_i, (_v, _v, _sz, _v)),
    # header
    "aeron_header_values": (_i, (_v, ctypes.POINTER(AeronHeaderValues))),
    "aeron_header_position": (_i64, (_v,)),
    "aeron_header_position_bits_to_shift": (_sz, (_v,)),
    "aeron_header_next_term_offset": (_i32, (_v,)),
    "aeron_header_context": (_v, (_v,)),
    # counters
    "aeron_counter_addr": (c_int64_p, (_v,)),
    "aeron_counter_close": (_i, (_v, _v, _v)),
    "aeron_counter_is_closed": (_b, (_v,)),
    "aeron_counters_reader_get_buffers": (_i, (_v, ctypes.POINTER(AeronCountersReaderBuffers))),
    "aeron_counters_reader_foreach_counter": (None, (_v, CountersForeachFunc, _v)),
    "aeron_counters_reader_find_by_type_id_and_registration_id": (_i32, (_v, _i32, _i64)),
    "aeron_counters_reader_max_counter_id": (_i32, (_v,)),
    "aeron_counters_reader_addr": (c_int64_p, (_v, _i32)),
    "aeron_counters_reader_counter_registration_id": (_i, (_v, _i32, c_int64_p)),
    "aeron_counters_reader_counter_owner_id": (_i, (_v, _i32, c_int64_p)),
    "aeron_counters_reader_counter_reference_id": (_i, (_v, _i32, c_int64_p)),
    "aeron_counters_reader_counter_state": (_i, (_v, _i32, c_int32_p)),
    "aeron_counters_reader_counter_type_id": (_i, (_v, _i32, c_int32_p)),
    "aeron_counters_reader_counter_label": (_i, (_v, _i32, ctypes.c_char_p, _sz)),
}

#: name -> (restype, argtypes) for the embedded media driver API (aeronmd.h).
DRIVER_FUNCTIONS: Final[Mapping[str, Signature]] = {
    "aeron_driver_context_init": (_i, (_vp,)),
    "aeron_driver_context_close": (_i, (_v,)),
    "aeron_driver_init": (_i, (_vp, _v)),
    "aeron_driver_start": (_i, (_v, _b)),
    "aeron_driver_main_do_work": (_i, (_v,)),
    "aeron_driver_main_idle_strategy": (None, (_v, _i)),
    "aeron_driver_close": (_i, (_v,)),
    "aeron_delete_directory": (_i, (_s,)),
    "aeron_driver_context_set_dir": (_i, (_v, _s)),
    "aeron_driver_context_get_dir": (_s, (_v,)),
    "aeron_driver_context_set_dir_delete_on_start": (_i, (_v, _b)),
    "aeron_driver_context_set_dir_delete_on_shutdown": (_i, (_v, _b)),
    "aeron_driver_context_set_dir_warn_if_exists": (_i, (_v, _b)),
    "aeron_driver_context_set_threading_mode": (_i, (_v, _i)),
    "aeron_driver_context_get_threading_mode": (_i, (_v,)),
    "aeron_driver_context_set_shared_idle_strategy": (_i, (_v, _s)),
    "aeron_driver_context_set_conductor_idle_strategy": (_i, (_v, _s)),
    "aeron_driver_context_set_sender_idle_strategy": (_i, (_v, _s)),
    "aeron_driver_context_set_receiver_idle_strategy": (_i, (_v, _s)),
    "aeron_driver_context_set_sharednetwork_idle_strategy": (_i, (_v, _s)),
    "aeron_driver_context_set_term_buffer_length": (_i, (_v, _sz)),
    "aeron_driver_context_get_term_buffer_length": (_sz, (_v,)),
    "aeron_driver_context_set_ipc_term_buffer_length": (_i, (_v, _sz)),
    "aeron_driver_context_get_ipc_term_buffer_length": (_sz, (_v,)),
    "aeron_driver_context_set_mtu_length": (_i, (_v, _sz)),
    "aeron_driver_context_get_mtu_length": (_sz, (_v,)),
    "aeron_driver_context_set_ipc_mtu_length": (_i, (_v, _sz)),
    "aeron_driver_context_get_ipc_mtu_length": (_sz, (_v,)),
    "aeron_driver_context_set_driver_timeout_ms": (_i, (_v, _u64)),
    "aeron_driver_context_get_driver_timeout_ms": (_u64, (_v,)),
    "aeron_driver_context_set_client_liveness_timeout_ns": (_i, (_v, _u64)),
    "aeron_driver_context_set_term_buffer_sparse_file": (_i, (_v, _b)),
    "aeron_driver_context_set_conductor_cpu_affinity": (_i, (_v, _i32)),
    "aeron_driver_context_set_sender_cpu_affinity": (_i, (_v, _i32)),
    "aeron_driver_context_set_receiver_cpu_affinity": (_i, (_v, _i32)),
    "aeron_driver_context_set_print_configuration": (_i, (_v, _b)),
}


class AeronBindings:
    """The declared functions of one loaded library, as attributes.

    ``cdll`` is kept so that the library stays loaded for as long as the bindings live.
    ``missing`` lists the client functions this library does not export (fixg refuses to use
    a library where that list is not empty); ``has_driver_api`` says whether every function of
    :data:`DRIVER_FUNCTIONS` is exported.
    """

    cdll: ctypes.CDLL
    driver_cdll: ctypes.CDLL | None
    missing: tuple[str, ...]
    missing_driver: tuple[str, ...]

    def __init__(self, cdll: ctypes.CDLL, driver_cdll: ctypes.CDLL | None = None) -> None:
        self.cdll = cdll
        self.driver_cdll = driver_cdll
        libraries = (cdll,) if driver_cdll is None else (driver_cdll, cdll)
        self.missing = _bind_table(self, (cdll,), CLIENT_FUNCTIONS)
        self.missing_driver = _bind_table(self, libraries, DRIVER_FUNCTIONS)

    @property
    def has_driver_api(self) -> bool:
        return not self.missing_driver

    def errmsg(self) -> str:
        """``aeron_errmsg()`` of the calling thread, decoded and stripped."""
        raw: bytes | None = self.aeron_errmsg()
        return raw.decode("utf-8", "replace").strip() if raw else ""

    def version(self) -> str:
        """``aeron_version_full()``, e.g. ``'aeron version=1.53.0-SNAPSHOT commit=...'``."""
        raw: bytes | None = self.aeron_version_full()
        return raw.decode("utf-8", "replace") if raw else ""

    def version_tuple(self) -> tuple[int, int, int]:
        return (
            int(self.aeron_version_major()),
            int(self.aeron_version_minor()),
            int(self.aeron_version_patch()),
        )

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that were not bound: say which function is missing.
        raise AttributeError(f"libaeron function {name!r} is not available in this library")


def _bind_table(
    target: AeronBindings, libraries: Sequence[ctypes.CDLL], table: Mapping[str, Signature]
) -> tuple[str, ...]:
    missing: list[str] = []
    for name, (restype, argtypes) in table.items():
        for cdll in libraries:
            try:
                func = getattr(cdll, name)
            except AttributeError:
                continue
            func.restype = restype
            func.argtypes = list(argtypes)
            setattr(target, name, func)
            break
        else:
            missing.append(name)
    return tuple(missing)


def bind(cdll: ctypes.CDLL, driver_cdll: ctypes.CDLL | None = None) -> AeronBindings:
    """Declare every function fixg uses and return them as :class:`AeronBindings`.

    ``driver_cdll`` is ``libaeron_driver.so`` when the driver API lives in its own library (a
    source build); the pyaeron object exports both APIs from one file.
    """
    return AeronBindings(cdll, driver_cdll)
