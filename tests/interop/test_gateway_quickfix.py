"""The whole stack against QuickFIX (PyPI ``quickfix-tls``): FixClient -> Gateway -> TCP ->
QuickFIX, and QuickFIX -> TCP -> Gateway -> FixClient, over 127.0.0.1 with real journal files
in tmp_path. Every wait is bounded (qfharness.WAIT); no timing is asserted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from testutil import fixspec_dir

from fixg import FixClient, Gateway, loads_config
from fixg.config import Config
from fixg.fix.codec import decode
from fixg.transport import protocol as p
from interop.qfharness import VERSIONS, WAIT, QFHarness, run, wait_for

pytestmark = pytest.mark.interop

ORDERS = 50


def order_fields(cl_ord_id: str) -> list[tuple[int, Any]]:
    return [
        (11, cl_ord_id), (21, "1"), (55, "IBM"), (54, "1"), (60, "20240102-10:00:00.000"),
        (38, "100"), (40, "1"),
    ]  # fmt: skip


def report_fields(order: Any) -> list[tuple[int, Any]]:
    cl = order.get(11).decode()
    return [
        (37, "O-" + cl), (11, cl), (17, "E-" + cl), (150, "0"), (39, "0"), (55, "IBM"),
        (54, "1"), (151, "100"), (14, "0"), (6, "0"),
    ]  # fmt: skip


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def gateway_config(journal: Path, begin_string: str = "FIX.4.4", *, acceptor: bool = False) -> Config:
    """A Gateway with its journal in ``journal``; with ``acceptor`` one acceptor session
    FIXG->QF validating against the QuickFIX dictionaries QuickFIX itself uses."""
    session = ""
    if acceptor:
        spec = fixspec_dir()
        lines = [
            "[[session]]",
            f"BeginString = {_toml_str(begin_string)}",
            'SenderCompID = "FIXG"',
            'TargetCompID = "QF"',
            "HeartBtInt = 30",
        ]
        for key, value in VERSIONS[begin_string].items():
            text = str(spec / value) if value.endswith(".xml") else value
            lines.append(f"{key} = {_toml_str(text)}")
        session = "\n".join(lines) + "\n"
    return loads_config(
        f"""
[gateway]
accept_host = "127.0.0.1"
accept_port = 0

[storage]
path = {_toml_str(str(journal))}
fsync = "interval"
{session}"""
    )


async def next_app(client: FixClient, msg_type: str, timeout: float = WAIT) -> p.ApplicationMessageReceived:
    """The next ApplicationMessageReceived of ``msg_type``; fails on a reject or after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        if left <= 0:
            pytest.fail(f"no {msg_type} within {timeout:g} s")
        event = await client.next_event(left)
        if isinstance(event, (p.RejectReceived, p.ErrorReported)):
            pytest.fail(f"unexpected {event!r}")
        if isinstance(event, p.ApplicationMessageReceived) and event.msg_type == msg_type:
            return event


# ------------------------------------------------------------------ FixClient -> Gateway -> QuickFIX


