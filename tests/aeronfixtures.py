"""Fixtures every Aeron-using test directory shares (imported by their conftest.py): the real
libaeron, required under CI and skipped without it elsewhere, and unique /dev/shm directories
that are removed after the test whatever it did."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixg.aeron.loader import LibraryInfo, load_library
from fixg.errors import AeronLibraryNotFoundError

SHM = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path("/tmp")


def unique_dir(tag: str) -> Path:
    return SHM / f"fixg-test-{tag}-{os.getpid()}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def aeron_library() -> LibraryInfo:
    try:
        return load_library()
    except AeronLibraryNotFoundError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"libaeron is required in CI (run ci/build_aeron.sh first): {exc}")
        pytest.skip(f"libaeron not installed (run `bash ci/build_aeron.sh`): {exc}")


@pytest.fixture
def aeron_dir() -> Iterator[Path]:
    """A unique directory name (not created); removed after the test if anything is left."""
    path = unique_dir("dir")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
