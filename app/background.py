"""A server component that runs one named asyncio task beside the requests (the calendar watch,
the surge watch, the notification task): started in the lifespan, cancelled and awaited on stop.
Subclasses give the task's name and its `_run` loop."""

from __future__ import annotations

import asyncio
import contextlib


class Background:
    task_name = "background"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        """Start `_run()` unless it is already running (a second start is harmless)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
