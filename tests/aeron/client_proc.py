"""A FixClient process for the Aeron transport tests, driven line by line on stdin and
reporting JSON lines on stdout:

    claim KEY          -> {"ev": "claimed", "sid": ...}
    send N PREFIX      -> {"ev": "sent", "id": PREFIX-i, "seq": ...} per order (or "send_failed")
    status             -> {"ev": "status", "doc": {...}}
    quit               -> says Goodbye and exits

and, unprompted, {"ev": "exec", "id": ClOrdID, "sid": ...} for each ExecutionReport,
{"ev": "app", ...} for other application messages, {"ev": "transport", "state": ...} and
{"ev": "ready", "client_id": ...} once connected. ``python client_proc.py CONFIG NAME``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from fixg import FixClient, load_config
from fixg.client import CommandError
from fixg.errors import TransportError
from fixg.transport import protocol as p


def emit(**kw: Any) -> None:
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def order(cl_ord_id: str) -> list[tuple[int, Any]]:
    return [(11, cl_ord_id), (21, "1"), (55, "IBM"), (54, "1"), (60, "20240102-10:00:00.000"), (38, "100"), (40, "1")]


async def pump(client: FixClient) -> None:
    async for event in client.events():
        if isinstance(event, p.ApplicationMessageReceived):
            fields = dict(part.split(b"=", 1) for part in event.data.split(b"\x01") if b"=" in part)
            ident = (fields.get(b"11") or fields.get(b"58") or b"").decode()
            kind = "exec" if event.msg_type == "8" else "app"
            emit(ev=kind, id=ident, sid=event.session_id, seq=event.seq_num, owned=event.session_id in client.owned)
        elif isinstance(event, p.TransportStateChanged):
            emit(ev="transport", state=event.state, reason=event.reason, client_id=client.client_id)
        elif isinstance(event, p.SessionStateChanged):
            emit(ev="session", sid=event.session_id, state=event.state)


async def main() -> None:
    config = load_config(sys.argv[1])
    name = sys.argv[2]
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with FixClient.connect(config, name=name, request_timeout=5.0) as client:
        emit(ev="ready", client_id=client.client_id)
        pumper = loop.create_task(pump(client))
        while True:
            line = (await reader.readline()).decode().strip()
            if not line or line == "quit":
                break
            cmd, *args = line.split()
            try:
                if cmd == "claim":
                    emit(ev="claimed", sid=await client.claim(key=args[0]))
                elif cmd == "send":
                    count, prefix = int(args[0]), args[1]
                    sid = next(iter(client.owned))
                    for i in range(count):
                        ident = f"{prefix}-{i}"
                        try:
                            emit(ev="sent", id=ident, seq=await client.send(sid, "D", order(ident)))
                        except (CommandError, TransportError) as exc:
                            emit(ev="send_failed", id=ident, error=str(exc))
                elif cmd == "status":
                    emit(ev="status", doc=await client.status())
            except (CommandError, TransportError) as exc:
                emit(ev="error", cmd=cmd, error=str(exc))
        pumper.cancel()
    emit(ev="bye")


if __name__ == "__main__":
    asyncio.run(main())
