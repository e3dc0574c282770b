#!/usr/bin/env python3
"""Codec throughput: fixg against simplefix and QuickFIX (the quickfix-tls wheel), one run.

For a FIX.4.4 NewOrderSingle (18 fields) and ExecutionReport (27 fields) it measures

* encode msgs/s: from Python values (str, int, Decimal, timestamp bytes) to wire bytes;
* parse msgs/s: parse and read three fields. fixg parses from a byte stream cut into 64 KiB
  chunks, through its Framer (BodyLength and CheckSum verified) and ``decode``; simplefix
  through its FixParser; QuickFIX from one str per message, with a new ``Message`` each time
  and with one reused ``Message`` (``setString``), validation off, FIX44.xml DataDictionary.

Each figure is the median of several runs, interleaved round by round so that load from other
jobs hits every contender alike; ratios are taken within this run. A peer that is
not installed is skipped with a note. Run: ``python3 benchmarks/codec.py [--runs 7]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixg.fix.codec import Encoder, decode, encode  # noqa: E402
from fixg.fix.framer import Framer  # noqa: E402

FIX44_XML = Path("/work/shared/fixspec/FIX44.xml")
SENDING_TIME = b"20240102-03:04:05.123"

try:
    import simplefix  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - depends on the machine
    simplefix = None

try:
    import quickfix  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - depends on the machine
    quickfix = None


def header(seq: int) -> list[tuple[int, Any]]:
    return [(49, "SELLER"), (56, "BUYER"), (34, seq), (52, SENDING_TIME)]


def new_order_single(seq: int) -> tuple[str, list[tuple[int, Any]]]:
    # 8, 9, 35 + 4 header + 10 body + 10 = 18 fields
    body: list[tuple[int, Any]] = [
        (11, f"CL-{seq:08d}"),
        (1, "ACCT-0001"),
        (21, "1"),
        (55, "MSFT"),
        (54, "1"),
        (60, SENDING_TIME),
        (38, 1000),
        (40, "2"),
        (44, Decimal("412.35")),
        (59, "0"),
    ]
    return "D", header(seq) + body


def execution_report(seq: int) -> tuple[str, list[tuple[int, Any]]]:
    # 8, 9, 35 + 4 header + 19 body + 10 = 27 fields
    body: list[tuple[int, Any]] = [
        (37, f"ORD-{seq:08d}"),
        (11, f"CL-{seq:08d}"),
        (17, f"EX-{seq:08d}"),
        (150, "F"),
        (39, "1"),
        (55, "MSFT"),
        (54, "1"),
        (38, 1000),
        (40, "2"),
        (44, Decimal("412.35")),
        (59, "0"),
        (32, 100),
        (31, Decimal("412.30")),
        (151, 900),
        (14, 100),
        (6, Decimal("412.30")),
        (60, SENDING_TIME),
        (1, "ACCT-0001"),
        (58, "partial fill"),
    ]
    return "8", header(seq) + body


CASES: dict[str, tuple[Callable[[int], tuple[str, list[tuple[int, Any]]]], tuple[int, int, int]]] = {
    # message -> (builder, the three tags read back after parsing: 35 and two body tags)
    "NewOrderSingle": (new_order_single, (35, 55, 44)),
    "ExecutionReport": (execution_report, (35, 39, 31)),
}


def as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def measure_all(contenders: dict[str, Callable[[], int]], runs: int) -> dict[str, float]:
    """Median messages per second of each contender (a function returning how many messages
    it handled). Runs are interleaved, one of each contender per round, so a burst of load
    from other jobs on the machine hits every contender alike and the ratios hold."""
    for fn in contenders.values():
        fn()  # warm up
    rates: dict[str, list[float]] = {label: [] for label in contenders}
    for _ in range(runs):
        for label, fn in contenders.items():
            start = time.perf_counter()
            count = fn()
            rates[label].append(count / (time.perf_counter() - start))
    return {label: statistics.median(values) for label, values in rates.items()}


def chunks_of(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def bench_case(name: str, runs: int, count: int) -> dict[str, float]:
    build, (t1, t2, t3) = CASES[name]
    messages = [build(seq) for seq in range(1, count + 1)]
    frames = [encode("FIX.4.4", mt, fields) for mt, fields in messages]
    stream = b"".join(frames)
    chunks = chunks_of(stream, 65536)
    results: dict[str, Callable[[], int]] = {}

    # ---------------------------------------------------------------- fixg
    def fixg_encode() -> int:
        for mt, fields in messages:
            encode("FIX.4.4", mt, fields)
        return len(messages)

    encoder = Encoder("FIX.4.4", "SELLER", "BUYER")
    bodies = [(mt, seq, fields[4:]) for seq, (mt, fields) in enumerate(messages, 1)]

    def fixg_session_encode() -> int:
        enc = encoder.encode
        for mt, seq, body in bodies:
            enc(mt, seq, SENDING_TIME, body)
        return len(bodies)

    def fixg_parse() -> int:
        framer = Framer()
        feed = framer.feed
        next_frame = framer.next_frame
        n = 0
        for chunk in chunks:
            feed(chunk)
            while True:
                frame = next_frame()
                if frame is None:
                    break
                msg = decode(frame, verify=False)  # type: ignore[arg-type]
                msg.get(t1)
                msg.get(t2)
                msg.get(t3)
                n += 1
        assert n == len(frames) and framer.garbled_frames == 0
        return n

    def fixg_decode_verify() -> int:
        for frame in frames:
            msg = decode(frame)
            msg.get(t1)
            msg.get(t2)
            msg.get(t3)
        return len(frames)

    results["fixg encode()"] = fixg_encode
    results["fixg Encoder.encode()"] = fixg_session_encode
    results["fixg parse (Framer + decode)"] = fixg_parse
    results["fixg decode(verify=True)"] = fixg_decode_verify

    try:
        from fixg.fix.dictionary import DataDictionary

        dictionary = DataDictionary.from_xml(str(FIX44_XML)) if FIX44_XML.exists() else None
    except ImportError:
        dictionary = None
    if dictionary is not None:

        def fixg_parse_dictionary() -> int:
            framer = Framer()
            n = 0
            for chunk in chunks:
                framer.feed(chunk)
                while True:
                    frame = framer.next_frame()
                    if frame is None:
                        break
                    msg = decode(frame, dictionary, verify=False)  # type: ignore[arg-type]
                    msg.get(t1)
                    msg.get(t2)
                    msg.get(t3)
                    n += 1
            return n

        results["fixg parse with dictionary"] = fixg_parse_dictionary

    # ---------------------------------------------------------------- bare loop
    def bare_split() -> int:
        for frame in frames:
            if sum(frame[:-7]) & 255 != int(frame[-4:-1]):
                raise ValueError("checksum")
            fields = {}
            for part in frame.split(b"\x01")[:-1]:
                tag, _, value = part.partition(b"=")
                fields[int(tag)] = value
            fields[t1]
            fields[t2]
            fields[t3]
        return len(frames)

    results["bare split-on-SOH loop"] = bare_split

    # ---------------------------------------------------------------- simplefix
    if simplefix is not None:
        sf_messages = [(mt, [(t, as_text(v)) for t, v in fields]) for mt, fields in messages]

        def simplefix_encode() -> int:
            for mt, fields in sf_messages:
                msg = simplefix.FixMessage()
                msg.append_pair(8, "FIX.4.4", header=True)
                msg.append_pair(35, mt, header=True)
                for tag, value in fields:
                    msg.append_pair(tag, value)
                msg.encode()
            return len(sf_messages)

        def simplefix_parse() -> int:
            parser = simplefix.FixParser()
            n = 0
            for chunk in chunks:
                parser.append_buffer(chunk)
                while True:
                    msg = parser.get_message()
                    if msg is None:
                        break
                    msg.get(t1)
                    msg.get(t2)
                    msg.get(t3)
                    n += 1
            assert n == len(frames)
            return n

        results["simplefix encode"] = simplefix_encode
        results["simplefix parse"] = simplefix_parse
    else:
        print("note: simplefix is not installed; skipped (pip install simplefix)")

    # ---------------------------------------------------------------- QuickFIX
    if quickfix is not None and FIX44_XML.exists():
        fix = quickfix
        dd = fix.DataDictionary(str(FIX44_XML))
        texts = [frame.decode() for frame in frames]
        qf_messages = [(mt, [(t, as_text(v)) for t, v in fields]) for mt, fields in messages]
        header_tags = {49, 56, 34, 52}

        def quickfix_encode() -> int:
            for mt, fields in qf_messages:
                msg = fix.Message()
                head = msg.getHeader()
                head.setField(8, "FIX.4.4")
                head.setField(35, mt)
                for tag, value in fields:
                    if tag in header_tags:
                        head.setField(tag, value)
                    else:
                        msg.setField(tag, value)
                msg.toString()
            return len(qf_messages)

        def quickfix_parse_new() -> int:
            for text in texts:
                msg = fix.Message(text, dd, False)
                msg.getHeader().getField(t1)
                msg.getField(t2)
                msg.getField(t3)
            return len(texts)

        reused = fix.Message()

        def quickfix_parse_reused() -> int:
            for text in texts:
                reused.setString(text, False, dd)
                reused.getHeader().getField(t1)
                reused.getField(t2)
                reused.getField(t3)
            return len(texts)

        results["QuickFIX encode"] = quickfix_encode
        results["QuickFIX parse (new Message)"] = quickfix_parse_new
        results["QuickFIX parse (reused Message)"] = quickfix_parse_reused
    else:
        print("note: quickfix (quickfix-tls) or FIX44.xml missing; QuickFIX skipped")
    return measure_all(results, runs)


def report(name: str, results: dict[str, float]) -> None:
    qf_new = results.get("QuickFIX parse (new Message)")
    qf_reused = results.get("QuickFIX parse (reused Message)")
    qf_encode = results.get("QuickFIX encode")
    print(f"\n{name}")
    print(f"{'':36} {'msgs/s':>10}  {'vs QF parse new':>15}  {'vs QF parse reused':>18}  {'vs QF encode':>12}")
    for label, rate in results.items():
        is_encode = "encode" in label.lower()
        cols = ["", "", ""]
        if is_encode:
            if qf_encode:
                cols[2] = f"{rate / qf_encode:.2f}x"
        else:
            if qf_new:
                cols[0] = f"{rate / qf_new:.2f}x"
            if qf_reused:
                cols[1] = f"{rate / qf_reused:.2f}x"
        print(f"{label:36} {rate:10,.0f}  {cols[0]:>15}  {cols[1]:>18}  {cols[2]:>12}")
    parse = results.get("fixg parse (Framer + decode)")
    enc = results.get("fixg encode()")
    if parse and qf_new and qf_reused and enc and qf_encode:
        print(
            f"targets: parse >= QF new: {'met' if parse >= qf_new else 'MISSED'} "
            f"({parse / qf_new:.2f}x); parse >= QF reused (aim): "
            f"{'met' if parse >= qf_reused else 'missed'} ({parse / qf_reused:.2f}x); "
            f"encode >= 4x QF: {'met' if enc >= 4 * qf_encode else 'MISSED'} "
            f"({enc / qf_encode:.2f}x)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per figure (median taken)")
    parser.add_argument("--count", type=int, default=5000, help="messages per run")
    parser.add_argument("--only", choices=sorted(CASES), help="one message type only")
    args = parser.parse_args(argv)
    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{args.runs} runs x {args.count} messages, median"
    )
    for name in CASES:
        if args.only and name != args.only:
            continue
        report(name, bench_case(name, args.runs, args.count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
