from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.ops.router import build_ops_router
from app.turnlog.rows import to_row
from app.turnlog.store import insert_rows
from tests.ops.seed import UNANSWERED, seed
from tests.turnlog.records import record

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
TOKEN = "a-very-long-admin-token"


def require_admin(authorization: str | None = Header(None)) -> None:
    if authorization != f"Bearer {TOKEN}":
        raise HTTPException(401)


def client_for(engine: Engine) -> TestClient:
    app = FastAPI()
    app.include_router(build_ops_router(engine=lambda: engine, require_admin=require_admin, clock=lambda: NOW))
    return TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})


def test_dashboard_needs_the_admin_dependency(engine: Engine) -> None:
    response = client_for(engine).get("/ops", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401


def test_dashboard_draws_every_chart_from_the_turn_log(engine: Engine) -> None:
    seed(engine, NOW)
    response = client_for(engine).get("/ops?days=1")
    assert response.status_code == 200
    html = response.text
    for chart in ("latency", "interactions", "routes", "satisfaction"):
        assert f'data-chart="{chart}"' in html
    assert 'data-key="fallback" data-value="4"' in html
    assert UNANSWERED in html
    assert "https://" not in html and "<script" not in html


def test_window_links_never_carry_the_admin_token(engine: Engine) -> None:
    html = client_for(engine).get("/ops?days=7&lang=zh", follow_redirects=True).text
    assert "days=30" in html and "lang=zh" in html
    assert "token" not in html


def test_a_token_in_the_query_is_traded_for_a_cookie_and_dropped_from_the_address(engine: Engine) -> None:
    response = client_for(engine).get("/ops?days=7&token=abc", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ops?days=7"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ops" in cookie
    assert "abc" not in cookie


def test_the_dashboard_sends_no_referrer_and_a_strict_content_policy(engine: Engine) -> None:
    response = client_for(engine).get("/ops?days=1")
    assert response.headers["referrer-policy"] == "no-referrer"
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp


def test_user_text_is_escaped(engine: Engine) -> None:
    insert_rows(engine, [to_row("x1", record(0, received_at=NOW - timedelta(hours=1), route="fallback",
                                             faq_id="", text="<img src=x onerror=alert(1)>"), b"k")])
    html = client_for(engine).get("/ops?days=1").text
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_days_out_of_range_are_refused(engine: Engine) -> None:
    assert client_for(engine).get("/ops?days=0").status_code == 422
