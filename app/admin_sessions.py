"""`GET /admin/sessions/{openid}`: the flow a user is in, for service staff and the journey benchmark.

Answers `{flow, version, step, awaiting, slots, resolved, started_at, expires_at}`, or 404
when the user has no flow in progress. `awaiting` names the slots the last prompt asked for
(`confirm` at the confirmation, `satisfaction` after completion). The router carries no auth of
its own: `app.main` includes it behind the admin-token dependency.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from app.deps import ResourcesDep
from app.stores.base import StoreUnavailable
from flows import engine
from handlers.session import Session

router = APIRouter()


class SessionView(BaseModel):
    flow: str
    version: str
    step: str
    awaiting: list[str]
    slots: dict[str, str]
    resolved: bool
    started_at: datetime
    expires_at: datetime


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@router.get("/admin/sessions/{openid}", response_model=SessionView)
async def session_view(openid: str, resources: ResourcesDep, account: str | None = None) -> SessionView:
    """`?account=ID` with an accounts file: the user's session on that account (the default one otherwise)."""
    processor = resources.account(account).processor if account is not None else resources.processor
    try:
        data = await resources.store.get(processor.session_key(openid))
    except StoreUnavailable as exc:
        raise HTTPException(status_code=503, detail="session store unavailable") from exc
    if data is None:
        raise HTTPException(status_code=404, detail="no session")
    try:
        session = Session.from_bytes(data)
    except ValueError as exc:
        raise HTTPException(status_code=404, detail="unreadable session") from exc
    state = session.flow
    if state is None:
        raise HTTPException(status_code=404, detail="no flow in progress")
    timeout = resources.settings.session_ttl_s
    last = state.updated_at or state.started_at
    return SessionView(
        flow=state.flow_id,
        version=state.version,
        step=state.step,
        awaiting=engine.awaiting(state),
        slots=dict(state.slots),
        resolved=state.resolved,
        started_at=_at(state.started_at),
        expires_at=_at(last + timeout),
    )
