"""The admin token travels in a header, except for reading the dashboard (issue 15).

A token in a query string ends up in proxy logs, browser history and Referer headers, so only
`GET /ops` (a page opened from a bookmark) accepts `?token=`, and trades it at once for a cookie
scoped to /ops; everything else, `POST /admin/reload` included, needs `Authorization: Bearer`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.deps import ops_cookie
from app.settings import DEV_ADMIN_TOKEN
from tests.app.conftest import Harness, HarnessFactory

BEARER = {"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}


@pytest.fixture
async def harness(harness_factory: HarnessFactory, tmp_path: Path) -> Harness:
    url = f"sqlite:///{tmp_path / 'wxbot.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    made: Harness = await harness_factory(database_url=url)
    return made


async def test_reload_refuses_a_token_in_the_query_string(harness: Harness) -> None:
    response = await harness.client.post("/admin/reload", params={"token": DEV_ADMIN_TOKEN})
    assert response.status_code == 401
    assert (await harness.client.post("/admin/reload", headers=BEARER)).status_code == 200


async def test_session_lookup_refuses_a_token_in_the_query_string(harness: Harness) -> None:
    response = await harness.client.get("/admin/sessions/nobody", params={"token": DEV_ADMIN_TOKEN})
    assert response.status_code == 401


async def test_the_dashboard_takes_the_query_token_once_then_its_cookie(harness: Harness) -> None:
    first = await harness.client.get("/ops", params={"token": DEV_ADMIN_TOKEN, "days": "7"})
    assert first.status_code == 303 and "token" not in first.headers["location"]
    cookie = first.cookies.get("wxbot_ops")
    assert cookie == ops_cookie(DEV_ADMIN_TOKEN)
    page = await harness.client.get("/ops", params={"days": "7"}, headers={"Cookie": f"wxbot_ops={cookie}"})
    assert page.status_code == 200
    assert DEV_ADMIN_TOKEN not in page.text
    forged = await harness.client.get("/ops", headers={"Cookie": "wxbot_ops=" + "0" * 64})
    assert forged.status_code == 401


async def test_the_ops_cookie_opens_nothing_but_the_dashboard(harness: Harness) -> None:
    cookie = {"Cookie": f"wxbot_ops={ops_cookie(DEV_ADMIN_TOKEN)}"}
    assert (await harness.client.post("/admin/reload", headers=cookie)).status_code == 401
