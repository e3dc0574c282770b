"""``fixg demo``: the whole stack in one process, no configuration needed.

A Gateway with an acceptor session EXCH->BANK on a free port of 127.0.0.1 and a file journal;
a FixClient "exchange" that claims that session and plays a small exchange (each
NewOrderSingle gets an ExecutionReport acknowledgement and then a fill); a FixClient "trader"
that initiates the BANK->EXCH session through the Gateway (so the Gateway is initiator and
acceptor at once, over real TCP) and sends orders, a bounded number in flight. Progress lines
while it runs, then a summary: orders, fills, throughput, order-to-fill latency percentiles and
where the journal is (``fixg journal inspect --journal DIR`` reads it).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
import time
from typing import Any

from fixg.client import FixClient
from fixg.config import loads_config
from fixg.errors import FixError
from fixg.fix.codec import decode
from fixg.gateway.engine import Gateway
from fixg.transport import protocol as p

EXCHANGE = "EXCH"
TRADER = "BANK"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a Gateway, an exchange simulator and a trading client in one process",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--orders", type=int, default=2000, metavar="N", help="orders to send (default 2000)")
    parser.add_argument("--window", type=int, default=10, metavar="N", help="orders in flight at most (default 10)")
    parser.add_argument("--journal", metavar="DIR", help="journal directory (default: a new temporary directory)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--codec", action="store_true",
        help="instead: a FIX codec round trip (encode, frame in chunks, decode, typed values)",
    )  # fmt: skip
    parser.add_argument(
        "--chunk", type=int, default=None, metavar="N",
        help="with --codec (implies it): bytes per chunk fed to the framer (default 7)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.codec or args.chunk is not None:
        from fixg.commands import _codec_demo

        args.chunk = 7 if args.chunk is None else args.chunk
        return _codec_demo.run(args)
    if args.orders < 1 or args.window < 1:
        print("fixg demo: --orders and --window must be at least 1", file=sys.stderr)
        return 2
    journal = os.path.abspath(args.journal) if args.journal else tempfile.mkdtemp(prefix="fixg-demo-")
    return asyncio.run(_demo(args.orders, args.window, journal, not args.quiet))


def _config(journal: str) -> Any:
    path = journal.replace("\\", "\\\\").replace('"', '\\"')
    return loads_config(
        f"""
[gateway]
name = "demo"
accept_host = "127.0.0.1"
accept_port = 0

[storage]
path = "{path}"
fsync = "interval"

