"""``fixg status --config FILE``: health and metrics of a running Gateway.

Connects to the Gateway of the configuration as a FixClient over its Aeron transport
(``[transport] kind = "aeron"``; an in-process Gateway has no outside door), asks for a
StatusReport and prints it: the transport (state, media driver heartbeat, stream positions),
the clients (link, last heard, queued events), the sessions (state, sequence numbers, owner,
buffered messages) and the per-stage latency histograms. ``--json`` prints the raw document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from fixg.config import Config, load_config
from fixg.errors import ConfigError, FixTimeoutError

__all__ = ["register", "run", "fetch", "render"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status", help="print the health and latency histograms of a running gateway",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--config", "-c", required=True, metavar="FILE", help="the gateway's TOML configuration")
    parser.add_argument("--json", action="store_true", help="print the status document as JSON")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S", help="seconds to wait for the gateway")
    parser.set_defaults(func=run)


async def fetch(config: Config, timeout: float = 5.0) -> dict[str, Any]:
    """The status document of the Gateway ``config`` describes, over its Aeron transport."""
    from fixg.client import FixClient

    if config.transport.kind != "aeron":
        raise ConfigError(
            'fixg status reaches a gateway over its Aeron transport; this configuration has '
            f'[transport] kind = "{config.transport.kind}"',
            file=config.source, key="transport.kind",
        )  # fmt: skip
    client = FixClient.connect(config, name="fixg status", request_timeout=timeout)
    try:
        # The whole exchange (connect, Hello, status) is bounded by ``timeout``.
        async with asyncio.timeout(timeout):
            async with client:
                return await client.status()
    except TimeoutError as exc:
        if isinstance(exc, FixTimeoutError):
            raise
        raise FixTimeoutError(
            f"no status from the gateway within {timeout:g} s (is it running, with "
            f"[transport] channel {config.transport.channel}?)"
        ) from None


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    document = asyncio.run(fetch(config, args.timeout))
    print(json.dumps(document, indent=2, sort_keys=True) if args.json else render(document))
    return 0


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    return out


def render(doc: dict[str, Any]) -> str:
    """The status document as text tables."""
    out = [f"gateway {doc['gateway']} (pid {doc['pid']}), transport {doc['transport']}"]
    aeron = doc.get("aeron")
    if aeron:
        age = aeron.get("driver_heartbeat_age_ms")
        out.append(
            f"aeron: {aeron['state']}{' (' + aeron['down_reason'] + ')' if aeron.get('down_reason') else ''}, "
            f"driver {aeron['aeron_dir']} heartbeat {age if age is not None else '?'} ms ago, "
            f"reconnections {aeron['reconnects']}"
        )
        images = ", ".join(f"{i['session_id']}@{i['position']}" for i in aeron.get("command_images", []))
        out.append(f"command stream images (session@position): {images or 'none'}")
    out.append("")
    links = (aeron or {}).get("links", {})
    rows = []
    for c in doc["clients"]:
        link = links.get(str(c.get("link_id"))) or {}
        rows.append([
            c["id"], c["name"], "yes" if c["connected"] else "no", c["last_heard_ms"], c["pending_events"],
            link.get("event_position", "-"), link.get("frames_in", "-"), link.get("frames_out", "-"),
            link.get("back_pressure_events", "-"),
        ])  # fmt: skip
    out += _table(["client", "name", "connected", "last heard ms", "queued", "event pos", "in", "out", "back-pressured"], rows)
    out.append("")
    rows = [
        [s["key"], s["state"], s["next_sender_seq_num"], s["next_target_seq_num"], s["owner"] or "-", s["buffered"]]
        for s in doc["sessions"]
    ]
    out += _table(["session", "state", "next out", "next in", "owner", "buffered"], rows)
    out.append("")
    rows = []
    for name, h in doc["latency"].items():
        if h.get("count"):
            rows.append([name, h["count"], h["p50_us"], h["p90_us"], h["p99_us"], h["p99.9_us"], h["max_us"]])
        else:
            rows.append([name, 0, "-", "-", "-", "-", "-"])
    out += _table(["latency stage", "count", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us"], rows)
    return "\n".join(out)
