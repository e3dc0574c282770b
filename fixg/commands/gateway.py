"""``fixg gateway --config FILE``: run a Gateway in the foreground.

It listens and connects for the sessions of the configuration and serves FixClients: of this
process on the in-process transport, of other processes or hosts with ``[transport] kind =
"aeron"`` (launching the embedded media driver if none is alive in ``aeron.dir``; see
docs/transport.md). SIGINT or SIGTERM stops it cleanly: every logged-on session is logged out (bounded by
its LogoutTimeout) and the journal is flushed and closed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from fixg.config import load_config
from fixg.errors import LocalProtocolError
from fixg.gateway.engine import Gateway

__all__ = ["register", "run", "serve"]

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gateway", help="run a gateway in the foreground", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--config", "-c", required=True, metavar="FILE", help="the TOML configuration")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    return asyncio.run(serve(config))


async def serve(config: Any, *, ready: Any = None) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Gateway(config) as gw:
            ports = []
            try:
                ports.append(f"accepting on {config.gateway.accept_host}:{gw.port}")
            except LocalProtocolError:  # no acceptor on [gateway] accept_port
                pass
            storage = config.storage
            if storage.backend == "aeron":
                who = "its own archiver" if storage.archiver == "spawn" else "an external archiver"
                where = f"archive {storage.archive_dir} ({who})"
            else:
                where = f"journal {gw.journal_path}"
            print(
                f"fixg gateway {gw.name}: {len(config.sessions)} sessions, "
                f"{', '.join(ports) or 'no acceptor port'}, {where}",
                flush=True,
            )
            if ready is not None:
                ready(gw)
            await stop.wait()
            print(f"fixg gateway {gw.name}: stopping (logging out, flushing the store)", flush=True)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
    print("fixg gateway: stopped", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    from fixg.cli import main

    sys.exit(main(["gateway", *sys.argv[1:]]))
