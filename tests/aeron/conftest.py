"""Fixtures for the Aeron tests: the real library, real media drivers, unique dirs and ports.

Every driver runs in SHARED threading mode with a backoff idle strategy (the test machines have
two cores), in its own directory under /dev/shm, and is stopped (killed if need be) and its
directory removed whatever the test does. Without libaeron the ``aeron`` tests fail under CI
(``CI=true``; ``ci/build_aeron.sh`` installs the library first) and are skipped elsewhere.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fixg import driver
from fixg.aeron.loader import LibraryInfo

from aeronfixtures import aeron_dir, aeron_library  # noqa: F401  (shared fixtures)

#: Small terms keep /dev/shm use and start-up cost low; SHARED + backoff keeps CPU use low.
TEST_PROPERTIES: dict[str, str] = {
    "aeron.threading.mode": "SHARED",
    "aeron.shared.idle.strategy": "backoff",
    "aeron.term.buffer.length": "64k",
    "aeron.ipc.term.buffer.length": "64k",
    "aeron.term.buffer.sparse.file": "true",
    "aeron.client.liveness.timeout": "5s",
    "aeron.image.liveness.timeout": "2s",
    "aeron.publication.linger.timeout": "100ms",
}








@pytest.fixture
def start_driver(aeron_library: LibraryInfo) -> Iterator[Callable[..., driver.DriverHandle]]:
    """``start_driver(aeron_dir, **properties)``: every driver started is stopped afterwards."""
    handles: list[driver.DriverHandle] = []

    def start(aeron_dir: Path, properties: dict[str, object] | None = None, **kwargs: object) -> driver.DriverHandle:
        merged: dict[str, object] = dict(TEST_PROPERTIES)
        merged.update(properties or {})
        handle = driver.start(merged, aeron_dir=aeron_dir, **kwargs)  # type: ignore[arg-type]
        handles.append(handle)
        return handle

    try:
        yield start
    finally:
        for handle in handles:
            try:
                handle.stop(timeout_s=5.0)
            finally:
                handle.kill()


@pytest.fixture
def media_driver(
    aeron_dir: Path, start_driver: Callable[..., driver.DriverHandle]
) -> driver.DriverHandle:
    return start_driver(aeron_dir)


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def udp_channel() -> str:
    return f"aeron:udp?endpoint=127.0.0.1:{free_udp_port()}"
