"""The FIX session protocol (FIX.4.0 to FIX.4.4 and FIXT.1.1) as a sans-IO state machine.

A :class:`Session` is driven with bytes (or whole frames) and the current time, and gives back
bytes to send, events and the next instant it wants to be polled at::

    session.connection_made(now)
    session.logon(now)                      # initiator only
    session.receive_data(data, now)         # or receive_frame(frame, now)
    session.poll(now)                       # at next_deadline(), for heartbeats and time-outs
    session.send("D", [(11, b"ord-1"), ...], now)
    for frame in session.data_to_send(): ...
    for event in session.next_events(): ...
    session.connection_lost(now)

No socket, clock or asyncio in here. Every state change lives in :data:`_TRANSITIONS`, keyed by
(state, input); an input that the table does not list for the current state raises
:class:`~fixg.errors.LocalProtocolError`.
"""

from __future__ import annotations

import calendar
import enum
import logging
import time
from operator import itemgetter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from fixg.errors import (
    CodecError,
    FieldError,
    GarbledMessageError,
    GroupError,
    LocalProtocolError,
    ValueFormatError,
)
from fixg.fix import events as ev
from fixg.fix.codec import Encoder, decode, encode, plain_body_pattern
from fixg.fix.dictionary import DataDictionary
from fixg.fix.events import SessionState
from fixg.fix.framer import Framer, FrameGarbled
from fixg.fix.message import MalformedGroupError, Message
from fixg.fix.schedule import SessionSchedule
from fixg.fix.settings import SessionKey, SessionSettings
from fixg.fix.validation import REASON_TEXT, ValidationFailure, ValidationOptions
from fixg.fix.validation import validate as _validate_message
from fixg.store.base import Direction, MessageStore

__all__ = [
    "Session",
    "LogonRequest",
    "Authenticator",
    "ADMIN_MSG_TYPES",
    "REJECT_REASON_TEXT",
    "make_validator",
    "refusal_logout",
    "parse_sending_time",
]

log = logging.getLogger(__name__)

SOH: Final = b"\x01"

#: Session-level (administrative) message types.
ADMIN_MSG_TYPES: Final = frozenset({"0", "1", "2", "3", "4", "5", "A"})

#: SessionRejectReason(373) -> the text QuickFIX puts in Text(58).
REJECT_REASON_TEXT: Final[Mapping[int, str]] = REASON_TEXT

# Tags that belong in the standard header; fields with these tags given to send() are moved
# there so that a counterparty checking field order accepts the message.
_HEADER_TAGS: Final = frozenset(
    {115, 116, 128, 129, 142, 143, 144, 145, 50, 57, 90, 91, 97, 122, 212, 213, 347, 369, 370,
     627, 628, 629, 630, 1128, 1129, 1156}
)  # fmt: skip

# Tags a resend rewrites.
_RESEND_DROP: Final = frozenset({8, 9, 10, 43, 52, 122})

_BUSINESS_REJECT_UNSUPPORTED: Final = 3


@dataclass(frozen=True, slots=True)
class LogonRequest:
    """What an authentication hook sees of a counterparty's Logon."""

    key: SessionKey
    username: str | None
    password: str | None
    message: Message


#: Decides on a Logon: None accepts it, a string refuses it with that text in the Logout.
Authenticator = Callable[[LogonRequest], str | None]


class _Input(enum.IntEnum):
    # IntEnum: hashed as ints in C, which the per-message table lookup relies on.
    CONNECTION_MADE = 1
    SEND_LOGON = 2
    LOGON_RECEIVED = 3
    LOGOUT_RECEIVED = 4
    MESSAGE_RECEIVED = 5
    SEND_MESSAGE = 6
    SEND_LOGOUT = 7
    SEND_TEST_REQUEST = 8
    SEND_SEQUENCE_RESET = 9
    TIMER = 10
    CONNECTION_LOST = 11


class _Outcome(enum.IntEnum):
    OK = 1
    LOGGED_ON = 2
    LOGOUT_SENT = 3
    DISCONNECT = 4


_S = SessionState
_I = _Input
_O = _Outcome

