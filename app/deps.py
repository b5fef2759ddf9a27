"""The resources built once in the lifespan, and the typed dependencies that hand them out."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Cookie, Depends, Header, Query, Request
from sqlalchemy.engine import Engine

from app.accounts import Account
from app.calendar_watch import CalendarWatch
from app.db.writes import Writes
from app.errors import NotFound, Unauthorized
from app.late import LateReplySender
from app.ops.router import OPS_COOKIE, ops_cookie
from app.reload import Reloadable, Reloader
from app.services import AppServices
from app.settings import Settings
from app.stores.base import Store
from app.surge_watch import SurgeWatch
from app.turnlog.logger import TurnLogger
from app.turns import TurnProcessor, TurnSink
from app.wechat.crypto import MessageCrypto
from app.wxapi.client import WeChatClient
from knowledge.topics import TopicCatalog

if TYPE_CHECKING:
    from app.reminders import NotificationTask
    from flows.registry import FlowRegistry
    from knowledge.layered import LayeredMatcher
    from knowledge.matcher import Matcher


@dataclass(slots=True)
class AccountRuntime:
    """What serving one Official Account takes: its credentials' crypto, its turn processor (with
    the account in every key), its ticket services and WeChat API client, and its current content.
    The store, database, turn log and HTTP pools behind them are shared by every account."""

    account: Account
    processor: TurnProcessor
    crypto: MessageCrypto | None
    services: AppServices
    late_sender: LateReplySender
    wechat: WeChatClient | None = None
    matcher: Callable[[], Matcher | LayeredMatcher | None] = lambda: None
    flows: Callable[[], FlowRegistry | None] = lambda: None
    # The account's topics (knowledge/topics.yaml, issue 19); None without the file.
    topics: TopicCatalog | None = None


@dataclass(slots=True)
class Resources:
    settings: Settings
    store: Store
    crypto: MessageCrypto | None
    processor: TurnProcessor
    late_sender: LateReplySender
    sink: TurnSink
    pseudonym_key: bytes = b""
    # Hot-reloadable knowledge and flows (app.reload.Reloadable).
    reloadables: list[Reloadable[Any]] = field(default_factory=list)
    engine: Engine | None = None
    turnlog: TurnLogger | None = None
    services: AppServices | None = None
    wechat: WeChatClient | None = None
    reloader: Reloader | None = None
    calendar: CalendarWatch | None = None
    # Booking reminders and interrupted sends, every NOTIFY_INTERVAL_S (app/reminders.py).
    notifications: NotificationTask | None = None
    # Surges of unanswered questions, checked periodically (app/surge_watch.py, issue 19).
    surges: SurgeWatch | None = None
    # Every account served, by id (one, `default`, without an accounts file), and the one plain
    # `/wechat` serves. `processor`, `crypto`, `services` and `wechat` above are that account's.
    accounts: dict[str, AccountRuntime] = field(default_factory=dict)
    default: AccountRuntime | None = None
    # Connection pools shared by the accounts' clients, closed once on shutdown.
    http_clients: list[Any] = field(default_factory=list)
    # The worker's one writer for reply-path writes (app.db.writes), shared by the accounts.
    writes: Writes | None = None

    def account(self, account_id: str | None) -> AccountRuntime:
        """The account a request names (`None`: the default one); `NotFound` for any other id."""
        runtime = self.default if account_id is None else self.accounts.get(account_id)
        if runtime is None:
            raise NotFound("no such account")
        return runtime
    # The staff desk (app/desk/router.py `Desk`); typed loosely here to keep deps import-light.
    desk: Any = None


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


def _bearer(authorization: str | None) -> str:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return ""


def _same(given: str, expected: str) -> bool:
    return bool(expected and given) and hmac.compare_digest(given.encode(), expected.encode())


def require_admin(
    request: Request,
    resources: ResourcesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """Admin endpoints take `Authorization: Bearer <ADMIN_TOKEN>`, never a query string: a token
    there ends up in logs, history and Referer headers (issue 15); or the desk session of an
    enabled staff admin (issue 17)."""
    if _same(_bearer(authorization), resources.settings.admin_token.get_secret_value()):
        return
    if authorization is None and _desk_admin(request, resources):
        return
    raise Unauthorized("admin token missing or wrong")


def require_ops_reader(
    request: Request,
    resources: ResourcesDep,
    authorization: Annotated[str | None, Header()] = None,
    token: Annotated[str | None, Query(alias="token")] = None,
    cookie: Annotated[str | None, Cookie(alias=OPS_COOKIE)] = None,
) -> None:
    """Reading the dashboard: the header, the /ops cookie, or (GET only) `?token=`, which the
    dashboard trades for the cookie at once (app.ops.router)."""
    expected = resources.settings.admin_token.get_secret_value()
    if _same(_bearer(authorization), expected):
        return
    if expected and cookie and _same(cookie, ops_cookie(expected)):
        return
    if request.method == "GET" and token and _same(token, expected):
        return
    if _desk_admin(request, resources):
        return
    raise Unauthorized("admin token missing or wrong")


def require_metrics_token(
    resources: ResourcesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """`/metrics` when METRICS_TOKEN is set: the scraper sends it as a bearer token."""
    expected = resources.settings.metrics_token
    if expected is None or not _same(_bearer(authorization), expected.get_secret_value()):
        raise Unauthorized("metrics token missing or wrong")


def _desk_admin(request: Request, resources: Resources) -> bool:
    """A logged-in, enabled desk admin. Reads need only the session; a POST must also echo the
    session's CSRF token in `X-CSRF-Token` (SameSite=Strict already keeps the cookie off
    cross-site requests)."""
    if resources.desk is None:
        return False
    from app.desk.auth import csrf_matches
    from app.desk.router import session_of, staff_for

    member = staff_for(request, resources.desk)
    if member is None or not member.at_least("admin"):
        return False
    if request.method in ("GET", "HEAD"):
        return True
    return csrf_matches(session_of(request, resources.desk), request.headers.get("x-csrf-token"))


AdminDep = Depends(require_admin)

__all__ = ["AdminDep", "Resources", "ResourcesDep", "ops_cookie", "require_admin", "require_metrics_token",
           "require_ops_reader"]
