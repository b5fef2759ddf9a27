"""`TurnLogger`: takes a `TurnRecord` per delivery and gets it into the database, off the hot path.

`submit` only appends to a bounded in-memory queue (no lock, no I/O, never raises); a full
queue drops the record and counts it (`wxbot_turnlog_dropped_total`) rather than slow a reply.
One background thread drains the queue in batches, masks and pseudonymises each record
(`app.turnlog.rows`) and inserts the batch. When the database is unreachable the batch goes
to the local spool (`app.turnlog.spool`) and is replayed once a retry succeeds; record ids
generated at submit make every insert idempotent, so nothing is lost or written twice.

Lifecycle (app lifespan): `TurnLogger.from_settings(settings, engine)`, `start()`, and on
shutdown `await asyncio.to_thread(logger.stop)`, which drains the queue (or spools it).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import (
    DisconnectionError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app import metrics
from app.turnlog import store
from app.turnlog.record import TurnRecord
from app.turnlog.rows import Row, RowMaker, row_from_json, row_to_json
from app.turnlog.spool import Entry, Spool

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Erase:
    openid: str
    at: datetime


@dataclass(slots=True)
class TurnLogStats:
    written: int = 0
    spooled: int = 0
    replayed: int = 0
    dropped: int = 0
    rejected: int = 0
    errors: int = 0


def _utcnow() -> datetime:
    return datetime.now(UTC)


# The database is unreachable, locked, or not migrated yet: keep the rows and retry. Anything
# else is a problem with particular rows.
OUTAGE = (OperationalError, InterfaceError, ProgrammingError, DisconnectionError, PoolTimeout, OSError)

# In memory an entry is ("row", Row, None) or ("erase", user_id, iso time); in the spool, JSON.
Live = tuple[str, Any, Any]


def _to_json(entry: Live) -> Entry:
    if entry[0] == "row":
        return {"kind": "row", "v": row_to_json(entry[1])}
    return {"kind": "erase", "user_id": entry[1], "at": entry[2]}


def _from_json(entry: Entry) -> Live:
    if entry["kind"] == "row":
        return ("row", row_from_json(entry["v"]), None)
    return ("erase", entry["user_id"], entry["at"])


def _count_rows(entries: list[Live]) -> int:
    return sum(1 for e in entries if e[0] == "row")


class TurnLogger:
    def __init__(
        self,
        engine: Engine | None,
        *,
        pseudonym_key: bytes,
        spool_dir: Path,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval_s: float = 0.5,
        retry_interval_s: float = 5.0,
        enabled: bool = True,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.enabled = enabled and engine is not None
        self._engine = engine
        self._make_row = RowMaker(pseudonym_key)
        self._queue: deque[tuple[str, TurnRecord] | _Erase] = deque()
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._flush_interval = flush_interval_s
        self._retry_interval = retry_interval_s
        self._clock = clock
        self.spool = Spool(spool_dir)
        self.stats = TurnLogStats()
        self._ids = itertools.count(1)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._done = threading.Condition()
        self._processed = 0
        # Ids consumed by flush() markers and by submits that failed: never processed.
        self._unqueued = 0
        self._thread: threading.Thread | None = None
        self._down = False
        self._next_retry = 0.0
        self._next_expiry = 0.0
        self._owns_engine = False

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine | None = None) -> TurnLogger:
        """Build from settings; with no engine given, one is made for DATABASE_URL and owned."""
        owns = engine is None and settings.turnlog_enabled
        if owns:
            from app.db.engine import make_engine

            engine = make_engine(settings.database_url)
        logger = cls(
            engine,
            pseudonym_key=settings.pseudonym_key.get_secret_value().encode(),
            spool_dir=settings.turnlog_spool_dir,
            queue_size=settings.turnlog_queue_size,
            batch_size=settings.turnlog_batch_size,
            flush_interval_s=settings.turnlog_flush_interval_s,
            enabled=settings.turnlog_enabled,
        )
        logger._owns_engine = owns
        return logger

    # --- the hot path -------------------------------------------------------------------

    def submit(self, record: TurnRecord) -> None:
        """Queue one delivery's record. Never blocks, never raises."""
        if not self.enabled:
            return
        try:
            next(self._ids)
            if len(self._queue) >= self._queue_size:
                self.stats.dropped += 1
                metrics.TURNLOG_DROPPED.inc()
                return
            # os.urandom is thread-safe and cheaper than uuid4(); the id makes replays idempotent.
            self._queue.append((os.urandom(16).hex(), record))
            if len(self._queue) >= self._batch_size:
                self._wake.set()
        except Exception:
            self.stats.errors += 1
            self._unqueued += 1

    def erase_user(self, openid: str) -> None:
        """Pseudonymise every row of this user beyond recovery (on unsubscribe).

        Ordered after the user's records already submitted, never dropped; rows still queued
        elsewhere or spooled are caught on their way in (`turn_erasures`).
        """
        if not self.enabled:
            return
        next(self._ids)
        self._queue.append(_Erase(openid, self._clock()))
        self._wake.set()

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if not self.enabled or self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="turnlog-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write (or spool) everything queued, then stop. Blocking: run it in a thread from async code."""
        if self._thread is not None:
            self._stopping.set()
            self._wake.set()
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("turnlog writer did not stop within %.1fs; %d records queued",
                          timeout, len(self._queue))
            self._thread = None
        self.spool.close_active()
        if self._owns_engine and self._engine is not None:
            self._engine.dispose()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written or spooled (tests, benchmarks)."""
        with self._done:
            self._unqueued += 1
            target = next(self._ids)
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._done:
            while self._processed + self.stats.dropped + self._unqueued < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._done.wait(remaining)
        return True

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def database_down(self) -> bool:
        return self._down

    # --- the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        self._replay_if_due(force=True)
        while True:
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            stopping = self._stopping.is_set()
            try:
                self._replay_if_due()
                while batch := self._take():
                    self._write(batch)
                    if len(batch) < self._batch_size:
                        break
                self._expire_erasures_if_due()
            except Exception:
                self.stats.errors += 1
                metrics.TURNLOG_ERRORS.labels("writer").inc()
                log.exception("turnlog writer loop failed")
            self._update_gauges()
            if stopping and not self._queue:
                break

    def _take(self) -> list[tuple[str, TurnRecord] | _Erase]:
        batch: list[tuple[str, TurnRecord] | _Erase] = []
        while len(batch) < self._batch_size:
            try:
                batch.append(self._queue.popleft())
            except IndexError:
                break
        return batch

    def _prepare(self, batch: list[tuple[str, TurnRecord] | _Erase]) -> list[Live]:
        entries: list[Live] = []
        for item in batch:
            if isinstance(item, _Erase):
                entries.append(("erase", self._make_row.pseudonym(item.openid), item.at.isoformat()))
                continue
            record_id, record = item
            try:
                entries.append(("row", self._make_row(record_id, record), None))
            except Exception:
                self.stats.errors += 1
                metrics.TURNLOG_ERRORS.labels("prepare").inc()
                log.exception("turnlog: could not prepare record")
        return entries

    def _write(self, batch: list[tuple[str, TurnRecord] | _Erase]) -> None:
        entries = self._prepare(batch)
        try:
            if self._down:
                self._to_spool(entries)
            else:
                try:
                    self._sink(entries)
                    rows = _count_rows(entries)
                    self.stats.written += rows
                    metrics.TURNLOG_WRITTEN.inc(rows)
                except OUTAGE as exc:
                    self._mark_down(exc)
                    self._to_spool(entries)
                except Exception:
                    # Not the database going away: some row it (or we) cannot handle. Find it.
                    self._write_one_by_one(entries)
        finally:
            with self._done:
                self._processed += len(batch)
                self._done.notify_all()

    def _replay_sink(self, entries: list[Entry]) -> None:
        self._sink([_from_json(e) for e in entries])

    def _sink(self, entries: list[Live]) -> None:
        """Apply entries in order: runs of rows as one insert, erasures as they come."""
        assert self._engine is not None
        rows: list[Row] = []
        for entry in entries:
            if entry[0] == "row":
                rows.append(entry[1])
                continue
            if rows:
                store.insert_rows(self._engine, rows)
                rows = []
            store.erase_user(self._engine, entry[1], datetime.fromisoformat(entry[2]))
        if rows:
            store.insert_rows(self._engine, rows)

    def _write_one_by_one(self, entries: list[Live]) -> None:
        for entry in entries:
            try:
                self._sink([entry])
                if entry[0] == "row":
                    self.stats.written += 1
                    metrics.TURNLOG_WRITTEN.inc()
            except OUTAGE as exc:
                self._mark_down(exc)
                self._to_spool([entry])
            except Exception:
                # A row that cannot be stored (not an outage): set it aside for a human rather
                # than retry it forever.
                self.stats.rejected += 1
                metrics.TURNLOG_ERRORS.labels("rejected").inc()
                log.exception("turnlog: row rejected; kept in the spool dir as .rejected")
                self._reject(entry)

    def _reject(self, entry: Live) -> None:
        self.spool.directory.mkdir(parents=True, exist_ok=True)
        with (self.spool.directory / f"turnlog-{os.getpid()}.rejected").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(_to_json(entry), ensure_ascii=False) + "\n")

    def _to_spool(self, entries: list[Live]) -> None:
        if not entries:
            return
        try:
            self.spool.append([_to_json(e) for e in entries])
        except OSError:
            # Disk full or unwritable: nothing more we can do without blocking replies.
            self.stats.errors += 1
            metrics.TURNLOG_ERRORS.labels("spool").inc()
            log.exception("turnlog: could not spool %d entries", len(entries))
            return
        rows = _count_rows(entries)
        self.stats.spooled += rows
        metrics.TURNLOG_SPOOLED.inc(rows)

    def _mark_down(self, exc: BaseException) -> None:
        if not self._down:
            log.warning("turnlog: database unreachable, spooling to %s (%s)", self.spool.directory,
                        exc.__class__.__name__)
        if not isinstance(exc, SQLAlchemyError):
            metrics.TURNLOG_ERRORS.labels("unexpected").inc()
        self._down = True
        self._next_retry = time.monotonic() + self._retry_interval

    def _replay_if_due(self, force: bool = False) -> None:
        """Every retry interval: replay spool files (ours, or a crashed worker's) if any.

        While the database is down, the replay is the probe; with nothing to replay, the next
        batch write is.
        """
        now = time.monotonic()
        if not force and now < self._next_retry:
            return
        self._next_retry = now + self._retry_interval
        if not self.spool.has_files():
            self._down = False
            return
        try:
            replayed = self.spool.replay(self._replay_sink)
        except Exception as exc:
            self._mark_down(exc)
            return
        if self._down:
            log.warning("turnlog: database back; replayed %d spooled entries", replayed)
        self._down = False
        self.stats.replayed += replayed
        metrics.TURNLOG_REPLAYED.inc(replayed)

    def _expire_erasures_if_due(self) -> None:
        if self._down or time.monotonic() < self._next_expiry or self._engine is None:
            return
        self._next_expiry = time.monotonic() + 3600
        try:
            store.expire_erasures(self._engine, self._clock())
        except Exception as exc:
            self._mark_down(exc)

    def _update_gauges(self) -> None:
        metrics.TURNLOG_QUEUE_DEPTH.set(len(self._queue))
        metrics.TURNLOG_SPOOL_ROWS.set(self.spool.pending)
        metrics.TURNLOG_SPOOL_BYTES.set(self.spool.size_bytes())
