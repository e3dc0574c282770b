"""FixClient -> Gateway -> TCP counterparty and back, over the Aeron transport and over the
in-process default, against QuickFIX -> QuickFIX, in one run:

    python benchmarks/aeron_transport.py [--orders 20000] [--pings 1000] [--rounds 3] [--idle 10]

The counterparty of both fixg contenders is the same kind of venue: a fixg Gateway in a child
process whose FixClient answers every NewOrderSingle with an ExecutionReport (see
benchmarks/gateway.py). The trader side differs:

- ``in-process``: the trader's Gateway and its FixClient share this process's event loop,
  linked by the in-process transport (bounded asyncio queues);
- ``Aeron IPC``: the trader's Gateway runs in its own process (``fixg gateway --config``,
  ``[transport] kind = "aeron"``, ``channel = "aeron:ipc"``) and its FixClient in this one,
  linked through an embedded media driver started for the run (SHARED threading mode with the
  backoff idle strategy, as a two-core machine wants).

Both journals fsync every 10 ms. Throughput: ``--orders`` orders pipelined (at most
``--window`` in flight), the clock stopping at the last ExecutionReport. Round trip:
``--pings`` orders one at a time. The contenders take turns ``--rounds`` times; the table
shows the median round's throughput and the p50/p99 of all round trips. Afterwards, with the
Aeron client connected and nothing to do, the CPU time of the Gateway process, of this client
process and of the media driver is read from /proc over ``--idle`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fixg import FixClient, driver, load_config  # noqa: E402

from _common import QuickFixBench, cpu_seconds, percentile  # noqa: E402
from gateway import FixgBench, run_rounds  # noqa: E402

DRIVER_PROPERTIES = {
    "aeron.threading.mode": "SHARED",
    "aeron.shared.idle.strategy": "backoff",
    "aeron.term.buffer.sparse.file": "true",
}


class AeronBench(FixgBench):
    """The trader's Gateway in a child process, its FixClient here, over Aeron IPC."""

    def __init__(self, window: int, tmp: Path) -> None:
        super().__init__("interval", window, False, tmp)
        self.aeron_dir = Path("/dev/shm" if Path("/dev/shm").is_dir() else tempfile.gettempdir()) / f"fixg-bench-{uuid.uuid4().hex[:8]}"
        self.driver: driver.DriverHandle | None = None
        self.gateway_proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        import multiprocessing

        from gateway import _venue_main

        ctx = multiprocessing.get_context("spawn")
        recv, send = ctx.Pipe(duplex=False)
        self.stop_event = ctx.Event()
        self.child = ctx.Process(target=_venue_main, args=(str(self.tmp / "venue"), "interval", send, self.stop_event), daemon=True)
        self.child.start()
        if not await loop.run_in_executor(None, recv.poll, 60):
            raise RuntimeError("the venue gateway did not start")
        port = recv.recv()
        self.driver = driver.start(DRIVER_PROPERTIES, aeron_dir=self.aeron_dir)
        config_file = self.tmp / "trader.toml"
        config_file.write_text(
            f'[gateway]\nname = "trader"\n\n[transport]\nkind = "aeron"\nchannel = "aeron:ipc"\n\n'
            f'[storage]\npath = "{self.tmp / "trader"}"\nfsync = "interval"\nfsync_interval_ms = 10\n\n'
            f'[aeron]\n"aeron.dir" = "{self.aeron_dir}"\n'
        )
        self.gateway_proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fixg", "gateway", "--config", str(config_file),
            stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        assert self.gateway_proc.stdout is not None
        line = await asyncio.wait_for(self.gateway_proc.stdout.readline(), 60)
        if b"sessions" not in line:
            raise RuntimeError(f"the trader gateway did not start: {line!r}")
        self.client = await FixClient.connect(load_config(config_file), name="trader").start()
        self.sid = await self.client.initiate_session("127.0.0.1", port, "INI", "ACC", heart_bt_int=30)
        await self.client.wait_state(self.sid, "ACTIVE", 30)
        self.consumer = loop.create_task(self._consume(self.client))
        from _common import WARM_UP

        await self.burst(WARM_UP)

    async def idle_cpu(self, seconds: float) -> dict[str, float]:
        """Percent of one core used by the gateway, this client and the driver while idle."""
        assert self.gateway_proc is not None and self.driver is not None
        pids = {"Gateway process": self.gateway_proc.pid, "media driver": self.driver.pid}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        own0 = time.process_time()
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        wall = time.monotonic() - t0
        usage = {name: 100.0 * (cpu_seconds(pid) - before[name]) / wall for name, pid in pids.items()}
        usage["client process (whole benchmark process)"] = 100.0 * (time.process_time() - own0) / wall
        return usage

    async def stop(self) -> None:
        await super().stop()
        proc = self.gateway_proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.communicate(), 30)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        if self.driver is not None:
            self.driver.stop()
        shutil.rmtree(self.aeron_dir, ignore_errors=True)


