"""Engine factory: one place that knows how each backend should be connected to.

SQLite is the single-host default (WAL, a busy timeout so several workers can share the file);
PostgreSQL is for several hosts. URLs without a driver get psycopg 3, the driver we ship.

A SQLite file has one write lock. Writers that must not wait long for it (the reply path's
tickets and bookings, the turn-log writer) use a *writer engine* (`writer_engine`): every
transaction takes the lock up front with `BEGIN IMMEDIATE`, polling for it every millisecond or
two. SQLite's own busy handler sleeps 1, 2, 5, … up to 100 ms between tries, so under steady
writing a waiter kept missing the moments the lock was free and lost it again and again: ticket
inserts waited up to 0.7 s behind the turn log's and the topic offers' batches
(docs/reliability.md, "Reply-path writes on SQLite").
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

# How long a SQLite writer waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 15.0
PG_CONNECT_TIMEOUT_S = 5
# A writer engine's pauses between tries for the write lock: short, so the lock is taken soon
# after it is freed (another writer's next transaction is usually a few milliseconds away).
LOCK_POLL_FIRST_S = 0.0005
LOCK_POLL_MAX_S = 0.002
_BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"
# A writer engine's wait for the lock after a whole busy timeout went by without it.
STUCK_WAIT_S = 0.5
# The busy timeout each SQLite file engine was made with, so its writer engine waits as long.
_BUSY_TIMEOUTS: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()


def normalise_url(url: str) -> str:
    """`postgres://…` and `postgresql://…` → psycopg 3; everything else unchanged."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(
    url: str, *, busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S, immediate: bool = False, **kwargs: Any
) -> Engine:
    """An engine for `url`. `immediate` (SQLite files only, see the module's docstring): every
    transaction begins with `BEGIN IMMEDIATE`, waiting for the write lock by short polls up to the
    busy timeout; for engines that only write, since a read-only transaction takes the lock too."""
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
    immediate = immediate and not in_memory
    if not in_memory:
        _BUSY_TIMEOUTS[engine] = busy_timeout_s

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not in_memory:
            # Readers don't block the writer; several workers can share one file.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        # A writer engine polls for the lock itself (_begin_immediate); nothing else it runs
        # waits for a lock once its transaction holds it.
        cursor.execute(f"PRAGMA busy_timeout={0 if immediate else int(busy_timeout_s * 1000)}")
        cursor.close()
        if immediate:
            # The driver must not open transactions itself (a deferred BEGIN before the first
            # write); SQLAlchemy's "begin" below does (its documented pysqlite recipe).
            dbapi_connection.isolation_level = None

    if immediate:
        # Set while the lock could not be had for a whole busy timeout and nothing got it since
        # (another process holding it for long: a backup, a big purge): each write then tries
        # only briefly, so the writes queued behind one (app.db.writes runs them one at a time)
        # fail in turn instead of waiting a busy timeout each. Cleared by the next write that
        # gets the lock.
        stuck = threading.Event()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            wait = min(busy_timeout_s, STUCK_WAIT_S) if stuck.is_set() else busy_timeout_s
            try:
                _begin_immediate(conn.connection.dbapi_connection, wait)
            except DBAPIError as exc:
                if is_busy(exc.orig):
                    stuck.set()
                raise
            stuck.clear()

    return engine


def is_sqlite_file(engine: Engine) -> bool:
    return engine in _BUSY_TIMEOUTS


def writer_engine(engine: Engine) -> Engine:
    """A writer engine (`immediate`) for the same SQLite file as `engine`, with its busy timeout."""
    if not is_sqlite_file(engine):
        raise ValueError("writer engines are for SQLite files")
    return make_engine(engine.url.render_as_string(hide_password=False), busy_timeout_s=_BUSY_TIMEOUTS[engine],
                       immediate=True)


def reader_engine(engine: Engine) -> Engine:
    """An engine for the same SQLite file as `engine` whose reads never wait for a lock (busy
    timeout 0: SQLite says "database is locked" at once instead): for reads on the event loop."""
    if not is_sqlite_file(engine):
        raise ValueError("reader engines are for SQLite files")
    # Without the URL's own busy timeout (`?timeout=`), which would take precedence.
    url = engine.url.difference_update_query(["timeout"])
    return make_engine(url.render_as_string(hide_password=False), busy_timeout_s=0)


def _begin_immediate(dbapi_connection: Any, timeout_s: float) -> None:
    """`BEGIN IMMEDIATE`, trying again after a short pause while another connection holds the
    write lock, for up to `timeout_s`; then "database is locked", as the busy handler would."""
    deadline = time.monotonic() + timeout_s
    pause = LOCK_POLL_FIRST_S
    while True:
        try:
            dbapi_connection.execute(_BEGIN_IMMEDIATE)
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise DBAPIError.instance(_BEGIN_IMMEDIATE, (), exc, sqlite3.Error) from exc
        time.sleep(pause)
        pause = min(pause * 2, LOCK_POLL_MAX_S)


def is_busy(error: BaseException | None) -> bool:
    """Whether a driver error is SQLite's "database is locked" (another connection has the lock)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
