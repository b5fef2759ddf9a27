"""Topic subscriptions per account and citizen (issue 19), on PostgreSQL and SQLite.

One row per (account, openid, topic) — `offered`, `subscribed` or `unsubscribed` — so the offer
after an FAQ answer is made at most once: whoever inserts the row first makes it, a declined or
ignored offer leaves the row and is never repeated. Blocking SQLAlchemy: call via `asyncio.to_thread`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, Insert, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
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
