"""Fixtures for the archive tests: a real media driver per test (SHARED threading, backoff idle,
a unique directory under /dev/shm), archivers spawned as real processes and always stopped
(killed if need be), archive directories under tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fixg import driver
from fixg.aeron.loader import LibraryInfo
from fixg.archive.service import ArchiverHandle, ArchiverSettings, spawn

from aeronfixtures import aeron_dir, aeron_library  # noqa: F401  (shared fixtures)

TEST_PROPERTIES: dict[str, str] = {
    "aeron.threading.mode": "SHARED",
    "aeron.shared.idle.strategy": "backoff",
    "aeron.term.buffer.length": "64k",
    "aeron.ipc.term.buffer.length": "64k",
    "aeron.term.buffer.sparse.file": "true",
    "aeron.client.liveness.timeout": "2s",
    "aeron.image.liveness.timeout": "1s",
    "aeron.publication.linger.timeout": "100ms",
    "aeron.publication.unblock.timeout": "3s",
}






@pytest.fixture
def media_driver(aeron_library: LibraryInfo, aeron_dir: Path) -> Iterator[driver.DriverHandle]:
    handle = driver.start(TEST_PROPERTIES, aeron_dir=aeron_dir)
    try:
        yield handle
    finally:
        try:
            handle.stop(timeout_s=5.0)
        finally:
            handle.kill()


@pytest.fixture
def settings(media_driver: driver.DriverHandle, tmp_path: Path) -> ArchiverSettings:
    return ArchiverSettings(aeron_dir=media_driver.aeron_dir, archive_dir=str(tmp_path / "archive"),
                            fsync="never", segment_length=1 << 20)


@pytest.fixture
def archivers() -> Iterator[Callable[..., ArchiverHandle]]:
    """``archivers(settings)`` spawns an archiver; every one is stopped (or killed) afterwards."""
    handles: list[ArchiverHandle] = []

    def start(settings: ArchiverSettings, **kw: Any) -> ArchiverHandle:
        handle = spawn(settings, **kw)
        handles.append(handle)
        return handle

    try:
        yield start
    finally:
        for h in handles:
            try:
                h.stop(timeout_s=5.0)
            finally:
                h.kill()
