"""fixg against QuickFIX (PyPI ``quickfix-tls``), FIX.4.2, FIX.4.4 and FIXT.1.1/FIX.5.0SP2,
over real sockets on 127.0.0.1 with HeartBtInt=1. Every wait is bounded (qfharness.WAIT)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fixg.fix import events as ev
from fixg.fix.session import Session
from fixg.fix.settings import SessionSettings
from fixg.gateway import Acceptor, Initiator, create_session
from fixg.store.memory import MemoryStore
from interop.qfharness import QFHarness, Recorder, fixg_settings_extra, run, wait_for

pytestmark = pytest.mark.interop

ALL_VERSIONS = ["FIX.4.2", "FIX.4.4", "FIXT.1.1"]


def order_fields(cl_ord_id: str, side: str = "1") -> list[tuple[int, Any]]:
    return [
        (11, cl_ord_id), (21, "1"), (55, "IBM"), (54, side), (60, "20240102-10:00:00.000"),
        (38, "100"), (40, "1"),
    ]  # fmt: skip


def report_fields(order: Any, begin_string: str) -> list[tuple[int, Any]]:
    cl = order.get(11).decode()
    fields: list[tuple[int, Any]] = [
        (37, "O-" + cl), (11, cl), (17, "E-" + cl), (150, "0"), (39, "0"), (55, "IBM"),
        (54, "1"), (151, "100"), (14, "0"), (6, "0"),
    ]  # fmt: skip
    if begin_string == "FIX.4.2":
        fields.append((20, "0"))
    return fields


def fixg_initiator(begin_string: str, port: int, **kw: Any) -> Session:
    settings = SessionSettings(
        begin_string, kw.pop("sender", "FIXG"), kw.pop("target", "QF"), "initiator",
        heart_bt_int=1, socket_connect_hosts=(("127.0.0.1", port),), reconnect_interval=0.2,
        max_reconnect_interval=1.0, logon_timeout=5, **fixg_settings_extra(begin_string), **kw,
    )  # fmt: skip
    return create_session(settings, MemoryStore())


def fixg_acceptor_session(begin_string: str, **kw: Any) -> Session:
    settings = SessionSettings(
        begin_string, "FIXG", "QF", "acceptor", logon_timeout=5,
        **fixg_settings_extra(begin_string), **kw,
    )  # fmt: skip
    return create_session(settings, MemoryStore())


def received(recorder: Recorder, msg_type: bytes) -> list[Any]:
    return [e for e in recorder.of(ev.MessageReceived) if e.message.get(35) == msg_type]


def admin_in(qf: QFHarness, msg_type: str, pred: Callable[[dict[int, str]], bool] = lambda m: True) -> int:
    return qf.app.count("admin_in", lambda m: m.get(35) == msg_type and pred(m))


# ------------------------------------------------------------------ logon, heartbeats, logout


@pytest.mark.parametrize("begin_string", ALL_VERSIONS)
def test_fixg_initiator_quickfix_acceptor(
    begin_string: str, quickfix_factory: Any, recorder: Recorder
) -> None:
    qf = quickfix_factory(role="acceptor", begin_string=begin_string)
    session = fixg_initiator(begin_string, qf.port)

    async def scenario() -> None:
        async with Initiator(session, on_event=recorder) as ini:
            await ini.wait_logged_on(10)
            await wait_for(lambda: qf.app.logons == 1, "QuickFIX onLogon")
            # An order and QuickFIX's ExecutionReport.
            ini.send("D", order_fields("ord-1"))
            await wait_for(lambda: received(recorder, b"8"), "ExecutionReport")
            assert received(recorder, b"8")[0].message.get(11) == b"ord-1"
            # Our TestRequest answered with its TestReqID; theirs answered by us.
            assert ini.connection is not None
            ini.connection.test_request("PING-1")
            await wait_for(
                lambda: any(e.test_req_id == "PING-1" for e in recorder.of(ev.HeartbeatReceived)),
                "Heartbeat answering our TestRequest",
            )
            qf.send("1", [(112, "QF-PING")])
            await wait_for(
                lambda: admin_in(qf, "0", lambda m: m.get(112) == "QF-PING") == 1,
                "our Heartbeat echoing TestReqID",
            )
            # Idle: heartbeats both ways every HeartBtInt (1 s).
            await wait_for(
                lambda: any(e.test_req_id is None for e in recorder.of(ev.HeartbeatReceived))
                and admin_in(qf, "0", lambda m: 112 not in m) >= 1,
                "idle heartbeats both ways",
            )
            ini.logout("bye")
            await wait_for(lambda: recorder.of(ev.LogoutReceived), "Logout answer")
            await wait_for(lambda: qf.app.logouts == 1, "QuickFIX onLogout")
    run(scenario())
    assert not recorder.of(ev.RejectReceived) and not recorder.of(ev.RejectSent)
    assert admin_in(qf, "5", lambda m: m.get(58) == "bye") == 1
    assert session.next_sender_seq_num == qf.session.getExpectedTargetNum()


@pytest.mark.parametrize("begin_string", ALL_VERSIONS)
def test_quickfix_initiator_fixg_acceptor(
    begin_string: str, quickfix_factory: Any, recorder: Recorder
) -> None:
    session = fixg_acceptor_session(begin_string)

    async def scenario() -> None:
        acceptor: Acceptor

        def on_event(s: Session, event: ev.Event) -> None:
            recorder(s, event)
            if isinstance(event, ev.MessageReceived) and event.message.get(35) == b"D":
                acceptor.send(s.key, "8", report_fields(event.message, begin_string))

        async with Acceptor([session], port=0, on_event=on_event) as acceptor:
            qf = quickfix_factory(role="initiator", begin_string=begin_string, port=acceptor.port)
            await wait_for(lambda: qf.app.logons == 1, "QuickFIX onLogon")
            assert session.is_logged_on and session.heart_bt_int == 1
            qf.send("D", order_fields("q-1"))
            await wait_for(lambda: qf.app.count("app_in", lambda m: m.get(35) == "8") == 1, "ExecutionReport at QuickFIX")
            await wait_for(lambda: admin_in(qf, "0") >= 1 and recorder.of(ev.HeartbeatReceived), "heartbeats")
            qf.session.logout("done")
            await wait_for(lambda: any(e.text == "done" for e in recorder.of(ev.LogoutReceived)), "Logout from QuickFIX")
            await wait_for(lambda: qf.app.logouts == 1, "QuickFIX onLogout")
            await wait_for(lambda: recorder.of(ev.Disconnected), "disconnect")
    run(scenario())
    assert not recorder.of(ev.RejectReceived) and not recorder.of(ev.RejectSent)


# ------------------------------------------------------------------ gaps and resends


@pytest.mark.parametrize("begin_string", ALL_VERSIONS)
def test_quickfix_recovers_gap_from_fixg(
    begin_string: str, quickfix_factory: Any, recorder: Recorder
) -> None:
    """Orders sent while fixg was offline, then sequence numbers advanced in fixg's store:
    QuickFIX asks for both gaps; fixg resends the orders with PossDupFlag and gap-fills the
    rest (its Logon and the skipped numbers)."""
    qf = quickfix_factory(role="acceptor", begin_string=begin_string)
    session = fixg_initiator(begin_string, qf.port)
    for i in range(3):
        session.send("D", order_fields(f"off-{i}"), 1.0e9 + i)

    async def scenario() -> None:
        async with Initiator(session, on_event=recorder) as ini:
            await ini.wait_logged_on(10)
            await wait_for(lambda: qf.app.count("app_in", lambda m: m.get(35) == "D") == 3, "3 resent orders")
            assert qf.app.count("app_in", lambda m: m.get(43) == "Y" and 122 in m) == 3
            await wait_for(lambda: recorder.of(ev.MessagesResent), "resend answered")
            first = recorder.of(ev.MessagesResent)[0]
            assert first.resent == 3 and first.gap_fills >= 1
            # Skip five sequence numbers: QuickFIX sees a gap and fixg gap-fills it.
            session.store.next_sender_seq_num += 5
            ini.send("D", order_fields("after-skip"))
            await wait_for(
                lambda: qf.app.count("app_in", lambda m: m.get(11) == "after-skip") == 1,
                "the order after the skipped numbers",
            )
            await wait_for(lambda: len(recorder.of(ev.MessagesResent)) == 2, "second resend")
            second = recorder.of(ev.MessagesResent)[1]
            assert (second.resent, second.gap_fills) == (1, 1)  # 5-9 filled, 10 resent
            await wait_for(
                lambda: qf.session.getExpectedTargetNum() == session.next_sender_seq_num,
                "QuickFIX in step with fixg",
            )
            await wait_for(lambda: len(received(recorder, b"8")) == 4, "4 ExecutionReports")
            assert admin_in(qf, "4", lambda m: m.get(123) == "Y") >= 1
            assert admin_in(qf, "5") == 0 and admin_in(qf, "3") == 0
    run(scenario())


@pytest.mark.parametrize("begin_string", ALL_VERSIONS)
def test_fixg_recovers_gap_from_quickfix(
    begin_string: str, quickfix_factory: Any, recorder: Recorder
) -> None:
    """QuickFIX stores five messages while fixg is away; on Logon fixg asks for them in
    chunks of 2 and gets them with PossDupFlag. Then QuickFIX skips sequence numbers and fixg
    recovers through QuickFIX's gap fill."""
    qf = quickfix_factory(role="acceptor", begin_string=begin_string, echo_orders=False)
    for i in range(5):
        qf.send("B", [(148, f"news-{i}"), (33, "1"), (58, f"line {i}")])
    session = fixg_initiator(begin_string, qf.port, resend_request_chunk_size=2)

    async def scenario() -> None:
        async with Initiator(session, on_event=recorder) as ini:
            await ini.wait_logged_on(10)
            await wait_for(lambda: len(received(recorder, b"B")) == 5, "5 resent news")
            news = received(recorder, b"B")
            assert [e.message.get(148) for e in news] == [f"news-{i}".encode() for i in range(5)]
            assert all(e.poss_dup for e in news)
            requests = recorder.of(ev.ResendRequestSent)
            assert [(r.begin, r.end) for r in requests] == [(1, 2), (3, 4), (5, 0 if begin_string != "FIX.4.0" else 999999)]
            await wait_for(lambda: recorder.of(ev.GapFilled), "gap filled")
            # QuickFIX jumps ahead: fixg detects the gap, QuickFIX gap-fills it.
            qf.session.setNextSenderMsgSeqNum(qf.session.getExpectedSenderNum() + 4)
            qf.send("B", [(148, "after-jump"), (33, "1"), (58, "x")])
            await wait_for(lambda: len(received(recorder, b"B")) == 6, "message after the jump")
            assert received(recorder, b"B")[-1].message.get(148) == b"after-jump"
            await wait_for(lambda: len(recorder.of(ev.GapFilled)) == 2, "second gap filled")
            assert any(e.gap_fill for e in recorder.of(ev.SequenceResetReceived))
            assert session.next_target_seq_num == qf.session.getExpectedSenderNum()
    run(scenario())
    assert not recorder.of(ev.RejectSent) and admin_in(qf, "3") == 0


