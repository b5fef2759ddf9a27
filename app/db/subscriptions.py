"""Topic subscriptions per account and citizen (issue 19), on PostgreSQL and SQLite.

One row per (account, openid, topic) — `offered`, `subscribed` or `unsubscribed` — so the offer
after an FAQ answer is made at most once: whoever inserts the row first makes it, a declined or
ignored offer leaves the row and is never repeated. Blocking SQLAlchemy: call via `asyncio.to_thread`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Insert, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Subscription

OFFERED = "offered"
SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def subscribe(
    engine: Engine, openid: str, topic: str, *, account: str = "default", now: datetime | None = None
) -> bool:
    """Subscribe; True when the citizen was not subscribed before."""
    when = _now(now)
    try:
        with Session(engine) as conn, conn.begin():
            conn.execute(insert(Subscription).values(
                account=account, openid=openid, topic=topic, status=SUBSCRIBED, created_at=when, updated_at=when,
            ))
        return True
    except IntegrityError:
        # Offered before, unsubscribed before, or already subscribed: the row exists.
        pass
    with Session(engine) as conn, conn.begin():
        changed = conn.execute(
            update(Subscription)
            .where(Subscription.account == account, Subscription.openid == openid, Subscription.topic == topic,
                   Subscription.status != SUBSCRIBED)
            .values(status=SUBSCRIBED, updated_at=when)
            .returning(Subscription.id)
        )
        return changed.first() is not None


def unsubscribe(
    engine: Engine, openid: str, topic: str | None, *, account: str = "default", now: datetime | None = None
) -> list[str]:
    """Unsubscribe from `topic`, or from every topic with None; returns the topics left."""
    when = _now(now)
    query = select(Subscription.topic).where(
        Subscription.account == account, Subscription.openid == openid, Subscription.status == SUBSCRIBED
    )
    if topic is not None:
        query = query.where(Subscription.topic == topic)
    with Session(engine) as conn, conn.begin():
        left = sorted(conn.execute(query).scalars())
        if left:
            conn.execute(
                update(Subscription)
                .where(Subscription.account == account, Subscription.openid == openid,
                       Subscription.topic.in_(left))
                .values(status=UNSUBSCRIBED, updated_at=when)
            )
    return left


def subscribed_topics(engine: Engine, openid: str, *, account: str = "default") -> list[str]:
    query = select(Subscription.topic).where(
        Subscription.account == account, Subscription.openid == openid, Subscription.status == SUBSCRIBED
    ).order_by(Subscription.created_at, Subscription.id)
    with Session(engine) as conn:
        return list(conn.execute(query).scalars())


# An offer is tried after most FAQ answers (issue 19), so it is one statement, built once: an
# insert that skips an existing row instead of failing on it (no exception, no rollback, no ORM
# unit of work), returning the new row's id only when this was the first offer.
_CITIZEN_TOPIC = ["account", "openid", "topic"]
_OFFER: dict[str, Insert] = {
    "postgresql": postgresql.insert(Subscription)
    .on_conflict_do_nothing(index_elements=_CITIZEN_TOPIC)
    .returning(Subscription.id),
    "sqlite": sqlite.insert(Subscription)
    .on_conflict_do_nothing(index_elements=_CITIZEN_TOPIC)
    .returning(Subscription.id),
}


def offer(engine: Engine, openid: str, topic: str, *, account: str = "default", now: datetime | None = None) -> bool:
    """Record an offer of `topic`; True only the first time (no row yet for this citizen and topic)."""
    when = _now(now)
    row = {"account": account, "openid": openid, "topic": topic, "status": OFFERED,
           "created_at": when, "updated_at": when}
    statement = _OFFER.get(engine.dialect.name)
    if statement is None:  # another backend: the portable way, the unique index deciding
        try:
            with Session(engine) as conn, conn.begin():
                conn.execute(insert(Subscription).values(**row))
            return True
        except IntegrityError:
            return False
    with engine.begin() as connection:
        return connection.execute(statement, row).first() is not None


# Asked after most FAQ answers in a topic, for every citizen asked about at once (app.offers
# gathers them), so on the two drivers we ship it goes straight to the driver: through SQLAlchemy
# a call for two citizens cost ~210 µs of Python (on the worker's one GIL), directly ~50 µs
# (measured alone; bench/callback.py on the loaded machine could not tell the two apart).
_PLACEHOLDER = {"sqlite": "?", "postgresql": "%s"}
_EXISTING = text(
    f"SELECT account, openid, topic FROM {Subscription.__tablename__}"
    " WHERE account IN :accounts AND openid IN :openids"
).bindparams(bindparam("accounts", expanding=True), bindparam("openids", expanding=True))


def existing(engine: Engine, keys: Sequence[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """Those of `keys` (account, openid, topic) with any row: offered, subscribed or unsubscribed.

    A read: on SQLite in WAL mode it never waits for a writer, which is why the offer after an FAQ
    answer is decided by it (app.offers) rather than by an insert on the reply path."""
    if not keys:
        return set()
    wanted = set(keys)
    accounts, openids = sorted({k[0] for k in wanted}), sorted({k[1] for k in wanted})
    mark = _PLACEHOLDER.get(engine.dialect.name)
    rows: Sequence[Sequence[Any]]
    if mark is None or engine.dialect.driver not in ("pysqlite", "psycopg"):
        with engine.connect() as connection:
            rows = list(connection.execute(_EXISTING, {"accounts": accounts, "openids": openids}))
    else:
        sql = (
            f"SELECT account, openid, topic FROM {Subscription.__tablename__}"
            f" WHERE account IN ({', '.join([mark] * len(accounts))})"
            f" AND openid IN ({', '.join([mark] * len(openids))})"
        )
        params = [*accounts, *openids]
        driver_error = engine.dialect.loaded_dbapi.Error
        try:
            # Connecting too: the pool passes the driver's error through unwrapped (database down).
            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute(sql, params)
                rows = cursor.fetchall()
                cursor.close()
            finally:
                raw.close()  # back to the pool, which ends the read transaction
        except driver_error as exc:  # as SQLAlchemy would raise it (OperationalError, …)
            raise DBAPIError.instance(sql, params, exc, driver_error) from exc
    return {key for key in ((r[0], r[1], r[2]) for r in rows) if key in wanted}


# Rows of one multi-row INSERT of offers on SQLite (6 parameters a row, far below its limit).
OFFER_ROWS_PER_STATEMENT = 500
_SQLITE_OFFERS_HEAD = (
    f"INSERT INTO {Subscription.__tablename__} (account, openid, topic, status, created_at, updated_at) VALUES "
)
_SQLITE_OFFER_ROW = "(?, ?, ?, ?, ?, ?)"
_SQLITE_OFFERS_TAIL = " ON CONFLICT (account, openid, topic) DO NOTHING"
_OFFER_MANY: dict[str, Insert] = {
    "postgresql": postgresql.insert(Subscription).on_conflict_do_nothing(index_elements=_CITIZEN_TOPIC),
    "sqlite": sqlite.insert(Subscription).on_conflict_do_nothing(index_elements=_CITIZEN_TOPIC),
}


def record_offers(engine: Engine, offers: Sequence[tuple[str, str, str]], *, now: datetime | None = None) -> None:
    """Store offers of (account, openid, topic) in one transaction, leaving existing rows as they
    are (a citizen who subscribed meanwhile stays subscribed)."""
    if not offers:
        return
    when = _now(now)
    statement = _OFFER_MANY.get(engine.dialect.name)
    if statement is None:  # another backend: one row at a time, the unique index deciding
        for account, openid, topic in offers:
            offer(engine, openid, topic, account=account, now=when)
        return
    if engine.dialect.name == "sqlite" and engine.dialect.driver == "pysqlite":
        _record_offers_sqlite(engine, offers, when)
        return
    rows = [{"account": account, "openid": openid, "topic": topic, "status": OFFERED,
             "created_at": when, "updated_at": when} for account, openid, topic in offers]
    with engine.begin() as connection:
        connection.execute(statement, rows)


def _record_offers_sqlite(engine: Engine, offers: Sequence[tuple[str, str, str]], when: datetime) -> None:
    """`record_offers` on SQLite: multi-row INSERTs written for the driver. Built by SQLAlchemy
    for a batch of a hundred offers, or run as executemany (the driver gives the GIL up around
    every row and must then wait for the busy event loop to hand it back), the statement held the
    file's write lock for tens of milliseconds, while the replies' tickets waited for it."""
    stamp_type = Subscription.__table__.c.created_at.type
    process = stamp_type.bind_processor(engine.dialect)
    stamp = process(when) if process is not None else when
    with engine.begin() as connection:
        for start in range(0, len(offers), OFFER_ROWS_PER_STATEMENT):
            chunk = offers[start:start + OFFER_ROWS_PER_STATEMENT]
            params: list[object] = []
            for account, openid, topic in chunk:
                params += (account, openid, topic, OFFERED, stamp, stamp)
            connection.exec_driver_sql(
                _SQLITE_OFFERS_HEAD + ", ".join([_SQLITE_OFFER_ROW] * len(chunk)) + _SQLITE_OFFERS_TAIL, tuple(params)
            )


def subscribers(engine: Engine, topics: list[str], *, account: str = "default") -> list[str]:
    """Citizens subscribed to any of `topics`, each once, in a stable order."""
    query = (
        select(Subscription.openid)
        .where(Subscription.account == account, Subscription.topic.in_(topics), Subscription.status == SUBSCRIBED)
        .group_by(Subscription.openid)
        .order_by(func.min(Subscription.id))
    )
    with Session(engine) as conn:
        return list(conn.execute(query).scalars())
