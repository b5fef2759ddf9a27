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
# The turn-log writer's SQLite page cache (KiB; filled only as pages are used) and the WAL
# size, in pages, at which it checkpoints (the default is 1000).
BULK_WRITER_CACHE_KIB = 32_768
BULK_WRITER_WAL_PAGES = 10_000


def normalise_url(url: str) -> str:
    """`postgres://…` and `postgresql://…` → psycopg 3; everything else unchanged."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(
    url: str, *, busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S, bulk_writer: bool = False, **kwargs: Any
) -> Engine:
    """An engine for `url`. `bulk_writer` (the turn-log writer): SQLite connections keep a larger
    page cache and checkpoint the WAL less often, see `_sqlite_pragmas`."""
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
            if bulk_writer:
                # Every turn row lands on a random page of the user index. With the default 2 MB
                # cache those pages were read back from the OS on most inserts, and a checkpoint
                # every 1000 WAL pages (about two transactions) wrote them out again: at 100k
                # rows, insert + commit took about 30 µs per row instead of 14.
                cursor.execute(f"PRAGMA cache_size=-{BULK_WRITER_CACHE_KIB}")
                cursor.execute(f"PRAGMA wal_autocheckpoint={BULK_WRITER_WAL_PAGES}")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.close()

    return engine
