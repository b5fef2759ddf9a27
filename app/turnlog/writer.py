"""The writer core: a batch of submitted records in, rows in the database (or the spool) out.

Runs either on a thread inside the worker or in a helper process (`app.turnlog.child`); it
knows nothing about queues, threads or metrics, only about getting rows stored:

- the batch arrives as the worker encoded it (`app.turnlog.rows.encode_record`); each record
  is masked and pseudonymised (`RowMaker`) and the batch inserted in one transaction,
  ignoring record ids already present;
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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from operator import itemgetter
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
from app.turnlog.rows import ERASE, Row, RowMaker, Wire, decode, normalise
from app.turnlog.spool import Entry, Spool

log = logging.getLogger(__name__)

# The database is unreachable, locked, or not migrated yet: keep the rows and retry. Anything
# else is a problem with particular rows.
OUTAGE = (OperationalError, InterfaceError, ProgrammingError, DisconnectionError, PoolTimeout, OSError)


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


# In memory an entry is ("rows", [Row…], None) or ("erase", user_id, iso time); in the spool,
# one JSON object per row or erasure.
Live = tuple[str, Any, Any]


def _to_json(entry: Live) -> list[Entry]:
    if entry[0] == "rows":
        return [{"kind": "row", "v": list(row)} for row in entry[1]]
    return [{"kind": "erase", "user_id": entry[1], "at": entry[2]}]


def _from_json(entry: Entry) -> Live:
    if entry["kind"] == "row":
        return ("rows", [normalise(entry["v"])], None)
    return ("erase", entry["user_id"], entry["at"])


def _singles(entries: list[Live]) -> Iterator[Live]:
    """The entries in order, each row on its own."""
    for entry in entries:
        if entry[0] == "rows":
            yield from (("rows", [row], None) for row in entry[1])
        else:
            yield entry


def _count_rows(entries: list[Live]) -> int:
    return sum(len(e[1]) for e in entries if e[0] == "rows")


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
        self._make_rows = RowMaker(pseudonym_key)
        self._retry_interval = retry_interval_s
        self._clock = clock
        self.spool = Spool(spool_dir)
        self.stats = WriterStats()
        self._next_retry = 0.0
        self._next_expiry = 0.0

    def write(self, batch: list[bytes]) -> None:
        """Store a batch of encoded records and erasures (`app.turnlog.rows.encode_record`)."""
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

    def _prepare(self, batch: list[bytes]) -> list[Live]:
        decoded = self._each(decode, batch)
        if ERASE not in map(itemgetter(0), decoded):
            return [("rows", self._rows(decoded), None)] if decoded else []
        entries: list[Live] = []
        records: list[Wire] = []
        for item in decoded:
            if item[0] != ERASE:
                records.append(item)
                continue
            if records:
                entries.append(("rows", self._rows(records), None))
                records = []
            at = datetime.fromtimestamp(item[1], UTC)
            entries.append(("erase", self._make_rows.pseudonym(item[2]), at.isoformat()))
        if records:
            entries.append(("rows", self._rows(records), None))
        return entries

    def _rows(self, records: list[Wire]) -> list[Row]:
        try:
            rows: list[Row] = self._make_rows.rows(records)
            return rows
        except Exception:
            # Some record is malformed: make the rest, one at a time.
            singles = self._each(self._make_rows.rows, [[record] for record in records])
            return [row for made in singles for row in made]

    def _each(self, make: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        """`make` applied to every item, leaving out (and counting) those it fails on."""
        try:
            return list(map(make, items))
        except Exception:
            pass
        out = []
        for item in items:
            try:
                out.append(make(item))
            except Exception:
                self.stats.errors += 1
                log.exception("turnlog: could not prepare record")
        return out

    def _sink(self, entries: list[Live]) -> None:
        """Apply entries in order: runs of rows as one insert, erasures as they come."""
        rows: list[Row] = []
        for kind, value, at in entries:
            if kind == "rows":
                rows.extend(value)
                continue
            if rows:
                store.insert_rows(self._engine, rows)
                rows = []
            store.erase_user(self._engine, value, datetime.fromisoformat(at))
        if rows:
            store.insert_rows(self._engine, rows)

    def _replay_sink(self, entries: list[Entry]) -> None:
        self._sink([_from_json(e) for e in entries])

    def _write_one_by_one(self, entries: list[Live]) -> None:
        for entry in _singles(entries):
            try:
                self._sink([entry])
                self.stats.written += _count_rows([entry])
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
            fh.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in _to_json(entry))

    def _to_spool(self, entries: list[Live]) -> None:
        if not entries:
            return
        try:
            self.spool.append([line for e in entries for line in _to_json(e)])
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
