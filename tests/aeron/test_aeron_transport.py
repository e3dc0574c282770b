"""The Aeron transport between a Gateway process and FixClient processes, with real parts: a
real media driver, `fixg gateway` in its own process, client processes (client_proc.py), and
QuickFIX acceptors as the FIX counterparties over TCP on 127.0.0.1. Failures are real signals:
SIGKILL of a client, of the Gateway and of the driver, SIGSTOP of a client. Every wait is
bounded; no timing is asserted. The invariant checked throughout: every order a client was
told was sent is at the counterparty."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from interop.qfharness import QFHarness, quickfix_factory  # noqa: F401  (fixture)
from testutil import wait_for

pytestmark = [pytest.mark.aeron, pytest.mark.interop]

WAIT = 20.0
CLIENT = str(Path(__file__).with_name("client_proc.py"))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Proc:
    """A child process whose stdout lines are read (JSON where they parse) as they come."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self.lines: list[Any] = []
        self._new = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(cls, name: str, *args: str) -> Proc:
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=None,
        )  # fmt: skip
        return cls(name, proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                break
            text = raw.decode().strip()
            try:
                self.lines.append(json.loads(text))
            except ValueError:
                self.lines.append(text)
            self._new.set()
        self._new.set()

    def events(self, ev: str) -> list[dict[str, Any]]:
        return [x for x in self.lines if isinstance(x, dict) and x.get("ev") == ev]

    async def wait(self, pred: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                tail = self.lines[-8:]
                raise AssertionError(f"{self.name}: timed out waiting for {what}; last lines: {tail}")
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), min(left, 0.2))
            except asyncio.TimeoutError:
                pass

    async def wait_line(self, text: str, timeout: float = WAIT) -> None:
        await self.wait(lambda: any(isinstance(x, str) and text in x for x in self.lines), repr(text), timeout)

    async def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    def send_signal(self, sig: int) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.proc.returncode is None:
            try:
                if sig == signal.SIGTERM and self.proc.stdin is not None and self.name.startswith("client"):
                    self.proc.stdin.close()  # a client exits cleanly on end of input
                else:
                    self.proc.send_signal(sig)
                await asyncio.wait_for(self.proc.wait(), timeout)
            except (asyncio.TimeoutError, ProcessLookupError):
                self.proc.kill()
                await self.proc.wait()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        await asyncio.wait_for(self._reader, 5.0)
        # asyncio's subprocess transport is closed once the process and its pipes are done.
        transport = getattr(self.proc, "_transport", None)
        if transport is not None:
            transport.close()


class Setup:
    """The counterparties, the config file and the processes of one test."""

    def __init__(self, tmp: Path, aeron_dir: Path, channel: str, qf: list[QFHarness], *, client_timeout_ms: int,
                 transport_extra: str = "", liveness_timeout_ms: int = 1500) -> None:
        self.tmp = tmp
        self.qf = qf
        sessions = []
        for i, harness in enumerate(qf, 1):
            sessions.append(f"""
[[session]]
ConnectionType = "initiator"
SenderCompID = "FIXG{i}"
TargetCompID = "QF{i}"
SocketConnectHost = "127.0.0.1"
SocketConnectPort = {harness.port}
HeartBtInt = 1
ReconnectInterval = 1
""")
        self.config = tmp / "fixg.toml"
        self.config.write_text(f"""
[gateway]
name = "gw"
client_timeout_ms = {client_timeout_ms}
[transport]
kind = "aeron"
channel = "{channel}"
heartbeat_interval_ms = 200
liveness_timeout_ms = {liveness_timeout_ms}
{transport_extra}
[storage]
path = "{tmp / 'journal'}"
[aeron]
"aeron.dir" = "{aeron_dir}"
driver_timeout_ms = 2000
{''.join(sessions)}""")
        self.procs: list[Proc] = []

    async def gateway(self) -> Proc:
        proc = await Proc.start("gateway", sys.executable, "-m", "fixg", "gateway", "--config", str(self.config))
        self.procs.append(proc)
        await proc.wait_line("sessions,")
        return proc

    async def gateway_logged_on(self) -> Proc:
        """The gateway process, once every counterparty's FIX session is logged on."""
        proc = await self.gateway()
        await until(lambda: all(logged_on(h) for h in self.qf), "the FIX sessions logged on")
        return proc

    async def client(self, name: str) -> Proc:
        proc = await Proc.start(f"client {name}", sys.executable, CLIENT, str(self.config), name)
        self.procs.append(proc)
        await proc.wait(lambda: bool(proc.events("ready")), "ready")
        return proc

    async def claimed_client(self, name: str, key: str) -> Proc:
        """A client process that has claimed the session ``key``."""
        proc = await self.client(name)
        await claim(proc, key)
        return proc

    async def close(self) -> None:
        """Stop every process, even when stopping one fails; then raise the first failure."""
        first: BaseException | None = None
        for proc in reversed(self.procs):
            try:
                if proc.proc.returncode is None:
                    proc.send_signal(signal.SIGCONT)
                await proc.stop()
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first


