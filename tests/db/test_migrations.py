from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from app.db import migrate
from app.db.engine import make_engine
from app.db.models import Base


def test_upgrade_creates_the_schema_the_models_describe(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": migrate.include_for(conn.dialect.name)})
        assert compare_metadata(context, Base.metadata) == []


def test_the_user_index_is_on_postgresql_only(engine: Engine) -> None:
    indexes = {index["name"] for index in inspect(engine).get_indexes("turns")}
    assert ("ix_turns_user_id" in indexes) == (engine.dialect.name == "postgresql")
    assert "ix_turns_received_at" in indexes


def _head() -> str | None:
    return ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


def test_migrations_form_one_chain() -> None:
    # Two migrations written on parallel branches must be relinked, not left as two heads.
    assert len(ScriptDirectory.from_config(migrate.alembic_config()).get_heads()) == 1


def test_upgrade_records_the_head_revision(engine: Engine) -> None:
    assert migrate.current_revision(engine) == _head()


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == _head()


def test_downgrade_to_base_drops_every_table(engine: Engine) -> None:
    config = migrate.alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}


def test_migrations_are_found_from_any_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(migrate.MIGRATIONS_ENV, raising=False)
    engine = make_engine(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    migrate.upgrade(engine)
    assert "turns" in inspect(engine).get_table_names()
    engine.dispose()


def test_migrations_dir_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(migrate.MIGRATIONS_ENV, str(tmp_path / "nowhere"))
    real = migrate.find_migrations()
    monkeypatch.setenv(migrate.MIGRATIONS_ENV, str(real))
    assert migrate.find_migrations() == real


def test_missing_migrations_name_every_place_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(migrate.MIGRATIONS_ENV, str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(migrate.app, "__file__", str(tmp_path / "pkg" / "app" / "__init__.py"))
    with pytest.raises(migrate.MigrationsNotFound, match="nowhere"):
        migrate.find_migrations()


def test_0005_turns_open_tickets_into_new_ones_with_their_kind_category_and_phone(tmp_path: Path) -> None:
    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(engine, "0004")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO tickets (number, created_at, flow_id, openid, fields, status, account) VALUES "
            "('20261101-0001', '2026-11-01 01:00:00', 'complaint', 'o1', "
            "'{\"问题类别\": \"服务态度\", \"联系电话\": \"138 1234 5678\"}', 'open', 'default'),"
            "('20261101-0002', '2026-11-01 01:00:00', 'booking', 'o2', "
            "'{\"办理业务\": \"社保卡办理\"}', 'open', 'default'),"
            "('20261101-0003', '2026-11-01 01:00:00', 'complaint', 'o3', '{}', 'open', 'default')"
        ))
    migrate.upgrade(engine, "0005")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, kind, category, phone FROM tickets ORDER BY number")).all()
    assert [tuple(r) for r in rows] == [
        ("新建", "投诉", "服务态度", "13812345678"),
        ("新建", "预约", "社保卡办理", ""),
        ("新建", "投诉", "", ""),
    ]
    engine.dispose()
