"""Archive vs journal: persistence cost on the Gateway's hot path, messages/s recorded, replayed.

    python benchmarks/archive.py [N] [--rounds R]      (N = 200,000 messages by default)

Not a test. Starts its own media driver (SHARED threading, backoff idle) in a
unique /dev/shm directory and an archiver process; the journal runs in this process. For each
fsync policy ("never", "interval" = every 10 ms):

- hot path: CPU time (process_time) of N ``store.append`` calls of a 219-byte FIX message,
  per message: the journal formats a JSON line and write(2)s it; the archive packs a data
  record into the batch of the current loop turn, published with one batched offer (here every
  256 records, or at the ``poll`` every 256 appends, which both backends get);
- the same plus the CPU the archiver and the media driver processes used from the first append
  until the archiver has recorded and indexed everything (from /proc: 10 ms ticks), per
  message: the archive moves work out of the Gateway's process, this column shows how much;
- recorded: wall time from the first append until everything is durable under the fsync policy
  (journal: until its fsyncs cover the last message, ``JournalStoreFactory.unsynced``; archive:
  until the archiver's recorded-position counter covers it), both waited for the same way: a
  ``poll`` every 0.5 ms, as the Gateway's timer would. Under "never" durable means written to
  the OS (it survives a crash of the process, not a power loss) for both;
- replayed: ``read_range(1, 0)`` of all N messages (the archive's through the control stream).

The Gateway keeps every message it published until the archiver says it is recorded, at most
``archive_buffer_limit`` (default 100,000); a burst of N appends with no event loop turning in
between can hold more than that, so the benchmark raises the limit and prints the peak
("peak unrecorded") each round: above 100,000, a Gateway with the default limit would have
refused to store (and so to send) the messages past it until the archiver caught up.

Each round measures journal and archive for both policies (same driver, same run; which goes
first alternates from round to round); the table
gives, per metric, the median over the rounds and the range, and the ratio archive/journal
(median of the per-round ratios: for CPU lower is better, for msgs/s higher is better).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixg import driver, loads_config  # noqa: E402
from fixg.archive import format as fmt  # noqa: E402
from fixg.fix.codec import encode  # noqa: E402
from fixg.fix.settings import SessionKey  # noqa: E402
from fixg.store.archive import ArchiveStoreFactory  # noqa: E402
from fixg.store.base import Direction  # noqa: E402
from fixg.store.journal import JournalStoreFactory  # noqa: E402

from _common import cpu_seconds  # noqa: E402

KEY = SessionKey("FIX.4.4", "GW", "BANK")


def message(i: int) -> bytes:
    return encode("FIX.4.4", "D", [(34, i), (49, "GW"), (56, "BANK"), (52, "20240101-10:00:00.000"), (11, f"order-{i:08d}"),
                                   (21, "1"), (55, "IBM"), (54, "1"), (60, "20240101-10:00:00"), (38, 100),
                                   (40, "2"), (44, "101.25"), (59, "0"), (58, "x" * 60)])


def bench_journal(root: Path, fsync: str, msgs: list[bytes]) -> dict[str, float]:
    factory = JournalStoreFactory(root, fsync=fsync, fsync_interval_ms=10)
    store = factory.create(KEY, time.time())
    t0, c0 = time.perf_counter(), time.process_time()
    for i, m in enumerate(msgs, 1):
        store.append(Direction.OUTBOUND, i, m, time.time())
        if i % 256 == 0:
            factory.poll(time.time())  # the Gateway's timer would (the same cadence as the archive's)
    cpu = time.process_time() - c0
    while factory.unsynced:  # durable under the policy, polled as the archive's wait below is
        factory.poll(time.time())
        time.sleep(0.0005)
    wall = time.perf_counter() - t0
    r0 = time.perf_counter()
    n = sum(1 for _ in store.read_range(Direction.OUTBOUND, 1, 0))
    replay = time.perf_counter() - r0
    factory.close()
    assert n == len(msgs)
    return {"cpu_us": cpu / len(msgs) * 1e6, "other_cpu_us": 0.0, "recorded_per_s": len(msgs) / wall,
            "replayed_per_s": n / replay}


async def bench_archive(aeron_dir: str, driver_pid: int, root: Path, fsync: str, msgs: list[bytes]) -> dict[str, float]:
    cfg = loads_config(f"""
