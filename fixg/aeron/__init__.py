"""Aeron through ctypes: library discovery, raw bindings and Pythonic wrappers.

Nothing is loaded at import time: the library is found on first use (see
:mod:`fixg.aeron.loader`). ``ctypes_bindings`` holds the raw C declarations; this package
re-exports the wrappers most code needs.
"""

from __future__ import annotations

from fixg.aeron.client import (
    Action,
    BackpressurePolicy,
    BufferClaim,
    Client,
    Counter,
    CounterInfo,
    CountersReader,
    DirectExclusivePublication,
    ExclusivePublication,
    Header,
    HeaderValues,
    Image,
    ImageInfo,
    OfferFailedError,
    OfferResult,
    Publication,
    PublicationConstants,
    ResourceClosedError,
    Subscription,
    SubscriptionConstants,
    TermHandler,
    default_aeron_dir,
    iter_frames,
)
from fixg.aeron._log import direct_supported
from fixg.aeron.cnc import is_driver_alive, read_cnc
from fixg.aeron.idle import IdleStrategy, idle_strategy
from fixg.aeron.loader import LibraryInfo, find_library, load_library
from fixg.aeron.properties import load_properties_file, parse_properties, validate_properties

__all__ = [
    "Action",
    "BackpressurePolicy",
    "BufferClaim",
    "Client",
    "Counter",
    "CounterInfo",
    "CountersReader",
    "ExclusivePublication",
    "DirectExclusivePublication",
    "Header",
    "HeaderValues",
    "IdleStrategy",
    "Image",
    "ImageInfo",
    "LibraryInfo",
    "OfferFailedError",
    "OfferResult",
    "Publication",
    "PublicationConstants",
    "ResourceClosedError",
    "Subscription",
    "SubscriptionConstants",
    "TermHandler",
    "default_aeron_dir",
    "direct_supported",
    "find_library",
    "idle_strategy",
    "is_driver_alive",
    "iter_frames",
    "load_library",
    "load_properties_file",
    "parse_properties",
    "read_cnc",
    "validate_properties",
]
