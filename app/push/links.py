"""The signed link a push carries (issue 19): `/r/<row id>.<signature>` → the campaign's page.

The link names the recipient row, not the citizen, and is signed with a key derived from
PSEUDONYM_KEY, so it cannot be forged or walked; the first visit per recipient sets `opened_at`
(later visits and forwards are not counted again), then the citizen is redirected.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from app.db.models import PushRecipient
from app.deps import ResourcesDep
from knowledge.campaigns import load_campaign
from knowledge.errors import KnowledgeError

router = APIRouter()
PATH = "/r/"


def _signature(key: bytes, row_id: int) -> str:
    return hmac.new(key, f"push-link:{row_id}".encode(), hashlib.sha256).hexdigest()[:20]


def link(base_url: str, key: bytes, row_id: int) -> str:
    return f"{base_url.rstrip('/')}{PATH}{row_id}.{_signature(key, row_id)}"


def verify(key: bytes, token: str) -> int | None:
    row, _, signature = token.partition(".")
    if not row.isdigit() or not hmac.compare_digest(signature, _signature(key, int(row))):
        return None
    return int(row)


def opened(engine: Engine, row_id: int, now: datetime) -> str | None:
    """Count the first open of this recipient's link; the campaign it belongs to, or None."""
    with Session(engine) as conn, conn.begin():
        campaign = conn.execute(select(PushRecipient.campaign).where(PushRecipient.id == row_id)).scalar()
        if campaign is not None:
            conn.execute(
                update(PushRecipient)
                .where(PushRecipient.id == row_id, PushRecipient.opened_at.is_(None))
                .values(opened_at=now)
            )
        return campaign


@lru_cache(maxsize=64)
def _target(folder: str, campaign: str) -> str:
    try:
        return load_campaign(Path(folder) / f"{campaign}.yaml").url
    except (KnowledgeError, OSError):
        return ""


@router.get(PATH + "{token}")
async def follow(token: str, resources: ResourcesDep) -> Response:
    key = resources.pseudonym_key
    row_id = verify(key, token)
    engine = resources.engine
    if row_id is None or engine is None:
        return Response("链接无效", status_code=404, media_type="text/plain; charset=utf-8")
    campaign = await asyncio.to_thread(opened, engine, row_id, datetime.now(UTC))
    target = _target(str(resources.settings.campaigns_dir), campaign) if campaign else ""
    if not target:
        return Response("链接无效或已过期", status_code=404, media_type="text/plain; charset=utf-8")
    return RedirectResponse(target, status_code=302)
