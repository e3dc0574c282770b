"""What the session state machine tells its driver: small frozen dataclasses, past tense.

:meth:`fixg.fix.session.Session.next_events` returns them in the order they happened. Bytes to
send come separately from :meth:`~fixg.fix.session.Session.data_to_send`; a
:class:`DisconnectRequested` means: send what is pending, then close the connection.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from fixg.fix.message import Message

__all__ = [
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
]


class SessionState(enum.Enum):
    """Where a session is in its life."""

    DISCONNECTED = "disconnected"
    """No connection."""
    CONNECTED = "connected"
    """A connection, no Logon exchanged yet (an acceptor waits here for the Logon)."""
    LOGON_SENT = "logon_sent"
    """We sent a Logon and wait for the answer."""
    ACTIVE = "active"
    """Logged on both ways."""
    LOGOUT_SENT = "logout_sent"
    """We sent a Logout and wait for the answer."""
    DISCONNECTING = "disconnecting"
    """The session asked for the connection to be closed; input is ignored until it is."""


class Event:
    """Base of every session event."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class SessionStateChanged(Event):
    old: SessionState
    new: SessionState


@dataclass(frozen=True, slots=True)
class LogonReceived(Event):
    """The counterparty's Logon arrived and passed the checks."""

    heart_bt_int: int
    reset_seq_num: bool
    username: str | None
    message: Message = field(repr=False)


@dataclass(frozen=True, slots=True)
class LogonSent(Event):
    heart_bt_int: int
    reset_seq_num: bool


@dataclass(frozen=True, slots=True)
class LogonCompleted(Event):
    """Both Logons exchanged; the session is active."""

    next_sender_seq_num: int
    next_target_seq_num: int


@dataclass(frozen=True, slots=True)
class LogonRefused(Event):
    """A Logon was refused: by us (``by_us``) with a Logout carrying ``reason``, or by the
    counterparty, who answered our Logon with a Logout."""

    reason: str
    by_us: bool


@dataclass(frozen=True, slots=True)
class LogoutReceived(Event):
    text: str | None


@dataclass(frozen=True, slots=True)
class LogoutSent(Event):
    text: str | None


@dataclass(frozen=True, slots=True)
class HeartbeatSent(Event):
    test_req_id: str | None


@dataclass(frozen=True, slots=True)
class HeartbeatReceived(Event):
    """A Heartbeat arrived; ``test_req_id`` is set when it answers a TestRequest."""

    test_req_id: str | None


@dataclass(frozen=True, slots=True)
class TestRequestSent(Event):
    test_req_id: str


@dataclass(frozen=True, slots=True)
class GapDetected(Event):
    """An inbound MsgSeqNum was above the expected one."""

    expected: int
    received: int


@dataclass(frozen=True, slots=True)
class GapFilled(Event):
    """Every message we asked for has arrived (or was gap-filled); ``next_target_seq_num``
    is what we expect now."""

    next_target_seq_num: int


@dataclass(frozen=True, slots=True)
class ResendRequestSent(Event):
    begin: int
    end: int
    """0 (or 999999 before FIX.4.2) for 'everything after begin'."""


@dataclass(frozen=True, slots=True)
class ResendRequested(Event):
    """The counterparty asked us to resend ``begin`` .. ``end``."""

    begin: int
    end: int


@dataclass(frozen=True, slots=True)
class MessagesResent(Event):
    """How a ResendRequest was answered: ``resent`` application messages with PossDupFlag,
    ``gap_fills`` SequenceReset-GapFill messages covering the rest."""

    begin: int
    end: int
    resent: int
    gap_fills: int


@dataclass(frozen=True, slots=True)
class SequenceResetReceived(Event):
    new_seq_no: int
    gap_fill: bool


@dataclass(frozen=True, slots=True)
class SequenceNumbersReset(Event):
    """Both sequence numbers went back to 1 (``reason``: "logon", "logout", "disconnect",
    "schedule", "request")."""

    reason: str


@dataclass(frozen=True, slots=True)
class MessageReceived(Event):
    """An application message, delivered in sequence order exactly once."""

    message: Message
    poss_dup: bool


@dataclass(frozen=True, slots=True)
class RejectSent(Event):
    """We sent a session-level Reject(3)."""

    ref_seq_num: int
    ref_msg_type: str | None
    reason: int | None
    ref_tag_id: int | None
    text: str


@dataclass(frozen=True, slots=True)
class RejectReceived(Event):
    """The counterparty sent a session-level Reject(3)."""

    ref_seq_num: int | None
    reason: int | None
    ref_tag_id: int | None
    text: str | None
    message: Message = field(repr=False)


@dataclass(frozen=True, slots=True)
class BusinessRejectSent(Event):
    """We sent a BusinessMessageReject(j)."""

    ref_seq_num: int
    ref_msg_type: str
    reason: int
    text: str


@dataclass(frozen=True, slots=True)
class GarbledMessageIgnored(Event):
    """A frame that was not a well-formed FIX message was dropped, as the spec says."""

    reason: str


@dataclass(frozen=True, slots=True)
class DuplicateIgnored(Event):
    """A PossDupFlag=Y message below the expected MsgSeqNum was dropped."""

    seq_num: int
    msg_type: str


@dataclass(frozen=True, slots=True)
class DisconnectRequested(Event):
    """Send what is pending, then close the connection."""

    reason: str


@dataclass(frozen=True, slots=True)
class Disconnected(Event):
    """The driver reported the connection closed."""

    reason: str
