"""NewOrderSingle -> ExecutionReport over loopback: fixg against fixg, and QuickFIX against
QuickFIX (PyPI ``quickfix-tls``, driven from Python as an application would), in one run.

    python benchmarks/session.py [--orders 20000] [--pings 2000] [--rounds 5] [--no-quickfix]

Throughput: the initiator sends orders back to back (pipelined) and the clock stops when the
last ExecutionReport is back; ``--orders`` in total. Round trip: one order at a time,
``--pings`` in total; p50 and p99 of the time from send to ExecutionReport. The two engines
take turns, ``--rounds`` times, so that a change in the machine's load hits both alike.
Both keep messages in memory (MemoryStore / MemoryStoreFactory). Each engine is measured
twice: validating every message against the FIX.4.4 dictionary (UseDataDictionary=Y) and not
validating (UseDataDictionary=N).

fixg is measured in two deployments: the acceptor in a child process (its own event loop and
core, as a venue's engine would be), and both sides on this process's one event loop (like
QuickFIX here: its threaded initiator and acceptor run in this process with Python
applications, whose callbacks hold the GIL while the engines' threads do not).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fixg.fix import events as ev  # noqa: E402
from fixg.fix.session import Session  # noqa: E402
from fixg.fix.settings import SessionSettings  # noqa: E402
from fixg.gateway import Acceptor, Initiator, SessionConnection, create_session  # noqa: E402
from fixg.store.memory import MemoryStore  # noqa: E402

from _common import ORDER, WARM_UP, QuickFixBench, free_port, percentile, report_for  # noqa: E402

#: Orders in flight at most during a throughput run (flow control, as an application would do;
#: QuickFIX's Python binding also needs it: its send holds the GIL, so with unbounded
#: pipelining a full socket buffer would block the thread its own callbacks need).
WINDOW = 1000
BATCH = 200


# ---------------------------------------------------------------------- fixg


def fixg_acceptor(port: int, validate: bool) -> Acceptor:
    """The venue: answers each NewOrderSingle with an ExecutionReport."""
    settings = SessionSettings(
        "FIX.4.4", "ACC", "INI", "acceptor", heart_bt_int=30, use_data_dictionary=validate
    )
    session = create_session(settings, MemoryStore())

    def on_event(s: Session, event: ev.Event) -> None:
        if type(event) is ev.MessageReceived:
            msg = event.message
            if msg.get(35) == b"D":
                acceptor.send(s.key, "8", report_for(msg.get(11)))

    acceptor = Acceptor([session], port=port, on_event=on_event)
    return acceptor


def _fixg_acceptor_main(port: int, validate: bool, ready: Any, stop: Any) -> None:
    async def run() -> None:
        async with fixg_acceptor(port, validate):
            ready.set()
            await asyncio.get_running_loop().run_in_executor(None, stop.wait)

    asyncio.run(run())


class FixgBench:
    """A fixg initiator on this event loop, and a fixg acceptor in a child process
    (``in_process=False``) or on the same event loop (``in_process=True``)."""

    def __init__(self, validate: bool, in_process: bool) -> None:
        self.validate = validate
        self.in_process = in_process
        self.acceptor: Acceptor | None = None
        self.port = free_port()
        ctx = multiprocessing.get_context("spawn")
        self.ready, self.stop_event = ctx.Event(), ctx.Event()
        self.child = ctx.Process(
            target=_fixg_acceptor_main, args=(self.port, validate, self.ready, self.stop_event),
            daemon=True,
        )  # fmt: skip
        self.reports = 0
        self.target = 0
        self.waiter: list[asyncio.Future[None]] = []
        self.done = asyncio.Event()
        self.room = asyncio.Event()
        self.resume_at = 0
        self.initiator: Initiator | None = None
        self.conn: SessionConnection | None = None

    def _on_event(self, session: Session, event: ev.Event) -> None:
        if type(event) is ev.MessageReceived:
            self.reports += 1
            if self.waiter:
                self.waiter.pop().set_result(None)
            elif self.reports >= self.target:
                self.done.set()
            elif self.reports >= self.resume_at:
                self.room.set()

    async def start(self) -> None:
        if self.in_process:
            self.acceptor = fixg_acceptor(self.port, self.validate)
            await self.acceptor.start()
        else:
            self.child.start()
            loop = asyncio.get_running_loop()
            if not await loop.run_in_executor(None, self.ready.wait, 30):
                raise RuntimeError("the fixg acceptor did not start")
        settings = SessionSettings(
            "FIX.4.4", "INI", "ACC", "initiator", heart_bt_int=30,
            socket_connect_hosts=(("127.0.0.1", self.port),), use_data_dictionary=self.validate,
        )  # fmt: skip
        self.initiator = Initiator(create_session(settings, MemoryStore()), on_event=self._on_event)
        await self.initiator.start()
        await self.initiator.wait_logged_on(10)
        self.conn = self.initiator.connection
        await self.burst(WARM_UP)

    async def pings(self, count: int) -> list[float]:
        conn = self.conn
        assert conn is not None
        loop = asyncio.get_running_loop()
        rtts = []
        for _ in range(count):
            reply = loop.create_future()
            self.waiter.append(reply)
            t0 = time.perf_counter()
            conn.send("D", ORDER)
            await reply  # bounded by the run's overall time-out
            rtts.append(time.perf_counter() - t0)
        return rtts

    async def burst(self, orders: int) -> float:
        conn = self.conn
        assert conn is not None
        self.done.clear()
        start = self.reports
        self.target = start + orders
        t0 = time.perf_counter()
        sent = 0
        while sent < orders:
            batch = min(BATCH, orders - sent)
            while sent + batch - (self.reports - start) > WINDOW:
                self.room.clear()
                self.resume_at = start + sent + batch - WINDOW
                await self.room.wait()
            for _ in range(batch):
                conn.send("D", ORDER, flush=False)
            conn.flush()
            sent += batch
            await asyncio.sleep(0)  # let the replies in
        await self.done.wait()
        return time.perf_counter() - t0

    async def stop(self) -> None:
        if self.initiator is not None:
            await self.initiator.stop()
        if self.acceptor is not None:
            await self.acceptor.stop()
            return
        self.stop_event.set()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.child.join, 10)
        if self.child.is_alive():
            self.child.kill()
            self.child.join()


# ---------------------------------------------------------------------- QuickFIX


# ---------------------------------------------------------------------- main


async def measure(validate: bool, args: argparse.Namespace, fixspec: Path) -> list[tuple[str, float, list[float]]]:
    contenders: list[tuple[str, Any]] = [
        ("fixg -> fixg, two processes", FixgBench(validate, in_process=False)),
        ("fixg -> fixg, one event loop", FixgBench(validate, in_process=True)),
    ]
    tmp = tempfile.TemporaryDirectory()
    if not args.no_quickfix:
        contenders.append(("QuickFIX -> QuickFIX, one process",
                           QuickFixBench(WINDOW, fixspec, Path(tmp.name), validate=validate)))  # fmt: skip
    results: dict[str, tuple[float, list[float]]] = {name: (0.0, []) for name, _ in contenders}
    started: list[Any] = []
    try:
        for _, bench in contenders:
            if isinstance(bench, FixgBench):
                await bench.start()
            else:
                bench.start()
            started.append(bench)
        per_round_orders = args.orders // args.rounds
        per_round_pings = args.pings // args.rounds
        for _ in range(args.rounds):
            for name, bench in contenders:
                elapsed, rtts = results[name]
                if isinstance(bench, FixgBench):
                    rtts += await bench.pings(per_round_pings)
                    elapsed += await bench.burst(per_round_orders)
                else:
                    rtts += bench.pings(per_round_pings)
                    elapsed += bench.burst(per_round_orders)
                results[name] = (elapsed, rtts)
    finally:
        for bench in reversed(started):
            if isinstance(bench, FixgBench):
                await bench.stop()
            else:
                bench.stop()
        tmp.cleanup()
    total = (args.orders // args.rounds) * args.rounds
    return [(name, total / results[name][0], results[name][1]) for name, _ in contenders]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-quickfix", action="store_true")
    args = parser.parse_args()
    fixspec = Path(os.environ.get("FIXG_FIXSPEC_DIR", REPO.parent / "shared" / "fixspec"))

    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores, "
          f"{args.orders} pipelined orders, {args.pings} round trips, {args.rounds} rounds")  # fmt: skip
    print()
    print("| engine | validation | orders/s (pipelined) | round trip p50 (us) | round trip p99 (us) |")
    print("|---|---|---:|---:|---:|")
    summary = []
    for validate in (True, False):
        rows = asyncio.run(asyncio.wait_for(measure(validate, args, fixspec), 900))
        mode = "FIX.4.4 dictionary" if validate else "none"
        for name, tput, rtts in rows:
            print(f"| {name} | {mode} | {tput:,.0f} | {statistics.median(rtts) * 1e6:,.0f} | "
                  f"{percentile(rtts, 0.99) * 1e6:,.0f} |", flush=True)  # fmt: skip
        if len(rows) == 3:
            _, q_tput, q_rtt = rows[2]
            for name, f_tput, f_rtt in rows[:2]:
                summary.append(
                    f"validation {mode}, {name}: throughput {f_tput / q_tput:.2f}x QuickFIX "
                    f"(target >= 2x), p50 {statistics.median(f_rtt) * 1e6:.0f} us vs "
                    f"{statistics.median(q_rtt) * 1e6:.0f} us (target: lower)"
                )
    if summary:
        print()
        for line in summary:
            print(line)


if __name__ == "__main__":
    main()
