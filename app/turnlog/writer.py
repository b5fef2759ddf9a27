"""The writer core: a batch of submitted records in, rows in the database (or the spool) out.

Runs either on a thread inside the worker or in a helper process (`app.turnlog.child`); it
knows nothing about queues, threads or metrics, only about getting rows stored:

- each record is masked and pseudonymised (`RowMaker`) and the batch inserted in one
  transaction, ignoring record ids already present;
- when the database is unreachable (refused, locked, not migrated) the batch goes to the spool
  (`app.turnlog.spool`) and a replay is tried every `retry_interval_s`; the replay is the probe;
- a row the database refuses for its content is set aside in `*.rejected`, never retried forever;
- erasures are applied in submission order (`app.turnlog.store.erase_user`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import (
    DisconnectionError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.turnlog import store
from app.turnlog.record import TurnRecord
from app.turnlog.rows import Row, RowMaker, row_from_json, row_to_json
from app.turnlog.spool import Entry, Spool

log = logging.getLogger(__name__)

# The database is unreachable, locked, or not migrated yet: keep the rows and retry. Anything
# else is a problem with particular rows.
OUTAGE = (OperationalError, InterfaceError, ProgrammingError, DisconnectionError, PoolTimeout, OSError)


@dataclass(frozen=True, slots=True)
class Erase:
    openid: str
    at: datetime


# What the queue holds: (record id, record) per delivery, or an erasure request.
Item = tuple[str, TurnRecord] | Erase


@dataclass(slots=True)
class WriterStats:
    written: int = 0
    spooled: int = 0
    replayed: int = 0
    rejected: int = 0
    errors: int = 0
    down: bool = False
    spool_pending: int = 0
    spool_bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Writer:
    def __init__(
        self,
        engine: Engine,
        *,
        pseudonym_key: bytes,
        spool_dir: Path,
        retry_interval_s: float = 5.0,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._engine = engine
        self._make_row = RowMaker(pseudonym_key)
        self._retry_interval = retry_interval_s
        self._clock = clock
        self.spool = Spool(spool_dir)
        self.stats = WriterStats()
        self._next_retry = 0.0
        self._next_expiry = 0.0

    def write(self, batch: list[Item]) -> None:
        entries = self._prepare(batch)
        if self.stats.down:
            self._to_spool(entries)
            return
        try:
            self._sink(entries)
            self.stats.written += _count_rows(entries)
        except OUTAGE as exc:
            self._mark_down(exc)
            self._to_spool(entries)
        except Exception:
            # Not the database going away: some row it (or we) cannot handle. Find it.
            self._write_one_by_one(entries)

    def tick(self, force: bool = False) -> None:
        """Housekeeping between batches: replay the spool when due, expire old erasures."""
        self._replay_if_due(force)
        self._expire_erasures_if_due()
        self.stats.spool_pending = self.spool.pending
        self.stats.spool_bytes = self.spool.size_bytes()

    def close(self) -> None:
        self.spool.close_active()

    # --- internals ---------------------------------------------------------------------------

    def _prepare(self, batch: list[Item]) -> list[Live]:
        entries: list[Live] = []
        for item in batch:
            if isinstance(item, Erase):
                entries.append(("erase", self._make_row.pseudonym(item.openid), item.at.isoformat()))
                continue
            record_id, record = item
            try:
                entries.append(("row", self._make_row(record_id, record), None))
            except Exception:
                self.stats.errors += 1
                log.exception("turnlog: could not prepare record")
        return entries

    def _sink(self, entries: list[Live]) -> None:
        """Apply entries in order: runs of rows as one insert, erasures as they come."""
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

    def _replay_sink(self, entries: list[Entry]) -> None:
        self._sink([_from_json(e) for e in entries])

    def _write_one_by_one(self, entries: list[Live]) -> None:
        for entry in entries:
            try:
                self._sink([entry])
                if entry[0] == "row":
                    self.stats.written += 1
            except OUTAGE as exc:
                self._mark_down(exc)
                self._to_spool([entry])
            except Exception:
                self.stats.rejected += 1
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
            log.exception("turnlog: could not spool %d entries", len(entries))
            return
        self.stats.spooled += _count_rows(entries)

    def _mark_down(self, exc: BaseException) -> None:
        if not self.stats.down:
            log.warning("turnlog: database unreachable, spooling to %s (%s)", self.spool.directory,
                        exc.__class__.__name__)
        if not isinstance(exc, SQLAlchemyError):
            self.stats.errors += 1
        self.stats.down = True
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
            self.stats.down = False
            return
        try:
            replayed = self.spool.replay(self._replay_sink)
        except Exception as exc:
            self._mark_down(exc)
            return
        if self.stats.down:
            log.warning("turnlog: database back; replayed %d spooled entries", replayed)
        self.stats.down = False
        self.stats.replayed += replayed

    def _expire_erasures_if_due(self) -> None:
        if self.stats.down or time.monotonic() < self._next_expiry:
            return
        self._next_expiry = time.monotonic() + 3600
        try:
            store.expire_erasures(self._engine, self._clock())
        except Exception as exc:
            self._mark_down(exc)
