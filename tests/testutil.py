"""Helpers shared by the test suites (importable as ``testutil``; see pyproject's pythonpath)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The ``shared/`` directory that sits beside the repository (docs, fixspec)."""
    return REPO.parent / "shared"


def fixspec_dir() -> Path:
    """QuickFIX-format FIX dictionaries: ``$FIXG_FIXSPEC_DIR`` or ``../shared/fixspec``."""
    env = os.environ.get("FIXG_FIXSPEC_DIR")
    return Path(env) if env else shared_dir() / "fixspec"


async def wait_for(cond: Callable[[], bool], what: str, timeout: float = 10.0, interval: float = 0.01) -> None:
    """Poll ``cond`` every ``interval`` seconds until true; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)
