"""bench/turnlog.py's service: the real app, with its turn log switched on and off under load.

Both variants of the comparison run in one process, in alternating segments of one
continuous load. Two identical processes can differ in speed by several percent for their
whole lives, and this shared machine drifts by ±10% from one two-second round to the next;
neither can be told from the log's cost when the variants run in different processes or in
rounds seconds apart. Within one process and one second, both cancel.

"Off" is `TurnLogger.enabled = False`: `submit` returns at once, as with TURNLOG_ENABLED=false,
while the logger's drain thread and helper process stay up, idle.

    POST /bench/turnlog/{on|off}   end the current segment and start one in that state; returns
                                   the segment that ended: {state, seconds, latencies_us}, the
                                   server-side time of each delivery it completed
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from fastapi import Request

from app.main import create_app as create_service

State = Literal["on", "off"]


class Meter:
    """Times the callback's deliveries (ASGI call to response sent) and counts them per segment."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: State = "on"
        self.since = time.perf_counter()
        self.latencies: list[int] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/wechat":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        await self.app(scope, receive, send)
        self.latencies.append(int((time.perf_counter() - start) * 1e6))

    def end_segment(self, next_state: State) -> dict[str, Any]:
        now = time.perf_counter()
        ended = {"state": self.state, "seconds": now - self.since, "latencies_us": self.latencies}
        self.state, self.since, self.latencies = next_state, now, []
        return ended


def create_app() -> Meter:
    app = create_service()
    meter = Meter(app)

    @app.post("/bench/turnlog/{state}")
    async def switch(state: State, request: Request) -> dict[str, Any]:
        turnlog = request.app.state.resources.turnlog
        if meter.state == "on" and turnlog is not None and turnlog.enabled:
            # The segment with the log on lasts until the writer has caught up with it, so the
            # work it caused is timed in it rather than in the next one. The log stays on
            # meanwhile: the deliveries that arrive during the wait are logged like the rest.
            await asyncio.to_thread(turnlog.flush)
        ended = meter.end_segment(state)
        if turnlog is not None:
            turnlog.enabled = state == "on"
        return ended

    return meter
