"""The asyncio layer over real sockets on 127.0.0.1: acceptor routing and refusals, initiator
address lists and reconnects, TLS, and peers that stop reading. Waits are bounded."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from fixg.errors import ConfigError
from fixg.fix import events as ev
from fixg.fix.codec import decode, encode
from fixg.fix.framer import Framer
from fixg.fix.session import Session
from fixg.fix.settings import SessionSettings
from fixg.gateway import Acceptor, EventQueue, Initiator, client_context, create_session, server_context
from fixg.store.memory import MemoryStore
from testutil import wait_for

WAIT = 10.0
T = TypeVar("T")


def run(coro: Awaitable[T], timeout: float = 30.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


@dataclass
class Recorder:
    events: list[tuple[Session, ev.Event]] = field(default_factory=list)

    def __call__(self, session: Session, event: ev.Event) -> None:
        self.events.append((session, event))

    def of(self, kind: type[ev.Event], session: Session | None = None) -> list[Any]:
        return [e for s, e in self.events if isinstance(e, kind) and (session is None or s is session)]


def acceptor_session(sender: str = "ACC", target: str = "INI", **kw: Any) -> Session:
    return create_session(SessionSettings("FIX.4.4", sender, target, "acceptor", **kw), MemoryStore())


def initiator_session(port: int, sender: str = "INI", target: str = "ACC", **kw: Any) -> Session:
    kw.setdefault("socket_connect_hosts", (("127.0.0.1", port),))
    kw.setdefault("reconnect_interval", 0.05)
    kw.setdefault("max_reconnect_interval", 0.2)
    return create_session(
        SessionSettings("FIX.4.4", sender, target, "initiator", heart_bt_int=5, **kw), MemoryStore()
    )


def raw_logon(sender: str, target: str, seq: int = 1) -> bytes:
    now = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())
    return encode("FIX.4.4", "A", [(49, sender), (56, target), (34, seq), (52, now), (98, 0), (108, 30)])


async def read_frames(reader: asyncio.StreamReader, count: int = 1) -> list[bytes]:
    framer = Framer()
    frames: list[bytes] = []
    while len(frames) < count:
        data = await asyncio.wait_for(reader.read(65536), WAIT)
        if not data:
            break
        framer.feed(data)
        frames.extend(f for f in framer if isinstance(f, bytes))
    return frames


NEWS = [(148, "headline"), (33, 1), (58, "text")]


# ------------------------------------------------------------------ acceptor


def test_one_port_serves_several_sessions_routed_by_compids() -> None:
    rec = Recorder()
    alpha, beta = acceptor_session(target="ALPHA"), acceptor_session(target="BETA")

    async def scenario() -> None:
        async with Acceptor([alpha, beta], port=0, on_event=rec) as acc:
            ia = initiator_session(acc.port, sender="ALPHA")
            ib = initiator_session(acc.port, sender="BETA")
            async with Initiator(ia, on_event=rec) as a, Initiator(ib, on_event=rec) as b:
                await a.wait_logged_on(WAIT)
                await b.wait_logged_on(WAIT)
                a.send("B", NEWS)
                b.send("B", NEWS)
                b.send("B", NEWS)
                await wait_for(lambda: len(rec.of(ev.MessageReceived)) == 3, "3 messages")
                assert len(rec.of(ev.MessageReceived, alpha)) == 1
                assert len(rec.of(ev.MessageReceived, beta)) == 2
                acc.send(beta.key, "B", NEWS)
                await wait_for(lambda: rec.of(ev.MessageReceived, ib), "message to BETA")
                assert not rec.of(ev.MessageReceived, ia)

    run(scenario())


def test_unknown_session_is_refused_with_a_logout() -> None:
    async def scenario() -> None:
        async with Acceptor([acceptor_session()], port=0) as acc:
            reader, writer = await asyncio.open_connection("127.0.0.1", acc.port)
            try:
                writer.write(raw_logon("STRANGER", "ACC"))
                frames = await read_frames(reader)
                logout = decode(frames[0])
                assert logout.msg_type == "5"
                assert logout.get(58) == b"Unknown session FIX.4.4:STRANGER->ACC"
                assert (logout.get(49), logout.get(56)) == (b"ACC", b"STRANGER")
                assert await asyncio.wait_for(reader.read(), WAIT) == b""  # then closed
            finally:
                writer.close()
                await writer.wait_closed()

    run(scenario())


def test_connection_without_logon_is_closed_after_logon_timeout() -> None:
    async def scenario() -> None:
        async with Acceptor([acceptor_session()], port=0, logon_timeout=0.2) as acc:
            reader, writer = await asyncio.open_connection("127.0.0.1", acc.port)
            try:
                assert await asyncio.wait_for(reader.read(), WAIT) == b""
            finally:
                writer.close()
                await writer.wait_closed()

    run(scenario())


def test_second_connection_for_a_logged_on_session_is_refused() -> None:
    rec = Recorder()
    session = acceptor_session()

    async def scenario() -> None:
        async with Acceptor([session], port=0, on_event=rec) as acc:
            async with Initiator(initiator_session(acc.port)) as ini:
                await ini.wait_logged_on(WAIT)
                reader, writer = await asyncio.open_connection("127.0.0.1", acc.port)
                try:
                    writer.write(raw_logon("INI", "ACC", seq=50))
                    frames = await read_frames(reader)
                    assert decode(frames[0]).get(58) == b"Session already logged on"
                finally:
                    writer.close()
                    await writer.wait_closed()
                assert session.is_logged_on

    run(scenario())


def test_first_message_not_a_logon_is_refused() -> None:
    async def scenario() -> None:
        async with Acceptor([acceptor_session()], port=0) as acc:
            reader, writer = await asyncio.open_connection("127.0.0.1", acc.port)
            try:
                now = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())
                writer.write(encode("FIX.4.4", "0", [(49, "INI"), (56, "ACC"), (34, 1), (52, now)]))
                frames = await read_frames(reader)
                assert decode(frames[0]).get(58) == b"First message is not a Logon"
            finally:
                writer.close()
                await writer.wait_closed()

    run(scenario())


# ------------------------------------------------------------------ initiator


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_initiator_tries_addresses_in_turn_and_reconnects() -> None:
    rec = Recorder()
    session = acceptor_session()

    async def scenario() -> None:
        async with Acceptor([session], port=0) as acc:
            dead = _closed_port()
            ini_session = initiator_session(
                acc.port, socket_connect_hosts=(("127.0.0.1", dead), ("127.0.0.1", acc.port))
            )
            async with Initiator(ini_session, on_event=rec) as ini:
                await ini.wait_logged_on(WAIT)
                assert ini.connect_attempts == 2
                # The acceptor logs the session out: the initiator comes back by itself.
                acc.logout(session.key, "go away for a moment")
                await wait_for(lambda: len(rec.of(ev.LogonCompleted)) == 2, "second Logon")
                assert rec.of(ev.LogoutReceived)[0].text == "go away for a moment"

    run(scenario())


def test_initiator_gives_up_on_a_silent_acceptor_after_logon_timeout() -> None:
    rec = Recorder()

    async def scenario() -> None:
        accepted: list[asyncio.StreamWriter] = []

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with Initiator(initiator_session(port, logon_timeout=0.2), on_event=rec):
                await wait_for(lambda: len(rec.of(ev.Disconnected)) >= 2, "two timed-out attempts")
        finally:
            server.close()
            for w in accepted:
                w.close()
            await server.wait_closed()
        reasons = [e.reason for e in rec.of(ev.DisconnectRequested)]
        assert reasons and all("no Logon within 0.2 s" in r for r in reasons)

    run(scenario())


def test_event_queue_delivers_events_in_order() -> None:
    async def scenario() -> None:
        queue = EventQueue()
        async with Acceptor([acceptor_session()], port=0, on_event=queue) as acc:
            async with Initiator(initiator_session(acc.port)) as ini:
                await ini.wait_logged_on(WAIT)
                ini.send("B", NEWS)
                seen: list[type] = []
                async for _session, event in queue:
                    seen.append(type(event))
                    if isinstance(event, ev.MessageReceived):
                        break
                assert seen.index(ev.LogonCompleted) < seen.index(ev.MessageReceived)

    run(scenario())


# ------------------------------------------------------------------ TLS


def _tls_settings(certs: Any, **kw: Any) -> dict[str, Any]:
    return {"socket_use_ssl": True, "certificate_authorities_file": str(certs.ca), **kw}


def test_tls_with_client_certificate(certs: Any) -> None:
    acc_settings = SessionSettings(
        "FIX.4.4", "ACC", "INI", "acceptor", certificate_verify_level=2,
        server_certificate_file=str(certs.server_cert), server_certificate_key_file=str(certs.server_key),
        **_tls_settings(certs),
    )  # fmt: skip
    session = create_session(acc_settings, MemoryStore())
    rec = Recorder()

    async def scenario() -> None:
        async with Acceptor([session], port=0, ssl_context=server_context(acc_settings), on_event=rec) as acc:
            ini_session = initiator_session(
                acc.port, client_certificate_file=str(certs.client_cert),
                client_certificate_key_file=str(certs.client_key), **_tls_settings(certs),
            )  # fmt: skip
            ctx = client_context(ini_session.settings)
            async with Initiator(ini_session, ssl_context=ctx) as ini:
                await ini.wait_logged_on(WAIT)
                ini.send("B", NEWS)
                await wait_for(lambda: rec.of(ev.MessageReceived), "message over TLS")
                assert ini.connection is not None and ini.connection._transport is not None
                assert ini.connection._transport.get_extra_info("ssl_object") is not None

    run(scenario())


@pytest.mark.parametrize("problem", ["untrusted server", "no client certificate"])
def test_tls_refusals(certs: Any, problem: str) -> None:
    acc_settings = SessionSettings(
        "FIX.4.4", "ACC", "INI", "acceptor", certificate_verify_level=2,
        server_certificate_file=str(certs.server_cert), server_certificate_key_file=str(certs.server_key),
        **_tls_settings(certs),
    )  # fmt: skip
    rec = Recorder()

    async def scenario() -> None:
        async with Acceptor([create_session(acc_settings, MemoryStore())], port=0, ssl_context=server_context(acc_settings)) as acc:
            if problem == "untrusted server":
                extra = {"certificate_authorities_file": str(certs.other_ca),
                         "client_certificate_file": str(certs.client_cert),
                         "client_certificate_key_file": str(certs.client_key)}  # fmt: skip
            else:
                extra = {"certificate_authorities_file": str(certs.ca)}
            ini_session = initiator_session(acc.port, socket_use_ssl=True, **extra)
            async with Initiator(ini_session, ssl_context=client_context(ini_session.settings), on_event=rec) as ini:
                await wait_for(lambda: ini.connect_attempts >= 2, "repeated failed attempts")
                assert not rec.of(ev.LogonCompleted)

    run(scenario())


def test_tls_configuration_errors_name_the_key(tmp_path: Any) -> None:
    settings = SessionSettings("FIX.4.4", "A", "B", "acceptor", socket_use_ssl=True)
    with pytest.raises(ConfigError, match="ServerCertificateFile"):
        server_context(settings)
    missing = SessionSettings("FIX.4.4", "A", "B", "acceptor", server_certificate_file=str(tmp_path / "none.pem"))
    with pytest.raises(ConfigError, match="cannot load"):
        server_context(missing)
    assert client_context(SessionSettings("FIX.4.4", "A", "B", "initiator")).verify_mode == ssl.CERT_REQUIRED


# ------------------------------------------------------------------ slow peers


def test_peer_that_does_not_read_is_disconnected_without_blocking_others(caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    stuck = acceptor_session(target="STUCK", max_outbound_buffer=64 * 1024)
    healthy = acceptor_session(target="OK")

    async def scenario() -> None:
        async with Acceptor([stuck, healthy], port=0, on_event=rec) as acc:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", acc.port))
            reader, writer = await asyncio.open_connection(sock=sock)
            try:
                writer.write(raw_logon("STUCK", "ACC"))
                await wait_for(lambda: stuck.is_logged_on, "the stuck peer's Logon")
                async with Initiator(initiator_session(acc.port, sender="OK")) as ini:
                    await ini.wait_logged_on(WAIT)
                    big = [(148, "x" * 1000), (33, 1), (58, "y" * 1000)]
                    for _ in range(20000):
                        if not stuck.is_logged_on:
                            break
                        acc.send(stuck.key, "B", big)
                        await asyncio.sleep(0)
                    await wait_for(lambda: rec.of(ev.Disconnected, stuck), "the stuck peer dropped")
                    # The other session is unaffected.
                    ini.send("B", NEWS)
                    await wait_for(lambda: rec.of(ev.MessageReceived, healthy), "healthy session")
                    assert healthy.is_logged_on
            finally:
                writer.close()
                try:
                    await writer.wait_closed()
                except OSError:
                    pass

    with caplog.at_level(logging.ERROR, logger="fixg.gateway.connection"):
        run(scenario())
    assert any("is not reading" in r.getMessage() for r in caplog.records)
    assert "peer not reading" in rec.of(ev.Disconnected, stuck)[0].reason


_EMFILE_CHILD = r"""
import asyncio, logging, os, resource, sys
from fixg.gateway import Acceptor

