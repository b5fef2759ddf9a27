"""Logins, sessions, CSRF and role boundaries over HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.db.models import AuditEntry, Ticket
from app.desk import staff
from app.desk.auth import COOKIE, THROTTLE_PER_USER, SessionCodec
from tests.desk.conftest import PASSWORD, Desk, add_staff, csrf_of


async def test_the_desk_without_a_session_redirects_to_the_login_form(lite_desk: Desk) -> None:
    response = await lite_desk.client.get("/desk/")
    assert response.status_code == 303
    assert response.headers["location"] == "/desk/login"


async def test_the_login_form_has_the_three_fields(lite_desk: Desk) -> None:
    page = await lite_desk.client.get("/desk/login")
    for name in ("username", "password", "csrf_token"):
        assert f'name="{name}"' in page.text


async def test_a_good_login_sets_an_httponly_strict_cookie(lite_desk: Desk) -> None:
    add_staff(lite_desk.engine, "li", "agent")
    response = await lite_desk.login("li")
    assert response.status_code == 303 and response.headers["location"] == "/desk/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Max-Age=1800" in cookie  # the idle expiry


async def test_every_desk_page_carries_the_security_headers(lite_desk: Desk) -> None:
    page = await lite_desk.client.get("/desk/login")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "default-src 'none'" in csp  # no script at all, inline or not
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script" not in page.text


async def test_a_wrong_password_is_refused_and_audited(lite_desk: Desk) -> None:
    add_staff(lite_desk.engine, "li", "agent")
    response = await lite_desk.login("li", "wrong-password-1")
    assert response.status_code == 401
    assert (await lite_desk.client.get("/desk/")).status_code == 303
    with lite_desk.engine.connect() as conn:
        actions = conn.execute(select(AuditEntry.action).where(AuditEntry.actor == "li")).scalars().all()
    assert actions == ["login_failed"]


async def test_logins_are_throttled_per_user_even_with_the_right_password_after(lite_desk: Desk) -> None:
    add_staff(lite_desk.engine, "li", "agent")
    for _ in range(THROTTLE_PER_USER):
        assert (await lite_desk.login("li", "wrong-password-1")).status_code == 401
    response = await lite_desk.login("li", PASSWORD)
    assert response.status_code == 429
    assert "登录失败次数过多" in response.text


async def test_a_login_without_the_csrf_token_is_refused(lite_desk: Desk) -> None:
    add_staff(lite_desk.engine, "li", "agent")
    await lite_desk.client.get("/desk/login")
    response = await lite_desk.client.post("/desk/login", data={"username": "li", "password": PASSWORD})
    assert response.status_code == 403


async def test_a_forged_csrf_token_is_refused_on_an_action(lite_desk: Desk) -> None:
    number = await lite_desk.complaint()
    add_staff(lite_desk.engine, "li", "agent")
    await lite_desk.login("li")
    response = await lite_desk.client.post(
        f"/desk/tickets/{number}/status", data={"status": "已受理", "csrf_token": "forged-token"}
    )
    assert response.status_code == 403
    with lite_desk.engine.connect() as conn:
        assert conn.execute(select(Ticket.status).where(Ticket.number == number)).scalar_one() == "新建"


async def test_a_missing_csrf_token_is_refused_on_an_action(lite_desk: Desk) -> None:
    number = await lite_desk.complaint()
    add_staff(lite_desk.engine, "li", "agent")
    await lite_desk.login("li")
    response = await lite_desk.client.post(f"/desk/tickets/{number}/reply", data={"text": "您好"})
    assert response.status_code == 403
    assert lite_desk.wechat.sent == []


async def test_a_viewer_reads_but_cannot_change_a_ticket(lite_desk: Desk) -> None:
    number = await lite_desk.complaint()
    add_staff(lite_desk.engine, "zhao", "viewer")
    await lite_desk.login("zhao")
    page = await lite_desk.client.get(f"/desk/tickets/{number}")
    assert page.status_code == 200
    assert "13812345678" not in page.text and "138****5678" in page.text  # personal data stays masked
    assert "status-form" not in page.text
    attempts = (("status", {"status": "已办结"}), ("reply", {"text": "您好"}), ("assign", {"assignee": "me"}))
    for action, fields in attempts:
        response = await lite_desk.client.post(
            f"/desk/tickets/{number}/{action}", data={**fields, "csrf_token": csrf_of(page.text)}
        )
        assert response.status_code == 403, action
    with lite_desk.engine.connect() as conn:
        assert conn.execute(select(Ticket.status).where(Ticket.number == number)).scalar_one() == "新建"
    assert lite_desk.wechat.sent == []


@pytest.mark.parametrize("role", ["viewer", "agent"])
async def test_only_admins_see_the_audit_log_and_export(lite_desk: Desk, role: str) -> None:
    add_staff(lite_desk.engine, "qian", role)
    await lite_desk.login("qian")
    assert (await lite_desk.client.get("/desk/audit")).status_code == 403
    assert (await lite_desk.client.get("/desk/tickets.csv")).status_code == 403


async def test_a_disabled_user_is_logged_out_at_the_next_request(lite_desk: Desk) -> None:
    add_staff(lite_desk.engine, "sun", "agent")
    await lite_desk.login("sun")
    assert (await lite_desk.client.get("/desk/")).status_code == 200
    staff.disable(lite_desk.engine, "sun")
    response = await lite_desk.client.get("/desk/")
    assert response.status_code == 303 and response.headers["location"] == "/desk/login"
    assert (await lite_desk.login("sun")).status_code == 401


async def test_a_password_change_ends_existing_sessions(lite_desk: Desk) -> None:
    add_staff(lite_desk.engine, "sun", "agent")
    await lite_desk.login("sun")
    staff.set_password(lite_desk.engine, "sun", "another-long-password")
    assert (await lite_desk.client.get("/desk/")).status_code == 303


async def test_a_tampered_cookie_is_no_session(lite_desk: Desk) -> None:
    add_staff(lite_desk.engine, "sun", "agent")
    await lite_desk.login("sun")
    value = lite_desk.client.cookies[COOKIE]
    lite_desk.client.cookies.clear()
    lite_desk.client.cookies.set(COOKIE, value[:-3] + "AAA", domain="testserver.local")
    assert (await lite_desk.client.get("/desk/")).status_code == 303


def test_an_idle_session_expires() -> None:
    codec = SessionCodec("secret", idle_s=1)
    from app.desk.auth import DeskSession

    token = codec.encode(DeskSession(csrf="c", staff_id=1, version=1, login_at=0))
    # itsdangerous timestamps are whole seconds; a token issued long ago is refused.
    import time as _time
    from unittest import mock

    with mock.patch("itsdangerous.timed.time.time", return_value=_time.time() + 5):
        assert codec.decode(token) is None


async def test_logout_ends_the_session(lite_desk: Desk) -> None:
    add_staff(lite_desk.engine, "sun", "agent")
    await lite_desk.login("sun")
    page = await lite_desk.client.get("/desk/")
    response = await lite_desk.client.post("/desk/logout", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303
    assert (await lite_desk.client.get("/desk/")).status_code == 303


async def test_the_ops_dashboard_accepts_an_admin_session(lite_desk: Desk) -> None:
    add_staff(lite_desk.engine, "boss", "admin")
    add_staff(lite_desk.engine, "li", "agent")
    assert (await lite_desk.client.get("/ops")).status_code == 401
    await lite_desk.login("li")
    assert (await lite_desk.client.get("/ops")).status_code == 401
    await lite_desk.login("boss")
    assert (await lite_desk.client.get("/ops")).status_code == 200


async def test_an_admin_session_posts_to_admin_endpoints_only_with_its_csrf_header(lite_desk: Desk) -> None:
    add_staff(lite_desk.engine, "boss", "admin")
    await lite_desk.login("boss")
    assert (await lite_desk.client.post("/admin/reload")).status_code == 401
    token = csrf_of((await lite_desk.client.get("/desk/")).text)
    assert (await lite_desk.client.post("/admin/reload", headers={"X-CSRF-Token": token})).status_code == 200
