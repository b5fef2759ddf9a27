"""The resources built once in the lifespan, and the typed dependencies that hand them out."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from sqlalchemy.engine import Engine

from app.calendar_watch import CalendarWatch
from app.errors import Unauthorized
from app.late import LateReplySender
from app.reload import Reloadable, Reloader
from app.services import AppServices
from app.settings import Settings
from app.stores.base import Store
from app.turnlog.logger import TurnLogger
from app.turns import TurnProcessor, TurnSink
from app.wechat.crypto import MessageCrypto
from app.wxapi.client import WeChatClient


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
