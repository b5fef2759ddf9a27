"""`GET /ops`: the dashboard, behind the admin dependency the app provides.

Built by a function so the app passes in its own dependencies (`require_admin`, the engine)
and this package never imports `app.deps`. The report behind a page is cached briefly per
window: a dashboard left open and refreshed must not re-read the turn log every time.

The admin token may come in the query string here only (a bookmarked page), and is traded at
once for an HttpOnly, SameSite=Strict cookie scoped to /ops (a keyed hash of the token, not the
token) with a redirect to the same address without it; the page's links never carry it, it
sends no Referer and forbids everything its content does not need (issue 15).
"""

# No `from __future__ import annotations`: the endpoint's Annotated[..., Depends(engine)] names a
# closure variable, which FastAPI can only see if annotations are evaluated when it is defined.

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine

from app.desk.stats import TicketStats, ticket_stats
from app.ops.page import WINDOWS, render_page
from app.turnlog.comparison import Comparison, compare
from app.turnlog.consultations import Rules
from app.turnlog.report import Report, build_report
from app.turnlog.surge import detect

# A source of the reach panel's rows: (engine, account or None for all) → one dict per campaign.
ReachSource = Callable[[Engine, str | None], list[dict[str, Any]]]
# A source of the surge panel: (engine, account or None, now) → {"checked_at", "items"}, or None.
SurgeSource = Callable[[Engine, str | None, datetime], dict[str, Any] | None]


def _no_source() -> None:
    return None

R = TypeVar("R")

OPS_COOKIE = "wxbot_ops"
OPS_COOKIE_MAX_AGE_S = 8 * 3600
# The page is server-rendered with inline CSS and SVG, no scripts, no external resources.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
}


def ops_cookie(token: str) -> str:
    """The dashboard cookie for an admin token: a keyed hash, so the cookie is not the token."""
    return hmac.new(token.encode(), b"wxbot ops dashboard", hashlib.sha256).hexdigest()



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
    reaches: Callable[..., ReachSource | None] | None = None,
    surges: Callable[..., SurgeSource | None] | None = None,
) -> APIRouter:
    """`engine` and `require_admin` are FastAPI dependencies (callables `Depends` can resolve).

    `accounts` (id → name), when the deployment serves several: the page gains an account
    filter and, over all accounts, the city-wide comparison (issue 16).

    `reaches` and `surges` are dependencies too, each resolving to a source of its panel (issue
    19): the campaigns' reach, and the current surges of unanswered questions. Without `surges`
    the page detects them itself when loaded (cached like the report); the app passes its
    periodic watch's last result instead.
    """
    router = APIRouter(dependencies=[Depends(require_admin)])
    cache: _ReportCache[Report] = _ReportCache(cache_s)
    comparisons: _ReportCache[Comparison] = _ReportCache(cache_s)
    tickets_cache: _ReportCache[TicketStats] = _ReportCache(cache_s)
    reach_cache: _ReportCache[list[dict[str, Any]]] = _ReportCache(cache_s)
    surge_cache: _ReportCache[dict[str, Any] | None] = _ReportCache(cache_s)
    reach_dependency = reaches or _no_source
    surge_dependency = surges or _no_source
    consultation_rules = rules or Rules()
    names = dict(accounts or {})

    @router.get("/ops", response_class=HTMLResponse, include_in_schema=False)
    def dashboard(
        request: Request,
        db: Annotated[Engine, Depends(engine)],
        days: Annotated[int, Query(ge=1, le=90)] = 7,
        account: Annotated[str | None, Query(max_length=64)] = None,
        reach_source: Annotated[ReachSource | None, Depends(reach_dependency)] = None,
        surge_source: Annotated[SurgeSource | None, Depends(surge_dependency)] = None,
    ) -> Response:
        # A plain `def`: FastAPI runs it in the threadpool, so the database read blocks no reply.
        params = {k: v for k, v in request.query_params.items() if k != "token"}
        token = request.query_params.get("token")
        if token:
            # Accepted (the dependency checked it): trade it for the cookie, out of the address bar.
            query = urlencode(params)
            redirect = RedirectResponse("/ops" + ("?" + query if query else ""), status_code=303,
                                        headers=SECURITY_HEADERS)
            redirect.set_cookie(OPS_COOKIE, ops_cookie(token), max_age=OPS_COOKIE_MAX_AGE_S, path="/ops",
                                httponly=True, samesite="strict", secure=request.url.scheme == "https")
            return redirect
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
        # Relative links keep the other query parameters and the host, never a token.
        links = {d: "?" + urlencode({**params, "days": str(d)}) for d in WINDOWS}
        account_links: dict[str, tuple[str, str]] = {}
        if len(names) > 1:
            base = {k: v for k, v in params.items() if k != "account"}
            account_links[""] = ("全部账号", "?" + urlencode(base))
            for account_id, name in names.items():
                account_links[account_id] = (name or account_id, "?" + urlencode({**base, "account": account_id}))
        tickets = tickets_cache.get(
            (days, chosen), lambda: ticket_stats(db, now - timedelta(days=days), now, now, account=chosen)
        )
        reach = None
        if reach_source is not None:
            reach = reach_cache.get(chosen, lambda: reach_source(db, chosen))
        if surge_source is not None:
            surge_view = surge_source(db, chosen, now)
        else:
            surge_view = surge_cache.get(chosen, lambda: {
                "checked_at": now.isoformat(),
                "items": [s.as_dict(now) for s in detect(db, now, consultation_rules,
                                                         accounts=[chosen] if chosen else None)],
            })
        html = render_page(
            report, days, links, now, accounts=account_links, account=chosen or "", comparison=comparison,
            tickets=tickets.to_json(), reach=reach, surges=surge_view,
        )
        return HTMLResponse(html, headers=SECURITY_HEADERS)

    return router
