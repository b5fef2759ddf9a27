"""Database fixtures: a migrated engine on SQLite always, and on PostgreSQL when TEST_POSTGRES_URL is set.

Each PostgreSQL test gets its own schema (via `search_path`), so tests can share the CI
server, run in any order, and leave nothing behind. Import the fixtures into a conftest.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from app.db.engine import make_engine, normalise_url
from app.db.migrate import upgrade
from tests.conftest import server_missing


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        server_missing("TEST_POSTGRES_URL is not set")
    probe = create_engine(normalise_url(url), connect_args={"connect_timeout": 3})
    try:
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        server_missing(f"PostgreSQL at TEST_POSTGRES_URL is unreachable: {type(exc).__name__}")
    finally:
        probe.dispose()
    return normalise_url(url)


def with_schema(url: str, schema: str) -> str:
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


class Database:
    """A database URL for one test: a SQLite file or a private PostgreSQL schema."""

    def __init__(self, url: str, backend: str) -> None:
        self.url = url
        self.backend = backend


@contextmanager
def private_schema(base: str) -> Iterator[Database]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Database(with_schema(base, schema), "postgres")
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database(f"sqlite:///{tmp_path / 'wxbot.db'}", "sqlite")
        return
    with private_schema(request.getfixturevalue("postgres_url")) as db:
        yield db


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[Database]:
    """PostgreSQL only (a private schema), for tests of PostgreSQL behaviour."""
    with private_schema(postgres_url) as db:
        yield db


@pytest.fixture
def engine(database: Database) -> Iterator[Engine]:
    """A migrated engine (alembic head) on each backend."""
    eng = make_engine(database.url)
    upgrade(eng)
    yield eng
    eng.dispose()
