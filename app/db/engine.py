"""Engine factory: one place that knows how each backend should be connected to.

SQLite is the single-host default (WAL, a busy timeout so several workers can share the file);
PostgreSQL is for several hosts. URLs without a driver get psycopg 3, the driver we ship.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

# How long a SQLite writer waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 15.0
PG_CONNECT_TIMEOUT_S = 5


def normalise_url(url: str) -> str:
    """`postgres://…` and `postgresql://…` → psycopg 3; everything else unchanged."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S, **kwargs: Any) -> Engine:
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        if parsed.get_driver_name() == "psycopg" and "connect_timeout" not in parsed.query:
            # An unreachable host would otherwise hold the turn-log writer for minutes (TCP
            # timeouts) instead of letting it spool and move on.
            kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", PG_CONNECT_TIMEOUT_S)
        return create_engine(parsed, **kwargs)

    if "timeout" in parsed.query:
        # `sqlite:///x.db?timeout=0.5`: the URL carries the busy timeout, so another process
        # given the same URL (the turn-log writer) behaves the same.
        busy_timeout_s = float(parsed.query["timeout"])  # type: ignore[arg-type]
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    connect_args: dict[str, Any] = {"check_same_thread": False}
    if "timeout" not in parsed.query:
        connect_args["timeout"] = busy_timeout_s
    if in_memory:
        # One shared connection, or every thread would see its own empty database.
        kwargs.setdefault("poolclass", StaticPool)
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not in_memory:
            # Readers don't block the writer; several workers can share one file.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.close()

    return engine