#: The one table of transitions: (state, input) -> (handler, outcome -> next state).
#: A handler does the work of the input and says how it went; the table alone decides where
#: the session goes next. Anything not listed here is refused.
_TRANSITIONS: Final[Mapping[tuple[SessionState, _Input], tuple[str, Mapping[_Outcome, SessionState]]]] = {
    # -- no connection
    (_S.DISCONNECTED, _I.CONNECTION_MADE): ("_on_connection_made", {_O.OK: _S.CONNECTED}),
    (_S.DISCONNECTED, _I.SEND_MESSAGE): ("_on_send_offline", {_O.OK: _S.DISCONNECTED}),
    (_S.DISCONNECTED, _I.TIMER): ("_on_idle_timer", {_O.OK: _S.DISCONNECTED}),
    (_S.DISCONNECTED, _I.CONNECTION_LOST): ("_on_nothing", {_O.OK: _S.DISCONNECTED}),
    (_S.DISCONNECTED, _I.SEND_LOGOUT): ("_on_nothing", {_O.OK: _S.DISCONNECTED}),
    # -- connected, no Logon yet
    (_S.CONNECTED, _I.SEND_LOGON): (
        "_on_send_logon", {_O.OK: _S.LOGON_SENT, _O.DISCONNECT: _S.DISCONNECTING}),
    (_S.CONNECTED, _I.LOGON_RECEIVED): (
        "_on_logon_as_acceptor", {_O.LOGGED_ON: _S.ACTIVE, _O.DISCONNECT: _S.DISCONNECTING}),
    (_S.CONNECTED, _I.LOGOUT_RECEIVED): ("_on_first_not_logon", {_O.DISCONNECT: _S.DISCONNECTING}),
    (_S.CONNECTED, _I.MESSAGE_RECEIVED): ("_on_first_not_logon", {_O.DISCONNECT: _S.DISCONNECTING}),
    (_S.CONNECTED, _I.SEND_MESSAGE): ("_on_send_offline", {_O.OK: _S.CONNECTED}),
    (_S.CONNECTED, _I.SEND_LOGOUT): ("_on_abandon", {_O.DISCONNECT: _S.DISCONNECTING}),
    (_S.CONNECTED, _I.TIMER): (
        "_on_logon_timer", {_O.OK: _S.CONNECTED, _O.DISCONNECT: _S.DISCONNECTING}),
    (_S.CONNECTED, _I.CONNECTION_LOST): ("_on_connection_lost", {_O.OK: _S.DISCONNECTED}),
    # -- we sent a Logon
    (_S.LOGON_SENT, _I.LOGON_RECEIVED): (
        "_on_logon_answered", {_O.LOGGED_ON: _S.ACTIVE, _O.DISCONNECT: _S.DISCONNECTING}),
    (_S.LOGON_SENT, _I.LOGOUT_RECEIVED): ("_on_logon_refused", {_O.DISCONNECT: _S.DISCONNECTING}),
    (_S.LOGON_SENT, _I.MESSAGE_RECEIVED): ("_on_first_not_logon", {_O.DISCONNECT: _S.DISCONNECTING}),
    (_S.LOGON_SENT, _I.SEND_MESSAGE): ("_on_send_offline", {_O.OK: _S.LOGON_SENT}),
    (_S.LOGON_SENT, _I.SEND_LOGOUT): ("_on_abandon", {_O.DISCONNECT: _S.DISCONNECTING}),
    (_S.LOGON_SENT, _I.TIMER): (
        "_on_logon_timer", {_O.OK: _S.LOGON_SENT, _O.DISCONNECT: _S.DISCONNECTING}),
    (_S.LOGON_SENT, _I.CONNECTION_LOST): ("_on_connection_lost", {_O.OK: _S.DISCONNECTED}),
    # -- logged on
    (_S.ACTIVE, _I.MESSAGE_RECEIVED): (
        "_on_message",
        {_O.OK: _S.ACTIVE, _O.LOGOUT_SENT: _S.LOGOUT_SENT, _O.DISCONNECT: _S.DISCONNECTING}),
    (_S.ACTIVE, _I.LOGON_RECEIVED): (
        "_on_message",
        {_O.OK: _S.ACTIVE, _O.LOGOUT_SENT: _S.LOGOUT_SENT, _O.DISCONNECT: _S.DISCONNECTING}),
    (_S.ACTIVE, _I.LOGOUT_RECEIVED): ("_on_logout_received", {_O.DISCONNECT: _S.DISCONNECTING}),
    (_S.ACTIVE, _I.SEND_MESSAGE): ("_on_send_live", {_O.OK: _S.ACTIVE}),
    (_S.ACTIVE, _I.SEND_LOGOUT): ("_on_send_logout", {_O.LOGOUT_SENT: _S.LOGOUT_SENT}),
    (_S.ACTIVE, _I.SEND_TEST_REQUEST): ("_on_send_test_request", {_O.OK: _S.ACTIVE}),
    (_S.ACTIVE, _I.SEND_SEQUENCE_RESET): ("_on_send_sequence_reset", {_O.OK: _S.ACTIVE}),
    (_S.ACTIVE, _I.TIMER): (
        "_on_active_timer",
        {_O.OK: _S.ACTIVE, _O.LOGOUT_SENT: _S.LOGOUT_SENT, _O.DISCONNECT: _S.DISCONNECTING}),
    (_S.ACTIVE, _I.CONNECTION_LOST): ("_on_connection_lost", {_O.OK: _S.DISCONNECTED}),
    # -- we sent a Logout
    (_S.LOGOUT_SENT, _I.MESSAGE_RECEIVED): (
        "_on_message",
        {_O.OK: _S.LOGOUT_SENT, _O.LOGOUT_SENT: _S.LOGOUT_SENT, _O.DISCONNECT: _S.DISCONNECTING}),
    (_S.LOGOUT_SENT, _I.LOGON_RECEIVED): (
        "_on_message",
        {_O.OK: _S.LOGOUT_SENT, _O.LOGOUT_SENT: _S.LOGOUT_SENT, _O.DISCONNECT: _S.DISCONNECTING}),
    (_S.LOGOUT_SENT, _I.LOGOUT_RECEIVED): ("_on_logout_answered", {_O.DISCONNECT: _S.DISCONNECTING}),
    (_S.LOGOUT_SENT, _I.SEND_MESSAGE): ("_on_send_offline", {_O.OK: _S.LOGOUT_SENT}),
    (_S.LOGOUT_SENT, _I.SEND_LOGOUT): ("_on_nothing", {_O.OK: _S.LOGOUT_SENT}),
    (_S.LOGOUT_SENT, _I.TIMER): (
        "_on_logout_timer", {_O.OK: _S.LOGOUT_SENT, _O.DISCONNECT: _S.DISCONNECTING}),
    (_S.LOGOUT_SENT, _I.CONNECTION_LOST): ("_on_connection_lost", {_O.OK: _S.DISCONNECTED}),
    # -- waiting for the driver to close the connection: input is ignored
    (_S.DISCONNECTING, _I.MESSAGE_RECEIVED): ("_on_nothing", {_O.OK: _S.DISCONNECTING}),
    (_S.DISCONNECTING, _I.LOGON_RECEIVED): ("_on_nothing", {_O.OK: _S.DISCONNECTING}),
    (_S.DISCONNECTING, _I.LOGOUT_RECEIVED): ("_on_nothing", {_O.OK: _S.DISCONNECTING}),
    (_S.DISCONNECTING, _I.SEND_MESSAGE): ("_on_send_offline", {_O.OK: _S.DISCONNECTING}),
    (_S.DISCONNECTING, _I.SEND_LOGOUT): ("_on_nothing", {_O.OK: _S.DISCONNECTING}),
    (_S.DISCONNECTING, _I.TIMER): ("_on_nothing", {_O.OK: _S.DISCONNECTING}),
    (_S.DISCONNECTING, _I.CONNECTION_LOST): ("_on_connection_lost", {_O.OK: _S.DISCONNECTED}),
}  # fmt: skip


# The table by state, for the per-message lookup: state -> {input: (handler, outcomes)}.
_ROWS: Final[Mapping[SessionState, Mapping[_Input, tuple[str, Mapping[_Outcome, SessionState]]]]] = {
    state: {which: entry for (st, which), entry in _TRANSITIONS.items() if st is state}
    for state in SessionState
}


# ---------------------------------------------------------------------- time formats

_SECOND_CACHE: dict[bytes, int] = {}


def parse_sending_time(value: bytes) -> float:
    """A UTCTimestamp (``YYYYMMDD-HH:MM:SS[.fff...]``) as UTC epoch seconds."""
    head = value[:17]
    seconds = _SECOND_CACHE.get(head)
    if seconds is None:
        seconds = _parse_whole_seconds(head, value)
        if len(_SECOND_CACHE) > 256:
            _SECOND_CACHE.clear()
        _SECOND_CACHE[head] = seconds
    if len(value) > 17:
        frac = value[18:]
        if value[17] != 46 or not frac.isdigit():  # '.'
            raise ValueError(f"not a UTCTimestamp: {value!r}")
        return seconds + int(frac) / float(10 ** len(frac))
    return float(seconds)


def _parse_whole_seconds(head: bytes, value: bytes) -> int:
    if (
        len(head) < 17
        or head[8] != 45  # '-'
        or head[11] != 58  # ':'
        or head[14] != 58
    ):
        raise ValueError(f"not a UTCTimestamp: {value!r}")
    day = head[:8]
    hh, mm, ss = head[9:11], head[12:14], head[15:17]
    if not (day.isdigit() and hh.isdigit() and mm.isdigit() and ss.isdigit()):
        raise ValueError(f"not a UTCTimestamp: {value!r}")
    base = calendar.timegm((int(day[:4]), int(day[4:6]), int(day[6:8]), 0, 0, 0))
    return base + int(hh) * 3600 + int(mm) * 60 + int(ss)


class _Clock:
    """Formats SendingTime from ``now``, caching the whole-second part."""

    __slots__ = ("_second", "_prefix", "_precision")

    def __init__(self, precision: int) -> None:
        self._second = -1
        self._prefix = b""
        self._precision = precision

    def format(self, now: float) -> bytes:
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second)).encode()
        precision = self._precision
        if precision == 0:
            return self._prefix
        frac = int((now - second) * 10**precision)
        if precision == 3:
            return b"%b.%03d" % (self._prefix, frac)
        if precision == 6:
            return b"%b.%06d" % (self._prefix, frac)
        return b"%b.%09d" % (self._prefix, frac)


# ---------------------------------------------------------------------- the session


class PreEncodedBody(bytes):
    """Body fields already written the way the session's encoder writes them
    (``\x01tag=value...``): what :meth:`Session.pre_encode` returns for :meth:`Session.send`."""

    __slots__ = ()