@pytest.mark.parametrize("begin_string", ["FIX.4.4", "FIXT.1.1"])
def test_client_orders_through_gateway_to_quickfix_acceptor(
    begin_string: str, quickfix_factory: Any, tmp_path: Path
) -> None:
    qf: QFHarness = quickfix_factory(role="acceptor", begin_string=begin_string, sender="QF", target="FIXG")
    appl_ver = VERSIONS[begin_string].get("DefaultApplVerID")

    async def scenario() -> tuple[list[int], list[str], list[bytes]]:
        async with Gateway(gateway_config(tmp_path / "journal")) as gw:
            async with FixClient.connect(gw, name="oms") as client:
                sid = await client.initiate_session(
                    "127.0.0.1", qf.port, "FIXG", "QF", begin_string=begin_string,
                    heart_bt_int=30, reset_seq_num=True, default_appl_ver_id=appl_ver,
                )  # fmt: skip
                await client.wait_state(sid, "ACTIVE", WAIT)
                await wait_for(lambda: qf.app.logons == 1, "QuickFIX onLogon")
                # Pipelined: every order in flight at once, replies in order.
                cl_ord_ids = [f"ord-{i}" for i in range(1, ORDERS + 1)]
                futures = [await client.submit(sid, "D", order_fields(c)) for c in cl_ord_ids]
                seqs = [FixClient.result_seq_num(await asyncio.wait_for(f, WAIT)) for f in futures]
                reports = [(await next_app(client, "8")).data for _ in cl_ord_ids]
                await client.logout(sid, "done")
                await wait_for(lambda: qf.app.logouts == 1, "QuickFIX onLogout")
                return seqs, cl_ord_ids, reports

    seqs, cl_ord_ids, reports = run(scenario())
    assert seqs == list(range(seqs[0], seqs[0] + ORDERS))  # consecutive MsgSeqNums after the Logon
    orders_in = [m for m in qf.app.app_in if m.get(35) == "D"]
    # Every order the client was told was sent reached QuickFIX, once and in order.
    assert [m[11] for m in orders_in] == cl_ord_ids
    assert [int(m[34]) for m in orders_in] == seqs
    assert all(m[8] == begin_string and m[49] == "FIXG" and m[56] == "QF" for m in orders_in)
    # Every ExecutionReport QuickFIX answered with reached the client, in order.
    decoded = [decode(r) for r in reports]
    assert [m.get(11) for m in decoded] == [c.encode() for c in cl_ord_ids]
    assert all(m.get(37) == b"O-" + m.get(11) for m in decoded)
    assert not [m for m in qf.app.admin_in if m.get(35) == "3"], "QuickFIX received a Reject"


# ------------------------------------------------------------------ QuickFIX -> Gateway -> FixClient


@pytest.mark.parametrize("begin_string", ["FIX.4.4", "FIXT.1.1"])
def test_quickfix_initiator_to_gateway_acceptor_answered_by_client(
    begin_string: str, quickfix_factory: Any, tmp_path: Path
) -> None:
    async def scenario() -> tuple[list[bytes], list[int]]:
        cfg = gateway_config(tmp_path / "journal", begin_string, acceptor=True)
        async with Gateway(cfg) as gw:
            async with FixClient.connect(gw, name="venue") as venue:
                sid = await venue.claim(key=f"{begin_string}:FIXG->QF")
                qf: QFHarness = quickfix_factory(
                    role="initiator", begin_string=begin_string, sender="QF", target="FIXG", port=gw.port,
                )  # fmt: skip
                await venue.wait_state(sid, "ACTIVE", WAIT)
                await wait_for(lambda: qf.app.logons == 1, "QuickFIX onLogon")
                cl_ord_ids = [f"qf-{i}" for i in range(1, ORDERS + 1)]
                for c in cl_ord_ids:  # QuickFIX sends from this thread; its engine does the I/O
                    qf.send("D", [(t, str(v)) for t, v in order_fields(c)])
                received: list[bytes] = []
                futures = []
                for _ in cl_ord_ids:
                    event = await next_app(venue, "D")
                    received.append(event.data)
                    futures.append(await venue.submit(sid, "8", report_fields(decode(event.data))))
                seqs = [FixClient.result_seq_num(await asyncio.wait_for(f, WAIT)) for f in futures]
                await wait_for(
                    lambda: qf.app.count("app_in", lambda m: m.get(35) == "8") == ORDERS,
                    "every ExecutionReport at QuickFIX",
                )
                reports_in = [m for m in qf.app.app_in if m.get(35) == "8"]
                assert [m[11] for m in reports_in] == cl_ord_ids
                assert [int(m[34]) for m in reports_in] == seqs
                # QuickFIX logs out (the Gateway answers) from another thread.
                await asyncio.get_running_loop().run_in_executor(None, qf.stop)
                await venue.wait_state(sid, "DISCONNECTED", WAIT)
                return received, seqs

    received, seqs = run(scenario())
    assert [decode(d).get(11) for d in received] == [f"qf-{i}".encode() for i in range(1, ORDERS + 1)]
    assert seqs == list(range(seqs[0], seqs[0] + ORDERS))
