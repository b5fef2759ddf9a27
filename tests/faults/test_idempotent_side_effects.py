"""Side effects happen once per delivery, even when the store that recognises retries is down.

Issue 15: with Redis stopped, five concurrent retries of one complaint filed five tickets, and
the citizen was told none of the numbers (the reply was the "come back later" text). Tickets are
keyed on the delivery (AppID + MsgId, or the event key) under a database unique constraint, so
every retry gets the same ticket, and a turn that created something says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.db.models import Ticket
from tests.db.fixtures import Database
from tests.faults.servers import PausableRedis
from tests.faults.service import Service, Wire, serve_sample_account, wire_to

pytestmark = [pytest.mark.slow, pytest.mark.redis]

# Category, description and mobile in one message: the complaint flow files its ticket at once.
COMPLAINT = "我要投诉，今天上午在三号窗口办理社保业务，工作人员态度很差一直玩手机，电话13812345678"
NUMBER = re.compile(r"编号：(\d{8}-\d{4})")


@pytest.fixture
def database_url(database: Database) -> str:
    engine = make_engine(database.url)
    upgrade(engine)
    engine.dispose()
    return database.url


@pytest.fixture
def service(redis_server: PausableRedis, database_url: str, tmp_path: Path) -> Iterator[Service]:
    yield from serve_sample_account({"REDIS_URL": redis_server.url, "DATABASE_URL": database_url}, tmp_path)


@pytest.fixture
def wire(service: Service) -> Iterator[Wire]:
    yield from wire_to(service)


def tickets(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Ticket)).scalar_one())
    finally:
        engine.dispose()


def test_concurrent_retries_with_the_store_down_file_one_ticket_and_tell_its_number(
    service: Service, wire: Wire, redis_server: PausableRedis, database_url: str
) -> None:
    redis_server.stop()
    delivery = wire.sim.text("o-complainer", COMPLAINT)
    with ThreadPoolExecutor(5) as pool:
        replies = list(pool.map(lambda _: wire.deliver(delivery), range(5)))

    numbers = {m.group(1) if (m := NUMBER.search(r.content)) else None for r in replies}
    assert tickets(database_url) == 1
    assert len(numbers) == 1 and None not in numbers, [r.content for r in replies]
    assert service.crashes() == []


def test_a_new_message_with_the_same_text_is_a_new_ticket(
    service: Service, wire: Wire, redis_server: PausableRedis, database_url: str
) -> None:
    redis_server.stop()
    first = wire.say("o-twice", COMPLAINT)
    second = wire.say("o-twice", COMPLAINT)
    assert NUMBER.search(first.content) and NUMBER.search(second.content)
    assert tickets(database_url) == 2


def test_under_load_with_the_store_down_every_delivery_is_answered_logged_once_and_files_once(
    service: Service, wire: Wire, redis_server: PausableRedis, database_url: str
) -> None:
    """The figure for docs/reliability.md: 10 complaints each delivered 5 times at once, mixed with
    50 FAQ questions, 16 in flight, Redis stopped throughout."""
    from tests.faults.service import count_turn_rows

    redis_server.stop()
    complaints = [wire.sim.text(f"o-load-{n}", COMPLAINT) for n in range(10)]
    work = [("complaint", c) for c in complaints for _ in range(5)]
    work += [("faq", wire.sim.text(f"o-faq-{n}", "社保卡丢了怎么补办")) for n in range(50)]
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda item: (item[0], item[1]["MsgId"], wire.deliver(item[1])), work))

    told: dict[str, set[str]] = {}
    for kind, msg_id, reply in replies:
        if kind == "complaint" and (m := NUMBER.search(reply.content)):
            told.setdefault(msg_id, set()).add(m.group(1))
    assert sorted({r.status for _, _, r in replies}) == [200]
    assert all(r.content for _, _, r in replies), "a delivery was answered blank"
    assert tickets(database_url) == 10
    assert len(told) == 10 and all(len(numbers) == 1 for numbers in told.values())
    assert service.stop()
    assert count_turn_rows(database_url) == wire.deliveries == 100
    print(f"\nFIGURE deliveries={wire.deliveries} answered={len(replies)} tickets={tickets(database_url)} "
          f"complaints=10 slowest={wire.slowest():.2f}s")