class Session:
    """One FIX session: sequence numbers, heartbeats, resends, logon and logout.

    ``store`` keeps the sequence numbers and the messages sent (for resends). ``dictionary``
    and ``validate``, when given, check each inbound message (``validate(message)`` returns
    None or a failure with ``session_reject_reason``, ``ref_tag_id``, ``text`` and
    ``business_reject``); ``authenticate`` decides on each Logon received.
    """

    def __init__(
        self,
        settings: SessionSettings,
        store: MessageStore,
        *,
        dictionary: DataDictionary | None = None,
        validate: Callable[[Message], ValidationFailure | None] | None = None,
        authenticate: Authenticator | None = None,
        schedule: SessionSchedule | None = None,
    ) -> None:
        self.settings = settings
        self.key = settings.key
        self.store = store
        self._dictionary = dictionary
        self._validate = validate
        self._authenticate = authenticate
        self.schedule = schedule if schedule is not None else SessionSchedule.from_settings(settings)
        self._state = SessionState.DISCONNECTED
        self._row = _ROWS[SessionState.DISCONNECTED]
        self._out: list[bytes] = []
        self._events: list[ev.Event] = []
        self._framer = Framer(settings.max_message_size)
        self._clock = _Clock(settings.timestamp_precision)
        self._encoder = Encoder(
            settings.begin_string,
            settings.sender_comp_id,
            settings.target_comp_id,
            header=[
                (tag, text)
                for tag, text in (
                    (50, settings.sender_sub_id),
                    (142, settings.sender_location_id),
                    (57, settings.target_sub_id),
                    (143, settings.target_location_id),
                )
                if text
            ],
        )
        self._plain_body: Callable[[bytes], object] | None = None
        self._begin_string_bytes = settings.begin_string.encode()
        self._sender = settings.sender_comp_id.encode()
        self._target = settings.target_comp_id.encode()
        self._fix42_plus = settings.begin_string >= "FIX.4.2"
        self._is_fixt = settings.begin_string == "FIXT.1.1"
        self._persist = settings.persist_messages
        self._heart_bt_int = settings.heart_bt_int
        self._last_sent = 0.0
        self._last_received = 0.0
        self._test_requests = 0
        self._test_req_counter = 0
        self._last_test_req_id = ""
        self._logon_deadline: float | None = None
        self._logout_deadline: float | None = None
        self._sent_reset = False
        self._queue: dict[int, tuple[Message, bytes, bool]] = {}
        self._resend_range: tuple[int, int, int] | None = None  # begin, chunk end, gap end
        self._period_end: float | None = None
        self.peer_default_appl_ver_id: str | None = None
        self.logout_reason: str | None = None

    # ------------------------------------------------------------------ properties

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def is_logged_on(self) -> bool:
        return self._state is SessionState.ACTIVE

    @property
    def heart_bt_int(self) -> int:
        """The HeartBtInt in force (the initiator's, for an acceptor)."""
        return self._heart_bt_int

    @property
    def next_sender_seq_num(self) -> int:
        return self.store.next_sender_seq_num

    @property
    def next_target_seq_num(self) -> int:
        return self.store.next_target_seq_num

    @property
    def resend_range(self) -> tuple[int, int] | None:
        """(begin, end) of the gap we asked to be resent, while it is still open."""
        if self._resend_range is None:
            return None
        return self._resend_range[0], self._resend_range[2]

    # ------------------------------------------------------------------ outputs

    def data_to_send(self) -> list[bytes]:
        """Frames to write, in order; each is returned once."""
        out = self._out
        if out:
            self._out = []
        return out

    def next_events(self) -> list[ev.Event]:
        """Events since the last call, in order."""
        events = self._events
        if events:
            self._events = []
        return events

    def next_deadline(self) -> float | None:
        """When :meth:`poll` should be called next (None: only on input)."""
        state = self._state
        if state is SessionState.ACTIVE:
            hb = self._heart_bt_int
            deadline = self._schedule_deadline()
            if hb > 0:
                s = self.settings
                candidates = [
                    self._last_sent + hb,
                    self._last_received + hb * s.heartbeat_timeout_multiplier,
                ]
                if self._test_requests == 0:
                    candidates.append(
                        self._last_received + hb * (1.0 + s.test_request_delay_multiplier)
                    )
                if deadline is not None:
                    candidates.append(deadline)
                return min(candidates)
            return deadline
        if state is SessionState.CONNECTED or state is SessionState.LOGON_SENT:
            return self._logon_deadline
        if state is SessionState.LOGOUT_SENT:
            return self._logout_deadline
        return None

    # ------------------------------------------------------------------ inputs

    def connection_made(self, now: float) -> None:
        """A transport is up. An acceptor then waits (at most LogonTimeout) for a Logon."""
        self._handle(_Input.CONNECTION_MADE, now, None)

    def logon(self, now: float, *, reset_seq_num: bool = False) -> None:
        """Send our Logon (initiator). ``reset_seq_num`` asks for ResetSeqNumFlag(141)=Y even
        when ResetOnLogon is off."""
        self._handle(_Input.SEND_LOGON, now, reset_seq_num)

    def logout(self, now: float, text: str | None = None) -> None:
        """Start the Logout handshake (or drop a connection that is not logged on yet)."""
        self._handle(_Input.SEND_LOGOUT, now, text)

    def connection_lost(self, now: float, reason: str = "connection closed") -> None:
        """The transport is gone (whoever closed it)."""
        self._handle(_Input.CONNECTION_LOST, now, reason)

    def poll(self, now: float) -> None:
        """Let time-driven rules act: heartbeats, TestRequest, time-outs, schedule."""
        self._handle(_Input.TIMER, now, None)

    def receive_data(self, data: bytes, now: float) -> None:
        """Raw bytes from the transport; complete frames are processed in order."""
        framer = self._framer
        framer.feed(data)
        for item in framer:
            if isinstance(item, FrameGarbled):
                self.receive_garbled(str(item.error), now)
            else:
                self.receive_frame(item, now, verified=True)

    def receive_garbled(self, reason: str, now: float) -> None:
        """The driver's framer found bytes that are not a FIX frame: ignored, as the spec
        says (no sequence number is consumed)."""
        if self._state is not SessionState.DISCONNECTING:
            self._garbled(reason)

    def receive_frame(self, frame: bytes, now: float, *, verified: bool = False) -> None:
        """One complete frame (BeginString to CheckSum). ``verified``: a
        :class:`~fixg.fix.framer.Framer` already checked its BodyLength and CheckSum."""
        if self._state is SessionState.DISCONNECTING:
            return
        try:
            msg = decode(
                frame,
                self._dictionary,
                verify=not verified and self.settings.validate_length_and_checksum,
            )
        except GarbledMessageError as exc:
            self._garbled(str(exc))
            return
        except CodecError as exc:
            self._undecodable(frame, exc, now)
            return
        msg_type = msg.get(35)
        if msg_type == b"A":
            which = _Input.LOGON_RECEIVED
        elif msg_type == b"5":
            which = _Input.LOGOUT_RECEIVED
        else:
            which = _Input.MESSAGE_RECEIVED
        self._handle(which, now, (msg, frame))

    def pre_encode(self, body: bytes) -> PreEncodedBody | None:
        """``body`` (``tag=value<SOH>...``) as a :class:`PreEncodedBody` for :meth:`send`
        when it can be written as it is (tags below 1000 without leading zeros, none of them
        a header, data, data-length or 8/9/10/35 tag, no empty value); else None (give the
        fields as pairs). The frame sent is the same either way."""
        match = self._plain_body
        if match is None:
            match = self._plain_body = plain_body_pattern(self._encoder.dictionary, _HEADER_TAGS).fullmatch
        if match(body) is None:
            return None
        return PreEncodedBody(b"\x01" + body[:-1])

    def send(self, msg_type: str, fields: Iterable[tuple[int, Any]] | PreEncodedBody, now: float) -> int:
        """Send an application message; returns the MsgSeqNum it carries.

        While the session is not logged on the message is stored with its sequence number and
        not transmitted; the counterparty gets it by ResendRequest after the next Logon.
        ``fields`` are ``(tag, value)`` pairs for the body (header fields such as
        OnBehalfOfCompID(115) or ApplVerID(1128) are moved to the header), or a body from
        :meth:`pre_encode`.
        """
        if msg_type in ADMIN_MSG_TYPES:
            raise LocalProtocolError(
                f"MsgType {msg_type} is a session-level message; the session sends those itself"
            )
        seq = self.store.next_sender_seq_num
        self._handle(_Input.SEND_MESSAGE, now, (msg_type, fields))
        return seq

    def send_message(self, message: Message, now: float) -> int:
        """Send an application :class:`Message` (its header fields are replaced)."""
        fields = [(t, v) for t, v in message.fields if t not in (8, 9, 10, 34, 35, 49, 52, 56)]
        return self.send(message.msg_type, fields, now)

    def test_request(self, now: float, test_req_id: str | None = None) -> str:
        """Send a TestRequest(1) now; returns its TestReqID(112)."""
        self._handle(_Input.SEND_TEST_REQUEST, now, test_req_id)
        return self._last_test_req_id

    def sequence_reset(self, now: float, new_seq_no: int) -> None:
        """Send a SequenceReset(4) in Reset mode: the counterparty's expected MsgSeqNum (and
        our next one) becomes ``new_seq_no``, which must not be lower than our next."""
        self._handle(_Input.SEND_SEQUENCE_RESET, now, new_seq_no)

    def reset_sequence_numbers(self, now: float) -> None:
        """Start a new sequence index while not logged on (both sides back to 1)."""
        if self._state not in (SessionState.DISCONNECTED, SessionState.CONNECTED):
            raise LocalProtocolError(
                "sequence numbers can be reset only before Logon; log on with reset_seq_num"
            )
        self._reset_store(now, "request")

    # ------------------------------------------------------------------ the machine

    def _handle(self, which: _Input, now: float, arg: Any) -> None:
        state = self._state
        entry = self._row.get(which)
        if entry is None:
            raise LocalProtocolError(f"{which.name.lower()} is not allowed in state {state.value}")
        handler, outcomes = entry
        outcome: _Outcome = getattr(self, handler)(now, arg)
        new_state = outcomes.get(outcome)
        if new_state is None:
            raise LocalProtocolError(
                f"{handler} ended {outcome.name.lower()}, which the table does not allow from "
                f"{state.value} on {which.name.lower()}"
            )
        if new_state is not state:
            self._state = new_state
            self._row = _ROWS[new_state]
            self._events.append(ev.SessionStateChanged(state, new_state))
            if log.isEnabledFor(logging.INFO):
                log.info("%s: %s -> %s", self.key, state.value, new_state.value)

    # ------------------------------------------------------------------ handlers

    def _on_nothing(self, now: float, arg: Any) -> _Outcome:
        return _Outcome.OK

    def _on_connection_made(self, now: float, arg: None) -> _Outcome:
        self._framer = Framer(self.settings.max_message_size)
        self._last_received = now
        self._last_sent = now
        self._test_requests = 0
        self._queue.clear()
        self._resend_range = None
        self._sent_reset = False
        self._logon_deadline = now + self.settings.logon_timeout
        self._logout_deadline = None
        self.logout_reason = None
        return _Outcome.OK

    def _on_connection_lost(self, now: float, reason: str) -> _Outcome:
        self._events.append(ev.Disconnected(reason))
        self._queue.clear()
        self._resend_range = None
        self._logon_deadline = None
        self._logout_deadline = None
        if self.settings.reset_on_disconnect:
            self._reset_store(now, "disconnect")
        return _Outcome.OK

    def _on_idle_timer(self, now: float, arg: None) -> _Outcome:
        self._check_period(now)
        return _Outcome.OK

    def _on_abandon(self, now: float, text: str | None) -> _Outcome:
        return self._disconnect(text or "logout requested before logon completed")

    def _on_send_offline(
        self, now: float, arg: tuple[str, Iterable[tuple[int, Any]] | PreEncodedBody]
    ) -> _Outcome:
        msg_type, fields = arg
        self._build_and_store(msg_type, fields, now)
        return _Outcome.OK

    def _on_send_live(
        self, now: float, arg: tuple[str, Iterable[tuple[int, Any]] | PreEncodedBody]
    ) -> _Outcome:
        msg_type, fields = arg
        frame = self._build_and_store(msg_type, fields, now)
        self._out.append(frame)
        self._last_sent = now
        return _Outcome.OK

    # -- logon

    def _on_send_logon(self, now: float, reset_seq_num: bool) -> _Outcome:
        if not self.settings.is_initiator:
            raise LocalProtocolError("an acceptor does not send the first Logon")
        if not self.schedule.is_session_time(now):
            return self._disconnect("not within session time")
        self._check_period(now)
        if self.settings.refresh_on_logon:
            self.store.refresh()
        reset = reset_seq_num or self.settings.reset_on_logon
        if reset:
            self._reset_store(now, "logon")
        self._sent_reset = reset
        self._send_logon_message(now, reset)
        self._events.append(ev.LogonSent(self._heart_bt_int, reset))
        self._logon_deadline = now + self.settings.logon_timeout
        return _Outcome.OK

    def _send_logon_message(self, now: float, reset: bool) -> None:
        fields: list[tuple[int, Any]] = [(98, b"0"), (108, b"%d" % self._heart_bt_int)]
        if reset:
            fields.append((141, b"Y"))
        s = self.settings
        if s.username is not None and s.is_initiator:
            fields.append((553, s.username))
        if s.password is not None and s.is_initiator:
            fields.append((554, s.password))
        if self._is_fixt and s.default_appl_ver_id is not None:
            fields.append((1137, s.default_appl_ver_id))
        self._send_admin("A", fields, now)

    def _logon_checks(self, msg: Message, now: float) -> str | None:
        """Why a Logon is refused, or None."""
        if msg.get(8) != self._begin_string_bytes:
            return "Incorrect BeginString"
        if msg.get(49) != self._target or msg.get(56) != self._sender:
            return "CompID problem"
        if not self.schedule.is_session_time(now):
            return "Logon attempt not within session time"
        if self.settings.check_latency and not self._sending_time_ok(msg, now):
            return "SendingTime accuracy problem"
        encrypt = msg.get(98)
        if encrypt is None:
            return "EncryptMethod(98) missing"
        if encrypt != b"0":
            return "Unsupported EncryptMethod"
        hbi = msg.get(108)
        if hbi is None or not hbi.isdigit():
            return "HeartBtInt(108) missing or invalid"
        if self._is_fixt:
            appl_ver = msg.get(1137)
            if appl_ver is None:
                return "DefaultApplVerID(1137) missing"
            self.peer_default_appl_ver_id = appl_ver.decode()
        seq = msg.get(34)
        if seq is None or not seq.isdigit():
            return "MsgSeqNum(34) missing or invalid"
        return None

    def _on_logon_as_acceptor(self, now: float, arg: tuple[Message, bytes]) -> _Outcome:
        msg, frame = arg
        self._last_received = now
        reason = self._logon_checks(msg, now)
        if reason is not None:
            return self._refuse_logon(now, reason)
        if self._authenticate is not None:
            username = msg.get(553)
            password = msg.get(554)
            refusal = self._authenticate(
                LogonRequest(
                    self.key,
                    None if username is None else username.decode(),
                    None if password is None else password.decode(),
                    msg,
                )
            )
            if refusal is not None:
                return self._refuse_logon(now, refusal)
        self._check_period(now)
        if self.settings.refresh_on_logon:
            self.store.refresh()
        peer_reset = msg.get(141) == b"Y"
        reset = peer_reset or self.settings.reset_on_logon
        if reset:
            self._reset_store(now, "logon")
        seq = int(msg[34])
        expected = self.store.next_target_seq_num
        if seq < expected:
            return self._refuse_logon(
                now, f"MsgSeqNum too low, expecting {expected} but received {seq}"
            )
        self._heart_bt_int = int(msg[108])
        self._events.append(
            ev.LogonReceived(self._heart_bt_int, peer_reset, _opt_str(msg.get(553)), msg)
        )
        self._send_logon_message(now, reset)
        self._events.append(ev.LogonSent(self._heart_bt_int, reset))
        return self._logged_on(now, msg, frame, seq, expected)

    def _on_logon_answered(self, now: float, arg: tuple[Message, bytes]) -> _Outcome:
        msg, frame = arg
        self._last_received = now
        reason = self._logon_checks(msg, now)
        if reason is not None:
            return self._refuse_logon(now, reason)
        peer_reset = msg.get(141) == b"Y"
        if peer_reset and not self._sent_reset:
            # The counterparty started a new sequence index: its Logon carries 1.
            self.store.next_target_seq_num = 1
            self._events.append(ev.SequenceNumbersReset("logon"))
        seq = int(msg[34])
        expected = self.store.next_target_seq_num
        if seq < expected:
            return self._refuse_logon(
                now, f"MsgSeqNum too low, expecting {expected} but received {seq}"
            )
        self._events.append(
            ev.LogonReceived(int(msg[108]), peer_reset, _opt_str(msg.get(553)), msg)
        )
        return self._logged_on(now, msg, frame, seq, expected)

    def _logged_on(
        self, now: float, msg: Message, frame: bytes, seq: int, expected: int
    ) -> _Outcome:
        self._logon_deadline = None
        self._test_requests = 0
        period = None if self.schedule.non_stop else self.schedule.period(now)
        self._period_end = None if period is None else period[1] + 1e-3
        if self._persist:
            self.store.append(Direction.INBOUND, seq, frame, now)
        if seq > expected:
            self._queue[seq] = (msg, frame, True)
            self._gap(now, expected, seq)
        else:
            self.store.next_target_seq_num = seq + 1
        self._events.append(
            ev.LogonCompleted(self.store.next_sender_seq_num, self.store.next_target_seq_num)
        )
        return _Outcome.LOGGED_ON

    def _refuse_logon(self, now: float, reason: str) -> _Outcome:
        log.warning("%s: Logon refused: %s", self.key, reason)
        self._events.append(ev.LogonRefused(reason, True))
        self._send_logout_message(now, reason)
        return self._disconnect(f"Logon refused: {reason}")

    def _on_logon_refused(self, now: float, arg: tuple[Message, bytes]) -> _Outcome:
        msg, _frame = arg
        text = _opt_str(msg.get(58)) or "Logout in answer to Logon"
        log.warning("%s: counterparty refused our Logon: %s", self.key, text)
        self._events.append(ev.LogonRefused(text, False))
        self._events.append(ev.LogoutReceived(_opt_str(msg.get(58))))
        self.logout_reason = text
        return self._disconnect(f"Logon refused by counterparty: {text}")

    def _on_first_not_logon(self, now: float, arg: tuple[Message, bytes]) -> _Outcome:
        msg, _frame = arg
        if msg.get(35) == b"5":
            text = _opt_str(msg.get(58))
            self._events.append(ev.LogoutReceived(text))
            return self._disconnect(f"Logout before Logon: {text}")
        reason = f"First message is not a Logon (MsgType {_opt_str(msg.get(35))})"
        log.warning("%s: %s", self.key, reason)
        self._send_logout_message(now, reason)
        return self._disconnect(reason)

    def _on_logon_timer(self, now: float, arg: None) -> _Outcome:
        deadline = self._logon_deadline
        if deadline is not None and now >= deadline:
            return self._disconnect(f"no Logon within {self.settings.logon_timeout:g} s")
        return _Outcome.OK

    # -- logout

    def _on_send_logout(self, now: float, text: str | None) -> _Outcome:
        self._send_logout_message(now, text)
        self._logout_deadline = now + self.settings.logout_timeout
        return _Outcome.LOGOUT_SENT

    def _send_logout_message(self, now: float, text: str | None) -> None:
        self._send_admin("5", [] if not text else [(58, text)], now)
        self._events.append(ev.LogoutSent(text))

    def _logout_seq(self, msg: Message, frame: bytes, now: float) -> None:
        seq_text = msg.get(34)
        if seq_text is not None and seq_text.isdigit():
            seq = int(seq_text)
            if seq == self.store.next_target_seq_num:
                if self._persist:
                    self.store.append(Direction.INBOUND, seq, frame, now)
                self.store.next_target_seq_num = seq + 1

    def _on_logout_received(self, now: float, arg: tuple[Message, bytes]) -> _Outcome:
        msg, frame = arg
        self._last_received = now
        self._logout_seq(msg, frame, now)
        text = _opt_str(msg.get(58))
        self.logout_reason = text
        self._events.append(ev.LogoutReceived(text))
        self._send_logout_message(now, None)
        if self.settings.reset_on_logout:
            self._reset_store(now, "logout")
        return self._disconnect("Logout received")

    def _on_logout_answered(self, now: float, arg: tuple[Message, bytes]) -> _Outcome:
        msg, frame = arg
        self._last_received = now
        self._logout_seq(msg, frame, now)
        text = _opt_str(msg.get(58))
        self._events.append(ev.LogoutReceived(text))
        if self.settings.reset_on_logout:
            self._reset_store(now, "logout")
        return self._disconnect("Logout completed")

    def _on_logout_timer(self, now: float, arg: None) -> _Outcome:
        deadline = self._logout_deadline
        if deadline is not None and now >= deadline:
            if self.settings.reset_on_logout:
                self._reset_store(now, "logout")
            return self._disconnect(
                f"no Logout answer within {self.settings.logout_timeout:g} s"
            )
        return _Outcome.OK

    def _on_send_test_request(self, now: float, test_req_id: str | None) -> _Outcome:
        if test_req_id is None:
            self._test_req_counter += 1
            test_req_id = f"TEST{self._test_req_counter}"
        self._last_test_req_id = test_req_id
        self._send_admin("1", [(112, test_req_id)], now)
        self._events.append(ev.TestRequestSent(test_req_id))
        return _Outcome.OK

    def _on_send_sequence_reset(self, now: float, new_seq_no: int) -> _Outcome:
        store = self.store
        if new_seq_no < store.next_sender_seq_num:
            raise LocalProtocolError(
                f"NewSeqNo {new_seq_no} is below our next MsgSeqNum {store.next_sender_seq_num}"
            )
        frame = self._encoder.encode(
            "4", store.next_sender_seq_num, self._clock.format(now), b"\x0136=%d" % new_seq_no
        )
        store.next_sender_seq_num = new_seq_no
        self._out.append(frame)
        self._last_sent = now
        return _Outcome.OK

    # -- timers while logged on

    def _on_active_timer(self, now: float, arg: None) -> _Outcome:
        if not self.schedule.non_stop and not self.schedule.is_same_period(
            self.store.creation_time, now
        ):
            self._send_logout_message(now, "Session end")
            self._logout_deadline = now + self.settings.logout_timeout
            return _Outcome.LOGOUT_SENT
        hb = self._heart_bt_int
        if hb <= 0:
            return _Outcome.OK
        s = self.settings
        silence = now - self._last_received
        if silence >= hb * s.heartbeat_timeout_multiplier:
            log.warning(
                "%s: nothing received for %.1f s (HeartBtInt %d), TestRequest unanswered",
                self.key, silence, hb,
            )
            return self._disconnect(f"TestRequest unanswered after {silence:.1f} s of silence")
        if self._test_requests == 0 and silence >= hb * (1.0 + s.test_request_delay_multiplier):
            self._test_req_counter += 1
            test_req_id = f"TEST{self._test_req_counter}"
            self._send_admin("1", [(112, test_req_id)], now)
            self._test_requests += 1
            self._events.append(ev.TestRequestSent(test_req_id))
        if now - self._last_sent >= hb:
            self._send_admin("0", [], now)
            self._events.append(ev.HeartbeatSent(None))
        return _Outcome.OK

    # -- inbound messages while logged on

    def _on_message(self, now: float, arg: tuple[Message, bytes]) -> _Outcome:
        msg, frame = arg
        self._last_received = now
        self._test_requests = 0
        outcome = self._check_header(msg, now)
        if outcome is not None:
            return outcome
        seq_text = msg.get(34)
        if seq_text is None or not seq_text.isdigit():
            reason = "Received message without MsgSeqNum"
            self._send_logout_message(now, reason)
            return self._disconnect(reason)
        seq = int(seq_text)
        msg_type = msg.get(35)
        if msg_type == b"4" and msg.get(123) != b"Y":
            return self._sequence_reset(msg, frame, seq, now)
        expected = self.store.next_target_seq_num
        if seq > expected:
            handled = False
            if msg_type == b"2":
                # Answer at once, so that two sides with gaps do not wait on each other.
                outcome = self._answer_resend_request(msg, seq, now)
                handled = True
            self._queue[seq] = (msg, frame, handled)
            self._gap(now, expected, seq)
            return outcome if outcome is not None else _Outcome.OK
        if seq < expected:
            return self._too_low(msg, seq, expected, now)
        outcome = self._in_sequence(msg, frame, seq, now, False)
        if outcome is _Outcome.OK:
            outcome = self._drain_queue(now)
        return outcome

    def _drain_queue(self, now: float) -> _Outcome:
        queue = self._queue
        outcome = _Outcome.OK
        while queue and outcome is _Outcome.OK:
            expected = self.store.next_target_seq_num
            item = queue.pop(expected, None)
            if item is None:
                for stale in [s for s in queue if s < expected]:
                    del queue[stale]
                break
            msg, frame, handled = item
            outcome = self._in_sequence(msg, frame, expected, now, handled)
        self._check_resend_progress(now)
        return outcome

    def _check_header(self, msg: Message, now: float) -> _Outcome | None:
        if msg.get(8) != self._begin_string_bytes:
            reason = "Incorrect BeginString"
            self._send_logout_message(now, reason)
            return self._disconnect(reason)
        s = self.settings
        if s.check_comp_id and (msg.get(49) != self._target or msg.get(56) != self._sender):
            ref_tag = 49 if msg.get(49) != self._target else 56
            self._reject(msg, 9, ref_tag, now)
            self._consume_if_expected(msg, now)
            self._send_logout_message(now, "CompID problem")
            self._logout_deadline = now + s.logout_timeout
            return _Outcome.LOGOUT_SENT
        if s.check_latency and not self._sending_time_ok(msg, now):
            if msg.get(52) is None:
                return None  # validation reports the missing header field
            self._reject(msg, 10, 52, now)
            self._consume_if_expected(msg, now)
            self._send_logout_message(now, "SendingTime accuracy problem")
            self._logout_deadline = now + s.logout_timeout
            return _Outcome.LOGOUT_SENT
        return None

    def _consume_if_expected(self, msg: Message, now: float) -> None:
        seq_text = msg.get(34)
        if seq_text is not None and seq_text.isdigit():
            if int(seq_text) == self.store.next_target_seq_num:
                self.store.next_target_seq_num += 1

    def _sending_time_ok(self, msg: Message, now: float) -> bool:
        value = msg.get(52)
        if value is None:
            return False
        try:
            sent = parse_sending_time(value)
        except ValueError:
            return False
        return abs(now - sent) <= self.settings.max_latency

    def _too_low(self, msg: Message, seq: int, expected: int, now: float) -> _Outcome:
        if msg.get(43) == b"Y":
            if msg.get(35) != b"4":
                orig = msg.get(122)
                if orig is None:
                    if self.settings.requires_orig_sending_time:
                        self._reject(msg, 1, 122, now)
                        return _Outcome.OK
                elif not self._orig_sending_time_ok(msg, orig):
                    self._reject(msg, 10, 122, now)
                    self._send_logout_message(now, "SendingTime accuracy problem")
                    self._logout_deadline = now + self.settings.logout_timeout
                    return _Outcome.LOGOUT_SENT
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s: duplicate %d ignored (expecting %d)", self.key, seq, expected)
            self._events.append(ev.DuplicateIgnored(seq, _opt_str(msg.get(35)) or ""))
            return _Outcome.OK
        reason = f"MsgSeqNum too low, expecting {expected} but received {seq}"
        log.error("%s: %s", self.key, reason)
        self._send_logout_message(now, reason)
        return self._disconnect(reason)

    def _orig_sending_time_ok(self, msg: Message, orig: bytes) -> bool:
        sending = msg.get(52)
        try:
            orig_time = parse_sending_time(orig)
            return sending is None or orig_time <= parse_sending_time(sending)
        except ValueError:
            return False

    def _in_sequence(
        self, msg: Message, frame: bytes, seq: int, now: float, handled: bool
    ) -> _Outcome:
        """``msg`` carries the expected MsgSeqNum ``seq``."""
        store = self.store
        if self._persist:
            store.append(Direction.INBOUND, seq, frame, now)
        msg_type = msg.get(35)
        if handled:
            # A Logon or ResendRequest answered when it arrived above a gap.
            store.next_target_seq_num = seq + 1
            return _Outcome.OK
        poss_dup = msg.get(43) == b"Y"
        if poss_dup and msg_type != b"4":
            orig = msg.get(122)
            if orig is None:
                if self.settings.requires_orig_sending_time:
                    store.next_target_seq_num = seq + 1
                    self._reject(msg, 1, 122, now)
                    return _Outcome.OK
            elif not self._orig_sending_time_ok(msg, orig):
                store.next_target_seq_num = seq + 1
                self._reject(msg, 10, 122, now)
                self._send_logout_message(now, "SendingTime accuracy problem")
                self._logout_deadline = now + self.settings.logout_timeout
                return _Outcome.LOGOUT_SENT
        if self._validate is not None:
            failure = self._validate(msg)
            if failure is not None:
                store.next_target_seq_num = seq + 1
                if failure.business_reject:
                    self._business_reject(msg, _BUSINESS_REJECT_UNSUPPORTED, failure.text, now)
                else:
                    self._reject(
                        msg,
                        failure.session_reject_reason,
                        failure.ref_tag_id,
                        now,
                        text=failure.text,
                    )
                return _Outcome.OK
        if msg_type == b"4":
            return self._gap_fill(msg, seq, now)
        store.next_target_seq_num = seq + 1
        if msg_type is None:
            return _Outcome.OK
        if len(msg_type) == 1 and msg_type in b"0123A":
            return self._admin(msg_type, msg, seq, now)
        mt = msg_type.decode()
        s = self.settings
        if (
            s.reject_unsupported_app_messages
            and s.supported_app_msg_types is not None
            and mt not in s.supported_app_msg_types
        ):
            self._business_reject(msg, _BUSINESS_REJECT_UNSUPPORTED, "Unsupported Message Type", now)
            return _Outcome.OK
        self._events.append(ev.MessageReceived(msg, poss_dup))
        return _Outcome.OK

    def _admin(self, msg_type: bytes, msg: Message, seq: int, now: float) -> _Outcome:
        if msg_type == b"0":
            test_req_id = msg.get(112)
            self._events.append(ev.HeartbeatReceived(_opt_str(test_req_id)))
            return _Outcome.OK
        if msg_type == b"1":
            test_req_id = msg.get(112)
            if test_req_id is None:
                self._reject(msg, 1, 112, now)
                return _Outcome.OK
            self._send_admin("0", [(112, test_req_id)], now)
            self._events.append(ev.HeartbeatSent(test_req_id.decode(errors="replace")))
            return _Outcome.OK
        if msg_type == b"2":
            return self._answer_resend_request(msg, seq, now) or _Outcome.OK
        if msg_type == b"3":
            self._events.append(
                ev.RejectReceived(
                    _opt_int(msg.get(45)),
                    _opt_int(msg.get(373)),
                    _opt_int(msg.get(371)),
                    _opt_str(msg.get(58)),
                    msg,
                )
            )
            log.warning("%s: Reject received: %s", self.key, _opt_str(msg.get(58)))
            return _Outcome.OK
        # A Logon while logged on.
        reason = "Logon received while already logged on"
        self._send_logout_message(now, reason)
        return self._disconnect(reason)

    # -- sequence numbers

    def _gap(self, now: float, expected: int, received: int) -> None:
        self._events.append(ev.GapDetected(expected, received))
        log.info("%s: gap: expected %d, received %d", self.key, expected, received)
        current = self._resend_range
        if current is not None and not self.settings.send_redundant_resend_requests:
            begin, chunk_end, gap_end = current
            if received - 1 > gap_end:
                self._resend_range = (begin, chunk_end, received - 1)
            return
        self._resend_range = (expected, expected, received - 1)
        self._send_resend_request(now, expected, received - 1)

    def _send_resend_request(self, now: float, begin: int, gap_end: int) -> None:
        chunk = self.settings.resend_request_chunk_size
        infinite = 0 if self._fix42_plus else 999999
        if chunk == 0 or gap_end - begin + 1 <= chunk:
            end = infinite
            chunk_end = gap_end
        else:
            end = chunk_end = begin + chunk - 1
        self._resend_range = (begin, chunk_end, gap_end)
        self._send_admin("2", [(7, b"%d" % begin), (16, b"%d" % end)], now)
        self._events.append(ev.ResendRequestSent(begin, end))

    def _check_resend_progress(self, now: float) -> None:
        current = self._resend_range
        if current is None:
            return
        begin, chunk_end, gap_end = current
        expected = self.store.next_target_seq_num
        if expected <= chunk_end:
            return
        if expected <= gap_end:
            self._send_resend_request(now, expected, gap_end)
            return
        self._resend_range = None
        self._events.append(ev.GapFilled(expected))
        log.info("%s: gap filled, expecting %d", self.key, expected)

    def _sequence_reset(self, msg: Message, frame: bytes, seq: int, now: float) -> _Outcome:
        """SequenceReset in Reset mode: MsgSeqNum is ignored."""
        new_text = msg.get(36)
        if new_text is None or not new_text.isdigit():
            self._reject(msg, 1 if new_text is None else 6, 36, now)
            return _Outcome.OK
        new_seq = int(new_text)
        expected = self.store.next_target_seq_num
        self._events.append(ev.SequenceResetReceived(new_seq, False))
        if new_seq > expected:
            self.store.next_target_seq_num = new_seq
            for stale in [s for s in self._queue if s < new_seq]:
                del self._queue[stale]
            return self._drain_queue(now)
        if new_seq < expected:
            self._reject(
                msg, 5, 36, now,
                text=f"NewSeqNo {new_seq} is lower than the expected MsgSeqNum {expected}",
            )
        return _Outcome.OK

    def _gap_fill(self, msg: Message, seq: int, now: float) -> _Outcome:
        """SequenceReset-GapFill carrying the expected MsgSeqNum ``seq``."""
        new_text = msg.get(36)
        if new_text is None or not new_text.isdigit():
            self.store.next_target_seq_num = seq + 1
            self._reject(msg, 1 if new_text is None else 6, 36, now)
            return _Outcome.OK
        new_seq = int(new_text)
        self._events.append(ev.SequenceResetReceived(new_seq, True))
        if new_seq <= seq:
            self.store.next_target_seq_num = seq + 1
            self._reject(
                msg, 5, 36, now,
                text=f"NewSeqNo {new_seq} is not above MsgSeqNum {seq}",
            )
            return _Outcome.OK
        self.store.next_target_seq_num = new_seq
        return _Outcome.OK

    # -- answering a ResendRequest

    def _answer_resend_request(self, msg: Message, seq: int, now: float) -> _Outcome | None:
        begin_text = msg.get(7)
        end_text = msg.get(16)
        if begin_text is None or end_text is None:
            self._reject(msg, 1, 7 if begin_text is None else 16, now)
            return None
        if not begin_text.isdigit() or not end_text.isdigit():
            self._reject(msg, 6, 7 if not begin_text.isdigit() else 16, now)
            return None
        begin = int(begin_text)
        end = int(end_text)
        last = self.store.next_sender_seq_num - 1
        if end == 0 or end == 999999 or end > last:
            end = last
        self._events.append(ev.ResendRequested(begin, int(end_text)))
        log.info("%s: resend requested %d..%s", self.key, begin, end_text.decode())
        if begin < 1 or begin > end:
            return None
        resent = 0
        gap_fills = 0
        gap_start: int | None = None
        out = self._out
        stored = self.store.read_range(Direction.OUTBOUND, begin, end) if self._persist else iter(())
        next_seq = begin
        for stored_seq, data in stored:
            if stored_seq < next_seq or stored_seq > end:
                continue
            frame = self._resend_frame(data, now)
            if frame is None:
                continue  # an admin message: covered by the gap fill
            if gap_start is None and stored_seq > next_seq:
                gap_start = next_seq
            if gap_start is not None:
                out.append(self._gap_fill_frame(gap_start, stored_seq, now))
                gap_fills += 1
                gap_start = None
            out.append(frame)
            resent += 1
            next_seq = stored_seq + 1
        if next_seq <= end:
            out.append(self._gap_fill_frame(gap_start or next_seq, end + 1, now))
            gap_fills += 1
        self._last_sent = now
        self._events.append(ev.MessagesResent(begin, end, resent, gap_fills))
        return None

    def _resend_frame(self, data: bytes, now: float) -> bytes | None:
        """``data`` (an application message we sent) with PossDupFlag(43)=Y,
        OrigSendingTime(122) and a new SendingTime(52); None for an admin message."""
        type_at = data.find(b"\x0135=")
        seq_at = data.find(b"\x0134=")
        time_at = data.find(b"\x0152=")
        if type_at < 0 or seq_at < 0 or time_at < 0 or not data.endswith(b"\x01"):
            log.error("%s: stored message cannot be resent, gap-filled instead", self.key)
            return None
        msg_type = data[type_at + 4 : data.index(b"\x01", type_at + 4)].decode()
        if msg_type in ADMIN_MSG_TYPES:
            return None
        seq = int(data[seq_at + 4 : data.index(b"\x01", seq_at + 4)])
        time_end = data.index(b"\x01", time_at + 4)
        orig = data[time_at + 4 : time_end]
        rest = data[time_end : len(data) - 8]  # every field after SendingTime, before CheckSum
        return self._encoder.encode(
            msg_type, seq, self._clock.format(now), rest, header=b"\x0143=Y\x01122=" + orig
        )

    def _gap_fill_frame(self, seq: int, new_seq: int, now: float) -> bytes:
        sending_time = self._clock.format(now)
        return self._encoder.encode(
            "4",
            seq,
            sending_time,
            b"\x01123=Y\x0136=%d" % new_seq,
            header=b"\x0143=Y\x01122=" + sending_time,
        )

    # -- rejects

    def _reject(
        self,
        msg: Message,
        reason: int | None,
        ref_tag_id: int | None,
        now: float,
        *,
        text: str | None = None,
    ) -> None:
        ref_seq = _opt_int(msg.get(34)) or 0
        ref_msg_type = _opt_str(msg.get(35))
        if text is None:
            text = REJECT_REASON_TEXT.get(reason, "Rejected") if reason is not None else "Rejected"
            if ref_tag_id is not None and reason is not None:
                text = f"{text} ({ref_tag_id})"
        fields: list[tuple[int, Any]] = [(45, b"%d" % ref_seq)]
        if self._fix42_plus:
            if ref_tag_id is not None:
                fields.append((371, b"%d" % ref_tag_id))
            if ref_msg_type is not None:
                fields.append((372, ref_msg_type))
            if reason is not None:
                fields.append((373, b"%d" % reason))
        fields.append((58, text))
        log.warning("%s: Reject of %d (%s): %s", self.key, ref_seq, ref_msg_type, text)
        self._send_admin("3", fields, now)
        self._events.append(ev.RejectSent(ref_seq, ref_msg_type, reason, ref_tag_id, text))

    def _business_reject(self, msg: Message, reason: int, text: str | None, now: float) -> None:
        ref_seq = _opt_int(msg.get(34)) or 0
        ref_msg_type = _opt_str(msg.get(35)) or ""
        text = text or "Business message rejected"
        if not self._fix42_plus:
            self._reject(msg, None, None, now, text=text)
            return
        fields: list[tuple[int, Any]] = [(45, b"%d" % ref_seq), (372, ref_msg_type)]
        ref_id_tag = _BUSINESS_REJECT_REF_ID.get(ref_msg_type)
        if ref_id_tag is not None:
            ref_id = msg.get(ref_id_tag)
            if ref_id is not None:
                fields.append((379, ref_id))
        fields += [(380, b"%d" % reason), (58, text)]
        log.warning("%s: BusinessMessageReject of %d (%s): %s", self.key, ref_seq, ref_msg_type, text)
        self._build_and_send("j", fields, now)
        self._events.append(ev.BusinessRejectSent(ref_seq, ref_msg_type, reason, text))

    def _undecodable(self, frame: bytes, exc: CodecError, now: float) -> None:
        """A well-framed message whose fields cannot be read (bad tag, bad group...)."""
        if self._state not in (SessionState.ACTIVE, SessionState.LOGOUT_SENT):
            self._garbled(str(exc))
            return
        header = _scan_header(frame)
        seq_text = header.get(34)
        if seq_text is None or not seq_text.isdigit():
            self._garbled(str(exc))
            return
        seq = int(seq_text)
        expected = self.store.next_target_seq_num
        if seq != expected:
            # Ask for it again when out of order; below expected it is a duplicate.
            self._garbled(str(exc))
            return
        reason: int | None
        ref_tag: int | None
        if isinstance(exc, MalformedGroupError):
            # NumInGroup count wrong (16), instance not led by its delimiter (15) or a count
            # that is not a number (6); RefTagID is the group's NumInGroup tag.
            reason, ref_tag = exc.session_reject_reason, exc.ref_tag_id
        else:
            reason, ref_tag = _reason_of_codec_error(exc), exc.tag
        self._last_received = now
        self.store.next_target_seq_num = seq + 1
        stub = Message([(34, seq_text), (35, header.get(35) or b"")])
        self._reject(stub, reason, ref_tag, now, text=str(exc))
        self._drain_queue(now)

    def _garbled(self, reason: str) -> None:
        log.warning("%s: garbled message ignored: %s", self.key, reason)
        self._events.append(ev.GarbledMessageIgnored(reason))

    # -- outbound

    def _build(
        self, msg_type: str, fields: Iterable[tuple[int, Any]] | PreEncodedBody, seq: int, now: float
    ) -> bytes:
        header: list[tuple[int, Any]] | None = None
        body: list[tuple[int, Any]] | bytes
        if type(fields) is PreEncodedBody:
            body = fields  # no header field in it (pre_encode)
        else:
            body = fields if isinstance(fields, list) else list(fields)  # type: ignore[arg-type]
            if not _HEADER_TAGS.isdisjoint(map(_first, body)):
                header = [item for item in body if item[0] in _HEADER_TAGS]
                body = [item for item in body if item[0] not in _HEADER_TAGS]
        if self.settings.enable_last_msg_seq_num_processed:
            header = (header or []) + [(369, self.store.next_target_seq_num - 1)]
        try:
            return self._encoder.encode(
                msg_type, seq, self._clock.format(now), body, header=header or ()
            )
        except CodecError as exc:
            raise LocalProtocolError(f"cannot encode {msg_type} message: {exc}") from exc

    def _build_and_store(
        self, msg_type: str, fields: Iterable[tuple[int, Any]] | PreEncodedBody, now: float
    ) -> bytes:
        store = self.store
        seq = store.next_sender_seq_num
        frame = self._build(msg_type, fields, seq, now)
        if self._persist:
            store.append(Direction.OUTBOUND, seq, frame, now)
        store.next_sender_seq_num = seq + 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: out %r", self.key, frame)
        return frame

    def _build_and_send(self, msg_type: str, fields: Iterable[tuple[int, Any]], now: float) -> None:
        self._out.append(self._build_and_store(msg_type, fields, now))
        self._last_sent = now

    def _send_admin(self, msg_type: str, fields: Sequence[tuple[int, Any]], now: float) -> None:
        self._build_and_send(msg_type, fields, now)

    def _disconnect(self, reason: str) -> _Outcome:
        self._events.append(ev.DisconnectRequested(reason))
        return _Outcome.DISCONNECT

    # -- store and schedule

    def _reset_store(self, now: float, reason: str) -> None:
        self.store.reset(now)
        self._queue.clear()
        self._resend_range = None
        self._events.append(ev.SequenceNumbersReset(reason))
        log.info("%s: sequence numbers reset (%s)", self.key, reason)

    def _check_period(self, now: float) -> None:
        """A new session period starts a new sequence index."""
        schedule = self.schedule
        if schedule.non_stop:
            return
        if schedule.is_session_time(now) and not schedule.is_same_period(
            self.store.creation_time, now
        ):
            self._reset_store(now, "schedule")

    def _schedule_deadline(self) -> float | None:
        return self._period_end


