"""The one-time topic offer after an FAQ answer is decided without waiting for the database's write
lock (app.offers). A write on the reply path stalled replies for up to 1.6 s on SQLite, where the
turns' offers and the turn-log writer share one lock (docs/reliability.md, "The p99 stall")."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import offers as offers_module
from app.db import subscriptions
from app.db.engine import make_engine
from app.db.models import Subscription
from app.services import AppServices

# Short, so that a write waiting for the lock gives up quickly instead of hanging the test.
BUSY_TIMEOUT_S = 0.2


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offers_module, "RETRY_S", 0.05)


@pytest.fixture
def engine(db_file: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{db_file}", busy_timeout_s=BUSY_TIMEOUT_S)
    yield engine
    engine.dispose()


@pytest.fixture
def write_lock(db_file: Path) -> Iterator[sqlite3.Connection]:
    """Another connection holding the file's write lock, as the turn-log writer does while it
    stores a batch; released by the test (rollback) or at the end."""
    holder = sqlite3.connect(db_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield holder
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


def statuses(engine: Engine) -> dict[tuple[str, str], str]:
    with Session(engine) as conn:
        rows = conn.execute(select(Subscription.openid, Subscription.topic, Subscription.status))
        return {(openid, topic): status for openid, topic, status in rows}


async def test_an_offer_is_made_while_another_writer_holds_the_lock_and_stored_after(
    engine: Engine, write_lock: sqlite3.Connection
) -> None:
    services = AppServices(engine=engine, endpoints={})
    # Before: the offer was an insert awaited by the turn, so it waited for the lock (and here,
    # with the short busy timeout, gave up: no offer).
    assert await services.offer_topic("o1", "gjj") is True
    # Decided, not yet stored: a second answer in the same topic does not offer it again.
    assert await services.offer_topic("o1", "gjj") is False
    assert await services.offer_topic("o2", "gjj") is True
    write_lock.execute("ROLLBACK")
    await services.close()
    assert statuses(engine) == {("o1", "gjj"): "offered", ("o2", "gjj"): "offered"}
    # Stored: never offered again, by a new worker either.
    again = AppServices(engine=engine, endpoints={})
    assert await again.offer_topic("o1", "gjj") is False
    await again.close()


async def test_the_writer_stores_offers_in_the_background(engine: Engine) -> None:
    services = AppServices(engine=engine, endpoints={})
    assert services.offers is not None
    assert await services.offer_topic("o1", "sb") is True
    assert services.offers.running
    while services.offers.pending:
        await services.offers.flush()
    assert statuses(engine) == {("o1", "sb"): "offered"}
    await services.close()


async def test_a_citizen_who_subscribes_before_the_offer_is_stored_stays_subscribed(
    engine: Engine, write_lock: sqlite3.Connection
) -> None:
    services = AppServices(engine=engine, endpoints={})
    assert await services.offer_topic("o1", "gjj") is True
    write_lock.execute("ROLLBACK")
    assert await services.subscribe("o1", "gjj") is True
    await services.close()
    assert statuses(engine) == {("o1", "gjj"): "subscribed"}


async def test_offers_the_database_refuses_are_kept_and_stored_when_it_accepts_them(
    engine: Engine, write_lock: sqlite3.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    services = AppServices(engine=engine, endpoints={})
    assert services.offers is not None
    assert await services.offer_topic("o1", "gjj") is True
    with caplog.at_level(logging.WARNING, logger="wxbot.offers"):
        assert await services.offers.flush() is False  # the lock is held past the busy timeout
    assert "1 topic offers not recorded yet: OperationalError" in caplog.text
    assert services.offers.pending == 1
    write_lock.execute("ROLLBACK")
    for _ in range(1000):  # the writer tries again by itself
        if not services.offers.pending:
            break
        await asyncio.sleep(0.01)
    assert statuses(engine) == {("o1", "gjj"): "offered"}
    assert await services.offer_topic("o2", "gjj") is True
    await services.close()
    assert statuses(engine) == {("o1", "gjj"): "offered", ("o2", "gjj"): "offered"}


async def test_offers_the_database_still_refuses_at_shutdown_are_dropped_and_logged(
    engine: Engine, write_lock: sqlite3.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    services = AppServices(engine=engine, endpoints={})
    assert await services.offer_topic("o1", "gjj") is True
    with caplog.at_level(logging.WARNING, logger="wxbot.offers"):
        await services.close()
    assert "1 topic offers dropped at shutdown" in caplog.text
    assert services.offers is not None and services.offers.pending == 0


async def test_offers_waiting_to_be_stored_are_bounded(
    engine: Engine, write_lock: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offers_module, "MAX_PENDING", 2)
    services = AppServices(engine=engine, endpoints={})
    assert [await services.offer_topic(f"o{n}", "gjj") for n in range(3)] == [True, True, False]
    write_lock.execute("ROLLBACK")
    await services.close()
    assert set(statuses(engine)) == {("o0", "gjj"), ("o1", "gjj")}


async def test_accounts_sharing_one_writer_keep_their_offers_apart(engine: Engine) -> None:
    shared = offers_module.TopicOffers(engine)
    first = AppServices(engine=engine, endpoints={}, account="a", offers=shared)
    second = AppServices(engine=engine, endpoints={}, account="b", offers=shared)
    assert await first.offer_topic("o1", "gjj") is True
    assert await second.offer_topic("o1", "gjj") is True
    await first.close()
    await second.close()  # the shared writer stopped already: harmless
    with Session(engine) as conn:
        rows = set(conn.execute(select(Subscription.account, Subscription.openid, Subscription.status)))
    assert rows == {("a", "o1", "offered"), ("b", "o1", "offered")}


async def test_turns_asking_at_the_same_time_share_one_read(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[tuple[str, str, str]]] = []
    real = subscriptions.existing

    def counted(engine: Engine, keys: list[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        asked.append(list(keys))
        return real(engine, keys)

    monkeypatch.setattr(subscriptions, "existing", counted)
    subscriptions.subscribe(engine, "o0", "gjj")
    services = AppServices(engine=engine, endpoints={})
    got = await asyncio.gather(*(services.offer_topic(f"o{n}", "gjj") for n in range(5)))
    assert got == [False, True, True, True, True]
    assert len(asked) == 1 and len(asked[0]) == 5
    await services.close()


async def test_a_failed_read_makes_no_offer_to_any_turn_waiting_for_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(engine: Engine, keys: list[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        raise OperationalError("SELECT", {}, Exception("database is down"))

    services = AppServices(engine=engine, endpoints={})
    with monkeypatch.context() as patched:
        patched.setattr(subscriptions, "existing", down)
        assert await asyncio.gather(*(services.offer_topic(f"o{n}", "gjj") for n in range(3))) == [False] * 3
    assert await services.offer_topic("o1", "gjj") is True
    await services.close()
    assert statuses(engine) == {("o1", "gjj"): "offered"}


async def test_what_is_known_to_be_stored_is_not_read_again(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, str, str]] = []
    real = subscriptions.existing

    def counted(engine: Engine, keys: list[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        asked.extend(keys)
        return real(engine, keys)

    monkeypatch.setattr(subscriptions, "existing", counted)
    subscriptions.subscribe(engine, "o1", "gjj")
    services = AppServices(engine=engine, endpoints={})
    assert services.offers is not None
    assert await services.offer_topic("o1", "gjj") is False  # read: subscribed
    assert await services.offer_topic("o2", "gjj") is True  # read: no row; then stored
    assert await services.offers.flush() is True
    assert [await services.offer_topic(o, "gjj") for o in ("o1", "o2", "o1")] == [False, False, False]
    assert asked == [("default", "o1", "gjj"), ("default", "o2", "gjj")]
    await services.close()


def test_a_read_the_database_refuses_raises_as_sqlalchemy_would(tmp_path: Path) -> None:
    # The read goes to the driver directly; its errors must still be SQLAlchemy's, which the
    # Services port catches (no offer, the answer goes out).
    engine = make_engine(f"sqlite:///{tmp_path / 'not-migrated.db'}")
    with pytest.raises(OperationalError):
        subscriptions.existing(engine, [("default", "o1", "gjj")])
    engine.dispose()


def test_a_database_that_cannot_be_reached_raises_as_sqlalchemy_would(tmp_path: Path) -> None:
    # Connecting fails (here the "database file" is a directory; in production, PostgreSQL down):
    # the pool passes the driver's own error through, which must not escape as one.
    engine = make_engine(f"sqlite:///{tmp_path}")
    with pytest.raises(OperationalError):
        subscriptions.existing(engine, [("default", "o1", "gjj")])
    engine.dispose()
