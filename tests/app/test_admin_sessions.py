"""`GET /admin/sessions/{openid}`: what staff and the journey benchmark see of a user's flow."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app import admin_sessions
from app.deps import Resources
from app.main import build_resources
from flows.state import FlowState
from handlers.session import Session
from tests.app.conftest import make_settings


@pytest.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    resources = build_resources(make_settings(session_ttl_s=1800))
    app = FastAPI()
    app.state.resources = resources
    app.include_router(admin_sessions.router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client, resources
    await resources.store.close()


async def save(resources: Resources, session: Session) -> None:
    await resources.store.set(resources.processor.session_key(session.openid), session.to_bytes(), 60)


async def test_flow_in_progress_is_shown(api: tuple[httpx.AsyncClient, Resources]) -> None:
    client, resources = api
    state = FlowState(
        flow_id="booking",
        version="1",
        step="collect",
        slots={"business": "社保卡办理"},
        awaiting=["name", "mobile"],
        started_at=1_795_000_000.0,
        updated_at=1_795_000_600.0,
    )
    await save(resources, Session(openid="o_1", flow=state))
    response = await client.get("/admin/sessions/o_1")
    assert response.status_code == 200
    body = response.json()
    assert body["flow"] == "booking" and body["version"] == "1" and body["step"] == "collect"
    assert body["awaiting"] == ["name", "mobile"] and body["slots"] == {"business": "社保卡办理"}
    assert body["expires_at"].startswith("2026-11-18T")  # 1_795_000_600 + 1800 s, in UTC


async def test_confirmation_step_awaits_confirm(api: tuple[httpx.AsyncClient, Resources]) -> None:
    client, resources = api
    state = FlowState(flow_id="booking", version="1", step="confirm", started_at=1.0, updated_at=1.0)
    await save(resources, Session(openid="o_2", flow=state))
    assert (await client.get("/admin/sessions/o_2")).json()["awaiting"] == ["confirm"]


async def test_unknown_user_is_404(api: tuple[httpx.AsyncClient, Resources]) -> None:
    client, _resources = api
    assert (await client.get("/admin/sessions/nobody")).status_code == 404


async def test_user_without_a_flow_is_404(api: tuple[httpx.AsyncClient, Resources]) -> None:
    client, resources = api
    await save(resources, Session(openid="o_3"))
    assert (await client.get("/admin/sessions/o_3")).status_code == 404
