"""Fixtures for the fault tests: private servers to break, and the real service wired to them."""

from __future__ import annotations

import json
import os
import pwd
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.db.engine import make_engine
from app.db.migrate import upgrade
from tests.conftest import server_missing
from tests.db.fixtures import database, postgres_url  # noqa: F401  (fixtures for fault tests on both databases)
from tests.fakes.fake_wechat import FakeWeChat
from tests.faults.servers import FlowBackend, PausableRedis, PostgresServer, postgres_bindir
from tests.faults.service import Service, Wire
from tests.stores.conftest import running_redis

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def redis_server() -> Iterator[PausableRedis]:
    yield from running_redis(PausableRedis)


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster: stopping it cannot disturb CI's shared server."""
    bindir = postgres_bindir()
    if bindir is None:
        server_missing("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            server_missing("running as root without a `postgres` user to own a private cluster")
    server = PostgresServer(bindir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()


@dataclass
class Desk:
    """The service as a small desk: its own knowledge and flows (files the tests may edit), two
    flow backends behind one switchable server, and the fake WeChat for late replies."""

    service: Service
    backend: FlowBackend
    wechat: FakeWeChat
    knowledge_dir: Path
    flows_dir: Path
    database_url: str
    deadline_s: float


@pytest.fixture(scope="package")
def desk_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """One service for the reload and backend tests: starting one costs seconds."""
    root = tmp_path_factory.mktemp("desk")
    shutil.copytree(DATA / "knowledge", root / "knowledge")
    shutil.copytree(DATA / "flows", root / "flows")
    database_url = f"sqlite:///{root / 'wxbot.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    backend = FlowBackend().start()
    # Short deadline and timeouts keep the waits short; the rules they test are the same.
    deadline_s = 2.0
    endpoints = {
        # Gives up before the deadline: a slow backend is answered in the callback.
        "progress": {"url": backend.url("/progress"), "timeout": 1.0},
        # Outlives the deadline: a slow answer goes out late.
        "archive": {"url": backend.url("/archive"), "timeout": 4.0},
    }
    with FakeWeChat() as wechat:
        service = Service(
            {
                "DATABASE_URL": database_url,
                "KNOWLEDGE_DIR": str(root / "knowledge"),
                "FLOWS_DIR": str(root / "flows"),
                "REPLY_DEADLINE_S": str(deadline_s),
                "FLOW_ENDPOINTS": json.dumps(endpoints),
                "WECHAT_APPID": wechat.appid,
                "WECHAT_APPSECRET": wechat.secret,
                "WECHAT_API_BASE": wechat.url,
            },
            root,
        )
        try:
            service.start()
            yield Desk(service, backend, wechat, root / "knowledge", root / "flows", database_url, deadline_s)
        finally:
            service.stop()
            backend.stop()


@pytest.fixture
def desk(desk_service: Desk) -> Desk:
    desk_service.backend.reset()
    desk_service.wechat.reset()
    return desk_service


@pytest.fixture
def wire(desk: Desk) -> Iterator[Wire]:
    client = Wire(desk.service.base)
    yield client
    client.close()
