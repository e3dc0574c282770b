"""``fixg driver``: run the embedded C media driver in the foreground until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from fixg.errors import ConfigError


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "driver",
        help="run the Aeron media driver in the foreground",
        description=(
            "Run the embedded C media driver with the [aeron] properties of a fixg configuration "
            "(and/or a .properties file, and -D overrides) until SIGINT or SIGTERM."
        ),
    )
    parser.add_argument("--config", metavar="FILE", help="fixg TOML configuration ([aeron] section)")
    parser.add_argument("--properties", metavar="FILE", help="Aeron .properties file")
    parser.add_argument("--dir", metavar="DIR", help="Aeron directory (overrides aeron.dir)")
    parser.add_argument(
        "-D", dest="defines", metavar="NAME=VALUE", action="append", default=[],
        help="set one Aeron property, e.g. -D aeron.threading.mode=SHARED (repeatable)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for readiness")
    parser.set_defaults(func=run)


def _defines(items: list[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"-D takes NAME=VALUE, got {item!r}")
        result[name.strip()] = value.strip()
    return result


def run(args: argparse.Namespace) -> int:
    from fixg import driver

    properties: dict[str, object] = {}
    properties_file: str | None = args.properties
    if args.config:
        from fixg.config import load_config

        aeron = load_config(args.config).aeron
        properties.update(aeron.properties)
        if properties_file is None and aeron.properties_file:
            properties_file = aeron.properties_file
    properties.update(_defines(args.defines))

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        handle = driver.start(
            properties, properties_file=properties_file, aeron_dir=args.dir, timeout_s=args.timeout
        )
        with handle:
            print(
                f"fixg driver: media driver running, pid {handle.pid}, dir {handle.aeron_dir}, "
                f"{handle.version}",
                flush=True,
            )
            while not stop.wait(0.5):
                if handle.returncode is not None:
                    print(f"fixg driver: media driver exited with status {handle.returncode}",
                          file=sys.stderr, flush=True)
                    return 1
            print("fixg driver: stopping", flush=True)
        return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
