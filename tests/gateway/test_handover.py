"""What a lost client had been handed but had not acknowledged goes to the next owner (in
process; tests/aeron/test_aeron_transport.py does the same across processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixg import FixClient, Gateway, loads_config
from fixg.client.client import GatewayDisconnectedError
from fixg.config import Config
from fixg.fix.codec import decode
from fixg.gateway import EventQueue
from fixg.transport import protocol as p

from gateway.test_engine import ACCEPTOR_GW_BANK, ORDER, WAIT, next_of
from testutil import bank_initiator, gw_bank_key, run


def gateway_config(journal: Path) -> Config:
    """An acceptor session GW->BANK; a client silent for 1 s loses its sessions."""
    return loads_config(f"""
[gateway]
accept_host = "127.0.0.1"
accept_port = 0
client_timeout_ms = 1000
[storage]
path = "{journal}"
{ACCEPTOR_GW_BANK}
""")


def test_messages_a_lost_client_did_not_acknowledge_reach_the_next_owner(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Gateway(gateway_config(tmp_path)) as gw:
            queue = EventQueue()
            async with bank_initiator(gw.port, queue) as bank, FixClient.connect(gw, name="next") as nxt:
                # "lost" heartbeats (and so acknowledges) only every 60 s: nothing it receives
                # is acknowledged before it is abandoned.
                lost = await FixClient.connect(gw, name="lost", heartbeat_interval_ms=60_000).start()
                sid = await lost.claim(key=str(gw_bank_key()))
                await bank.wait_logged_on(WAIT)
                for i in range(8):
                    bank.send("D", [(11, f"o-{i}"), *ORDER[1:]])
                got = [await next_of(lost, p.ApplicationMessageReceived) for _ in range(8)]
                assert [decode(g.data).get(11) for g in got] == [f"o-{i}".encode() for i in range(8)]
                lost.abandon()  # gone without a Goodbye, like a crashed process
                await next_of(nxt, p.OwnershipChanged, pred=lambda e: e.owner_client_id == 0, timeout=WAIT)
                await nxt.claim(sid)
                again = [await next_of(nxt, p.ApplicationMessageReceived) for _ in range(8)]
                assert [decode(g.data).get(11) for g in again] == [f"o-{i}".encode() for i in range(8)]
                assert [g.seq_num for g in again] == [g.seq_num for g in got]

    run(scenario())


def test_acknowledged_messages_are_not_handed_over_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Gateway(gateway_config(tmp_path)) as gw:
            queue = EventQueue()
            async with bank_initiator(gw.port, queue) as bank, FixClient.connect(gw, name="next") as nxt:
                first = await FixClient.connect(gw, name="first").start()
                sid = await first.claim(key=str(gw_bank_key()))
                await bank.wait_logged_on(WAIT)
                for i in range(4):
                    bank.send("D", [(11, f"o-{i}"), *ORDER[1:]])
                for _ in range(4):
                    await next_of(first, p.ApplicationMessageReceived)
                await first.aclose()  # a Goodbye carries the acknowledgement
                await next_of(nxt, p.OwnershipChanged, pred=lambda e: e.owner_client_id == 0, timeout=WAIT)
                await nxt.claim(sid)
                bank.send("D", [(11, "o-after"), *ORDER[1:]])
                got = await next_of(nxt, p.ApplicationMessageReceived)
                assert decode(got.data).get(11) == b"o-after"

    run(scenario())


def test_a_client_back_on_a_new_link_takes_over_even_if_the_old_link_looks_alive(tmp_path: Path) -> None:
    """The client gave up on its link before the Gateway noticed (the client timed out first,
    or the Gateway stalled): its Hello naming the old client id and epoch retires the old link
    and hands the sessions over, instead of leaving them to the old link's time-out."""

    async def scenario() -> None:
        async with Gateway(gateway_config(tmp_path)) as gw:
            queue = EventQueue()
            async with bank_initiator(gw.port, queue) as bank:
                old = await FixClient.connect(gw, name="app").start()
                sid = await old.claim(key=str(gw_bank_key()))
                await bank.wait_logged_on(WAIT)
                again = FixClient.connect(gw, name="app")
                again.client_id, again.gateway_epoch = old.client_id, old.gateway_epoch  # as after a lost link
                async with again:
                    assert again.client_id != old.client_id
                    change = await next_of(again, p.OwnershipChanged, pred=lambda e: e.session_id == sid)
                    assert change.owner_client_id == again.client_id
                    with pytest.raises(GatewayDisconnectedError):
                        while True:  # the old link was closed by the Gateway
                            await old.next_event(WAIT)
                    bank.send("D", ORDER)
                    got = await next_of(again, p.ApplicationMessageReceived)
                    assert decode(got.data).get(11) == b"o-1"
                    assert await again.send(sid, "D", ORDER) >= 2
                await old.aclose()

    run(scenario())


def test_an_event_too_long_for_the_protocol_is_truncated_and_the_client_keeps_working(tmp_path: Path) -> None:
    """A counterparty's BusinessMessageReject with a 70,000-byte Text(58): the RejectReceived
    event cannot carry it whole (protocol strings have a u16 length); it arrives truncated and
    the client's link keeps working."""

    async def scenario() -> None:
        async with Gateway(gateway_config(tmp_path)) as gw:
            queue = EventQueue()
            async with bank_initiator(gw.port, queue) as bank, FixClient.connect(gw, name="app") as app:
                sid = await app.claim(key=str(gw_bank_key()))
                await bank.wait_logged_on(WAIT)
                bank.send("j", [(45, 1), (372, "D"), (380, 4), (58, "x" * 70_000)])
                reject = await next_of(app, p.RejectReceived, pred=lambda e: e.session_id == sid)
                assert reject.business and reject.text is not None and reject.text.startswith("xxx")
                assert "truncated" in reject.text and len(reject.text.encode()) <= 0xFFFF
                bank.send("D", ORDER)
                got = await next_of(app, p.ApplicationMessageReceived, pred=lambda e: e.msg_type == "D")
                assert decode(got.data).get(11) == b"o-1"
                assert await app.send(sid, "D", ORDER) >= 2

    run(scenario())


def test_a_logout_text_too_long_for_the_protocol_reaches_the_client_truncated(tmp_path: Path) -> None:
    """A counterparty's Logout with a 70,000-byte Text(58) becomes the reason of the
    DISCONNECTED state change, truncated to the protocol's string limit; the client goes on."""

    async def scenario() -> None:
        async with Gateway(gateway_config(tmp_path)) as gw:
            queue = EventQueue()
            async with bank_initiator(gw.port, queue) as bank, FixClient.connect(gw, name="app") as app:
                sid = await app.claim(key=str(gw_bank_key()))
                await bank.wait_logged_on(WAIT)
                bank.logout("y" * 70_000)
                change = await next_of(app, p.SessionStateChanged,
                                       pred=lambda e: e.session_id == sid and e.state == "DISCONNECTED")
                assert change.reason is not None and change.reason.startswith("Logout received: yyy")
                assert "truncated" in change.reason and len(change.reason.encode()) <= 0xFFFF
                (info,) = [i for i in await app.list_sessions() if i.session_id == sid]
                assert info.owner_client_id == app.client_id and info.state == "DISCONNECTED"

    run(scenario())
