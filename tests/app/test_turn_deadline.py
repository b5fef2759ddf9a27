"""The turn processor's wait for a turn: answered within the deadline, or left running (app/turns.py)."""

from __future__ import annotations

import asyncio
import time

from app.turns import _finished_within


async def test_a_turn_done_in_time_is_reported_finished() -> None:
    async def quick() -> None:
        await asyncio.sleep(0)

    task = asyncio.create_task(quick())
    assert await _finished_within(task, 1.0) is True  # type: ignore[arg-type]
    assert task.done()


async def test_a_turn_past_the_deadline_is_left_running_not_cancelled() -> None:
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "late reply"

    task = asyncio.create_task(slow())
    started = time.perf_counter()
    assert await _finished_within(task, 0.05) is False  # type: ignore[arg-type]
    assert 0.04 <= time.perf_counter() - started < 1.0
    assert not task.cancelled()
    release.set()
    assert await task == "late reply"


async def test_a_wait_given_up_by_its_caller_leaves_the_turn_running() -> None:
    release = asyncio.Event()

    async def slow() -> None:
        await release.wait()

    task = asyncio.create_task(slow())
    waiting = asyncio.create_task(_finished_within(task, 10.0))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert not task.done()
    release.set()
    await task
