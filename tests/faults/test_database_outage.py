"""PostgreSQL stopped under the running service, then started again.

Replies never touch the turn log, so they are unaffected; the rows written meanwhile go to the
spool and are replayed when the database is back, and the count proves none is lost or doubled.
The turn-log unit tests cut a proxy in front of the database (tests/turnlog/test_logger.py);
this one stops a real (private) server under the whole service, end to end over HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.db.models import Ticket
from flows import calendar
from flows.engine import TICKET_FAILED
from handlers.faq import FALLBACK
from tests.faults.servers import PostgresServer
from tests.faults.service import Service, Wire, answer_only, count_turn_rows, serve_sample_account, wire_to

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DEADLINE_S = 4.0
FAQ = ["社保卡丢了怎么补办", "公积金怎么提取", "护照过期了怎么换"]
START_BOOKING = "我要预约"
CONFIRM = "确认"


def booking_details() -> str:
    """Everything the booking flow asks, in one message, for a working day two or more days ahead."""
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=2)
    while not calendar.active().is_open(day):
        day += timedelta(days=1)
    return f"办社保卡，{day.month}月{day.day}日上午，我叫张三，手机13966668888"


@pytest.fixture
def service(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[Service]:
    engine = make_engine(postgres_server.url)
    upgrade(engine)
    engine.dispose()
    yield from serve_sample_account({"DATABASE_URL": postgres_server.url}, tmp_path)


@pytest.fixture
def wire(service: Service) -> Iterator[Wire]:
    yield from wire_to(service)


def count_tickets(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Ticket)).scalar_one())
    finally:
        engine.dispose()


def eventually(check: Callable[[], bool], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_stopped_database_leaves_replies_alone_and_loses_no_row(
    service: Service, wire: Wire, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    answers = {question: answer_only(wire.say("o-db-before", question).content) for question in FAQ}
    assert FALLBACK not in answers.values(), "the sample knowledge base should answer these"
    assert eventually(lambda: count_turn_rows(postgres_server.url) == wire.deliveries, 10)

    postgres_server.stop()
    during = [wire.say(f"o-db-during-{n}", question) for n in range(6) for question in FAQ]
    # A ticket cannot be written now: the citizen is told so, and keeps what they entered. Every
    # fact plainly given, the booking is attempted by the details message itself (issue 13:
    # confirmed only when uncertain); 「确认」 retries it.
    wire.say("o-db-booking", START_BOOKING)
    ticket = wire.say("o-db-booking", booking_details())
    assert eventually(lambda: wire.client.get("/healthz").json().get("turnlog") == "spooling", 5)
    spool = tmp_path / "spool"
    assert any(spool.iterdir()), "the rows written during the outage were not spooled"

    assert [answer_only(r.content) for r in during] == [answers[q] for _ in range(6) for q in FAQ]
    assert ticket.content == TICKET_FAILED
    assert max(r.seconds for r in [*during, ticket]) < DEADLINE_S / 4

    postgres_server.start()
    resubmitted = wire.say("o-db-booking", CONFIRM)
    assert resubmitted.content not in ("", TICKET_FAILED)
    assert count_tickets(postgres_server.url) == 1
    after = [wire.say("o-db-after", question) for question in FAQ]
    assert [answer_only(r.content) for r in after] == [answers[q] for q in FAQ]
    # The writer retries every 5 s: the spool is replayed without anyone asking.
    assert eventually(lambda: count_turn_rows(postgres_server.url) == wire.deliveries, 15)
    assert eventually(lambda: wire.client.get("/healthz").json().get("turnlog") == "ok", 5)

    assert {r.status for r in wire.replies} == {200}
    assert service.stop(), "the service did not shut down by itself"
    assert service.crashes() == [], service.log()[-3000:]
    assert count_turn_rows(postgres_server.url) == wire.deliveries
    assert not [p for p in spool.rglob("*") if p.is_file() and not p.name.endswith(".rejected")]