async def measure(args: argparse.Namespace, fixspec: Path, tmp: Path) -> tuple[dict[str, tuple[list[float], list[float]]], dict[str, float]]:
    contenders: list[tuple[str, Any]] = []
    for name, make in (
        ("fixg FixClient -> Gateway over Aeron IPC (2 processes)", lambda d: AeronBench(args.window, d)),
        ("fixg FixClient -> Gateway in-process (1 process)", lambda d: FixgBench("interval", args.window, False, d)),
    ):
        directory = tmp / name.split("(")[0].strip().replace(" ", "-").replace(">", "")
        directory.mkdir()
        contenders.append((name, make(directory)))
    if not args.no_quickfix:
        directory = tmp / "quickfix"
        directory.mkdir()
        contenders.append(("QuickFIX -> QuickFIX, FileStore", QuickFixBench(args.window, fixspec, directory, file_store=True)))
    aeron = next(b for _, b in contenders if isinstance(b, AeronBench))
    idle: dict[str, float] = {}

    async def measure_idle() -> None:
        idle.update(await aeron.idle_cpu(args.idle))

    results = await run_rounds(contenders, args, measure_idle)
    return results, idle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--pings", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measurement")
    parser.add_argument("--no-quickfix", action="store_true")
    args = parser.parse_args()
    fixspec = Path(os.environ.get("FIXG_FIXSPEC_DIR", REPO.parent / "shared" / "fixspec"))
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
          f"{args.orders} pipelined orders (window {args.window}) and {args.pings} round trips per round, "
          f"{args.rounds} rounds")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="fixg-bench-") as tmp:
        results, idle = asyncio.run(asyncio.wait_for(measure(args, fixspec, Path(tmp)), 1800))
    qf = next((v for k, v in results.items() if k.startswith("QuickFIX")), None)
    qf_rate = statistics.median(qf[0]) if qf else None
    inproc = next(v for k, v in results.items() if "in-process" in k)
    inproc_p50 = statistics.median(inproc[1])
    print()
    print("| path | orders/s (median round) | vs QuickFIX | round trip p50 (us) | p99 (us) | p50 vs in-process |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (rates, rtts) in results.items():
        rate = statistics.median(rates)
        ratio = f"{rate / qf_rate:.2f}x" if qf_rate else "-"
        p50 = statistics.median(rtts)
        print(f"| {name} | {rate:,.0f} | {ratio} | {p50 * 1e6:,.0f} | {percentile(rtts, 0.99) * 1e6:,.0f} | "
              f"{p50 / inproc_p50:.2f}x |")  # fmt: skip
    print()
    print(f"idle, Aeron client connected, over {args.idle:g} s:")
    for name, pct in idle.items():
        print(f"  {name}: {pct:.1f}% of one core")
    print()
    print("targets: Aeron round trip within 1.3x of the in-process path; >= 2x QuickFIX's throughput; idle gateway < 5% of a core")


if __name__ == "__main__":
    main()
