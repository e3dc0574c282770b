"""A Gateway with ``[storage] backend = "aeron"`` against a fixg counterparty over real TCP, a
real media driver and a real archiver process."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from archive.archive_util import ORDER, app_messages, archive_config, bank_initiator, gw_bank_key, run, wait_for

from fixg import FixClient, Gateway
from fixg.archive.service import ArchiverHandle, ArchiverSettings
from fixg.driver import DriverHandle
from fixg.gateway import EventQueue
from fixg.store.archive import ArchiveStoreFactory
from fixg.store.memory import MemoryStore

pytestmark = pytest.mark.aeron


def test_gateway_records_to_the_archive_and_answers_a_resend_request_from_it(
    media_driver: DriverHandle, tmp_path: Path
) -> None:
    cfg = archive_config(media_driver.aeron_dir, tmp_path / "archive")

    async def scenario() -> None:
        async with Gateway(cfg) as gw:
            bank_store = MemoryStore()
            queue = EventQueue()
            async with FixClient.connect(gw) as client:
                async with bank_initiator(gw.port, queue, bank_store) as bank:
                    await bank.wait_logged_on(10)
                    sid = await client.claim(key=str(gw_bank_key()))
                    for i in range(3):
                        assert await client.send(sid, "D", [(11, f"o-{i}"), *ORDER]) == 2 + i
                    got = await app_messages(queue, 3)
                    assert [m.get(11) for m in got] == [b"o-0", b"o-1", b"o-2"]
                factory = gw._factory
                assert isinstance(factory, ArchiveStoreFactory)
                await wait_for(lambda: factory.unrecorded == 0, "the archiver to record everything")
                # the bank "lost" messages 2..: it asks for them again at its next logon
                bank_store.next_target_seq_num = 2
                async with bank_initiator(gw.port, queue, bank_store) as bank:
                    await bank.wait_logged_on(10)
                    again = await app_messages(queue, 3)
                    assert [m.get(11) for m in again] == [b"o-0", b"o-1", b"o-2"]
                    assert [m.get(34) for m in again] == [b"2", b"3", b"4"]
                    assert all(m.get(43) == b"Y" for m in again)

    run(scenario())


def test_hold_until_recorded_keeps_a_frame_off_the_wire_until_the_archiver_has_it(
    settings: ArchiverSettings, archivers: Callable[..., ArchiverHandle]
) -> None:
    archiver = archivers(settings)
    cfg = archive_config(settings.aeron_dir or "", Path(settings.archive_dir),
                         storage='archiver = "external"\nhold_until_recorded = true', timeout_ms=5000)

    async def scenario() -> None:
        async with Gateway(cfg) as gw:
            factory = gw._factory
            assert isinstance(factory, ArchiveStoreFactory)
            queue = EventQueue()
            async with FixClient.connect(gw) as client, bank_initiator(gw.port, queue, MemoryStore()) as bank:
                await bank.wait_logged_on(10)
                sid = await client.claim(key=str(gw_bank_key()))
                await client.send(sid, "D", [(11, "first"), *ORDER])
                assert [m.get(11) for m in await app_messages(queue, 1)] == [b"first"]
                os.kill(archiver.pid, signal.SIGSTOP)  # the archiver stops recording
                try:
                    await client.send(sid, "D", [(11, "held"), *ORDER])
                    with pytest.raises((AssertionError, TimeoutError)):
                        await app_messages(queue, 1, timeout=0.4)
                    assert factory.unrecorded >= 1
                finally:
                    os.kill(archiver.pid, signal.SIGCONT)
                assert [m.get(11) for m in await app_messages(queue, 1)] == [b"held"]
                assert factory.unrecorded == 0

    run(scenario())
