"""The writer core: a batch of submitted records in, rows in the database (or the spool) out.

Runs either on a thread inside the worker or in a helper process (`app.turnlog.child`); it
knows nothing about queues, threads or metrics, only about getting rows stored:

- the batch arrives as the worker encoded it (`app.turnlog.rows.encode_record`); each record
  is masked and pseudonymised (`RowMaker`) and the batch inserted in one transaction,
  ignoring record ids already present;
- when the database is unreachable (refused, locked, not migrated) the batch goes to the spool
  (`app.turnlog.spool`) and, every `retry_interval_s`, the spool is replayed and the next batch
  tried against the database again; the replay is the probe;
- "database down" and "bad record" are told apart (issue 15): only an outage error from the
  database keeps the writer spooling. A spool record that is not whole is quarantined by the
  spool; a row the database refuses for its content is set aside in `*.rejected`; neither is
  ever retried forever nor taken for an outage;
- a batch the spool cannot take (disk full, I/O error) is counted as dropped, and the error is
  reported (`spool_error`, `/healthz`, `wxbot_turnlog_spool_failing`) until a write succeeds;
- erasures are applied in submission order (`app.turnlog.store.erase_user`).
"""

from __future__ import annotations

import errno
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
    # Rows lost because the spool could not take them (disk full): gone, not failed.
    dropped: int = 0
    # Failed spool writes, and the last one's errno name ("ENOSPC") while it lasts; "" once a
    # write succeeds again.
    spool_errors: int = 0
    spool_error: str = ""
    # Bytes of the spool that were not whole records (torn or corrupted) and were set aside.
    quarantined_bytes: int = 0
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


class _DatabaseDown(Exception):
    """Raised by the replay sink so the spool's own errors (OSError) are never taken for an outage."""


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
            # Try the database again while spooling: the spool first, so order is kept.
            self._replay_if_due()
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

    def spool_only(self, batch: list[bytes]) -> None:
        """Spool a batch without trying the database (it is the thing that hung)."""
        self.stats.down = True
        self._next_retry = time.monotonic() + self._retry_interval
        self._to_spool(self._prepare(batch))

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

    def _replay_sink(self, spooled: list[Entry]) -> None:
        entries: list[Live] = []
        for line in spooled:
            try:
                entries.append(_from_json(line))
            except Exception:
                # Whole and checksummed, but not an entry this version understands.
                self.stats.rejected += 1
                log.exception("turnlog: spooled entry unreadable; kept as .rejected")
                self._reject_lines([line])
        try:
            self._sink(entries)
        except OUTAGE as exc:
            raise _DatabaseDown() from exc
        except Exception:
            self._write_one_by_one(entries, replaying=True)

    def _write_one_by_one(self, entries: list[Live], *, replaying: bool = False) -> None:
        for entry in _singles(entries):
            try:
                self._sink([entry])
                if not replaying:
                    self.stats.written += _count_rows([entry])
            except OUTAGE as exc:
                if replaying:
                    raise _DatabaseDown() from exc
                self._mark_down(exc)
                self._to_spool([entry])
            except Exception:
                self.stats.rejected += 1
                log.exception("turnlog: row rejected; kept in the spool dir as .rejected")
                self._reject(entry)

    def _reject(self, entry: Live) -> None:
        self._reject_lines(_to_json(entry))

    def _reject_lines(self, lines: list[Entry]) -> None:
        try:
            self.spool.directory.mkdir(parents=True, exist_ok=True)
            with (self.spool.directory / f"turnlog-{os.getpid()}.rejected").open("a", encoding="utf-8") as fh:
                fh.writelines(json.dumps(line, ensure_ascii=False, default=str) + "\n" for line in lines)
        except OSError:
            log.exception("turnlog: could not keep a rejected row")

    def _to_spool(self, entries: list[Live]) -> None:
        if not entries:
            return
        try:
            self.spool.append([line for e in entries for line in _to_json(e)])
        except OSError as exc:
            # Disk full or unwritable: nothing more we can do without blocking replies. The rows
            # are lost, not failed: count them as dropped, and say so until a write succeeds.
            lost = _count_rows(entries)
            self.stats.dropped += lost
            self.stats.spool_errors += 1
            self.stats.spool_error = errno.errorcode.get(exc.errno or 0, "EIO")
            log.error("turnlog: could not spool %d rows (%s); dropped", lost, self.stats.spool_error)
            return
        self.stats.spool_error = ""
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
        except _DatabaseDown as exc:
            assert exc.__cause__ is not None
            self._mark_down(exc.__cause__)
            return
        except OSError as exc:
            # The spool itself failed (permissions, I/O): say so, but it is not the database.
            self.stats.spool_errors += 1
            self.stats.spool_error = errno.errorcode.get(exc.errno or 0, "EIO")
            log.exception("turnlog: could not replay the spool")
            return
        finally:
            self.stats.quarantined_bytes = self.spool.quarantined_bytes
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
            # Tickets closed since their user left lose their personal data (docs/privacy.md).
            store.erase_closed_tickets(self._engine, self._clock())
        except Exception as exc:
            self._mark_down(exc)
