"""What the session and gateway benchmarks share: the order and its ExecutionReport, helpers,
and the QuickFIX peer (its threaded initiator and acceptor in this process)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

ORDER: list[tuple[int, bytes]] = [
    (11, b"ORD000001"), (21, b"1"), (55, b"IBM"), (54, b"1"), (60, b"20240102-10:00:00.000"),
    (38, b"100"), (40, b"2"), (44, b"101.25"),
]  # fmt: skip
WARM_UP = 500


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far, from /proc (clock-tick resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
TIMEOUT = 120.0  # seconds any one burst or round trip may take before the run fails


def report_for(cl_ord_id: bytes) -> list[tuple[int, Any]]:
    """The ExecutionReport (New) the venue answers an order with."""
    return [
        (37, b"O" + cl_ord_id), (11, cl_ord_id), (17, b"E" + cl_ord_id), (150, b"0"),
        (39, b"0"), (55, b"IBM"), (54, b"1"), (38, b"100"), (151, b"100"), (14, b"0"), (6, b"0"),
    ]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class QuickFixBench:
    """QuickFIX's threaded initiator and acceptor in this process, configured in ``tmp``.

    ``window`` caps the orders in flight (QuickFIX's Python binding holds the GIL in its send,
    so unbounded pipelining deadlocks once a socket buffer fills); ``validate`` turns its
    FIX.4.4 dictionary on; ``file_store`` uses FileStores in ``tmp`` instead of memory."""

    def __init__(self, window: int, fixspec: Path, tmp: Path, *, validate: bool = True,
                 file_store: bool = False) -> None:  # fmt: skip
        import quickfix as fix

        self.fix = fix
        outer = self

        class Acc(fix.Application):  # type: ignore[misc]
            def onCreate(self, s: Any) -> None: ...  # noqa: N802
            def onLogon(self, s: Any) -> None: ...  # noqa: N802
            def onLogout(self, s: Any) -> None: ...  # noqa: N802
            def toAdmin(self, m: Any, s: Any) -> None: ...  # noqa: N802
            def fromAdmin(self, m: Any, s: Any) -> None: ...  # noqa: N802
            def toApp(self, m: Any, s: Any) -> None: ...  # noqa: N802

            def fromApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
                report = fix.Message()
                report.getHeader().setField(fix.MsgType("8"))
                for tag, value in report_for(message.getField(11).encode()):
                    report.setField(tag, value.decode())
                fix.Session.sendToTarget(report, session_id)

        class Ini(fix.Application):  # type: ignore[misc]
            def onCreate(self, s: Any) -> None: ...  # noqa: N802
            def onLogon(self, s: Any) -> None:  # noqa: N802
                outer.logged_on.set()

            def onLogout(self, s: Any) -> None: ...  # noqa: N802
            def toAdmin(self, m: Any, s: Any) -> None: ...  # noqa: N802
            def fromAdmin(self, m: Any, s: Any) -> None: ...  # noqa: N802
            def toApp(self, m: Any, s: Any) -> None: ...  # noqa: N802

            def fromApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
                outer.reports += 1
                outer.slots.release()
                if outer.reports >= outer.target:
                    outer.done.set()

        self.reports = 0
        self.target = 0
        self.done = threading.Event()
        self.slots = threading.Semaphore(window)
        self.logged_on = threading.Event()
        port = free_port()

        def config(role: str, sender: str, target: str) -> Any:
            path = tmp / f"{role}.cfg"
            lines = [
                "[DEFAULT]", f"ConnectionType={role}", "NonStopSession=Y", "HeartBtInt=30",
                "ReconnectInterval=1", f"UseDataDictionary={'Y' if validate else 'N'}",
                f"DataDictionary={fixspec / 'FIX44.xml'}", "SocketNodelay=Y",
                f"FileStorePath={tmp / (role + '-store')}", "ResetOnLogon=Y",
                "[SESSION]", "BeginString=FIX.4.4", f"SenderCompID={sender}", f"TargetCompID={target}",
                "SocketConnectHost=127.0.0.1", f"SocketConnectPort={port}", f"SocketAcceptPort={port}",
                "SocketAcceptHost=127.0.0.1",
            ]  # fmt: skip
            path.write_text("\n".join(lines) + "\n")
            return fix.SessionSettings(str(path))

        self.settings = (config("acceptor", "ACC", "INI"), config("initiator", "INI", "ACC"))
        self.apps = (Acc(), Ini())
        if file_store:
            self.stores = (fix.FileStoreFactory(self.settings[0]), fix.FileStoreFactory(self.settings[1]))
        else:
            self.stores = (fix.MemoryStoreFactory(), fix.MemoryStoreFactory())
        self.acceptor = fix.ThreadedSocketAcceptor(self.apps[0], self.stores[0], self.settings[0])
        self.initiator = fix.ThreadedSocketInitiator(self.apps[1], self.stores[1], self.settings[1])
        self.sid = fix.SessionID("FIX.4.4", "INI", "ACC")

    def order(self) -> Any:
        m = self.fix.Message()
        m.getHeader().setField(self.fix.MsgType("D"))
        for tag, value in ORDER:
            m.setField(tag, value.decode())
        return m

    def start(self) -> None:
        self.acceptor.start()
        self.initiator.start()
        if not self.logged_on.wait(30):
            raise RuntimeError("QuickFIX did not log on")
        self.burst(WARM_UP)

    def pings(self, count: int) -> list[float]:
        send = self.fix.Session.sendToTarget
        rtts = []
        for _ in range(count):
            self.done.clear()
            self.target = self.reports + 1
            self.slots.acquire()
            t0 = time.perf_counter()
            send(self.order(), self.sid)
            if not self.done.wait(TIMEOUT):
                raise RuntimeError("QuickFIX round trip timed out")
            rtts.append(time.perf_counter() - t0)
        return rtts

    def burst(self, orders: int) -> float:
        send = self.fix.Session.sendToTarget
        self.done.clear()
        self.target = self.reports + orders
        acquire = self.slots.acquire
        t0 = time.perf_counter()
        for _ in range(orders):
            if not acquire(timeout=TIMEOUT):
                raise RuntimeError("QuickFIX stopped answering")
            send(self.order(), self.sid)
        if not self.done.wait(TIMEOUT):
            raise RuntimeError("QuickFIX throughput run timed out")
        return time.perf_counter() - t0

    def stop(self) -> None:
        self.initiator.stop()
        self.acceptor.stop()
        del self.initiator, self.acceptor
