"""Helpers shared by the test suites (importable as ``testutil``; see pyproject's pythonpath)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from fixg.fix.settings import SessionKey, SessionSettings
from fixg.gateway import EventQueue, Initiator, create_session
from fixg.store.base import MessageStore
from fixg.store.memory import MemoryStore

T = TypeVar("T")

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


def run(coro: Awaitable[T], timeout: float = 60.0) -> T:
    """Run ``coro`` in a new event loop, failing after ``timeout`` seconds."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):  # no extra task (wait_for makes one on 3.11)
            return await coro

    return asyncio.run(bounded())


async def next_fix(queue: EventQueue, kind: type[Any], timeout: float = 10.0,
                   pred: Callable[[Any], bool] = lambda e: True) -> Any:
    """The next event of ``kind`` (and ``pred``) a sans-IO session put on ``queue``."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {kind.__name__} event")
        _, event = await asyncio.wait_for(queue.get(), left)
        if isinstance(event, kind) and pred(event):
            return event


def gw_bank_key() -> SessionKey:
    return SessionKey("FIX.4.4", "GW", "BANK")


def bank_initiator(port: int, queue: EventQueue, store: MessageStore | None = None) -> Initiator:
    """A fixg counterparty: BANK initiating FIX.4.4 to GW on 127.0.0.1:``port``."""
    settings = SessionSettings("FIX.4.4", "BANK", "GW", "initiator", heart_bt_int=30,
                               socket_connect_hosts=(("127.0.0.1", port),))
    return Initiator(create_session(settings, store or MemoryStore()), on_event=queue)
