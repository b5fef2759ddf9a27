"""Where a worker's reply-path writes run: one writer per worker on SQLite, the thread pool elsewhere.

A ticket, a booking, a topic offer or a subscription is written while a citizen waits for the
reply. On a SQLite file every such write needs the file's one write lock, which the turn-log
writer (its helper process) and other workers want too. Written from the default thread pool,
up to six turns at once queued on that lock through SQLite's sleeping busy handler and lost it
to one another and to the turn log again and again: ticket inserts took up to 0.7 s under
`bench/callback.py` (docs/reliability.md, "Reply-path writes on SQLite").

So on a SQLite file the writes of a worker run one at a time on one thread, each in a
transaction that takes the lock up front (`BEGIN IMMEDIATE`, polled every 0.5–2 ms: see
`app.db.engine.writer_engine`). Within the worker they wait their turn in order instead of
racing for the lock; against other processes they take it within a couple of milliseconds of its
release. A write's own statements then never wait for a lock: the transaction holds it.

On PostgreSQL (row locks, no file lock) nothing changes: the writes run on the default thread
pool with the worker's engine, as before. An in-memory SQLite database (tests) also keeps the
thread pool: it has one shared connection and no other process.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine

from app.db.engine import is_sqlite_file, writer_engine

P = ParamSpec("P")
T = TypeVar("T")


class Writes:
    """Runs blocking write functions `fn(engine, …)` off the event loop (see the module's docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.serial = is_sqlite_file(engine)
        # Writes get the writer engine; reads stay on `engine` (a WAL read never waits for the lock).
        self.engine = writer_engine(engine) if self.serial else engine
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="db-writer") if self.serial else None

    async def run(self, fn: Callable[Concatenate[Engine, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(engine, *args, **kwargs)` in a thread; on SQLite, after the writes queued before it."""
        if self._executor is None:
            return await asyncio.to_thread(fn, self.engine, *args, **kwargs)
        # As asyncio.to_thread does: the function sees the turn's context (log fields).
        call = functools.partial(contextvars.copy_context().run, fn, self.engine, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        """Finish the writes queued, then release the writer's connection."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self.engine.dispose()
