"""Database operations of the turn log: idempotent inserts, erasure, retention.

Rows arrive here already masked and pseudonymised (`app.turnlog.rows`). Inserts skip any
`record_id` already present, so a spool replayed twice, or by two workers, writes each row
once. Erasure is recorded in `turn_erasures` so rows that reach the database after it (still
queued in another worker, or spooled during an outage) are pseudonymised on the way in.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.db.models import TurnErasure, TurnRow

# Long enough to cover a queue drain and a realistic outage's spool replay.
ERASURE_TTL = timedelta(days=7)


def _insert_ignoring_duplicates(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(TurnRow).on_conflict_do_nothing(index_elements=["record_id"])
    if dialect == "sqlite":
        return sqlite.insert(TurnRow).on_conflict_do_nothing(index_elements=["record_id"])
    raise NotImplementedError(f"the turn log needs PostgreSQL or SQLite, not {dialect}")


def _apply_erasures(conn: Connection, rows: list[dict[str, Any]]) -> None:
    users = {row["user_id"] for row in rows}
    if not users:
        return
    erased = {
        e.user_id: (e.replacement, e.erased_at)
        for e in conn.execute(select(TurnErasure).where(TurnErasure.user_id.in_(users))).scalars()
    }
    if not erased:
        return
    for row in rows:
        hit = erased.get(row["user_id"])
        if hit is not None and row["received_at"] <= hit[1]:
            row.update(user_id=hit[0], text="", dedup_key="", consultation_id="")


def insert_rows(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Insert prepared rows in one transaction, skipping record ids already stored."""
    if not rows:
        return
    with engine.begin() as conn:
        pending = [dict(row) for row in rows]
        _apply_erasures(conn, pending)
        # executemany: sqlite3's native one, or SQLAlchemy's batched multi-VALUES on psycopg.
        conn.execute(_insert_ignoring_duplicates(engine.dialect.name), pending)


def erase_user(engine: Engine, user_id: str, erased_at: datetime) -> int:
    """Unlink a user's rows from them for good: new random id, text and dedup key blanked.

    Returns the number of rows changed. Idempotent: erasing again reuses the replacement.
    """
    with engine.begin() as conn:
        query = select(TurnErasure).where(TurnErasure.user_id == user_id)
        existing = conn.execute(query).scalar_one_or_none()
        if existing is None:
            replacement = "erased-" + secrets.token_hex(16)
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
        return max(result.rowcount, 0)


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
