"""fixg: a FIX gateway for Python in the style of Artio.

The public API is re-exported here, once; ``tests/test_exports.py`` checks ``__all__``.
"""

from __future__ import annotations

import logging

from fixg.errors import (
    AeronError,
    AeronLibraryNotFoundError,
    BodyLengthError,
    ChecksumError,
    CodecError,
    ConfigError,
    DriverError,
    FieldError,
    FixError,
    FixTimeoutError,
    FrameTooLargeError,
    GarbledMessageError,
    GroupError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    SessionError,
    StoreError,
    TransportError,
    ValueFormatError,
)

from fixg.config import Config, load_config, loads_config
from fixg.fix.codec import Encoder, decode, encode, encode_message
from fixg.fix.dictionary import DataDictionary, load_builtin
from fixg.fix.framer import FrameGarbled, Framer
from fixg.fix.events import (
    BusinessRejectSent,
    DisconnectRequested,
    Disconnected,
    DuplicateIgnored,
    Event,
    GapDetected,
    GapFilled,
    GarbledMessageIgnored,
    HeartbeatReceived,
    HeartbeatSent,
    LogonCompleted,
    LogonReceived,
    LogonRefused,
    LogonSent,
    LogoutReceived,
    LogoutSent,
    MessageReceived,
    MessagesResent,
    RejectReceived,
    RejectSent,
    ResendRequestSent,
    ResendRequested,
    SequenceNumbersReset,
    SequenceResetReceived,
    SessionState,
    SessionStateChanged,
    TestRequestSent,
)
from fixg.fix.message import Group, Message
from fixg.fix.session import Session
from fixg.fix.settings import SessionKey, SessionSettings
from fixg.fix.validation import (
    SessionRejectReason,
    ValidationFailure,
    ValidationOptions,
    validate,
)
from fixg.gateway import Acceptor, EventQueue, Initiator, SessionConnection
from fixg.gateway.engine import Gateway
from fixg.client import CommandError, FixClient, GatewayDisconnectedError, SendError
from fixg.store import Direction, MemoryStore, MemoryStoreFactory, MessageStore
from fixg.store.journal import JournalReader, JournalStore, JournalStoreFactory

__version__ = "0.1.0"

logging.getLogger("fixg").addHandler(logging.NullHandler())

__all__ = [
    "__version__",
    # configuration
    "Config",
    "load_config",
    "loads_config",
    "SessionKey",
    "SessionSettings",
    # codec
    "Message",
    "Group",
    "decode",
    "encode",
    "encode_message",
    "Encoder",
    "Framer",
    "FrameGarbled",
    # dictionaries and validation
    "DataDictionary",
    "load_builtin",
    "validate",
    "ValidationOptions",
    "ValidationFailure",
    "SessionRejectReason",
    # the session layer
    "Session",
    "SessionState",
    "Event",
    "SessionStateChanged",
    "LogonReceived",
    "LogonSent",
    "LogonCompleted",
    "LogonRefused",
    "LogoutReceived",
    "LogoutSent",
    "HeartbeatSent",
    "HeartbeatReceived",
    "TestRequestSent",
    "GapDetected",
    "GapFilled",
    "ResendRequestSent",
    "ResendRequested",
    "MessagesResent",
    "SequenceResetReceived",
    "SequenceNumbersReset",
    "MessageReceived",
    "RejectSent",
    "RejectReceived",
    "BusinessRejectSent",
    "GarbledMessageIgnored",
    "DuplicateIgnored",
    "DisconnectRequested",
    "Disconnected",
    # the gateway and its clients
    "Gateway",
    "FixClient",
    "CommandError",
    "SendError",
    "GatewayDisconnectedError",
    # connections
    "Acceptor",
    "Initiator",
    "SessionConnection",
    "EventQueue",
    # message stores
    "Direction",
    "MessageStore",
    "MemoryStore",
    "MemoryStoreFactory",
    "JournalStore",
    "JournalStoreFactory",
    "JournalReader",
    # errors
    "AeronError",
    "AeronLibraryNotFoundError",
    "BodyLengthError",
    "ChecksumError",
    "CodecError",
    "ConfigError",
    "DriverError",
    "FieldError",
    "FixError",
    "FixTimeoutError",
    "FrameTooLargeError",
    "GarbledMessageError",
    "GroupError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "SessionError",
    "StoreError",
    "TransportError",
    "ValueFormatError",
]