# ------------------------------------------------------------------ resets, garbled, rejects


def test_sequence_reset_both_directions(quickfix_factory: Any, recorder: Recorder) -> None:
    qf = quickfix_factory(role="acceptor", begin_string="FIX.4.4", echo_orders=False)
    session = fixg_initiator("FIX.4.4", qf.port)

    async def scenario() -> None:
        async with Initiator(session, on_event=recorder) as ini:
            await ini.wait_logged_on(10)
            await wait_for(lambda: qf.app.logons == 1, "QuickFIX onLogon")
            # QuickFIX -> fixg: SequenceReset-Reset to 50.
            qf.send("4", [(36, "50")])
            qf.session.setNextSenderMsgSeqNum(50)
            qf.send("B", [(148, "after-reset"), (33, "1"), (58, "x")])
            await wait_for(lambda: received(recorder, b"B"), "message after the reset")
            assert recorder.of(ev.SequenceResetReceived)[0] == ev.SequenceResetReceived(50, False)
            assert session.next_target_seq_num == 51
            # fixg -> QuickFIX: SequenceReset-Reset to 100.
            assert ini.connection is not None
            ini.connection.sequence_reset(100)
            ini.send("B", [(148, "fixg-after-reset"), (33, "1"), (58, "y")])
            await wait_for(lambda: qf.app.count("app_in", lambda m: m.get(148) == "fixg-after-reset") == 1, "QuickFIX got it")
            assert qf.session.getExpectedTargetNum() == 101
    run(scenario())
    assert not recorder.of(ev.ResendRequestSent) and not recorder.of(ev.RejectReceived)
    assert admin_in(qf, "2") == 0


