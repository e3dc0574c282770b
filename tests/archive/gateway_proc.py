"""A Gateway process for the crash tests: ``python gateway_proc.py CONFIG ORDERS``.

Prints one JSON line with its port and its archiver's pid once started; with ORDERS > 0 a
FixClient in the process claims FIX.4.4:GW->BANK, waits for it to be logged on, sends ORDERS
orders and prints ``{"sent": ORDERS}``. Then it runs until killed."""

from __future__ import annotations

import asyncio
import json
import sys

from fixg import FixClient, Gateway, load_config


async def main(path: str, orders: int) -> None:
    cfg = load_config(path)
    async with Gateway(cfg) as gw:
        archiver = getattr(gw._factory, "archiver", None)
        print(json.dumps({"port": gw.port, "archiver_pid": archiver.pid if archiver else None}), flush=True)
        async with FixClient.connect(gw) as client:
            if orders:
                sid = await client.claim(key="FIX.4.4:GW->BANK")
                await client.wait_state(sid, "ACTIVE", 30)
                for i in range(orders):
                    await client.send(sid, "D", [(11, f"o-{i}"), (21, "1"), (55, "IBM"), (54, "1"),
                                                 (60, "20240101-10:00:00"), (38, 100), (40, "1")])
                print(json.dumps({"sent": orders}), flush=True)
            await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
