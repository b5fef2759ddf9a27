"""Run the alembic migrations from code (`wxbot db upgrade`, tests, container start).

The migration scripts live in `migrations/` at the repository root. This module finds them
whether wxbot runs from a checkout, an editable install, or a container whose working
directory holds the repository, so neither the working directory nor alembic.ini matters.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

import app

MIGRATIONS_ENV = "WXBOT_MIGRATIONS_DIR"


class MigrationsNotFound(Exception):
    """No migrations directory was found; the message lists where we looked."""


def find_migrations() -> Path:
    candidates: list[Path] = []
    if override := os.environ.get(MIGRATIONS_ENV):
        candidates.append(Path(override))
    # Next to the `app` package: a checkout or an editable install.
    candidates.append(Path(app.__file__).resolve().parent.parent / "migrations")
    candidates.append(Path.cwd() / "migrations")
    for candidate in candidates:
        if (candidate / "env.py").is_file():
            return candidate.resolve()
    looked = ", ".join(str(c) for c in candidates)
    raise MigrationsNotFound(f"no alembic migrations found (looked in {looked}); set {MIGRATIONS_ENV}")


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(find_migrations()))
    if url:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def include_for(dialect: str) -> Callable[..., bool]:
    """Autogenerate's `include_object` for `dialect`: leaves out what the models create on
    other dialects only (`Index(...).ddl_if(dialect=...)`), which alembic does not check."""

    def include(obj: Any, _name: str | None, _type: str, _reflected: bool, _compare_to: Any) -> bool:
        # `_ddl_if` is where SQLAlchemy keeps the ddl_if() condition; it has no public reader.
        condition = getattr(obj, "_ddl_if", None)
        if condition is None or condition.dialect is None:
            return True
        wanted = condition.dialect
        return dialect == wanted if isinstance(wanted, str) else dialect in wanted

    return include
