"""QuickFIX (from PyPI) as the counterparty: configuration in tmp_path, its own threads, and
helpers to wait, with a bound, for what either side saw."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from testutil import fixspec_dir, wait_for  # noqa: F401  (wait_for: re-exported)

quickfix = pytest.importorskip("quickfix")

from fixg.fix import events as ev  # noqa: E402
from fixg.fix.session import Session  # noqa: E402

WAIT = 10.0  # seconds any single expectation may take before the test fails

VERSIONS = {
    "FIX.4.2": {"DataDictionary": "FIX42.xml"},
    "FIX.4.4": {"DataDictionary": "FIX44.xml"},
    "FIXT.1.1": {
        "TransportDataDictionary": "FIXT11.xml",
        "AppDataDictionary": "FIX50SP2.xml",
        "DefaultApplVerID": "FIX.5.0SP2",
    },
}


def free_port() -> int:
    """A port nobody listens on right now (for QuickFIX's acceptor, which needs a number)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def msg_fields(message: Any) -> dict[int, str]:
    """Top-level tags of a quickfix.Message (header, body, trailer) by parsing its string."""
    out: dict[int, str] = {}
    for part in message.toString().split("\x01"):
        tag, sep, value = part.partition("=")
        if sep and tag.isdigit() and int(tag) not in out:
            out[int(tag)] = value
    return out


class QFApp(quickfix.Application):  # type: ignore[misc]
    """Records everything QuickFIX hands to the application; answers a NewOrderSingle with an
    ExecutionReport when ``echo_orders`` is set."""

    def __init__(self, begin_string: str, echo_orders: bool = True) -> None:
        super().__init__()
        self.begin_string = begin_string
        self.echo_orders = echo_orders
        self.lock = threading.Lock()
        self.admin_in: list[dict[int, str]] = []
        self.admin_out: list[dict[int, str]] = []
        self.app_in: list[dict[int, str]] = []
        self.logons = 0
        self.logouts = 0

    def onCreate(self, sessionID: Any) -> None:  # noqa: N802,N803
        # Keep no reference to sessionID: it belongs to the C++ engine.
        return None

    def onLogon(self, sessionID: Any) -> None:  # noqa: N802,N803
        with self.lock:
            self.logons += 1

    def onLogout(self, sessionID: Any) -> None:  # noqa: N802,N803
        with self.lock:
            self.logouts += 1

    def toAdmin(self, message: Any, sessionID: Any) -> None:  # noqa: N802,N803
        with self.lock:
            self.admin_out.append(msg_fields(message))

    def fromAdmin(self, message: Any, sessionID: Any) -> None:  # noqa: N802,N803
        with self.lock:
            self.admin_in.append(msg_fields(message))

    def toApp(self, message: Any, sessionID: Any) -> None:  # noqa: N802,N803
        return None

    def fromApp(self, message: Any, sessionID: Any) -> None:  # noqa: N802,N803
        fields = msg_fields(message)
        with self.lock:
            self.app_in.append(fields)
        if self.echo_orders and fields.get(35) == "D":
            report = quickfix.Message()
            report.getHeader().setField(quickfix.MsgType("8"))
            for tag, value in (
                (37, "O-" + fields[11]), (11, fields[11]), (17, "E-" + fields[11]),
                (150, "0"), (39, "0"), (55, fields.get(55, "X")), (54, fields.get(54, "1")),
                (151, fields.get(38, "1")), (14, "0"), (6, "0"),
            ):  # fmt: skip
                report.setField(tag, value)
            if self.begin_string == "FIX.4.2":
                report.setField(20, "0")
            quickfix.Session.sendToTarget(report, sessionID)

    def count(self, kind: str, pred: Callable[[dict[int, str]], bool]) -> int:
        with self.lock:
            return sum(1 for m in getattr(self, kind) if pred(m))


@dataclass
class QFHarness:
    """A QuickFIX acceptor or initiator configured in a temporary directory."""

    app: QFApp
    engine: Any
    session_id: Any
    port: int
    config: Path
    keep_alive: tuple[Any, ...] = ()  # settings and factories the C++ engine points into
    stopped: bool = False

    @property
    def session(self) -> Any:
        return quickfix.Session.lookupSession(self.session_id)

    def send(self, msg_type: str, fields: list[tuple[int, str]]) -> None:
        message = quickfix.Message()
        message.getHeader().setField(quickfix.MsgType(msg_type))
        for tag, value in fields:
            message.setField(tag, value)
        quickfix.Session.sendToTarget(message, self.session_id)

    def stop(self) -> None:
        """Stop the engine and destroy it: QuickFIX unregisters its sessions only then, so
        the next test can create sessions with the same IDs."""
        if not self.stopped:
            self.stopped = True
            # Let QuickFIX's threads finish with a connection that just closed.
            time.sleep(0.1)
            self.engine.stop()
            self.engine = None
            gc.collect()
            self.keep_alive = ()


def write_config(
    path: Path,
    *,
    role: str,
    begin_string: str,
    sender: str,
    target: str,
    port: int,
    extra: dict[str, str] | None = None,
) -> Path:
    spec = fixspec_dir()
    lines = [
        "[DEFAULT]",
        f"ConnectionType={role}",
        f"FileStorePath={path / 'store'}",
        f"FileLogPath={path / 'log'}",
        "NonStopSession=Y",
        "HeartBtInt=1",
        "ReconnectInterval=1",
        "UseDataDictionary=Y",
        "ValidateUserDefinedFields=N",
        "LogonTimeout=5",
        "LogoutTimeout=2",
        "SocketNodelay=Y",
        "[SESSION]",
        f"BeginString={begin_string}",
        f"SenderCompID={sender}",
        f"TargetCompID={target}",
    ]
    for key, value in VERSIONS[begin_string].items():
        lines.append(f"{key}={spec / value}" if value.endswith(".xml") else f"{key}={value}")
    if role == "acceptor":
        lines.append(f"SocketAcceptPort={port}")
        lines.append("SocketAcceptHost=127.0.0.1")
    else:
        lines.append("SocketConnectHost=127.0.0.1")
        lines.append(f"SocketConnectPort={port}")
    for key, value in (extra or {}).items():
        lines.append(f"{key}={value}")
    cfg = path / "quickfix.cfg"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def start_quickfix(
    tmp_path: Path,
    *,
    role: str,
    begin_string: str,
    sender: str = "QF",
    target: str = "FIXG",
    port: int | None = None,
    extra: dict[str, str] | None = None,
    echo_orders: bool = True,
) -> QFHarness:
    port = port if port is not None else free_port()
    cfg = write_config(
        tmp_path, role=role, begin_string=begin_string, sender=sender, target=target,
        port=port, extra=extra,
    )  # fmt: skip
    settings = quickfix.SessionSettings(str(cfg))
    app = QFApp(begin_string, echo_orders)
    store = quickfix.FileStoreFactory(settings)
    logs = quickfix.FileLogFactory(settings)
    # The threaded engines: SocketAcceptor.stop() races its own socket thread (a crash in
    # SocketServer::close), the thread-per-connection engines do not.
    engine_type = (
        quickfix.ThreadedSocketAcceptor if role == "acceptor" else quickfix.ThreadedSocketInitiator
    )
    engine = engine_type(app, store, settings, logs)
    engine.start()
    session_id = quickfix.SessionID(begin_string, sender, target)
    return QFHarness(app, engine, session_id, port, cfg, (settings, store, logs))


@pytest.fixture
def quickfix_factory(tmp_path: Path) -> Iterator[Callable[..., QFHarness]]:
    started: list[QFHarness] = []

    def make(**kwargs: Any) -> QFHarness:
        index = len(started)
        directory = tmp_path / f"qf{index}"
        directory.mkdir()
        harness = start_quickfix(directory, **kwargs)
        started.append(harness)
        return harness

    try:
        yield make
    finally:
        for harness in reversed(started):
            harness.stop()


@dataclass
class Recorder:
    """An event handler for fixg's side that keeps every event."""

    events: list[ev.Event] = field(default_factory=list)

    def __call__(self, session: Session, event: ev.Event) -> None:
        self.events.append(event)

    def of(self, kind: type[ev.Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def fixg_settings_extra(begin_string: str) -> dict[str, Any]:
    spec = fixspec_dir()
    if begin_string == "FIXT.1.1":
        return {
            "default_appl_ver_id": "FIX.5.0SP2",
            "app_data_dictionary": str(spec / "FIX50SP2.xml"),
            "transport_data_dictionary": str(spec / "FIXT11.xml"),
        }
    return {"data_dictionary": str(spec / VERSIONS[begin_string]["DataDictionary"])}



def run(coro: Any, timeout: float = 60.0) -> Any:
    """Run a test scenario on a fresh event loop, failing it after ``timeout`` seconds."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())
