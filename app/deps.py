"""The resources built once in the lifespan, and the typed dependencies that hand them out."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Header, Query, Request
from sqlalchemy.engine import Engine

from app.accounts import Account
from app.calendar_watch import CalendarWatch
from app.errors import NotFound, Unauthorized
from app.late import LateReplySender
from app.reload import Reloadable, Reloader
from app.services import AppServices
from app.settings import Settings
from app.stores.base import Store
from app.turnlog.logger import TurnLogger
from app.turns import TurnProcessor, TurnSink
from app.wechat.crypto import MessageCrypto
from app.wxapi.client import WeChatClient

if TYPE_CHECKING:
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
    # Every account served, by id (one, `default`, without an accounts file), and the one plain
    # `/wechat` serves. `processor`, `crypto`, `services` and `wechat` above are that account's.
    accounts: dict[str, AccountRuntime] = field(default_factory=dict)
    default: AccountRuntime | None = None
    # Connection pools shared by the accounts' clients, closed once on shutdown.
    http_clients: list[Any] = field(default_factory=list)

    def account(self, account_id: str | None) -> AccountRuntime:
        """The account a request names (`None`: the default one); `NotFound` for any other id."""
        runtime = self.default if account_id is None else self.accounts.get(account_id)
        if runtime is None:
            raise NotFound("no such account")
        return runtime


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


def require_admin(
    resources: ResourcesDep,
    authorization: Annotated[str | None, Header()] = None,
    token: Annotated[str | None, Query(alias="token")] = None,
) -> None:
    """Admin endpoints take `Authorization: Bearer <ADMIN_TOKEN>` (or `?token=` for the dashboard)."""
    expected = resources.settings.admin_token.get_secret_value()
    given = ""
    if authorization and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    elif token:
        given = token
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("admin token missing or wrong")


AdminDep = Depends(require_admin)
