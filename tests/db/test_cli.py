from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner

from app.cli import app
from app.db.engine import make_engine
from app.db.migrate import alembic_config
from app.db.models import TurnRow
from app.turnlog.rows import to_row
from app.turnlog.store import insert_rows
from tests.turnlog.records import record

runner = CliRunner()


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no stray .env, and migrations must still be found
    return url


def test_db_upgrade_creates_the_tables(db_url: str) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert f"revision {head}" in result.output
    engine = make_engine(db_url)
    assert {"turns", "tickets", "ticket_counters", "turn_erasures"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_db_purge_deletes_rows_before_local_midnight_of_the_date(db_url: str) -> None:
    runner.invoke(app, ["db", "upgrade"])
    engine = make_engine(db_url)
    # 2026-11-25 15:59 UTC is 23:59 on the 25th in Shanghai; 16:00 UTC is the 26th.
    times = [datetime(2026, 11, 25, 15, 59, tzinfo=UTC), datetime(2026, 11, 25, 16, 0, tzinfo=UTC)]
    insert_rows(engine, [to_row(f"r{i}", record(i, received_at=t), b"k") for i, t in enumerate(times)])
    result = runner.invoke(app, ["db", "purge", "--before", "2026-11-26"])
    assert result.exit_code == 0, result.output
    assert "deleted 1 turn rows" in result.output
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(TurnRow)).scalar_one() == 1
    engine.dispose()


def test_db_purge_refuses_a_date_it_cannot_read(db_url: str) -> None:
    result = runner.invoke(app, ["db", "purge", "--before", "last tuesday"])
    assert result.exit_code == 2
    assert "不是日期" in result.output
