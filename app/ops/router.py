"""`GET /ops`: the dashboard, behind the admin dependency the app provides.

Built by a function so the app passes in its own dependencies (`require_admin`, the engine)
and this package never imports `app.deps`. The report behind a page is cached briefly per
window: a dashboard left open and refreshed must not re-read the turn log every time.
"""

# No `from __future__ import annotations`: the endpoint's Annotated[..., Depends(engine)] names a
# closure variable, which FastAPI can only see if annotations are evaluated when it is defined.

import threading
import time
from collections.abc import Callable, Hashable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from app.ops.page import WINDOWS, render_page
from app.turnlog.comparison import Comparison, compare
from app.turnlog.consultations import Rules
from app.turnlog.report import Report, build_report

R = TypeVar("R")


class _ReportCache(Generic[R]):
    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[Hashable, tuple[float, R]] = {}
        self._lock = threading.Lock()

    def get(self, days: Hashable, build: Callable[[], R]) -> R:
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
    accounts: Mapping[str, str] | None = None,
) -> APIRouter:
    """`engine` and `require_admin` are FastAPI dependencies (callables `Depends` can resolve).

    `accounts` (id → name), when the deployment serves several: the page gains an account
    filter and, over all accounts, the city-wide comparison (issue 16).
    """
    router = APIRouter(dependencies=[Depends(require_admin)])
    cache: _ReportCache[Report] = _ReportCache(cache_s)
    comparisons: _ReportCache[Comparison] = _ReportCache(cache_s)
    consultation_rules = rules or Rules()
    names = dict(accounts or {})

    @router.get("/ops", response_class=HTMLResponse, include_in_schema=False)
    def dashboard(
        request: Request,
        db: Annotated[Engine, Depends(engine)],
        days: Annotated[int, Query(ge=1, le=90)] = 7,
        account: Annotated[str | None, Query(max_length=64)] = None,
    ) -> HTMLResponse:
        # A plain `def`: FastAPI runs it in the threadpool, so the database read blocks no reply.
        now = clock()
        chosen = account if account in names else None
        since = now - timedelta(days=days)
        report = cache.get(
            (days, chosen), lambda: build_report(db, since, now, consultation_rules, account=chosen)
        )
        comparison = None
        if len(names) > 1 and chosen is None:
            comparison = comparisons.get(
                days, lambda: compare(db, since, now, consultation_rules, accounts=names, now=now)
            ).to_json()
        # Relative links keep the other query parameters (the dashboard's ?token=) and the host.
        links = {d: "?" + urlencode({**request.query_params, "days": str(d)}) for d in WINDOWS}
        account_links: dict[str, tuple[str, str]] = {}
        if len(names) > 1:
            base = {k: v for k, v in request.query_params.items() if k != "account"}
            account_links[""] = ("全部账号", "?" + urlencode(base))
            for account_id, name in names.items():
                account_links[account_id] = (name or account_id, "?" + urlencode({**base, "account": account_id}))
        html = render_page(
            report, days, links, now, accounts=account_links, account=chosen or "", comparison=comparison
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"})

    return router
