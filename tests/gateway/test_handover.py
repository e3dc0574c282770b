"""What a lost client had been handed but had not acknowledged goes to the next owner (in
process; tests/aeron/test_aeron_transport.py does the same across processes)."""

from __future__ import annotations

from pathlib import Path

from fixg import FixClient, Gateway, loads_config
from fixg.config import Config
from fixg.fix.codec import decode
from fixg.gateway import EventQueue
from fixg.transport import protocol as p

from gateway.test_engine import ACCEPTOR_GW_BANK, ORDER, WAIT, bank_initiator, gw_bank_key, next_of, run


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