[storage]
backend = "aeron"
archive_dir = "{root}"
fsync = "{fsync}"
fsync_interval_ms = 10
archive_buffer_limit = 10000000
[aeron]
"aeron.dir" = "{aeron_dir}"
""")
    factory = await ArchiveStoreFactory.open(cfg)
    try:
        store = factory.create(KEY, time.time())
        while factory.unrecorded:
            factory.poll(time.time())
            await asyncio.sleep(0.001)
        assert factory.archiver is not None
        others = (factory.archiver.pid, driver_pid)
        o0 = sum(cpu_seconds(pid) for pid in others)
        peak = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for i, m in enumerate(msgs, 1):
            store.append(Direction.OUTBOUND, i, m, time.time())
            if i % 256 == 0:
                factory.poll(time.time())  # the Gateway's timer would
                peak = max(peak, factory.unrecorded)
        cpu = time.process_time() - c0
        peak = max(peak, factory.unrecorded)
        while factory.unrecorded:
            factory.poll(time.time())
            await asyncio.sleep(0.0005)
        wall = time.perf_counter() - t0
        factory.control.request(fmt.Op.STATUS)  # the archiver indexes what it recorded before it answers
        other = sum(cpu_seconds(pid) for pid in others) - o0
        r0 = time.perf_counter()
        n = sum(1 for _ in store.read_range(Direction.OUTBOUND, 1, 0))
        replay = time.perf_counter() - r0
        assert n == len(msgs), n
        return {"cpu_us": cpu / len(msgs) * 1e6, "other_cpu_us": other / len(msgs) * 1e6,
                "recorded_per_s": len(msgs) / wall, "replayed_per_s": n / replay, "peak_unrecorded": peak}
    finally:
        await factory.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.n
    msgs = [message(i) for i in range(1, n + 1)]
    aeron_dir = f"/dev/shm/fixg-bench-{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix="fixg-bench-"))
    handle = driver.start({"aeron.threading.mode": "SHARED", "aeron.shared.idle.strategy": "backoff",
                           "aeron.ipc.term.buffer.length": "16m", "aeron.term.buffer.sparse.file": "true"},
                          aeron_dir=aeron_dir)
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        print(f"{n} messages of {len(msgs[0])} bytes; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}; "
              f"{args.rounds} rounds")
        for r in range(args.rounds):
            for fsync in ("never", "interval"):
                def journal() -> dict[str, float]:
                    return bench_journal(tmp / f"journal-{fsync}-{r}", fsync, msgs)

                def archive() -> dict[str, float]:
                    return asyncio.run(bench_archive(aeron_dir, handle.pid, tmp / f"archive-{fsync}-{r}", fsync, msgs))

                if r % 2:  # which goes first alternates from round to round
                    a, j = archive(), journal()
                else:
                    j, a = journal(), archive()
                results.setdefault(("journal", fsync), []).append(j)
                results.setdefault(("archive", fsync), []).append(a)
                print(f"round {r + 1} {fsync:<9} " + "  ".join(
                    f"{name}: {x['cpu_us']:.2f} us (+{x['other_cpu_us']:.2f} us), {x['recorded_per_s']:,.0f} rec/s, "
                    f"{x['replayed_per_s']:,.0f} rep/s" + (f", peak unrecorded {x['peak_unrecorded']:,.0f}"
                                                           if "peak_unrecorded" in x else "")
                    for name, x in (("journal", j), ("archive", a))), flush=True)
                shutil.rmtree(tmp / f"journal-{fsync}-{r}", ignore_errors=True)
                shutil.rmtree(tmp / f"archive-{fsync}-{r}", ignore_errors=True)
    finally:
        handle.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def cell(values: list[float], fmt_: str) -> str:
        return f"{format(statistics.median(values), fmt_)} ({format(min(values), fmt_)}-{format(max(values), fmt_)})"

    for rows in results.values():
        for x in rows:
            x["total_cpu_us"] = x["cpu_us"] + x["other_cpu_us"]
    metrics = (("cpu_us", "hot path CPU/msg us", ".2f"),
               ("total_cpu_us", "CPU/msg us, + archiver and driver", ".2f"), ("recorded_per_s", "recorded msgs/s", ",.0f"),
               ("replayed_per_s", "replayed msgs/s", ",.0f"))
    print()
    print("| backend | fsync | " + " | ".join(m[1] for m in metrics) + " |")
    print("|---|---|" + "---:|" * len(metrics))
    for fsync in ("never", "interval"):
        for name in ("journal", "archive"):
            rows = results[(name, fsync)]
            print(f"| {name} | {fsync} | " + " | ".join(cell([x[k] for x in rows], f) for k, _t, f in metrics) + " |")
        ratios = [cell([a[k] / j[k] for j, a in zip(results[("journal", fsync)], results[("archive", fsync)])], ".2f")
                  + "x" for k, _t, _f in metrics]
        print(f"| archive/journal | {fsync} | " + " | ".join(ratios) + " |")
    print("\ntargets: recorded msgs/s ratio >= 3.00x; hot path CPU ratio <= 0.50x")


if __name__ == "__main__":
    main()
