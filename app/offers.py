"""The one-time topic offer after an FAQ answer (issue 19), decided without a write on the reply path.

An offer used to be an INSERT … ON CONFLICT DO NOTHING awaited by the turn: on SQLite (the
default) every FAQ answer in a topic then wanted the file's single write lock, against the other
turns' offers in the thread pool and the turn-log writer's batches in its helper process. SQLite's
busy handler waits for the lock by sleeping with growing pauses (up to 100 ms each), so some
offers waited 0.1–1.6 s, and their replies with them: p99 of bench/callback.py at c=16 was
300–900 ms instead of ~40 ms (docs/reliability.md, "The p99 stall").

Now the turn only reads whether the citizen already has a row for the topic (a WAL read never
waits for a writer; the turns asking at the same time share one query) and the offers decided are
stored by one background writer, several per transaction. Offers decided but not yet stored are
remembered here, so a second answer in the same topic meanwhile does not offer it again. What is
given up: two workers answering the same citizen in the same topic at the same instant may both
offer it, and offers still unstored when the worker stops with the database down are lost
(logged), so they may be made once more later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from app.background import Background
from app.db import subscriptions
from app.db.engine import is_busy, is_sqlite_file, reader_engine
from app.db.writes import Writes

log = logging.getLogger("wxbot.offers")

# (account, openid, topic)
OfferKey = tuple[str, str, str]

# Offers decided and not yet stored, at most: with the database stalled or down for long, further
# offers are not made rather than remembered without bound.
MAX_PENDING = 10_000
# Pause before trying again to store offers the database refused (locked past its busy timeout, down).
RETRY_S = 1.0
# Offers are stored at most this often: one transaction (one thread hand-off, one turn at the
# write lock) for all decided meanwhile, which wait in `_pending`.
WRITE_INTERVAL_S = 0.1
# Citizens and topics known to have a row, at most (by hash: ~100 bytes each). Rows are never
# deleted, so what is known stays true and a later answer in the topic needs no read; a hash
# collision only means an offer not made.
KNOWN_MAX = 20_000


class TopicOffers(Background):
    """Decides offers by a read and stores them in the background; shared by every account of a worker."""

    task_name = "topic-offers"

    def __init__(self, engine: Engine, *, writes: Writes | None = None) -> None:
        super().__init__()
        self.engine = engine
        # The worker's one writer (app.db.writes), or one of our own for a standalone use.
        self._owns_writes = writes is None
        self.writes = writes if writes is not None else Writes(engine)
        # Reads on the event loop (see _existing): SQLite files only, never waiting for a lock.
        self._inline = reader_engine(engine) if is_sqlite_file(engine) else None
        self._pending: dict[OfferKey, None] = {}
        # Turns waiting to know whether a row exists, answered together by one reader task.
        self._asked: dict[OfferKey, asyncio.Future[bool | BaseException]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._known: OrderedDict[int, None] = OrderedDict()
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def offer(self, account: str, openid: str, topic: str) -> bool:
        """True only the first time for this citizen and topic (see the module's docstring).

        Raises SQLAlchemyError when the database cannot be read; the caller makes no offer then."""
        key = (account, openid, topic)
        if key in self._pending or hash(key) in self._known or len(self._pending) >= MAX_PENDING:
            return False
        if await self._has_row(key):
            self._remember([key])
            return False
        if key in self._pending:  # another turn of the same citizen decided it during the read
            return False
        self._pending[key] = None
        self.start()
        self._wake.set()
        return True

    def _remember(self, keys: list[OfferKey]) -> None:
        for key in keys:
            self._known[hash(key)] = None
        while len(self._known) > KNOWN_MAX:
            self._known.popitem(last=False)

    async def _has_row(self, key: OfferKey) -> bool:
        """Whether the citizen has a row for the topic. The turns asking meanwhile are answered by
        one query: on a busy worker each read in a thread of its own cost as much CPU as a tenth
        of the turn, most of it in handing the GIL back and forth (py-spy, bench/callback.py)."""
        answer = self._asked.get(key)
        if answer is None:
            answer = self._asked[key] = asyncio.get_running_loop().create_future()
            if self._reader is None:
                self._reader = asyncio.get_running_loop().create_task(self._read(), name="topic-offers-read")
        # Shielded: a turn given up (its deadline) must not cancel the answer others wait for.
        found = await asyncio.shield(answer)
        if isinstance(found, BaseException):
            raise found
        return found

    async def _read(self) -> None:
        try:
            while self._asked:
                asked, self._asked = self._asked, {}
                found: set[OfferKey] | BaseException
                try:
                    found = await self._existing(list(asked))
                except Exception as exc:  # every turn waiting hears of it (and makes no offer)
                    found = exc
                for key, answer in asked.items():
                    if not answer.done():
                        answer.set_result(found if isinstance(found, BaseException) else key in found)
        finally:
            self._reader = None

    async def _existing(self, keys: list[OfferKey]) -> set[OfferKey]:
        """`subscriptions.existing`. On a SQLite file it is read here, on the event loop, through
        a connection that never waits for a lock: a read of a few index rows costs less than the
        hand-off to a thread and back (~6% of a worker's CPU under bench/callback.py, py-spy), and
        in WAL mode a read does not wait for writers. In the rare case SQLite says busy (a
        checkpoint resetting the log, a crashed writer's recovery) it is read on a thread."""
        if self._inline is not None:
            try:
                return subscriptions.existing(self._inline, keys)
            except OperationalError as exc:
                if not is_busy(exc.orig):
                    raise
        return await asyncio.to_thread(subscriptions.existing, self.engine, keys)

    async def _run(self) -> None:
        while not self._closing.is_set():
            await self._wake.wait()
            self._wake.clear()
            stored = await self.flush()
            # Refused offers are kept and tried again after a pause; either pause is cut short by
            # stop(), which stores what is left itself.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), WRITE_INTERVAL_S if stored else RETRY_S)
            if not stored:
                self._wake.set()

    async def flush(self) -> bool:
        """Store the offers decided so far in one transaction; False (logged) when the database
        refused them, which stay pending."""
        batch = list(self._pending)
        if not batch:
            return True
        try:
            await self.writes.run(subscriptions.record_offers, batch)
        except SQLAlchemyError as exc:
            log.warning("%d topic offers not recorded yet: %s", len(batch), type(exc).__name__)
            return False
        except Exception:
            # The writer must outlive one bad batch, or no later offer would ever be stored.
            log.exception("%d topic offers not recorded yet", len(batch))
            return False
        for key in batch:
            self._pending.pop(key, None)
        self._remember(batch)
        return True

    async def stop(self) -> None:
        """Let the writer finish what it is storing (a cancelled write might never run), then
        store what is left once more; what the database still refuses is dropped, logged."""
        self._closing.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if not await self.flush():
            log.warning("%d topic offers dropped at shutdown", len(self._pending))
            self._pending.clear()
        if self._owns_writes:
            await asyncio.to_thread(self.writes.close)
        if self._inline is not None:
            self._inline.dispose()