# ---------------------------------------------------------------------- helpers


def make_validator(
    settings: SessionSettings, dictionary: DataDictionary
) -> Callable[[Message], ValidationFailure | None]:
    """The inbound check a session runs with ``dictionary`` and the Validate* settings."""
    options = ValidationOptions(
        validate_fields_out_of_order=settings.validate_fields_out_of_order,
        validate_fields_have_values=settings.validate_fields_have_values,
        validate_user_defined_fields=settings.validate_user_defined_fields,
        allow_unknown_msg_fields=settings.allow_unknown_msg_fields,
        validate_unordered_group_fields=settings.validate_unordered_group_fields,
    )

    def check(message: Message) -> ValidationFailure | None:
        return _validate_message(message, dictionary, options)

    return check


def refusal_logout(logon: Message, text: str, now: float) -> bytes:
    """A Logout answering ``logon`` for which no session exists (CompIDs swapped, MsgSeqNum 1),
    carrying ``text``."""
    return encode(
        (logon.get(8) or b"FIX.4.4").decode(errors="replace"),
        "5",
        [
            (49, logon.get(56) or b"UNKNOWN"),
            (56, logon.get(49) or b"UNKNOWN"),
            (34, 1),
            (52, _Clock(3).format(now)),
            (58, text),
        ],
    )