def test_garbled_message_is_ignored_by_quickfix(quickfix_factory: Any, recorder: Recorder) -> None:
    qf = quickfix_factory(role="acceptor", begin_string="FIX.4.4")
    session = fixg_initiator("FIX.4.4", qf.port)

    async def scenario() -> None:
        async with Initiator(session, on_event=recorder) as ini:
            await ini.wait_logged_on(10)
            assert ini.connection is not None
            seq = session.next_sender_seq_num
            # A frame with a wrong CheckSum carrying the next sequence number: garbled.
            bad = b"8=FIX.4.4\x019=45\x0135=D\x0149=FIXG\x0156=QF\x0134=%d\x0152=20240101-00:00:00\x0110=000\x01" % seq
            ini.connection.write_raw(bad)
            ini.send("D", order_fields("after-garbled"))
            await wait_for(lambda: received(recorder, b"8"), "ExecutionReport after the garbled frame")
            assert qf.app.count("app_in", lambda m: m.get(11) == "after-garbled") == 1
            assert admin_in(qf, "2") == 0 and admin_in(qf, "5") == 0 and admin_in(qf, "3") == 0
            assert qf.app.logons == 1 and qf.app.logouts == 0
    run(scenario())


def test_invalid_enum_rejected_both_ways(quickfix_factory: Any, recorder: Recorder) -> None:
    qf = quickfix_factory(role="acceptor", begin_string="FIX.4.4", echo_orders=False)
    session = fixg_initiator("FIX.4.4", qf.port)

    async def scenario() -> None:
        async with Initiator(session, on_event=recorder) as ini:
            await ini.wait_logged_on(10)
            await wait_for(lambda: qf.app.logons == 1, "QuickFIX onLogon")
            # fixg sends Side(54)=Z: QuickFIX rejects it.
            seq = ini.send("D", order_fields("bad-side", side="Z"))
            await wait_for(lambda: recorder.of(ev.RejectReceived), "QuickFIX's Reject")
            reject = recorder.of(ev.RejectReceived)[0]
            assert (reject.ref_seq_num, reject.reason, reject.ref_tag_id) == (seq, 5, 54)
            # QuickFIX sends Side(54)=Z: fixg rejects it.
            qf.send("D", order_fields("qf-bad-side", side="Z"))
            await wait_for(lambda: admin_in(qf, "3") == 1, "fixg's Reject at QuickFIX")
    run(scenario())
    rejects = [m for m in qf.app.admin_in if m.get(35) == "3"]
    assert rejects[0][373] == "5" and rejects[0][371] == "54" and rejects[0][372] == "D"
    assert recorder.of(ev.RejectSent)[0].reason == 5
    assert not received(recorder, b"D")