failures = 0

class Count(logging.Handler):
    def emit(self, record):
        global failures
        if "accepting a connection failed" in record.getMessage():
            failures += 1

logging.getLogger("fixg.gateway.acceptor").addHandler(Count())

async def main():
    async with Acceptor([], port=0) as acc:
        print(acc.port, flush=True)
        held = []
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
        try:
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        sys.stdin.readline()  # the test has connected
        await asyncio.sleep(1.5)
        for fd in held:
            os.close(fd)
        await asyncio.sleep(1.5)  # accepting again once descriptors are free
        print(failures, len(acc._adopting) + len(acc._connections), flush=True)

asyncio.run(main())
"""


def test_out_of_descriptors_pauses_accepting_instead_of_spinning() -> None:
    """EMFILE from accept(): the listener stays readable, so the acceptor stops watching it
    for a second (a few log lines, not a busy loop) and accepts again later."""
    import subprocess
    import sys

    with subprocess.Popen([sys.executable, "-c", _EMFILE_CHILD], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None and proc.stdin is not None
            port = int(proc.stdout.readline())
            with socket.create_connection(("127.0.0.1", port), timeout=WAIT):
                proc.stdin.write("go\n")
                proc.stdin.flush()
                failures, _ = proc.stdout.readline().split()
                assert 1 <= int(failures) <= 4, failures  # once per second, not thousands
            assert proc.wait(WAIT) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