[[session]]
BeginString = "FIX.4.4"
SenderCompID = "{EXCHANGE}"
TargetCompID = "{TRADER}"
HeartBtInt = 30
""",
        source="<demo>",
    )


def _now_text() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


class _Exchange:
    """Acknowledges and fills every NewOrderSingle on the session it owns."""

    def __init__(self, client: FixClient, session_id: int) -> None:
        self.client = client
        self.session_id = session_id
        self.orders = 0
        self.replies: list[asyncio.Future[p.Event]] = []

    async def run(self) -> None:
        client = self.client
        async for event in client.events():
            if not isinstance(event, p.ApplicationMessageReceived) or event.msg_type != "D":
                continue
            order = decode(event.data)
            self.orders += 1
            n = self.orders
            common = [
                (37, f"X{n}"), (11, order.get(11)), (55, order.get(55)), (54, order.get(54)),
            ]  # fmt: skip
            qty = order.get(38) or b"0"
            px = order.get(44) or b"0"
            ack = common[:1] + [(17, f"E{n}a"), (150, "0"), (39, "0")] + common[1:] + [
                (38, qty), (151, qty), (14, 0), (6, 0),
            ]  # fmt: skip
            fill = common[:1] + [(17, f"E{n}f"), (150, "F"), (39, "2")] + common[1:] + [
                (38, qty), (32, qty), (31, px), (151, 0), (14, qty), (6, px),
            ]  # fmt: skip
            self.replies.append(await client.submit(self.session_id, "8", ack))
            self.replies.append(await client.submit(self.session_id, "8", fill))
            if len(self.replies) > 10_000:
                self._check()

    def _check(self) -> None:
        done = [f for f in self.replies if f.done()]
        for f in done:
            FixClient.result_seq_num(f.result())
        self.replies = [f for f in self.replies if not f.done()]


async def _demo(orders: int, window: int, journal: str, progress: bool) -> int:
    config = _config(journal)
    say = print if progress else (lambda *a, **k: None)
    print(f"fixg demo: {orders} orders, at most {window} in flight; journal {journal}")
    async with Gateway(config) as gw:
        say(f"  gateway '{gw.name}' listening on 127.0.0.1:{gw.port} (acceptor {EXCHANGE}->{TRADER})")
        async with FixClient.connect(gw, name="exchange") as exch_client, FixClient.connect(gw, name="trader") as trader:
            exch_sid = await exch_client.claim(key=f"FIX.4.4:{EXCHANGE}->{TRADER}")
            exchange = _Exchange(exch_client, exch_sid)
            exch_task = asyncio.get_running_loop().create_task(exchange.run())
            sid = await trader.initiate_session("127.0.0.1", gw.port, TRADER, EXCHANGE, heart_bt_int=30)
            await trader.wait_state(sid, "ACTIVE", timeout=10)
            say(f"  trader logged on: {TRADER}->{EXCHANGE} (initiated by the gateway, session id {sid})")

            sent_at: dict[bytes, float] = {}
            latencies: list[float] = []
            acks = 0
            slots = asyncio.Semaphore(window)
            done = asyncio.Event()
            step = max(1, orders // 10)

            async def consume() -> None:
                nonlocal acks
                async for event in trader.events():
                    if isinstance(event, p.ApplicationMessageReceived) and event.msg_type == "8":
                        report = decode(event.data)
                        exec_type = report.get(150)
                        if exec_type == b"0":
                            acks += 1
                        elif exec_type == b"F":
                            t0 = sent_at.pop(report.get(11) or b"", None)
                            if t0 is not None:
                                latencies.append(time.perf_counter() - t0)
                            slots.release()
                            n = len(latencies)
                            if n % step == 0 or n == orders:
                                say(f"  {n:>7}/{orders} filled ({acks} acknowledged)")
                            if n == orders:
                                done.set()
                    elif isinstance(event, (p.RejectReceived, p.ErrorReported)):
                        print(f"  {type(event).__name__}: {event}", file=sys.stderr)

            consumer = asyncio.get_running_loop().create_task(consume())
            replies: list[asyncio.Future[p.Event]] = []
            start = time.perf_counter()
            for i in range(1, orders + 1):
                await slots.acquire()
                clordid = b"ord-%d" % i
                sent_at[clordid] = time.perf_counter()
                replies.append(await trader.submit(sid, "D", [
                    (11, clordid), (21, "1"), (55, "FIXG"), (54, "1" if i % 2 else "2"),
                    (60, _now_text()), (38, 100), (40, "2"), (44, "10.25"),
                ]))  # fmt: skip
            try:
                await asyncio.wait_for(done.wait(), 60 + orders / 100)
            except asyncio.TimeoutError:
                print(f"fixg demo: only {len(latencies)} of {orders} orders filled in time", file=sys.stderr)
                return 1
            elapsed = time.perf_counter() - start
            seqs = [FixClient.result_seq_num(await f) for f in replies]
            exchange._check()
            sessions = await trader.list_sessions()
            await trader.logout(sid, "demo done")
            consumer.cancel()
            exch_task.cancel()
            await asyncio.gather(consumer, exch_task, return_exceptions=True)
    latencies.sort()

    def pct(q: float) -> str:
        return f"{latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e6:,.0f} us"

    print()
    print("fixg demo summary")
    print(f"  orders sent          {orders:,} (MsgSeqNum {seqs[0]}..{seqs[-1]})")
    print(f"  acknowledgements     {acks:,}")
    print(f"  fills                {len(latencies):,}")
    print(f"  elapsed              {elapsed:.2f} s")
    print(f"  throughput           {orders / elapsed:,.0f} orders/s")
    print(f"  order->fill latency  p50 {pct(0.50)}, p90 {pct(0.90)}, p99 {pct(0.99)}, max {pct(1.0)}")
    for info in sessions:
        print(
            f"  session {info.key:<22} next sender {info.next_sender_seq_num}, "
            f"next target {info.next_target_seq_num}"
        )
    print(f"  journal              {journal}")
    print(f"  inspect it with      fixg journal inspect --journal {journal}")
    return 0


__all__ = ["register", "run"]

if __name__ == "__main__":  # pragma: no cover
    from fixg.cli import main

    try:
        sys.exit(main(["demo", *sys.argv[1:]]))
    except FixError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
