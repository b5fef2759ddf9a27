"""Alembic environment: migrates the database the settings (or the caller) point at.

`wxbot db upgrade` passes an open connection in `config.attributes["connection"]`; the plain
`alembic` command builds an engine from `-x url=…`, `sqlalchemy.url`, or DATABASE_URL.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from app.db.engine import make_engine
from app.db.migrate import include_for
from app.db.models import Base

config = context.config
target_metadata = Base.metadata

# Only the alembic command line configures logging; called from wxbot, the app's logging stays.
if config.cmd_opts is not None and config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from app.settings import Settings

    return Settings().database_url


def _run(connection: Connection) -> None:
    # Batch mode lets later migrations ALTER tables on SQLite (which cannot drop columns in place).
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      include_object=include_for(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
