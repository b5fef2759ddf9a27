"""`GET /ops`: the dashboard, behind the admin dependency the app provides.

Built by a function so the app passes in its own dependencies (`require_admin`, the engine)
and this package never imports `app.deps`. The report behind a page is cached briefly per
window: a dashboard left open and refreshed must not re-read the turn log every time.
"""

# No `from __future__ import annotations`: the endpoint's Annotated[..., Depends(engine)] names a
# closure variable, which FastAPI can only see if annotations are evaluated when it is defined.

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from app.ops.page import WINDOWS, render_page
from app.turnlog.consultations import Rules
from app.turnlog.report import Report, build_report


class _ReportCache:
    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[int, tuple[float, Report]] = {}
        self._lock = threading.Lock()

    def get(self, days: int, build: Callable[[], Report]) -> Report:
        with self._lock:
            hit = self._entries.get(days)
            if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
                return hit[1]
        report = build()
        with self._lock:
            self._entries[days] = (time.monotonic(), report)
        return report


def build_ops_router(
    *,
    engine: Callable[..., Engine],
    require_admin: Callable[..., Any],
    rules: Rules | None = None,
    cache_s: float = 60.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    """`engine` and `require_admin` are FastAPI dependencies (callables `Depends` can resolve)."""
    router = APIRouter(dependencies=[Depends(require_admin)])
    cache = _ReportCache(cache_s)
    consultation_rules = rules or Rules()

    @router.get("/ops", response_class=HTMLResponse, include_in_schema=False)
    def dashboard(
        request: Request,
        db: Annotated[Engine, Depends(engine)],
        days: Annotated[int, Query(ge=1, le=90)] = 7,
    ) -> HTMLResponse:
        # A plain `def`: FastAPI runs it in the threadpool, so the database read blocks no reply.
        now = clock()
        report = cache.get(days, lambda: build_report(db, now - timedelta(days=days), now, consultation_rules))
        # Relative links keep the other query parameters (the dashboard's ?token=) and the host.
        links = {d: "?" + urlencode({**request.query_params, "days": str(d)}) for d in WINDOWS}
        html = render_page(report, days, links, now)
        return HTMLResponse(html, headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"})

    return router