# MsgType -> the tag whose value BusinessRejectRefID(379) quotes.
_BUSINESS_REJECT_REF_ID: Final[Mapping[str, int]] = {
    "D": 11, "F": 11, "G": 11, "8": 17, "R": 131, "V": 262, "x": 320, "c": 320, "AE": 571,
}  # fmt: skip


def _reason_of_codec_error(exc: CodecError) -> int:
    """SessionRejectReason(373) for a message that frames but will not decode."""
    if isinstance(exc, GroupError):
        return 16  # Incorrect NumInGroup count for repeating group
    if isinstance(exc, ValueFormatError):
        return 6  # Incorrect data format for value
    if isinstance(exc, FieldError):
        return 0  # Invalid tag number
    return 99


_first: Final = itemgetter(0)


def _opt_str(value: bytes | None) -> str | None:
    return None if value is None else value.decode(errors="replace")


def _opt_int(value: bytes | None) -> int | None:
    if value is None or not value.isdigit():
        return None
    return int(value)


def _scan_header(frame: bytes) -> dict[int, bytes]:
    """Tags 34 and 35 read straight from a frame that would not decode."""
    found: dict[int, bytes] = {}
    for part in frame.split(SOH):
        tag, sep, value = part.partition(b"=")
        if sep and tag in (b"34", b"35") and int(tag) not in found:
            found[int(tag)] = value
        if len(found) == 2:
            break
    return found

