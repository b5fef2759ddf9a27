"""Database operations of the turn log: idempotent inserts, erasure, retention.

Rows arrive here already masked and pseudonymised (`app.turnlog.rows`). Inserts skip any
`record_id` already present, so a spool replayed twice, or by two workers, writes each row
once. Erasure is recorded in `turn_erasures` so rows that reach the database after it (still
queued in another worker, or spooled during an outage) are pseudonymised on the way in.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.db.models import Ticket, TicketEvent, TurnErasure, TurnRow
from app.desk import workflow
from app.turnlog.rows import (
    COLUMNS,
    CONSULTATION_ID,
    DEDUP_KEY,
    RECEIVED_AT,
    TEXT,
    USER_ID,
    Row,
    as_dict,
    from_dict,
    time_from_text,
    time_text,
)

# Long enough to cover a queue drain and a realistic outage's spool replay.
ERASURE_TTL = timedelta(days=7)
# Turn rows stored per transaction on SQLite (see insert_rows).
SQLITE_ROWS_PER_TRANSACTION = 200
# The pause between two such transactions: longer than a polling writer's longest pause.
SQLITE_YIELD_S = 0.003


def _insert_ignoring_duplicates(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(TurnRow).on_conflict_do_nothing(index_elements=["record_id"])
    if dialect == "sqlite":
        return sqlite.insert(TurnRow).on_conflict_do_nothing(index_elements=["record_id"])
    raise NotImplementedError(f"the turn log needs PostgreSQL or SQLite, not {dialect}")


def _apply_erasures(conn: Connection, rows: Sequence[Row]) -> Sequence[Row]:
    """The rows, with those of users erased after receiving them already pseudonymised."""
    # An erasure covers rows received up to its time, so only erasures newer than the batch's
    # oldest row matter: for live traffic (rows seconds old) that is almost always none, and
    # the lookup is one cached indexless query on a small table, not an IN over every user.
    oldest = time_from_text(min(map(itemgetter(RECEIVED_AT), rows)))
    query = select(TurnErasure.user_id, TurnErasure.replacement, TurnErasure.erased_at).where(
        TurnErasure.erased_at >= oldest
    )
    erased = {user_id: (replacement, time_text(at)) for user_id, replacement, at in conn.execute(query)}
    if not erased:
        return rows
    out = []
    for row in rows:
        hit = erased.get(row[USER_ID])
        if hit is not None and row[RECEIVED_AT] <= hit[1]:
            changed = list(row)
            changed[USER_ID], changed[TEXT], changed[DEDUP_KEY], changed[CONSULTATION_ID] = hit[0], "", "", ""
            row = tuple(changed)
        out.append(row)
    return out


_COLUMN_LIST = ", ".join(COLUMNS)
# Hand-written for the two drivers we ship: the turn log inserts on every delivery, and rows
# arrive in the stored form (`app.turnlog.rows`), so the driver takes them as they are.
_SQLITE_INSERT = (
    f"INSERT INTO turns ({_COLUMN_LIST}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
    "ON CONFLICT (record_id) DO NOTHING"
)
_PG_CASTS = {"received_at": "%s::timestamp AT TIME ZONE 'UTC'", "stages": "%s::json"}
_PSYCOPG_INSERT = (
    f"INSERT INTO turns ({_COLUMN_LIST}) VALUES ({', '.join(_PG_CASTS.get(c, '%s') for c in COLUMNS)}) "
    "ON CONFLICT (record_id) DO NOTHING"
)


def insert_rows(engine: Engine, rows: Sequence[Row | dict[str, Any]]) -> None:
    """Insert rows (`RowMaker` tuples, or column → value dicts) in one transaction, skipping
    record ids already stored. Rows must be masked and pseudonymised already."""
    if not rows:
        return
    stored = [from_dict(r) if isinstance(r, dict) else r for r in rows]
    dialect, driver = engine.dialect.name, engine.dialect.driver
    # On SQLite every transaction holds the file's one write lock, which the replies' tickets
    # and bookings wait for (app.db.writes): short transactions, so none waits long. A batch cut
    # short by an outage is spooled whole; rows already stored are skipped when it is replayed.
    step = SQLITE_ROWS_PER_TRANSACTION if dialect == "sqlite" else len(stored)
    for start in range(0, len(stored), step):
        if start:
            # Room for a writer polling for the lock (app.db.engine: every ≤ 2 ms) to take it
            # between two of ours; taken back at once, our next transaction would shut it out.
            time.sleep(SQLITE_YIELD_S)
        with engine.begin() as conn:
            pending = _apply_erasures(conn, stored[start:start + step])
            if dialect == "sqlite" and driver == "pysqlite":
                conn.exec_driver_sql(_SQLITE_INSERT, pending)
            elif dialect == "postgresql" and driver == "psycopg":
                conn.exec_driver_sql(_PSYCOPG_INSERT, pending)
            else:
                conn.execute(_insert_ignoring_duplicates(dialect), [as_dict(r) for r in pending])


def erase_user(engine: Engine, user_id: str, erased_at: datetime) -> int:
    """Unlink a user's rows from them for good: new random id, text and dedup key blanked.

    Returns the number of rows changed. Idempotent: erasing again reuses the replacement.
    """
    with engine.begin() as conn:
        query = select(TurnErasure.replacement, TurnErasure.erased_at).where(TurnErasure.user_id == user_id)
        existing = conn.execute(query).one_or_none()
        if existing is None:
            replacement = ERASED_PREFIX + secrets.token_hex(16)
            conn.execute(
                insert(TurnErasure).values(user_id=user_id, replacement=replacement, erased_at=erased_at)
            )
        else:
            replacement = existing.replacement
            if erased_at > existing.erased_at:
                conn.execute(
                    update(TurnErasure).where(TurnErasure.user_id == user_id).values(erased_at=erased_at)
                )
        result = conn.execute(
            update(TurnRow)
            .where(TurnRow.user_id == user_id, TurnRow.received_at <= erased_at)
            .values(user_id=replacement, text="", dedup_key="", consultation_id="")
        )
        _erase_tickets(conn, user_id, replacement, erased_at)
        return max(result.rowcount, 0)


# Tickets (retention rule, docs/privacy.md): staff need the contact while a matter is open, so an
# open ticket of a user who left keeps it but loses the link to the user's pseudonym (its
# user_id becomes the erasure's replacement, marking it "owner left"); a closed one is erased.
ERASED_PREFIX = "erased-"
# Statuses after which staff no longer need to reach the citizen (the desk may add open ones).
# The desk's closed statuses (已办结, 已退回, 已撤销), and the English ones tickets had before it.
CLOSED_STATUSES = (*workflow.CLOSED_STATUSES, "closed", "resolved", "cancelled", "rejected")


def _erase_tickets(conn: Connection, user_id: str, replacement: str, erased_at: datetime) -> None:
    conn.execute(update(Ticket).where(Ticket.user_id == user_id).values(user_id=replacement))
    _erase_closed(conn, (Ticket.user_id == replacement), erased_at)


def _erase_closed(conn: Connection, which: Any, erased_at: datetime) -> int:
    # What the citizen sent after filing (details, a photo's link) is theirs, like the fields.
    erasing = select(Ticket.id).where(which, Ticket.status.in_(CLOSED_STATUSES), Ticket.erased_at.is_(None))
    conn.execute(
        update(TicketEvent)
        .where(TicketEvent.action == workflow.CITIZEN_NOTE, TicketEvent.ticket_id.in_(erasing))
        .values(note="")
    )
    result = conn.execute(
        update(Ticket)
        .where(which, Ticket.status.in_(CLOSED_STATUSES), Ticket.erased_at.is_(None))
        .values(openid=Ticket.user_id, fields={}, delivery=None, erased_at=erased_at)
    )
    return max(result.rowcount, 0)


def erase_closed_tickets(engine: Engine, now: datetime) -> int:
    """Erase tickets closed since their user left (the writer runs this with its housekeeping)."""
    with engine.begin() as conn:
        return _erase_closed(conn, Ticket.user_id.startswith(ERASED_PREFIX, autoescape=True), now)


def expire_erasures(engine: Engine, now: datetime, ttl: timedelta = ERASURE_TTL) -> int:
    with engine.begin() as conn:
        result = conn.execute(delete(TurnErasure).where(TurnErasure.erased_at < now - ttl))
        return max(result.rowcount, 0)


def purge_before(engine: Engine, before: datetime) -> int:
    """Delete turn rows received before `before`; returns how many."""
    with engine.begin() as conn:
        result = conn.execute(delete(TurnRow).where(TurnRow.received_at < before))
        return max(result.rowcount, 0)


def count_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(TurnRow)).scalar_one())
