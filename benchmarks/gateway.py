"""The whole fixg stack against QuickFIX with a FileStore, in one run:

    python benchmarks/gateway.py [--orders 20000] [--pings 1000] [--rounds 3] [--window 1000]

fixg: a FixClient "trader" has a Gateway (journal in a temporary directory) initiate INI->ACC
over loopback TCP to a second Gateway (its own journal, same fsync policy) whose acceptor
session ACC->INI is owned by a FixClient "venue" that answers every NewOrderSingle with an
ExecutionReport. Both Gateways validate against the built-in FIX.4.4 dictionary. Measured with
the journals' fsync policy at ``"never"`` and at ``"interval"`` (every 10 ms), with the venue's
Gateway on this process's event loop (``one event loop``) and, unless ``--no-two-process``, in a
child process (``two processes``: its own event loop and core, as a venue would run).

A third fixg contender has the issue's shape exactly: FixClient -> Gateway -> TCP -> a bare fixg
acceptor session (``fixg.gateway.Acceptor``, no second Gateway or FixClient) in a child
process, journaling with the same fsync policy and validating against FIX.4.4, answering each
order from its event callback, as QuickFIX's acceptor answers from its application callback.

QuickFIX (PyPI ``quickfix-tls``): ThreadedSocketInitiator -> ThreadedSocketAcceptor in this
process, each with a FileStoreFactory in a temporary directory (QuickFIX's default
``FileStoreSync=N``: written and flushed to the OS, not fsynced), validating against FIX44.xml
(UseDataDictionary=Y), the acceptor's Python application answering each order.

Throughput: ``--orders`` orders pipelined, at most ``--window`` in flight (QuickFIX's Python
binding deadlocks with unbounded pipelining: its send holds the GIL while its socket buffer is
full); the clock stops at the last ExecutionReport. Round trip: ``--pings`` orders one at a
time, order sent -> ExecutionReport received by the sending application. The contenders take
turns ``--rounds`` times; the table shows the median round's throughput and the p50/p99 of all
round trips.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

from fixg import FixClient, Gateway, loads_config  # noqa: E402
from fixg.config import Config  # noqa: E402
from fixg.fix.codec import decode  # noqa: E402
from fixg.transport import protocol as p  # noqa: E402

from _common import ORDER, TIMEOUT, WARM_UP, QuickFixBench, percentile, report_for  # noqa: E402



def gateway_config(journal: Path, fsync: str, *, venue: bool) -> Config:
    session = (
        '\n[[session]]\nBeginString = "FIX.4.4"\nSenderCompID = "ACC"\nTargetCompID = "INI"\nHeartBtInt = 30\n'
        if venue
        else ""
    )
    policy = 'fsync = "never"' if fsync == "never" else 'fsync = "interval"\nfsync_interval_ms = 10'
    path = str(journal).replace("\\", "\\\\").replace('"', '\\"')
    return loads_config(
        f'[gateway]\nname = "{"venue" if venue else "trader"}"\naccept_host = "127.0.0.1"\n'
        f'accept_port = 0\n\n[storage]\npath = "{path}"\n{policy}\n{session}'
    )


class Venue:
    """A Gateway with the acceptor session ACC->INI and a FixClient answering its orders."""

    def __init__(self, journal: Path, fsync: str) -> None:
        self.gateway = Gateway(gateway_config(journal, fsync, venue=True))
        self.client: FixClient | None = None
        self.task: asyncio.Task[None] | None = None
        self.orders = 0

    async def start(self) -> int:
        await self.gateway.start()
        self.client = await FixClient.connect(self.gateway, name="venue").start()
        sid = await self.client.claim(key="FIX.4.4:ACC->INI")
        self.task = asyncio.get_running_loop().create_task(self._answer(self.client, sid))
        return self.gateway.port

    async def _answer(self, client: FixClient, sid: int) -> None:
        replies: list[asyncio.Future[p.Event]] = []
        async for event in client.events():
            if type(event) is p.ApplicationMessageReceived and event.msg_type == "D":
                self.orders += 1
                replies.append(await client.submit(sid, "8", report_for(decode(event.data).get(11))))
                if len(replies) >= 1000:
                    check_replies(replies)
            elif isinstance(event, (p.RejectReceived, p.ErrorReported)):
                print(f"venue: {event}", file=sys.stderr)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.client is not None:
            await self.client.aclose()
        await self.gateway.aclose()


def check_replies(replies: list[asyncio.Future[p.Event]]) -> None:
    """Raise if a send the Gateway has answered failed; keep the unanswered ones."""
    pending = []
    for future in replies:
        if future.done():
            FixClient.result_seq_num(future.result())
        else:
            pending.append(future)
    replies[:] = pending


def _acceptor_main(journal: str, fsync: str, port_out: Any, stop: Any) -> None:
    """A bare fixg acceptor session ACC->INI (no Gateway, no FixClient) journaling to
    ``journal`` and validating against FIX.4.4, answering each NewOrderSingle with an
    ExecutionReport from its event callback: the counterparty the issue names."""
    from fixg.fix import events as ev
    from fixg.fix.settings import SessionSettings
    from fixg.gateway import Acceptor, create_session
    from fixg.store.journal import JournalStoreFactory

    async def run() -> None:
        factory = JournalStoreFactory(journal, fsync=fsync, fsync_interval_ms=10)
        settings = SessionSettings("FIX.4.4", "ACC", "INI", "acceptor", heart_bt_int=30)
        session = create_session(settings, factory.create(settings.key, time.time()))

        def on_event(s: Any, event: Any) -> None:
            if type(event) is ev.MessageReceived and event.message.get(35) == b"D":
                acceptor.send(s.key, "8", report_for(event.message.get(11)))

        acceptor = Acceptor([session], port=0, on_event=on_event)
        async with acceptor:
            port_out.send(acceptor.port)
            loop = asyncio.get_running_loop()
            while not await loop.run_in_executor(None, stop.wait, 0.01):
                factory.poll(time.time())
        factory.close()

    asyncio.run(run())


def _venue_main(journal: str, fsync: str, port_out: Any, stop: Any) -> None:
    async def run() -> None:
        venue = Venue(Path(journal), fsync)
        port_out.send(await venue.start())
        try:
            await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        finally:
            await venue.stop()

    asyncio.run(run())


class FixgBench:
    """FixClient -> Gateway -> TCP -> Gateway -> FixClient, and back."""

    def __init__(self, fsync: str, window: int, in_process: bool, tmp: Path, *, bare_acceptor: bool = False) -> None:
        self.bare_acceptor = bare_acceptor
        self.fsync = fsync
        self.window = window
        self.in_process = in_process
        self.tmp = tmp
        self.venue: Venue | None = None
        self.child: Any = None
        self.stop_event: Any = None
        self.gateway: Gateway | None = None
        self.client: FixClient | None = None
        self.consumer: asyncio.Task[None] | None = None
        self.sid = 0
        self.reports = 0
        self.target = 0
        self.waiter: asyncio.Future[None] | None = None
        self.done = asyncio.Event()
        self.room = asyncio.Event()
        self.resume_at = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.in_process:
            self.venue = Venue(self.tmp / "venue", self.fsync)
            port = await self.venue.start()
        else:
            ctx = multiprocessing.get_context("spawn")
            recv, send = ctx.Pipe(duplex=False)
            self.stop_event = ctx.Event()
            self.child = ctx.Process(
                target=_acceptor_main if self.bare_acceptor else _venue_main,
                args=(str(self.tmp / "venue"), self.fsync, send, self.stop_event), daemon=True,
            )
            self.child.start()
            if not await loop.run_in_executor(None, recv.poll, 60):
                raise RuntimeError("the venue gateway did not start")
            port = recv.recv()
        self.gateway = Gateway(gateway_config(self.tmp / "trader", self.fsync, venue=False))
        await self.gateway.start()
        self.client = await FixClient.connect(self.gateway, name="trader").start()
        self.sid = await self.client.initiate_session("127.0.0.1", port, "INI", "ACC", heart_bt_int=30)
        await self.client.wait_state(self.sid, "ACTIVE", 30)
        self.consumer = loop.create_task(self._consume(self.client))
        await self.burst(WARM_UP)

    async def _consume(self, client: FixClient) -> None:
        async for event in client.events():
            if type(event) is p.ApplicationMessageReceived:
                self.reports += 1
                if self.waiter is not None:
                    self.waiter.set_result(None)
                    self.waiter = None
                elif self.reports >= self.target:
                    self.done.set()
                elif self.reports >= self.resume_at:
                    self.room.set()
            elif isinstance(event, (p.RejectReceived, p.ErrorReported)):
                print(f"trader: {event}", file=sys.stderr)

    async def pings(self, count: int) -> list[float]:
        client = self.client
        assert client is not None
        loop = asyncio.get_running_loop()
        rtts = []
        replies: list[asyncio.Future[p.Event]] = []
        for _ in range(count):
            self.waiter = loop.create_future()
            t0 = time.perf_counter()
            replies.append(await client.submit(self.sid, "D", ORDER))
            await asyncio.wait_for(self.waiter, TIMEOUT)
            rtts.append(time.perf_counter() - t0)
        await asyncio.gather(*replies)
        check_replies(replies)
        return rtts

    async def burst(self, orders: int) -> float:
        client = self.client
        assert client is not None
        self.done.clear()
        start = self.reports
        self.target = start + orders
        window = self.window
        submit = client.submit
        sid = self.sid
        replies: list[asyncio.Future[p.Event]] = []
        t0 = time.perf_counter()
        for sent in range(orders):
            if sent - (self.reports - start) >= window:
                self.room.clear()
                self.resume_at = start + sent - window + max(1, window // 4)
                await asyncio.wait_for(self.room.wait(), TIMEOUT)
            replies.append(await submit(sid, "D", ORDER))
        await asyncio.wait_for(self.done.wait(), TIMEOUT)
        elapsed = time.perf_counter() - t0
        await asyncio.gather(*replies)
        check_replies(replies)
        return elapsed

    async def stop(self) -> None:
        if self.consumer is not None:
            self.consumer.cancel()
            await asyncio.gather(self.consumer, return_exceptions=True)
        if self.client is not None:
            with contextlib.suppress(Exception):  # best effort on the way out
                await self.client.logout(self.sid, "done")
            await self.client.aclose()
        if self.gateway is not None:
            await self.gateway.aclose()
        if self.venue is not None:
            await self.venue.stop()
        if self.child is not None:
            self.stop_event.set()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self.child.join, 30)
            if self.child.is_alive():
                self.child.kill()
                self.child.join()


# ---------------------------------------------------------------------- QuickFIX


# ---------------------------------------------------------------------- main


async def measure(args: argparse.Namespace, fixspec: Path, tmp: Path) -> dict[str, tuple[list[float], list[float]]]:
    contenders: list[tuple[str, Any]] = []
    for fsync in ("never", "interval"):
        label = 'fsync "never"' if fsync == "never" else 'fsync every 10 ms'
        deployments = [(True, "one event loop")] + ([] if args.no_two_process else [(False, "two processes")])
        for in_process, where in deployments:
            directory = tmp / f"fixg-{fsync}-{'one' if in_process else 'two'}"
            directory.mkdir()
            contenders.append((f"fixg Gateway -> Gateway, journal {label}, {where}",
                               FixgBench(fsync, args.window, in_process, directory)))  # fmt: skip
        directory = tmp / f"fixg-{fsync}-acceptor"
        directory.mkdir()
        contenders.append((f"fixg Gateway -> fixg acceptor, journal {label}, two processes",
                           FixgBench(fsync, args.window, False, directory, bare_acceptor=True)))  # fmt: skip
    if not args.no_quickfix:
        directory = tmp / "quickfix"
        directory.mkdir()
        contenders.append(("QuickFIX -> QuickFIX, FileStore, one process", QuickFixBench(args.window, fixspec, directory, file_store=True)))
    return await run_rounds(contenders, args)


Results = dict[str, tuple[list[float], list[float]]]


async def run_rounds(contenders: list[tuple[str, Any]], args: argparse.Namespace, after: Any = None) -> Results:
    """Start every contender, run ``args.rounds`` interleaved rounds of ``args.pings`` round
    trips and an ``args.orders`` burst each, call ``await after()`` (if given) while they are
    all still up, stop them all; returns ``{name: (rates, round_trips)}``."""
    results: Results = {name: ([], []) for name, _ in contenders}
    started: list[Any] = []
    try:
        for _, bench in contenders:
            started.append(bench)  # stopped below even if it fails half-way through starting
            if isinstance(bench, FixgBench):
                await bench.start()
            else:
                bench.start()
        for r in range(args.rounds):
            for name, bench in contenders:
                rates, rtts = results[name]
                if isinstance(bench, FixgBench):
                    rtts += await bench.pings(args.pings)
                    elapsed = await bench.burst(args.orders)
                else:
                    rtts += bench.pings(args.pings)
                    elapsed = bench.burst(args.orders)
                rates.append(args.orders / elapsed)
            print(f"  round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        if after is not None:
            await after()
    finally:
        for bench in reversed(started):
            try:
                if isinstance(bench, FixgBench):
                    await bench.stop()
                else:
                    bench.stop()
            except Exception as exc:  # the others are stopped all the same
                print(f"  stopping {type(bench).__name__} failed: {exc!r}", file=sys.stderr, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20000, help="pipelined orders per round (default 20000)")
    parser.add_argument("--pings", type=int, default=1000, help="one-at-a-time round trips per round (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, contenders interleaved (default 3)")
    parser.add_argument("--window", type=int, default=1000, help="orders in flight at most (default 1000)")
    parser.add_argument("--no-quickfix", action="store_true")
    parser.add_argument("--no-two-process", action="store_true", help="only the one-event-loop fixg deployment")
    args = parser.parse_args()
    fixspec = Path(os.environ.get("FIXG_FIXSPEC_DIR", REPO.parent / "shared" / "fixspec"))

    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
          f"{args.orders} pipelined orders (window {args.window}) and {args.pings} round trips per round, "
          f"{args.rounds} rounds")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="fixg-bench-") as tmp:
        results = asyncio.run(asyncio.wait_for(measure(args, fixspec, Path(tmp)), 1800))
    qf = next((v for k, v in results.items() if k.startswith("QuickFIX")), None)
    qf_rate = statistics.median(qf[0]) if qf else None
    print()
    print("| engine | orders/s (median round) | vs QuickFIX | round trip p50 (us) | p99 (us) |")
    print("|---|---:|---:|---:|---:|")
    for name, (rates, rtts) in results.items():
        rate = statistics.median(rates)
        ratio = f"{rate / qf_rate:.2f}x" if qf_rate else "-"
        print(f"| {name} | {rate:,.0f} | {ratio} | {statistics.median(rtts) * 1e6:,.0f} | "
              f"{percentile(rtts, 0.99) * 1e6:,.0f} |")  # fmt: skip
    if qf_rate:
        print()
        print("target: >= 2x QuickFIX's throughput with the journal on")


if __name__ == "__main__":
    main()