async def claim(client: Proc, key: str) -> None:
    await client.command(f"claim {key}")
    await client.wait(lambda: bool(client.events("claimed")), "claim")


def received_ids(harness: QFHarness) -> set[str]:
    with harness.app.lock:
        return {m.get(11, "") for m in harness.app.app_in if m.get(35) == "D"}


def logons(harness: QFHarness) -> int:
    """How many times QuickFIX saw the session log on (a drop and re-logon counts twice)."""
    with harness.app.lock:
        return harness.app.logons


async def first_session(client: Proc) -> dict[str, Any]:
    """The first session of a fresh status document asked through ``client``."""
    before = len(client.events("status"))
    await client.command("status")
    await client.wait(lambda: len(client.events("status")) > before, "status")
    session: dict[str, Any] = client.events("status")[-1]["doc"]["sessions"][0]
    return session


def logged_on(harness: QFHarness) -> bool:
    session = harness.session
    return bool(session is not None and session.isLoggedOn())


async def until(cond: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    await wait_for(cond, what, timeout, interval=0.05)


async def trade(client: Proc, prefix: str, count: int) -> list[str]:
    """Send ``count`` orders and wait for their ExecutionReports; returns the ids sent."""
    await client.command(f"send {count} {prefix}")
    ids = [f"{prefix}-{i}" for i in range(count)]
    await client.wait(lambda: {e["id"] for e in client.events("sent")} >= set(ids), f"{prefix} sent")
    await client.wait(lambda: {e["id"] for e in client.events("exec")} >= set(ids), f"{prefix} executions")
    return ids


def run(coro: Any, timeout: float = 150.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def counterparties(quickfix_factory: Callable[..., QFHarness], n: int = 2) -> list[QFHarness]:  # noqa: F811
    return [
        quickfix_factory(role="acceptor", begin_string="FIX.4.4", sender=f"QF{i}", target=f"FIXG{i}")
        for i in range(1, n + 1)
    ]


def check_sent_arrived(client: Proc, harness: QFHarness) -> None:
    sent = {e["id"] for e in client.events("sent")}
    missing = sent - received_ids(harness)
    assert not missing, f"{client.name}: told sent but missing at the counterparty: {sorted(missing)[:10]}"


@pytest.mark.parametrize("transport", ["ipc", "udp"])
def test_two_client_processes_trade_on_their_own_sessions(
    transport: str, tmp_path: Path, aeron_dir: Path, start_driver: Any, quickfix_factory: Any,  # noqa: F811
) -> None:
    start_driver(aeron_dir)
    qf = counterparties(quickfix_factory)
    channel = "aeron:ipc" if transport == "ipc" else f"aeron:udp?endpoint=127.0.0.1:{free_udp_port()}"
    setup = Setup(tmp_path, aeron_dir, channel, qf, client_timeout_ms=3000)

    async def scenario() -> None:
        try:
            await setup.gateway_logged_on()
            c1 = await setup.claimed_client("one", "FIX.4.4:FIXG1->QF1")
            c2 = await setup.claimed_client("two", "FIX.4.4:FIXG2->QF2")
            ids1, ids2 = await asyncio.gather(trade(c1, "A", 30), trade(c2, "B", 30))
            # Events for a session reach its owner only.
            assert {e["id"] for e in c1.events("exec")} == set(ids1)
            assert {e["id"] for e in c2.events("exec")} == set(ids2)
            assert not c1.events("app") and not c2.events("app")
            assert received_ids(qf[0]) == set(ids1) and received_ids(qf[1]) == set(ids2)
            await c1.command("status")
            await c1.wait(lambda: bool(c1.events("status")), "status")
            doc = c1.events("status")[0]["doc"]
            assert doc["transport"] == "aeron" and doc["aeron"]["state"] == "UP"
            assert sorted(c["name"] for c in doc["clients"] if c["connected"]) == ["one", "two"]
            assert len(doc["aeron"]["links"]) == 2
            latency = doc["latency"]
            assert latency["client_out.sent"]["count"] >= 60
            assert latency["fix_in.processed"]["count"] >= 60
            assert latency["fix_in.delivered"]["count"] >= 60
            # The same through the CLI, as an operator would ask a running gateway.
            cli = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "fixg", "status", "--config", str(setup.config),
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await asyncio.wait_for(cli.communicate(), WAIT)
            text = out.decode()
            assert cli.returncode == 0, text
            assert "aeron: UP" in text and "FIX.4.4:FIXG1->QF1" in text and "ACTIVE" in text
            assert " one " in text and " two " in text and "client_out.sent" in text
        finally:
            await setup.close()

    run(scenario())


def test_a_killed_client_loses_its_session_which_stays_up_for_the_next_owner(
    tmp_path: Path, aeron_dir: Path, start_driver: Any, quickfix_factory: Any,  # noqa: F811
) -> None:
    start_driver(aeron_dir)
    qf = counterparties(quickfix_factory, 1)
    setup = Setup(tmp_path, aeron_dir, "aeron:ipc", qf, client_timeout_ms=1500)

    async def scenario() -> None:
        try:
            await setup.gateway_logged_on()
            c1 = await setup.claimed_client("one", "FIX.4.4:FIXG1->QF1")
            await trade(c1, "K", 10)
            await c1.command("send 200 L")  # killed while sending
            await c1.wait(lambda: len(c1.events("sent")) >= 20, "some of the second batch sent")
            c1.send_signal(signal.SIGKILL)
            await c1.proc.wait()
            c2 = await setup.client("two")
            # Past the client timeout the killed client's session has no owner...
            deadline = time.monotonic() + WAIT
            while (session := await first_session(c2))["owner"] != 0:
                assert time.monotonic() < deadline, f"the killed client still owns the session: {session}"
                await asyncio.sleep(0.1)
            # ... and the FIX session stayed up all along (never dropped and logged on again).
            assert session["state"] == "ACTIVE" and logged_on(qf[0]) and logons(qf[0]) == 1
            check_sent_arrived(c1, qf[0])
            await claim(c2, "FIX.4.4:FIXG1->QF1")
            await trade(c2, "M", 10)
            # ExecutionReports for the killed client's orders that it never read were kept for
            # the next owner: every order the counterparty got has its report at some client.
            await c2.wait(lambda: ({e["id"] for e in c1.events("exec")} | {e["id"] for e in c2.events("exec")})
                          >= received_ids(qf[0]), "every report delivered to an owner")
        finally:
            await setup.close()

    run(scenario())


def test_clients_reconnect_and_reclaim_after_a_gateway_restart(
    tmp_path: Path, aeron_dir: Path, start_driver: Any, quickfix_factory: Any,  # noqa: F811
) -> None:
    start_driver(aeron_dir)
    qf = counterparties(quickfix_factory, 1)
    setup = Setup(tmp_path, aeron_dir, "aeron:ipc", qf, client_timeout_ms=3000)

    async def scenario() -> None:
        try:
            gw = await setup.gateway_logged_on()
            c1 = await setup.claimed_client("one", "FIX.4.4:FIXG1->QF1")
            await trade(c1, "R", 10)
            gw.send_signal(signal.SIGKILL)
            await gw.proc.wait()
            await c1.wait(lambda: any(e["state"] == "DOWN" for e in c1.events("transport")), "transport DOWN")
            await setup.gateway()
            await c1.wait(lambda: any(e["state"] == "UP" for e in c1.events("transport")), "transport UP")
            await until(lambda: logged_on(qf[0]) and logons(qf[0]) == 2, "FIX session logged on again")
            await trade(c1, "S", 10)  # the session was claimed back: the client trades on it
            check_sent_arrived(c1, qf[0])
            assert logons(qf[0]) == 2  # the restart's re-logon, and no other
        finally:
            await setup.close()

    run(scenario())


def test_fix_sessions_stay_up_while_the_driver_is_down_and_the_link_comes_back(
    tmp_path: Path, aeron_dir: Path, start_driver: Any, quickfix_factory: Any,  # noqa: F811
) -> None:
    driver = start_driver(aeron_dir)
    qf = counterparties(quickfix_factory, 1)
    setup = Setup(tmp_path, aeron_dir, "aeron:ipc", qf, client_timeout_ms=10000)

    async def scenario() -> None:
        try:
            gw = await setup.gateway_logged_on()
            c1 = await setup.claimed_client("one", "FIX.4.4:FIXG1->QF1")
            await trade(c1, "U", 5)
            driver.kill()
            await c1.wait(lambda: any(e["state"] == "DOWN" for e in c1.events("transport")), "transport DOWN")
            await asyncio.sleep(2.0)  # QuickFIX's HeartBtInt is 1 s: heartbeats must keep flowing
            assert logged_on(qf[0]) and gw.proc.returncode is None
            start_driver(aeron_dir)
            await c1.wait(lambda: any(e["state"] == "UP" for e in c1.events("transport")), "transport UP", timeout=30)
            await trade(c1, "V", 5)
            check_sent_arrived(c1, qf[0])
            # Stayed up, rather than dropped and logged on again (ReconnectInterval is 1 s).
            assert logged_on(qf[0]) and logons(qf[0]) == 1
        finally:
            await setup.close()

    run(scenario())


def test_a_stopped_client_back_pressures_only_itself_and_loses_nothing(
    tmp_path: Path, aeron_dir: Path, start_driver: Any, quickfix_factory: Any,  # noqa: F811
) -> None:
    start_driver(aeron_dir)
    qf = counterparties(quickfix_factory)
    setup = Setup(tmp_path, aeron_dir, "aeron:ipc", qf, client_timeout_ms=30000)
    news = 1500

    async def scenario() -> None:
        try:
            await setup.gateway_logged_on()
            c1 = await setup.claimed_client("one", "FIX.4.4:FIXG1->QF1")
            c2 = await setup.claimed_client("two", "FIX.4.4:FIXG2->QF2")
            c1.send_signal(signal.SIGSTOP)
            # The counterparty floods c1's session: far more than the 64 KiB event log holds.
            for i in range(news):
                qf[0].send("B", [(148, f"headline {i:05d} " + "x" * 150), (33, "1"), (58, f"N-{i}")])
            await asyncio.sleep(1.0)
            # The other client is not held up.
            await trade(c2, "P", 20)
            c1.send_signal(signal.SIGCONT)
            await c1.wait(lambda: len(c1.events("app")) >= news, "every News delivered", timeout=60)
            seqs = [e["seq"] for e in c1.events("app")]
            assert seqs == sorted(seqs) and len(set(seqs)) == news
            assert [e["id"] for e in c1.events("app")] == [f"N-{i}" for i in range(news)]
        finally:
            await setup.close()

    run(scenario())


def test_a_client_dropped_for_back_pressure_has_its_sessions_released_at_once(
    tmp_path: Path, aeron_dir: Path, start_driver: Any, quickfix_factory: Any,  # noqa: F811
) -> None:
    """backpressure = "error": a stopped client whose event publication stays full is dropped
    by the Gateway and its sessions are released then, not after the (30 s) client time-out."""
    start_driver(aeron_dir)
    qf = counterparties(quickfix_factory, 1)
    setup = Setup(tmp_path, aeron_dir, "aeron:ipc", qf, client_timeout_ms=30000, liveness_timeout_ms=20000,
                  transport_extra='backpressure = "error"')

    async def scenario() -> None:
        try:
            await setup.gateway_logged_on()
            c1 = await setup.claimed_client("one", "FIX.4.4:FIXG1->QF1")
            watcher = await setup.client("watcher")
            assert (await first_session(watcher))["owner"] != 0
            c1.send_signal(signal.SIGSTOP)
            for i in range(1500):  # far more than the client's event log holds
                qf[0].send("B", [(148, f"headline {i:05d} " + "x" * 150), (33, "1"), (58, f"N-{i}")])
            deadline = time.monotonic() + WAIT
            while (session := await first_session(watcher))["owner"] != 0:
                assert time.monotonic() < deadline, f"the dropped client still owns the session: {session}"
                await asyncio.sleep(0.2)
            assert logged_on(qf[0]) and logons(qf[0]) == 1
        finally:
            await setup.close()

    run(scenario())


@pytest.mark.parametrize("policy", ["error", "queue"])
def test_commands_to_a_stalled_gateway_fail_or_wait_per_the_backpressure_policy(
    policy: str, tmp_path: Path, aeron_dir: Path, start_driver: Any, quickfix_factory: Any,  # noqa: F811
) -> None:
    from fixg import FixClient, load_config
    from fixg.client import SendError
    from fixg.transport import protocol as p

    start_driver(aeron_dir)
    qf = counterparties(quickfix_factory, 1)
    setup = Setup(tmp_path, aeron_dir, "aeron:ipc", qf, client_timeout_ms=30000, liveness_timeout_ms=20000,
                  transport_extra=f'backpressure = "{policy}"\nbackpressure_queue_limit = 100')

    async def scenario() -> None:
        try:
            gw = await setup.gateway_logged_on()
            async with FixClient.connect(load_config(setup.config), name="pressed", request_timeout=30) as client:
                sid = await client.claim(key="FIX.4.4:FIXG1->QF1")
                gw.send_signal(signal.SIGSTOP)  # its command subscription stops moving
                accepted: list[tuple[str, asyncio.Future[p.Event]]] = []
                refused = None
                try:
                    for i in range(5000):
                        ident = f"Q-{i}"
                        try:
                            accepted.append((ident, await client.submit(sid, "D", order(ident))))
                        except SendError as exc:
                            refused = (ident, exc)
                            break
                finally:
                    gw.send_signal(signal.SIGCONT)
                assert refused is not None, "the offers never stayed back-pressured"
                assert refused[1].code == p.ErrorCode.BACK_PRESSURED
                if policy == "queue":
                    assert client._endpoint is not None and client._endpoint.queued == 100  # type: ignore[attr-defined]
                # Everything accepted goes out once the gateway moves again; the refused one never.
                for ident, future in accepted:
                    assert FixClient.result_seq_num(await asyncio.wait_for(future, WAIT)) > 0
                await until(lambda: received_ids(qf[0]) >= {ident for ident, _ in accepted}, "accepted orders at QuickFIX")
                assert refused[0] not in received_ids(qf[0])
        finally:
            await setup.close()

    run(scenario())


def order(cl_ord_id: str) -> list[tuple[int, Any]]:
    return [(11, cl_ord_id), (21, "1"), (55, "IBM"), (54, "1"), (60, "20240102-10:00:00.000"), (38, "100"), (40, "1")]


def test_status_gives_up_within_its_timeout_on_a_gateway_that_is_not_there(
    tmp_path: Path, aeron_dir: Path, start_driver: Any,
) -> None:
    """A live media driver but no gateway: ``fixg status --timeout 1`` bounds the connect phase
    too and ends with a one-line error (no traceback)."""
    start_driver(aeron_dir)
    setup = Setup(tmp_path, aeron_dir, "aeron:ipc", [], client_timeout_ms=3000, liveness_timeout_ms=10_000)

    async def scenario() -> None:
        started = time.monotonic()
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fixg", "status", "--config", str(setup.config), "--timeout", "1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(cli.communicate(), WAIT)
        elapsed = time.monotonic() - started
        text = err.decode().strip()
        assert cli.returncode == 1, text
        assert len(text.splitlines()) == 1 and "within 1 s" in text, text
        assert elapsed < 8.0, f"took {elapsed:.1f} s (the link's own wait is 10 s)"

    run(scenario())


def test_a_goodbye_queued_behind_back_pressure_still_goes_out_and_abandon_closes_aeron(
    tmp_path: Path, aeron_dir: Path, start_driver: Any, quickfix_factory: Any,  # noqa: F811
) -> None:
    """backpressure = "queue": aclose() while the Gateway is stalled queues the Goodbye; it
    waits (within its second) for the queue to drain, so the Gateway releases the session at
    once instead of after the 30 s client time-out. abandon() closes the Aeron client too."""
    from fixg import FixClient, load_config

    start_driver(aeron_dir)
    qf = counterparties(quickfix_factory, 1)
    setup = Setup(tmp_path, aeron_dir, "aeron:ipc", qf, client_timeout_ms=30000, liveness_timeout_ms=20000,
                  transport_extra='backpressure = "queue"\nbackpressure_queue_limit = 100000')

    async def scenario() -> None:
        try:
            gw = await setup.gateway_logged_on()
            config = load_config(setup.config)
            async with FixClient.connect(config, name="watcher") as watcher:
                client = await FixClient.connect(config, name="leaving", request_timeout=30).start()
                sid = await client.claim(key="FIX.4.4:FIXG1->QF1")
                gw.send_signal(signal.SIGSTOP)
                try:
                    i = 0
                    while not client._endpoint.queued:  # type: ignore[union-attr]
                        await client.submit(sid, "D", order(f"G-{i}"))
                        i += 1
                    closing = asyncio.ensure_future(client.aclose())
                    await asyncio.sleep(0.2)
                finally:
                    gw.send_signal(signal.SIGCONT)
                await closing
                deadline = time.monotonic() + WAIT
                while (info := [s for s in await watcher.list_sessions() if s.session_id == sid][0]).owner_client_id:
                    assert time.monotonic() < deadline, f"the Goodbye never arrived: {info}"
                    await asyncio.sleep(0.1)
                crashed = await FixClient.connect(config, name="crashed").start()
                crashed.abandon()
                connector = crashed._connector
                assert connector._client is None and connector._sub is None  # type: ignore[union-attr]
        finally:
            await setup.close()

    run(scenario())