def test_logon_with_wrong_compid_refused_by_quickfix(quickfix_factory: Any, recorder: Recorder) -> None:
    qf = quickfix_factory(role="acceptor", begin_string="FIX.4.4")
    session = fixg_initiator("FIX.4.4", qf.port, sender="INTRUDER")

    async def scenario() -> None:
        async with Initiator(session, on_event=recorder) as ini:
            await wait_for(lambda: len(recorder.of(ev.Disconnected)) >= 1, "QuickFIX drops us")
            assert not recorder.of(ev.LogonCompleted)
            assert ini.connect_attempts >= 1
    run(scenario())
    assert qf.app.logons == 0


def test_logon_with_wrong_compid_refused_by_fixg(quickfix_factory: Any, recorder: Recorder) -> None:
    session = fixg_acceptor_session("FIX.4.4")

    async def scenario() -> None:
        async with Acceptor([session], port=0, on_event=recorder) as acceptor:
            qf = quickfix_factory(role="initiator", begin_string="FIX.4.4", sender="INTRUDER", port=acceptor.port)
            await wait_for(
                lambda: admin_in(qf, "5", lambda m: "Unknown session" in m.get(58, "")) >= 1,
                "fixg's Logout with the reason",
            )
            qf.stop()
    run(scenario())
    assert session.state.value == "disconnected" and not recorder.of(ev.LogonCompleted)
