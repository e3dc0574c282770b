"""The sans-IO session state machine, driven in memory with a fake clock: no sockets, no
sleeps. ``Peer`` plays the counterparty frame by frame; ``Pair`` joins two sessions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from fixg.errors import LocalProtocolError
from fixg.fix import events as ev
from fixg.fix.codec import decode, encode
from fixg.fix.dictionary import load_builtin
from fixg.fix.events import SessionState
from fixg.fix.message import Message
from fixg.fix.session import LogonRequest, Session, make_validator, parse_sending_time
from fixg.fix.settings import SessionSettings
from fixg.store.base import Direction
from fixg.store.memory import MemoryStore

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC, a Tuesday
DICTS = {name: load_builtin(name) for name in ("FIX.4.2", "FIX.4.4", "FIXT.1.1")}


def fmt_time(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def make_settings(role: str = "acceptor", begin_string: str = "FIX.4.4", **kw: Any) -> SessionSettings:
    ours, theirs = ("ACC", "INI") if role == "acceptor" else ("INI", "ACC")
    if begin_string == "FIXT.1.1":
        kw.setdefault("default_appl_ver_id", "FIX.5.0SP2")
    kw.setdefault("heart_bt_int", 10)
    return SessionSettings(begin_string, ours, theirs, role, **kw)  # type: ignore[arg-type]


def make_session(role: str = "acceptor", begin_string: str = "FIX.4.4", *, validate: bool = True,
                 store: MemoryStore | None = None, **kw: Any) -> Session:  # fmt: skip
    s = make_settings(role, begin_string, **kw)
    dictionary = DICTS.get(begin_string) if validate else None
    return Session(
        s,
        store if store is not None else MemoryStore(T0),
        dictionary=dictionary,
        validate=make_validator(s, dictionary) if dictionary is not None else None,
        authenticate=kw.get("authenticate_hook"),
    )


def out(session: Session) -> list[Message]:
    return [decode(frame) for frame in session.data_to_send()]


def types(messages: list[Message]) -> list[str]:
    return [m.msg_type for m in messages]


def events_of(events: list[ev.Event], kind: type[ev.Event]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


@dataclass
class Peer:
    """The counterparty of the session under test, writing frames by hand."""

    begin_string: str = "FIX.4.4"
    sender: str = "INI"
    target: str = "ACC"
    seq: int = 1

    def frame(self, msg_type: str, fields: list[tuple[int, Any]] = (), *, now: float = T0,  # type: ignore[assignment]
              seq: int | None = None, poss_dup: bool = False, orig: float | None = None,
              sending_time: str | None = None, sender: str | None = None) -> bytes:  # fmt: skip
        if seq is None:
            seq = self.seq
            self.seq += 1
        header: list[tuple[int, Any]] = [
            (49, sender or self.sender), (56, self.target), (34, seq),
            (52, sending_time or fmt_time(now)),
        ]  # fmt: skip
        if poss_dup:
            header.append((43, "Y"))
        if orig is not None:
            header.append((122, fmt_time(orig)))
        return encode(self.begin_string, msg_type, header + list(fields))

    def logon(self, hb: int = 10, *, reset: bool = False, **kw: Any) -> bytes:
        fields: list[tuple[int, Any]] = [(98, "0"), (108, hb)]
        if reset:
            fields.append((141, "Y"))
        if self.begin_string == "FIXT.1.1":
            fields.append((1137, "9"))
        return self.frame("A", fields + kw.pop("extra", []), **kw)

    def order(self, cl_ord_id: str = "o1", side: str = "1", **kw: Any) -> bytes:
        return self.frame("D", [(11, cl_ord_id), (21, "1"), (55, "IBM"), (54, side),
                                (60, "20231114-22:00:00"), (38, "100"), (40, "1")], **kw)  # fmt: skip


def logged_on_acceptor(**kw: Any) -> tuple[Session, Peer]:
    begin_string = kw.pop("begin_string", "FIX.4.4")
    session = make_session("acceptor", begin_string, **kw)
    peer = Peer(begin_string)
    session.connection_made(T0)
    session.receive_frame(peer.logon(), T0)
    assert session.state is SessionState.ACTIVE
    assert types(out(session)) == ["A"]
    session.next_events()
    return session, peer


@dataclass
class Pair:
    """Two sessions joined in memory."""

    initiator: Session
    acceptor: Session
    now: float = T0
    log: list[tuple[str, bytes]] = field(default_factory=list)

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            for src, dst, name in ((self.initiator, self.acceptor, "i>a"), (self.acceptor, self.initiator, "a>i")):
                for frame in src.data_to_send():
                    moved = True
                    self.log.append((name, frame))
                    if dst.state is not SessionState.DISCONNECTED:
                        dst.receive_data(frame, self.now)

    def connect(self) -> None:
        self.initiator.connection_made(self.now)
        self.acceptor.connection_made(self.now)
        self.initiator.logon(self.now)
        self.pump()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for s in (self.initiator, self.acceptor):
            s.poll(self.now)
        self.pump()

    def disconnect(self) -> None:
        for s in (self.initiator, self.acceptor):
            s.data_to_send()
            s.connection_lost(self.now)


def make_pair(begin_string: str = "FIX.4.4", **kw: Any) -> Pair:
    ini_kw = dict(kw.pop("initiator", {}))
    acc_kw = dict(kw.pop("acceptor", {}))
    return Pair(
        make_session("initiator", begin_string, **kw, **ini_kw),
        make_session("acceptor", begin_string, **kw, **acc_kw),
    )


# ====================================================================== logon


@pytest.mark.parametrize("begin_string", ["FIX.4.2", "FIX.4.4", "FIXT.1.1"])
def test_logon_between_two_sessions(begin_string: str) -> None:
    pair = make_pair(begin_string, initiator={"heart_bt_int": 7}, acceptor={"heart_bt_int": 30})
    pair.connect()
    assert pair.initiator.is_logged_on and pair.acceptor.is_logged_on
    assert pair.acceptor.heart_bt_int == 7  # the acceptor adopts the initiator's HeartBtInt
    events = pair.acceptor.next_events()
    assert events_of(events, ev.LogonReceived)[0].heart_bt_int == 7
    assert events_of(events, ev.LogonCompleted) == [ev.LogonCompleted(2, 2)]
    logon = decode(pair.log[0][1])
    assert (logon.get(98), logon.get(108)) == (b"0", b"7")
    if begin_string == "FIXT.1.1":
        assert logon.get(1137) == b"9"
        assert pair.acceptor.peer_default_appl_ver_id == "9"
    else:
        assert logon.get(1137) is None


@pytest.mark.parametrize(
    ("logon_kw", "reason"),
    [
        ({"sender": "NOPE"}, "CompID problem"),
        ({"extra": [], "sending_time": "20000101-00:00:00"}, "SendingTime accuracy problem"),
    ],
)
def test_acceptor_refuses_bad_logon_with_logout(logon_kw: dict[str, Any], reason: str) -> None:
    session = make_session("acceptor")
    session.connection_made(T0)
    session.receive_frame(Peer().logon(**logon_kw), T0)
    sent = out(session)
    assert types(sent) == ["5"] and sent[0].get(58) == reason.encode()
    events = session.next_events()
    assert events_of(events, ev.LogonRefused) == [ev.LogonRefused(reason, True)]
    assert events_of(events, ev.DisconnectRequested)
    assert session.state is SessionState.DISCONNECTING


def test_acceptor_refuses_wrong_begin_string_missing_heartbtint_and_encryption() -> None:
    for frame, reason in (
        (Peer("FIX.4.2").logon(), b"Incorrect BeginString"),
        (Peer().frame("A", [(98, "0")]), b"HeartBtInt(108) missing or invalid"),
        (Peer().frame("A", [(98, "1"), (108, 10)]), b"Unsupported EncryptMethod"),
        (Peer().frame("A", [(108, 10)]), b"EncryptMethod(98) missing"),
    ):
        session = make_session("acceptor", validate=False)
        session.connection_made(T0)
        session.receive_frame(frame, T0)
        assert [m.get(58) for m in out(session)] == [reason]
        assert session.state is SessionState.DISCONNECTING


def test_fixt_logon_needs_default_appl_ver_id() -> None:
    session = make_session("acceptor", "FIXT.1.1")
    session.connection_made(T0)
    session.receive_frame(Peer("FIXT.1.1").frame("A", [(98, "0"), (108, 10)]), T0)
    assert out(session)[0].get(58) == b"DefaultApplVerID(1137) missing"


def test_authentication_hook_sees_username_and_password() -> None:
    seen: list[LogonRequest] = []

    def hook(request: LogonRequest) -> str | None:
        seen.append(request)
        return None if request.password == "secret" else "Invalid password"

    for password, accepted in (("secret", True), ("guess", False)):
        s = make_settings("acceptor")
        session = Session(s, MemoryStore(T0), authenticate=hook)
        session.connection_made(T0)
        session.receive_frame(Peer().logon(extra=[(553, "alice"), (554, password)]), T0)
        sent = out(session)
        if accepted:
            assert session.is_logged_on and types(sent) == ["A"]
        else:
            assert types(sent) == ["5"] and sent[0].get(58) == b"Invalid password"
            assert session.state is SessionState.DISCONNECTING
    assert [(r.username, r.password) for r in seen] == [("alice", "secret"), ("alice", "guess")]


def test_initiator_sends_username_and_password() -> None:
    session = make_session("initiator", username="alice", password="secret")
    session.connection_made(T0)
    session.logon(T0)
    logon = out(session)[0]
    assert (logon.get(553), logon.get(554)) == (b"alice", b"secret")


def test_first_message_not_logon_is_refused() -> None:
    session = make_session("acceptor")
    session.connection_made(T0)
    session.receive_frame(Peer().order(), T0)
    sent = out(session)
    assert types(sent) == ["5"] and b"not a Logon" in sent[0][58]
    assert session.state is SessionState.DISCONNECTING


def test_logon_timeout_both_roles() -> None:
    acceptor = make_session("acceptor", logon_timeout=5)
    acceptor.connection_made(T0)
    assert acceptor.next_deadline() == T0 + 5
    acceptor.poll(T0 + 4.9)
    assert acceptor.state is SessionState.CONNECTED
    acceptor.poll(T0 + 5)
    assert acceptor.state is SessionState.DISCONNECTING
    initiator = make_session("initiator", logon_timeout=3)
    initiator.connection_made(T0)
    initiator.logon(T0)
    initiator.poll(T0 + 3)
    assert events_of(initiator.next_events(), ev.DisconnectRequested)


def test_logon_answered_by_logout_is_refused() -> None:
    session = make_session("initiator")
    session.connection_made(T0)
    session.logon(T0)
    out(session)
    peer = Peer(sender="ACC", target="INI")
    session.receive_frame(peer.frame("5", [(58, "not today")]), T0)
    events = session.next_events()
    assert events_of(events, ev.LogonRefused) == [ev.LogonRefused("not today", False)]
    assert session.state is SessionState.DISCONNECTING


def test_reset_seq_num_flag_both_ways() -> None:
    pair = make_pair(initiator={"reset_on_logon": True})
    for s in (pair.initiator, pair.acceptor):  # both had a history
        s.store.next_sender_seq_num = 40
        s.store.next_target_seq_num = 40
    pair.connect()
    (_, logon), (_, answer) = pair.log[0], pair.log[1]
    assert decode(logon).get(141) == b"Y" and decode(logon).seq_num == 1
    assert decode(answer).get(141) == b"Y" and decode(answer).seq_num == 1
    assert pair.initiator.is_logged_on and pair.acceptor.is_logged_on
    assert (pair.acceptor.next_sender_seq_num, pair.acceptor.next_target_seq_num) == (2, 2)
    assert ev.SequenceNumbersReset("logon") in pair.acceptor.next_events()


def test_logon_with_seq_too_low_is_refused() -> None:
    session = make_session("acceptor")
    session.store.next_target_seq_num = 10
    session.connection_made(T0)
    session.receive_frame(Peer(seq=5).logon(), T0)
    assert out(session)[0].get(58) == b"MsgSeqNum too low, expecting 10 but received 5"


def test_logon_with_seq_too_high_logs_on_then_asks_for_resend() -> None:
    session = make_session("acceptor")
    session.connection_made(T0)
    session.receive_frame(Peer(seq=5).logon(), T0)
    sent = out(session)
    assert types(sent) == ["A", "2"]
    assert (sent[1].get(7), sent[1].get(16)) == (b"1", b"0")
    assert session.is_logged_on and session.resend_range == (1, 4)


# ====================================================================== heartbeats


def test_heartbeat_test_request_and_disconnect_on_silence() -> None:
    session, peer = logged_on_acceptor(heart_bt_int=10)
    # Nothing sent for HeartBtInt: a Heartbeat.
    assert session.next_deadline() == T0 + 10
    session.poll(T0 + 10)
    assert types(out(session)) == ["0"]
    # Nothing received for HeartBtInt * 1.5: a TestRequest.
    session.poll(T0 + 15)
    sent = out(session)
    assert types(sent) == ["1"] and sent[0].get(112) == b"TEST1"
    # Nothing received for HeartBtInt * 2.4: disconnect.
    session.poll(T0 + 23.9)
    assert session.state is SessionState.ACTIVE
    session.poll(T0 + 24)
    assert session.state is SessionState.DISCONNECTING
    assert "TestRequest unanswered" in events_of(session.next_events(), ev.DisconnectRequested)[0].reason


def test_test_request_answered_keeps_session_alive() -> None:
    session, peer = logged_on_acceptor(heart_bt_int=10)
    session.poll(T0 + 15)
    assert types(out(session)) == ["1"]
    session.receive_frame(peer.frame("0", [(112, "TEST1")], now=T0 + 16), T0 + 16)
    assert ev.HeartbeatReceived("TEST1") in session.next_events()
    session.poll(T0 + 30)
    assert session.state is SessionState.ACTIVE


def test_heartbeat_echoes_test_req_id() -> None:
    session, peer = logged_on_acceptor()
    session.receive_frame(peer.frame("1", [(112, "abc")]), T0 + 1)
    sent = out(session)
    assert types(sent) == ["0"] and sent[0].get(112) == b"abc"


def test_test_request_without_id_is_rejected() -> None:
    session, peer = logged_on_acceptor(validate=False)
    session.receive_frame(peer.frame("1"), T0)
    reject = out(session)[0]
    assert (reject.msg_type, reject.get(373), reject.get(371)) == ("3", b"1", b"112")


# ====================================================================== sequence numbers


def test_gap_queues_messages_and_processes_them_in_order() -> None:
    session, peer = logged_on_acceptor()
    peer.seq = 5
    session.receive_frame(peer.order("o5"), T0)
    session.receive_frame(peer.order("o6"), T0)
    sent = out(session)
    assert types(sent) == ["2"] and (sent[0].get(7), sent[0].get(16)) == (b"2", b"0")
    assert not events_of(session.next_events(), ev.MessageReceived)
    # The resends arrive (PossDup): 2..4, then the queued 5 and 6 are delivered.
    for seq in (2, 3, 4):
        session.receive_frame(peer.order(f"o{seq}", seq=seq, poss_dup=True, orig=T0 - 1), T0)
    events = session.next_events()
    delivered = [e.message.get(11) for e in events_of(events, ev.MessageReceived)]
    assert delivered == [b"o2", b"o3", b"o4", b"o5", b"o6"]
    assert events_of(events, ev.GapFilled) == [ev.GapFilled(7)]
    assert session.next_target_seq_num == 7 and session.resend_range is None


def test_resend_request_chunks() -> None:
    session, peer = logged_on_acceptor(resend_request_chunk_size=2)
    peer.seq = 7
    session.receive_frame(peer.order("o7"), T0)
    assert [(m.get(7), m.get(16)) for m in out(session)] == [(b"2", b"3")]
    for seq in (2, 3):
        session.receive_frame(peer.order(seq=seq, poss_dup=True, orig=T0), T0)
    assert [(m.get(7), m.get(16)) for m in out(session)] == [(b"4", b"5")]
    session.receive_frame(peer.frame("4", [(123, "Y"), (36, 6)], seq=4, poss_dup=True, orig=T0), T0)
    # the last chunk reaches the end of the gap: open-ended.
    assert [(m.get(7), m.get(16)) for m in out(session)] == [(b"6", b"0")]
    session.receive_frame(peer.order(seq=6, poss_dup=True, orig=T0), T0)
    assert session.next_target_seq_num == 8 and session.resend_range is None


def test_resend_request_open_end_before_fix42() -> None:
    session, peer = logged_on_acceptor(begin_string="FIX.4.1", validate=False)
    peer.seq = 4
    session.receive_frame(peer.frame("0"), T0)
    assert out(session)[0].get(16) == b"999999"


def test_no_redundant_resend_request_unless_configured() -> None:
    for redundant, expected in ((False, 1), (True, 2)):
        session, peer = logged_on_acceptor(send_redundant_resend_requests=redundant)
        peer.seq = 5
        session.receive_frame(peer.order(), T0)
        session.receive_frame(peer.order(), T0)
        assert types(out(session)).count("2") == expected


def test_seq_too_low_without_poss_dup_logs_out() -> None:
    session, peer = logged_on_acceptor()
    session.receive_frame(peer.order(seq=1), T0)
    sent = out(session)
    assert types(sent) == ["5"] and sent[0].get(58) == b"MsgSeqNum too low, expecting 2 but received 1"
    assert session.state is SessionState.DISCONNECTING


def test_poss_dup_below_expected_is_ignored() -> None:
    session, peer = logged_on_acceptor()
    session.receive_frame(peer.order(), T0)
    session.next_events()
    session.receive_frame(peer.order(seq=2, poss_dup=True, orig=T0 - 5), T0)
    assert out(session) == []
    assert session.next_events() == [ev.DuplicateIgnored(2, "D")]


def test_poss_dup_orig_sending_time_checks() -> None:
    session, peer = logged_on_acceptor()
    session.receive_frame(peer.order(), T0)
    # OrigSendingTime missing: Reject(1, 122).
    session.receive_frame(peer.order(seq=2, poss_dup=True), T0)
    reject = out(session)[0]
    assert (reject.get(373), reject.get(371), reject.get(45)) == (b"1", b"122", b"2")
    # OrigSendingTime after SendingTime: Reject(10) and Logout.
    session.receive_frame(peer.order(seq=2, poss_dup=True, orig=T0 + 60), T0)
    sent = out(session)
    assert types(sent) == ["3", "5"] and sent[0].get(373) == b"10"
    assert session.state is SessionState.LOGOUT_SENT


def test_sending_time_accuracy() -> None:
    session, peer = logged_on_acceptor(max_latency=120)
    session.receive_frame(peer.order(now=T0 - 121), T0)
    sent = out(session)
    assert types(sent) == ["3", "5"]
    assert (sent[0].get(373), sent[0].get(371)) == (b"10", b"52")
    assert session.state is SessionState.LOGOUT_SENT
    # check_latency off: accepted.
    relaxed, peer = logged_on_acceptor(check_latency=False)
    relaxed.receive_frame(peer.order(now=T0 - 3600), T0)
    assert out(relaxed) == []


def test_comp_id_checked_on_every_message() -> None:
    session, peer = logged_on_acceptor()
    session.receive_frame(peer.order(sender="EVE"), T0)
    sent = out(session)
    assert types(sent) == ["3", "5"]
    assert (sent[0].get(373), sent[0].get(371)) == (b"9", b"49")
    assert session.state is SessionState.LOGOUT_SENT


# ====================================================================== resend answering


def test_resend_request_answered_from_store() -> None:
    pair = make_pair()
    pair.connect()
    ini, acc = pair.initiator, pair.acceptor
    for i in range(3):  # seq 2, 3, 4
        ini.send("D", [(11, f"o{i}"), (21, "1"), (55, "X"), (54, "1"), (60, "20231114-22:00:00"), (38, "1"), (40, "1")], pair.now)
    ini.test_request(pair.now, "T")  # seq 5: admin
    ini.send("B", [(148, "news"), (33, 1), (58, "x")], pair.now)  # seq 6
    pair.pump()
    acc.next_events()
    # The acceptor asks for 2..6 as if it had lost them.
    acc.store.next_target_seq_num = 2
    peer_view = Peer(sender="ACC", target="INI", seq=acc.next_sender_seq_num)
    acc.store.next_sender_seq_num += 1
    later = pair.now + 30
    ini.receive_frame(peer_view.frame("2", [(7, 2), (16, 0)], now=later), later)
    resent = out(ini)
    assert [(m.msg_type, m.seq_num) for m in resent] == [("D", 2), ("D", 3), ("D", 4), ("4", 5), ("B", 6)]
    for m in resent:
        assert m.get(43) == b"Y" and m.get(122) is not None
    originals = {decode(f).seq_num: decode(f) for _, f in pair.log if decode(f).get(49) == b"INI"}
    assert resent[0].get(122) == originals[2].get(52) and resent[0].get(52) == fmt_time(later).encode()
    assert resent[0].get(11) == b"o0"
    gap_fill = resent[3]
    assert (gap_fill.get(123), gap_fill.get(36)) == (b"Y", b"6")
    assert ev.MessagesResent(2, 6, 4, 1) in ini.next_events()


def test_resend_coalesces_admin_and_missing_into_gap_fills() -> None:
    session, peer = logged_on_acceptor()
    store = session.store
    store.next_sender_seq_num = 10  # 2..9 never stored
    session.send("8", [(37, "x"), (11, "o"), (17, "e"), (150, "0"), (39, "0"), (55, "X"), (54, "1"), (151, "0"), (14, "0"), (6, "0")], T0)
    session.send("8", [(37, "y"), (11, "o"), (17, "f"), (150, "0"), (39, "0"), (55, "X"), (54, "1"), (151, "0"), (14, "0"), (6, "0")], T0)
    out(session)
    session.receive_frame(peer.frame("2", [(7, 1), (16, 0)]), T0)
    sent = out(session)
    assert [(m.msg_type, m.seq_num, m.get(36)) for m in sent] == [
        ("4", 1, b"10"), ("8", 10, None), ("8", 11, None),
    ]


def test_resend_with_persist_messages_off_is_all_gap_fill() -> None:
    session, peer = logged_on_acceptor(persist_messages=False)
    session.send("B", [(148, "n"), (33, 1), (58, "x")], T0)
    out(session)
    session.receive_frame(peer.frame("2", [(7, 1), (16, 2)]), T0)
    sent = out(session)
    assert [(m.msg_type, m.get(36)) for m in sent] == [("4", b"3")]


def test_live_send_follows_a_resend() -> None:
    session, peer = logged_on_acceptor()
    session.send("B", [(148, "n1"), (33, 1), (58, "x")], T0)
    out(session)
    session.receive_frame(peer.frame("2", [(7, 1), (16, 0)]), T0)
    session.send("B", [(148, "n2"), (33, 1), (58, "x")], T0)
    sent = out(session)
    assert [(m.msg_type, m.seq_num, m.get(43)) for m in sent] == [("4", 1, b"Y"), ("B", 2, b"Y"), ("B", 3, None)]


def test_resend_request_above_a_gap_is_answered_at_once() -> None:
    session, peer = logged_on_acceptor()
    session.send("B", [(148, "n1"), (33, 1), (58, "x")], T0)
    out(session)
    peer.seq = 4
    session.receive_frame(peer.frame("2", [(7, 2), (16, 0)]), T0)
    sent = out(session)
    assert [(m.msg_type, m.seq_num) for m in sent] == [("B", 2), ("2", 3)]
    # when the gap is filled, the queued ResendRequest is not answered twice.
    session.receive_frame(peer.frame("4", [(123, "Y"), (36, 4)], seq=2, poss_dup=True, orig=T0), T0)
    assert out(session) == [] and session.next_target_seq_num == 5


def test_messages_sent_while_disconnected_are_stored_and_resent() -> None:
    pair = make_pair()
    ini = pair.initiator
    ini.send("B", [(148, "offline"), (33, 1), (58, "x")], T0)  # seq 1, not transmitted
    assert ini.data_to_send() == []
    pair.connect()  # Logon carries 2: the acceptor asks for 1
    events = pair.acceptor.next_events()
    news = [e for e in events_of(events, ev.MessageReceived)]
    assert [(e.message.get(148), e.poss_dup) for e in news] == [(b"offline", True)]
    assert events_of(events, ev.GapFilled) == [ev.GapFilled(3)]


# ====================================================================== SequenceReset


def test_gap_fill_moves_expected_and_low_new_seq_no_is_rejected() -> None:
    session, peer = logged_on_acceptor()
    session.receive_frame(peer.frame("4", [(123, "Y"), (36, 10)], poss_dup=True, orig=T0), T0)
    assert session.next_target_seq_num == 10
    peer.seq = 10
    session.receive_frame(peer.frame("4", [(123, "Y"), (36, 8)]), T0)
    reject = out(session)[0]
    assert (reject.msg_type, reject.get(373), reject.get(371), reject.get(45)) == ("3", b"5", b"36", b"10")
    assert session.next_target_seq_num == 11


def test_sequence_reset_reset_mode() -> None:
    session, peer = logged_on_acceptor()
    session.receive_frame(peer.frame("4", [(36, 20)], seq=99), T0)  # MsgSeqNum ignored
    assert session.next_target_seq_num == 20
    session.receive_frame(peer.frame("4", [(36, 20)], seq=1), T0)  # equal: nothing
    assert out(session) == [] and session.next_target_seq_num == 20
    session.receive_frame(peer.frame("4", [(36, 5)], seq=20), T0)  # lower: Reject
    reject = out(session)[0]
    assert (reject.msg_type, reject.get(373), reject.get(371)) == ("3", b"5", b"36")
    assert session.next_target_seq_num == 20
    assert [e.new_seq_no for e in events_of(session.next_events(), ev.SequenceResetReceived)] == [20, 20, 5]


def test_sending_a_sequence_reset() -> None:
    pair = make_pair()
    pair.connect()
    pair.initiator.sequence_reset(pair.now, 50)
    pair.pump()
    assert pair.acceptor.next_target_seq_num == 50 and pair.initiator.next_sender_seq_num == 50
    with pytest.raises(LocalProtocolError):
        pair.initiator.sequence_reset(pair.now, 10)


# ====================================================================== rejects


def test_invalid_enum_value_gets_a_reject_and_consumes_the_seq_num() -> None:
    session, peer = logged_on_acceptor()
    session.receive_frame(peer.order(side="Z"), T0)
    reject = out(session)[0]
    assert reject.msg_type == "3"
    assert (reject.get(45), reject.get(371), reject.get(372), reject.get(373)) == (b"2", b"54", b"D", b"5")
    events = session.next_events()
    assert not events_of(events, ev.MessageReceived)
    assert events_of(events, ev.RejectSent)[0].ref_tag_id == 54
    session.receive_frame(peer.order("ok"), T0)
    assert events_of(session.next_events(), ev.MessageReceived)


def test_reject_before_fix42_has_no_reason_fields() -> None:
    session, peer = logged_on_acceptor(begin_string="FIX.4.1", validate=False)
    session.receive_frame(peer.frame("1"), T0)
    reject = out(session)[0]
    assert reject.get(45) == b"2" and reject.get(373) is None and reject.get(58) is not None


def test_garbled_message_is_ignored() -> None:
    session, peer = logged_on_acceptor()
    frame = bytearray(peer.order())
    frame[-4:-1] = b"000" if frame[-4:-1] != b"000" else b"001"  # wrong CheckSum
    session.receive_data(bytes(frame), T0)
    assert out(session) == []
    assert isinstance(session.next_events()[0], ev.GarbledMessageIgnored)
    assert session.next_target_seq_num == 2  # not consumed: the same number is accepted next
    peer.seq = 2
    session.receive_data(peer.order(), T0)
    assert events_of(session.next_events(), ev.MessageReceived)


def test_business_message_reject_for_unsupported_types() -> None:
    session, peer = logged_on_acceptor(reject_unsupported_app_messages=True, supported_app_msg_types=frozenset({"D"}))
    session.receive_frame(peer.frame("B", [(148, "n"), (33, 1), (58, "x")]), T0)
    bmr = out(session)[0]
    assert bmr.msg_type == "j"
    assert (bmr.get(45), bmr.get(372), bmr.get(380)) == (b"2", b"B", b"3")
    assert events_of(session.next_events(), ev.BusinessRejectSent)
    # A user-defined type the dictionary lacks: BusinessMessageReject; an unknown one: Reject.
    old, peer42 = logged_on_acceptor(begin_string="FIX.4.2")
    old.receive_frame(peer42.frame("UX", [(58, "t1")]), T0)
    bmr = out(old)[0]
    assert (bmr.msg_type, bmr.get(380), bmr.get(372)) == ("j", b"3", b"UX")
    old.receive_frame(peer42.frame("ZZ", [(58, "t1")]), T0)
    reject = out(old)[0]
    assert (reject.msg_type, reject.get(373), reject.get(372)) == ("3", b"11", b"ZZ")


def test_reject_received_is_reported() -> None:
    session, peer = logged_on_acceptor()
    session.receive_frame(peer.frame("3", [(45, 7), (373, 5), (371, 54), (58, "bad")]), T0)
    reject = events_of(session.next_events(), ev.RejectReceived)[0]
    assert (reject.ref_seq_num, reject.reason, reject.ref_tag_id, reject.text) == (7, 5, 54, "bad")


@hsettings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_never_breaks_the_session(data: bytes) -> None:
    session, peer = logged_on_acceptor()
    session.receive_data(b"8=FIX.4.4\x01" + data, T0)
    session.receive_data(data, T0)
    out(session)
    session.next_events()
    assert session.state in (SessionState.ACTIVE, SessionState.LOGOUT_SENT, SessionState.DISCONNECTING)


# ====================================================================== logout


def test_logout_handshake_initiated_by_us() -> None:
    pair = make_pair()
    pair.connect()
    pair.initiator.logout(pair.now, "bye")
    assert pair.initiator.state is SessionState.LOGOUT_SENT
    pair.pump()
    assert pair.acceptor.state is SessionState.DISCONNECTING
    assert pair.initiator.state is SessionState.DISCONNECTING
    assert ev.LogoutReceived("bye") in pair.acceptor.next_events()


def test_logout_timeout() -> None:
    session, peer = logged_on_acceptor(logout_timeout=2)
    session.logout(T0, "bye")
    assert session.next_deadline() == T0 + 2
    session.poll(T0 + 1)
    assert session.state is SessionState.LOGOUT_SENT
    session.poll(T0 + 2)
    assert session.state is SessionState.DISCONNECTING


def test_messages_still_processed_while_waiting_for_logout_answer() -> None:
    session, peer = logged_on_acceptor()
    session.logout(T0)
    out(session)
    session.receive_frame(peer.frame("1", [(112, "x")]), T0)
    assert types(out(session)) == ["0"]


@pytest.mark.parametrize("option", ["reset_on_logout", "reset_on_disconnect"])
def test_reset_on_logout_and_disconnect(option: str) -> None:
    pair = make_pair(**{option: True})
    pair.connect()
    pair.initiator.send("B", [(148, "n"), (33, 1), (58, "x")], pair.now)
    pair.initiator.logout(pair.now)
    pair.pump()
    pair.disconnect()
    for s in (pair.initiator, pair.acceptor):
        assert (s.next_sender_seq_num, s.next_target_seq_num) == (1, 1)
        assert list(s.store.read_range(Direction.OUTBOUND, 1, 0)) == []


def test_no_reset_keeps_sequence_numbers_across_reconnects() -> None:
    pair = make_pair()
    pair.connect()
    pair.initiator.logout(pair.now)
    pair.pump()
    pair.disconnect()
    pair.connect()
    assert pair.initiator.is_logged_on
    assert decode(pair.log[-2][1]).seq_num == 3  # second Logon after Logon + Logout


# ====================================================================== schedule


def daily(**kw: Any) -> dict[str, Any]:
    return {"start_time": dt.time(8), "end_time": dt.time(17), "time_zone": "UTC", **kw}


T_OPEN = dt.datetime(2023, 11, 14, 9, tzinfo=dt.timezone.utc).timestamp()
T_CLOSED = dt.datetime(2023, 11, 14, 18, tzinfo=dt.timezone.utc).timestamp()


def test_logon_outside_session_time_is_refused() -> None:
    session = make_session("acceptor", **daily(), check_latency=False)
    session.connection_made(T_CLOSED)
    session.receive_frame(Peer().logon(now=T_CLOSED), T_CLOSED)
    assert out(session)[0].get(58) == b"Logon attempt not within session time"
    initiator = make_session("initiator", **daily())
    initiator.connection_made(T_CLOSED)
    initiator.logon(T_CLOSED)
    assert initiator.state is SessionState.DISCONNECTING and out(initiator) == []


def test_new_session_period_resets_sequence_numbers_and_end_logs_out() -> None:
    yesterday = T_OPEN - 86400
    store = MemoryStore(yesterday)
    store.next_sender_seq_num = store.next_target_seq_num = 50
    session = make_session("acceptor", store=store, **daily())
    session.connection_made(T_OPEN)
    session.receive_frame(Peer().logon(now=T_OPEN), T_OPEN)
    assert session.is_logged_on and out(session)[0].seq_num == 1
    assert ev.SequenceNumbersReset("schedule") in session.next_events()
    end = dt.datetime(2023, 11, 14, 17, tzinfo=dt.timezone.utc).timestamp()
    session.receive_frame(Peer(seq=2).frame("0", now=end - 1), end - 1)
    session.poll(end - 1)
    out(session)
    deadline = session.next_deadline()
    assert deadline is not None and deadline <= end + 1
    session.poll(end - 0.5)
    assert out(session) == []
    session.poll(end + 0.01)
    sent = out(session)
    assert types(sent) == ["5"] and sent[0].get(58) == b"Session end"


def test_parse_sending_time() -> None:
    assert parse_sending_time(b"20231114-22:13:20") == T0
    assert parse_sending_time(b"20231114-22:13:20.250") == T0 + 0.25
    with pytest.raises(ValueError):
        parse_sending_time(b"2023-11-14T22:13:20")


# ====================================================================== the table


def test_inputs_outside_the_table_are_refused() -> None:
    session = make_session("acceptor")
    with pytest.raises(LocalProtocolError):
        session.logon(T0)  # not connected
    session.connection_made(T0)
    with pytest.raises(LocalProtocolError):
        session.logon(T0)  # an acceptor does not start the Logon
    with pytest.raises(LocalProtocolError):
        session.test_request(T0)  # not logged on
    with pytest.raises(LocalProtocolError):
        session.send("0", [], T0)  # admin messages are the session's own
    with pytest.raises(LocalProtocolError):
        session.connection_made(T0)  # twice


def test_state_changes_are_reported() -> None:
    pair = make_pair()
    pair.connect()
    changes = [(e.old, e.new) for e in pair.initiator.next_events() if isinstance(e, ev.SessionStateChanged)]
    assert changes == [
        (SessionState.DISCONNECTED, SessionState.CONNECTED),
        (SessionState.CONNECTED, SessionState.LOGON_SENT),
        (SessionState.LOGON_SENT, SessionState.ACTIVE),
    ]


def test_message_that_frames_but_does_not_decode_gets_a_reject() -> None:
    session, peer = logged_on_acceptor()
    # NoPartyIDs(453)=2 with one instance: the dictionary-driven decode fails on the group.
    frame = peer.frame("D", [(11, "g"), (453, 2), (448, "P1"), (447, "D"), (452, 1), (21, "1"),
                             (55, "IBM"), (54, "1"), (60, "20231114-22:00:00"), (38, 1), (40, "1")])  # fmt: skip
    session.receive_data(frame, T0)
    reject = out(session)[0]
    assert (reject.msg_type, reject.get(45), reject.get(373)) == ("3", b"2", b"16")
    assert (reject.get(371), reject.get(372)) == (b"453", b"D")
    assert session.next_target_seq_num == 3


def test_group_instance_not_led_by_its_delimiter_gets_reject_15() -> None:
    session, peer = logged_on_acceptor()
    # NoPartyIDs(453)=1 whose instance starts with PartyIDSource(447), not PartyID(448).
    frame = peer.frame("D", [(11, "g"), (453, 1), (447, "D"), (448, "P1"), (452, 1), (21, "1"),
                             (55, "IBM"), (54, "1"), (60, "20231114-22:00:00"), (38, 1), (40, "1")])  # fmt: skip
    session.receive_data(frame, T0)
    reject = out(session)[0]
    assert (reject.msg_type, reject.get(45), reject.get(373)) == ("3", b"2", b"15")
    assert (reject.get(371), reject.get(372)) == (b"453", b"D")
    assert session.next_target_seq_num == 3
    assert session.state is SessionState.ACTIVE


def test_reject_texts_come_from_the_one_reason_table() -> None:
    from fixg.fix import session as session_module
    from fixg.fix.validation import REASON_TEXT

    assert session_module.REJECT_REASON_TEXT is REASON_TEXT


@hsettings(max_examples=60, deadline=None)
@given(
    drops=st.sets(st.integers(min_value=2, max_value=40)),
    chunk=st.sampled_from([0, 1, 3, 10]),
)
def test_any_lost_frames_are_recovered_exactly_once_in_order(drops: set[int], chunk: int) -> None:
    """Frames from the initiator with the sequence numbers in ``drops`` vanish the first time;
    ResendRequest, PossDup resends and gap fills must deliver every order once, in order."""
    pair = make_pair(acceptor={"resend_request_chunk_size": chunk})
    pair.connect()
    pair.acceptor.next_events()
    delivered: list[bytes] = []
    dropped: set[int] = set()

    def pump() -> None:
        moved = True
        while moved:
            moved = False
            for frame in pair.initiator.data_to_send():
                moved = True
                msg = decode(frame)
                if msg.seq_num in drops and msg.seq_num not in dropped and msg.get(43) != b"Y":
                    dropped.add(msg.seq_num)
                    continue
                pair.acceptor.receive_data(frame, pair.now)
            for frame in pair.acceptor.data_to_send():
                moved = True
                pair.initiator.receive_data(frame, pair.now)
            for event in pair.acceptor.next_events():
                if isinstance(event, ev.MessageReceived):
                    delivered.append(event.message.get(148))

    for i in range(40):
        pair.initiator.send("B", [(148, f"n{i}"), (33, 1), (58, "x")], pair.now)
        if i % 7 == 0:
            pair.initiator.test_request(pair.now)  # admin messages in the stream too
        pump()
    pair.initiator.test_request(pair.now, "last")
    pump()
    pair.initiator.test_request(pair.now, "after-last")  # reveals a lost final message
    pump()
    assert delivered == [f"n{i}".encode() for i in range(40)]
    assert pair.acceptor.is_logged_on and pair.initiator.is_logged_on
    assert pair.acceptor.resend_range is None
