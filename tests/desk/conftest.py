"""A desk on a migrated database (SQLite file, and PostgreSQL where the test asks for it),
the callback in the same app, and the fake WeChat API behind the notifier.

Turns go straight into the turn log table (a synchronous sink), so the desk reads the
conversation and the 48-hour window from real rows.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.deps import Resources
from app.desk import staff
from app.late import RecordingLateSender
from app.main import build_resources, create_app
from app.settings import Settings
from app.turnlog.record import TurnRecord
from app.turnlog.rows import to_row
from app.turnlog.store import insert_rows
from app.wechat.crypto import MessageCrypto
from app.wechat.simulator import Simulator
from tests.db.fixtures import Database, database, engine, postgres_url, private_schema
from tests.fakes.fake_wechat import FakeWeChat

__all__ = ["database", "engine", "postgres_url"]  # fixtures, re-exported for the desk tests

PASSWORD = "correct-horse-battery"
PSEUDONYM_KEY = "desk-test-pseudonym-key"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_REQUEST_KEY = re.compile(r'name="request_key" value="([^"]+)"')


class TableSink:
    """Every turn into the `turns` table at once, masked and pseudonymised like the writer does."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def submit(self, record: TurnRecord) -> None:
        insert_rows(self.engine, [to_row(uuid.uuid4().hex, record, PSEUDONYM_KEY.encode())])


@dataclass
class Desk:
    client: httpx.AsyncClient
    sim: Simulator
    resources: Resources
    engine: Engine
    wechat: FakeWeChat

    async def say(self, openid: str, text: str) -> str:
        delivery = self.sim.deliver(self.sim.text(openid, text))
        response = await self.client.post("/wechat", params=delivery.params, content=delivery.body)
        assert response.status_code == 200, response.text
        return self.sim.read_reply(response.text, delivery.params["nonce"]).get("Content", "")

    async def complaint(self, openid: str = "o-citizen-1") -> str:
        """A citizen files a complaint over the signed callback; the ticket number."""
        await self.say(openid, "我要投诉")
        reply = await self.say(openid, "三号窗口的工作人员态度很差，让我来回跑了三趟，电话13812345678")
        found = re.search(r"编号：(\d{8}-\d{4})", reply)
        assert found, reply
        return found.group(1)

    async def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        """Log in afresh as `username` (a new browser: no cookies from an earlier login)."""
        self.client.cookies.clear()
        page = await self.client.get("/desk/login")
        return await self.client.post(
            "/desk/login", data={"username": username, "password": password, "csrf_token": csrf_of(page.text)}
        )

    async def form(self, path: str, page_path: str, **fields: str) -> httpx.Response:
        """Submit a form the way a browser does: with the tokens of the page it is on."""
        page = await self.client.get(page_path)
        assert page.status_code == 200, page.status_code
        data = {"csrf_token": csrf_of(page.text), **fields}
        key = _REQUEST_KEY.search(page.text)
        if key and "request_key" not in fields:
            data["request_key"] = key.group(1)
        return await self.client.post(path, data=data)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def add_staff(engine: Engine, username: str, role: str, **kwargs: Any) -> staff.Staff:
    return staff.add(engine, username, role, PASSWORD, **kwargs)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def desk_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database(f"sqlite:///{tmp_path / 'desk.db'}", "sqlite")
        return
    with private_schema(request.getfixturevalue("postgres_url")) as db:
        yield db


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'desk.db'}", "sqlite")


async def make_desk(db: Database, wechat: FakeWeChat, tmp_path: Path, **overrides: Any) -> AsyncIterator[Desk]:
    engine = make_engine(db.url)
    upgrade(engine)
    values: dict[str, Any] = {
        "app_env": "dev",
        "redis_url": None,
        "database_url": db.url,
        "wechat_appid": wechat.appid,
        "wechat_appsecret": wechat.secret,
        "wechat_api_base": wechat.url,
        "pseudonym_key": PSEUDONYM_KEY,
        "service_hours": "",  # agents always available: hand-off tests pick their own hours
        "turnlog_spool_dir": tmp_path / "spool",
    }
    values.update(overrides)
    settings = Settings(**values)
    resources = build_resources(settings, late_sender=RecordingLateSender(), sink=TableSink(engine), engine=engine)
    app = create_app(settings, resources=resources)
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        token = settings.wechat_token.get_secret_value()
        crypto = MessageCrypto(token, settings.wechat_aes_key.get_secret_value(), settings.wechat_appid)
        try:
            yield Desk(client, Simulator(token, settings.wechat_encrypt_mode, crypto), resources, engine, wechat)
        finally:
            await client.aclose()
    engine.dispose()


@pytest.fixture
async def desk(desk_db: Database, wechat: FakeWeChat, tmp_path: Path) -> AsyncIterator[Desk]:
    async for d in make_desk(desk_db, wechat, tmp_path):
        yield d


@pytest.fixture
async def lite_desk(sqlite_db: Database, wechat: FakeWeChat, tmp_path: Path) -> AsyncIterator[Desk]:
    """SQLite only: for the many role and form checks that do not depend on the backend."""
    async for d in make_desk(sqlite_db, wechat, tmp_path):
        yield d
