"""Archive vs journal: persistence cost on the Gateway's hot path, messages/s recorded, replayed.

    python tests/archive/bench_archive.py [N]

Not a test (not collected). Starts its own media driver (SHARED threading, backoff idle) in a
unique /dev/shm directory and an archiver process; the journal runs in this process. For each
fsync policy ("never", "interval" = every 10 ms):

- hot path: CPU time (process_time) of N ``store.append`` calls of a 200-byte FIX message,
  per message: the journal formats a JSON line and write(2)s it; the archive encodes a record
  and offers it (plus an index entry) to the IPC publication;
- recorded: wall time from the first append until everything is durable (journal: the appends
  plus the last fsync; archive: until the archiver's recorded-position counter covers the last
  message), as messages/s;
- replayed: ``read_range(1, 0)`` of all N messages (the archive's through the control stream).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fixg import driver, loads_config  # noqa: E402
from fixg.fix.codec import encode  # noqa: E402
from fixg.fix.settings import SessionKey  # noqa: E402
from fixg.store.archive import ArchiveStoreFactory  # noqa: E402
from fixg.store.base import Direction  # noqa: E402
from fixg.store.journal import JournalStoreFactory  # noqa: E402

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
        factory.poll(time.time())
    cpu = time.process_time() - c0
    store.sync()
    wall = time.perf_counter() - t0
    r0 = time.perf_counter()
    n = sum(1 for _ in store.read_range(Direction.OUTBOUND, 1, 0))
    replay = time.perf_counter() - r0
    factory.close()
    assert n == len(msgs)
    return {"cpu_us": cpu / len(msgs) * 1e6, "recorded_per_s": len(msgs) / wall, "replayed_per_s": n / replay}


async def bench_archive(aeron_dir: str, root: Path, fsync: str, msgs: list[bytes]) -> dict[str, float]:
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
        t0, c0 = time.perf_counter(), time.process_time()
        for i, m in enumerate(msgs, 1):
            store.append(Direction.OUTBOUND, i, m, time.time())
            if i % 256 == 0:
                factory.poll(time.time())  # the Gateway's timer would
        cpu = time.process_time() - c0
        while factory.unrecorded:
            factory.poll(time.time())
            await asyncio.sleep(0.0005)
        wall = time.perf_counter() - t0
        r0 = time.perf_counter()
        n = sum(1 for _ in store.read_range(Direction.OUTBOUND, 1, 0))
        replay = time.perf_counter() - r0
        assert n == len(msgs), n
        return {"cpu_us": cpu / len(msgs) * 1e6, "recorded_per_s": len(msgs) / wall, "replayed_per_s": n / replay}
    finally:
        await factory.aclose()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    msgs = [message(i) for i in range(1, n + 1)]
    aeron_dir = f"/dev/shm/fixg-bench-{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix="fixg-bench-"))
    handle = driver.start({"aeron.threading.mode": "SHARED", "aeron.shared.idle.strategy": "backoff",
                           "aeron.ipc.term.buffer.length": "16m", "aeron.term.buffer.sparse.file": "true"},
                          aeron_dir=aeron_dir)
    try:
        print(f"{n} messages of {len(msgs[0])} bytes; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
        print(f"{'backend':<9} {'fsync':<9} {'hot path CPU/msg':>17} {'recorded msg/s':>15} {'replayed msg/s':>15}")
        for fsync in ("never", "interval"):
            j = bench_journal(tmp / f"journal-{fsync}", fsync, msgs)
            a = asyncio.run(bench_archive(aeron_dir, tmp / f"archive-{fsync}", fsync, msgs))
            for name, r in (("journal", j), ("archive", a)):
                print(f"{name:<9} {fsync:<9} {r['cpu_us']:>14.2f} us {r['recorded_per_s']:>15,.0f} {r['replayed_per_s']:>15,.0f}")
    finally:
        handle.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
