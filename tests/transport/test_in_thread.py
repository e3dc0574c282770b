"""aeron._in_thread (pure logic): cancelling the caller cannot stop a libaeron call in the
worker thread, so the caller waits for the thread and undoes what it produced."""

from __future__ import annotations

import asyncio
import threading

from fixg.transport.aeron import _in_thread


def test_a_cancelled_caller_waits_for_the_thread_and_undoes_its_result() -> None:
    async def scenario() -> None:
        release = threading.Event()
        undone: list[str] = []

        def slow() -> str:
            release.wait(5)
            return "made"

        caller = asyncio.ensure_future(_in_thread(slow, undo=undone.append))
        await asyncio.sleep(0.05)
        caller.cancel()
        await asyncio.sleep(0.1)
        assert not caller.done()  # still waiting: the thread is inside the call
        release.set()
        try:
            await asyncio.wait_for(caller, 5)
        except asyncio.CancelledError:
            pass
        assert caller.cancelled()
        assert undone == ["made"]

    asyncio.run(scenario())


def test_a_result_comes_back_untouched() -> None:
    async def scenario() -> None:
        undone: list[int] = []
        assert await _in_thread(lambda: 5, undo=undone.append) == 5
        assert undone == []

    asyncio.run(scenario())
