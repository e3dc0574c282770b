"""Aeron benchmark: fixg's ctypes bindings against pyaeron's C extension, in the same run.

    PYENV_VERSION=3.12 python benchmarks/aeron_bench.py [--seconds 2] [--samples 20000]

* Throughput: offer + poll in one thread over ``aeron:ipc`` (64 and 300 byte messages); the
  publisher offers a burst, the subscriber drains it, repeatedly, for ``--seconds``.
  fixg is measured with its fast path (``DirectExclusivePublication.try_offer_batch``: the
  burst framed and copied into the mapped log from Python, no ctypes call;
  ``Subscription.term_poll``: the log read from Python, no callback from C), with one direct
  ``try_offer`` per message + ``term_poll``, and the older modes: libaeron's ``offer_block``
  (one ctypes call per burst) + ``term_poll`` or ``poll`` (a memoryview per message), one
  ctypes ``try_offer`` per message + ``poll``, and libaeron's poll (one ctypes callback per
  message).
* Ping-pong: round-trip time between two processes over ``aeron:ipc`` (a ping stream and a pong
  stream), ``--samples`` round trips after a warm-up; p50/p90/p99 in microseconds. fixg with
  the direct writer (no ctypes call per round trip) and with libaeron's offer (two ctypes calls).

One media driver (started with ``fixg.driver.start``) serves every case: SHARED threading mode
with a backoff idle strategy (a spinning driver starves a 2-core machine). pyaeron is skipped,
with a note, when it cannot be imported (it needs Python >= 3.12).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixg import driver  # noqa: E402
from fixg.aeron import Client, Header  # noqa: E402
from fixg.aeron.loader import load_library  # noqa: E402

CHANNEL = "aeron:ipc"
BURST = 256


def _pyaeron() -> Any | None:
    try:
        import pyaeron  # type: ignore[import-not-found]
    except ImportError:
        return None
    return pyaeron


# --- throughput ---------------------------------------------------------------------------------


MODES = ("direct", "direct-single", "batch", "poll", "single", "library")


def fixg_throughput(aeron_dir: str, size: int, seconds: float, mode: str) -> float:
    """``mode``: ``direct`` (the direct writer's try_offer_batch + term_poll, the fast path),
    ``direct-single`` (one direct try_offer per message + term_poll), ``batch`` (libaeron's
    offer_block + term_poll), ``poll`` (offer_block + poll: one memoryview per message),
    ``single`` (one ctypes try_offer per message + poll), or ``library`` (ctypes try_offer +
    libaeron's poll: one ctypes callback per message)."""
    payload = os.urandom(size)
    stream = next(_streams)
    with Client(aeron_dir) as client:
        sub = client.add_subscription(CHANNEL, stream, direct=None if mode != "library" else False)
        pub = client.add_exclusive_publication(CHANNEL, stream, direct=mode.startswith("direct"))
        while not (pub.is_connected and sub.is_connected):
            time.sleep(0.001)
        received = 0

        def on_message(buffer: memoryview, header: Header) -> None:
            nonlocal received
            received += 1

        def on_term(term: memoryview, offset: int, length: int, header: Header) -> None:
            nonlocal received
            received += 1

        batch = [payload] * BURST
        term_style = mode in ("direct", "direct-single", "batch")
        poll: Any = sub.term_poll if term_style else sub.poll
        handler: Any = on_term if term_style else on_message
        offer = pub.try_offer
        offer_batch = pub.try_offer_batch
        batched = mode in ("direct", "batch", "poll")
        poll(handler, BURST)
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            if batched:
                offer_batch(batch)
            else:
                for _ in range(BURST):
                    if offer(payload) < 0:
                        break
            poll(handler, BURST)
        elapsed = time.perf_counter() - started
        while poll(handler, BURST) > 0:
            pass
        return received / elapsed


_streams = iter(range(1001, 2000))


def pyaeron_throughput(pyaeron: Any, aeron_dir: str, size: int, seconds: float) -> float:
    payload = os.urandom(size)
    client = pyaeron.Aeron(dir=aeron_dir)
    try:
        sub = client.add_subscription(CHANNEL, 1002)
        pub = client.add_exclusive_publication(CHANNEL, 1002)
        while not (pub.is_connected and sub.is_connected):
            time.sleep(0.001)
        received = 0

        def on_message(buffer: Any, header: Any) -> None:
            nonlocal received
            received += 1

        offer = pub.offer
        poll = sub.poll
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            for _ in range(BURST):
                if not offer(payload):
                    break
            poll(on_message, BURST)
        elapsed = time.perf_counter() - started
        while poll(on_message, BURST) > 0:
            pass
        sub.close()
        pub.close()
        return received / elapsed
    finally:
        client.close()


# --- ping-pong ----------------------------------------------------------------------------------


def fixg_pong(aeron_dir: str, ping_stream: int, pong_stream: int, direct: bool = False) -> None:
    with Client(aeron_dir) as client:
        sub = client.add_subscription(CHANNEL, ping_stream)
        pub = client.add_exclusive_publication(CHANNEL, pong_stream, direct=direct)
        offer = pub.try_offer
        running = True

        def echo(term: memoryview, offset: int, length: int, header: Header) -> None:
            nonlocal running
            if length == 1:
                running = False
                return
            data = term[offset:offset + length].tobytes()
            while offer(data) < 0:
                pass

        poll = sub.term_poll
        while running:
            poll(echo, 1)


def pyaeron_pong(aeron_dir: str, ping_stream: int, pong_stream: int) -> None:
    import pyaeron

    client = pyaeron.Aeron(dir=aeron_dir)
    try:
        sub = client.add_subscription(CHANNEL, ping_stream)
        pub = client.add_exclusive_publication(CHANNEL, pong_stream)
        offer = pub.offer
        running = True

        def echo(buffer: Any, header: Any) -> None:
            nonlocal running
            data = bytes(buffer)
            if len(data) == 1:
                running = False
                return
            while not offer(data):
                pass

        poll = sub.poll
        while running:
            poll(echo, 1)
        sub.close()
        pub.close()
    finally:
        client.close()


def _percentiles(samples_ns: list[int]) -> tuple[float, float, float]:
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000

    return at(0.5), at(0.9), at(0.99)


def ping(
    kind: str, aeron_dir: str, size: int, samples: int, pyaeron: Any | None, streams: tuple[int, int]
) -> tuple[float, float, float]:
    ping_stream, pong_stream = streams
    child = subprocess.Popen(
        [sys.executable, __file__, "--pong", kind, "--dir", aeron_dir,
         "--streams", f"{ping_stream},{pong_stream}"],
    )
    payload = os.urandom(size)
    try:
        if kind in ("fixg", "fixg-direct"):
            with Client(aeron_dir) as client:
                pub = client.add_exclusive_publication(CHANNEL, ping_stream, direct=kind == "fixg-direct")
                sub = client.add_subscription(CHANNEL, pong_stream)
                while not (pub.is_connected and sub.is_connected):
                    time.sleep(0.001)
                got = 0

                def on_pong(term: memoryview, offset: int, length: int, header: Header) -> None:
                    nonlocal got
                    got += 1

                term_poll = sub.term_poll
                result = _ping_loop(pub.try_offer, lambda: term_poll(on_pong, 1), lambda: got, payload, samples,
                                    lambda r: r > 0)
                while pub.try_offer(b"x") < 0:
                    pass
        else:
            assert pyaeron is not None
            client = pyaeron.Aeron(dir=aeron_dir)
            try:
                pub = client.add_exclusive_publication(CHANNEL, ping_stream)
                sub = client.add_subscription(CHANNEL, pong_stream)
                while not (pub.is_connected and sub.is_connected):
                    time.sleep(0.001)
                got = 0

                def on_pong_py(buffer: Any, header: Any) -> None:
                    nonlocal got
                    got += 1

                result = _ping_loop(pub.offer, lambda: sub.poll(on_pong_py, 1), lambda: got, payload, samples, bool)
                while not pub.offer(b"x"):
                    pass
                sub.close()
                pub.close()
            finally:
                client.close()
        child.wait(timeout=30)
        return result
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _ping_loop(
    offer: Callable[[bytes], Any],
    poll: Callable[[], int],
    count: Callable[[], int],
    payload: bytes,
    samples: int,
    ok: Callable[[Any], bool],
) -> tuple[float, float, float]:
    warmup = max(1000, samples // 10)
    rtts: list[int] = []
    clock = time.perf_counter_ns
    for i in range(warmup + samples):
        expected = count() + 1
        started = clock()
        while not ok(offer(payload)):
            pass
        while count() < expected:
            poll()
        if i >= warmup:
            rtts.append(clock() - started)
    return _percentiles(rtts)


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="per throughput case")
    parser.add_argument("--samples", type=int, default=20_000, help="round trips per ping-pong case")
    parser.add_argument("--json", help="also write the measurements to this file (JSON)")
    parser.add_argument("--pong", choices=("fixg", "fixg-direct", "pyaeron"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--streams", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pong:
        ping_stream, pong_stream = (int(s) for s in args.streams.split(","))
        if args.pong == "pyaeron":
            pyaeron_pong(args.dir, ping_stream, pong_stream)
        else:
            fixg_pong(args.dir, ping_stream, pong_stream, direct=args.pong == "fixg-direct")
        return 0

    pyaeron = _pyaeron()
    lib = load_library()
    print(f"# Aeron benchmark: {platform.node()} {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {lib.version} ({lib.source})")
    if pyaeron is None:
        print("# note: pyaeron is not importable here: its column is skipped (install it under Python 3.12+)")
    aeron_dir = f"/dev/shm/fixg-bench-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    properties = {
        "aeron.threading.mode": "SHARED",
        "aeron.shared.idle.strategy": "backoff",
        "aeron.ipc.term.buffer.length": "16m",
    }
    rows: list[tuple[str, str, str, str]] = []
    results: dict[str, Any] = {"python": platform.python_version(), "throughput": {}, "pingpong": {}}
    with driver.start(properties, aeron_dir=aeron_dir):
        for size in (64, 300):
            rates = {mode: fixg_throughput(aeron_dir, size, args.seconds, mode) for mode in MODES}
            peer = pyaeron_throughput(pyaeron, aeron_dir, size, args.seconds) if pyaeron else None
            results["throughput"][size] = {**rates, "pyaeron": peer}
            fast = rates["direct"]
            ratio = f"{fast / peer:.0%}" if peer else "n/a"
            rows.append((f"offer+poll {size} B, one thread (msgs/s)",
                         f"{fast / 1e6:.2f}M (direct try_offer_batch + term_poll), "
                         f"{rates['direct-single'] / 1e6:.2f}M (direct try_offer + term_poll), "
                         f"{rates['batch'] / 1e6:.2f}M (offer_block + term_poll), {rates['poll'] / 1e6:.2f}M "
                         f"(offer_block + poll), {rates['single'] / 1e6:.2f}M (ctypes try_offer + poll), "
                         f"{rates['library'] / 1e6:.2f}M (ctypes try_offer + libaeron poll)",
                         f"{peer / 1e6:.2f}M" if peer else "skipped", ratio))
        streams = iter(range(2001, 2100, 2))
        for size in (64, 300):
            d50, d90, d99 = ping("fixg-direct", aeron_dir, size, args.samples, pyaeron,
                                 (next(streams), next(streams)))
            f50, f90, f99 = ping("fixg", aeron_dir, size, args.samples, pyaeron, (next(streams), next(streams)))
            results["pingpong"][size] = {"direct": [d50, d90, d99], "ctypes": [f50, f90, f99]}
            if pyaeron:
                p50, p90, p99 = ping("pyaeron", aeron_dir, size, args.samples, pyaeron,
                                     (next(streams), next(streams)))
                results["pingpong"][size]["pyaeron"] = [p50, p90, p99]
                peer_text = f"{p50:.2f} / {p90:.2f} / {p99:.2f}"
                ratio = f"{d50 / p50:.2f}x (ctypes offer: {f50 / p50:.2f}x)"
            else:
                peer_text, ratio = "skipped", "n/a"
            rows.append((f"ping-pong {size} B, two processes (us p50 / p90 / p99)",
                         f"{d50:.2f} / {d90:.2f} / {d99:.2f} (direct writer), "
                         f"{f50:.2f} / {f90:.2f} / {f99:.2f} (ctypes offer)", peer_text, ratio))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)
    print()
    print("| case | fixg | pyaeron (C extension) | fixg (fast path) vs pyaeron |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
