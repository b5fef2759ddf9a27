from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from app.db.engine import make_engine
from app.db.models import Ticket
from app.db.tickets import create_ticket
from tests.db.fixtures import Database

NOON = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def test_numbers_count_up_within_a_day(engine: Engine) -> None:
    first = create_ticket(engine, "complaint", "o1", {"内容": "路灯坏了"}, now=NOON)
    second = create_ticket(engine, "complaint", "o2", {}, now=NOON)
    assert (first, second) == ("20261126-0001", "20261126-0002")


def test_numbering_restarts_each_local_day(engine: Engine) -> None:
    create_ticket(engine, "complaint", "o1", {}, now=NOON)
    # 16:30 UTC is already the next day (00:30) in Shanghai.
    next_day = datetime(2026, 11, 26, 16, 30, tzinfo=UTC)
    assert create_ticket(engine, "complaint", "o1", {}, now=next_day) == "20261127-0001"


def test_ticket_is_stored_with_its_fields(engine: Engine) -> None:
    number = create_ticket(engine, "appointment", "o9", {"日期": "2026-11-27", "事项": "护照"}, now=NOON)
    with engine.connect() as conn:
        ticket = conn.execute(select(Ticket).where(Ticket.number == number)).one()
    assert ticket.flow_id == "appointment"
    assert ticket.openid == "o9"
    assert ticket.fields == {"日期": "2026-11-27", "事项": "护照"}
    assert ticket.created_at == NOON
    assert ticket.status == "新建"
    assert ticket.account == "default"


def test_ticket_keeps_the_account_it_was_filed_through(engine: Engine) -> None:
    number = create_ticket(engine, "complaint", "o9", {}, account="rsj", now=NOON)
    with engine.connect() as conn:
        account = conn.execute(select(Ticket.account).where(Ticket.number == number)).scalar_one()
    assert account == "rsj"


def test_concurrent_workers_never_share_or_skip_a_number(engine: Engine, database: Database) -> None:
    # Each thread has its own engine (own connections), like separate worker processes.
    workers, per_worker = 6, 15
    numbers: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        own = make_engine(database.url)
        try:
            for _ in range(per_worker):
                number = create_ticket(own, "complaint", "o", {}, now=NOON)
                with lock:
                    numbers.append(number)
        finally:
            own.dispose()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = {f"20261126-{n:04d}" for n in range(1, workers * per_worker + 1)}
    assert sorted(numbers) == sorted(expected)


def test_the_same_delivery_files_one_ticket(engine: Engine) -> None:
    first = create_ticket(engine, "complaint", "o1", {"内容": "路灯坏了"}, delivery="wxapp:o1:42", now=NOON)
    again = create_ticket(engine, "complaint", "o1", {"内容": "路灯坏了"}, delivery="wxapp:o1:42", now=NOON)
    other = create_ticket(engine, "complaint", "o1", {"内容": "路灯坏了"}, delivery="wxapp:o1:43", now=NOON)
    assert first == again == "20261126-0001"
    assert other == "20261126-0002"
    with engine.connect() as conn:
        assert len(conn.execute(select(Ticket.id)).all()) == 2


def test_concurrent_retries_of_one_delivery_file_one_ticket_and_burn_no_number(
    engine: Engine, database: Database
) -> None:
    numbers: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        own = make_engine(database.url)
        try:
            number = create_ticket(own, "complaint", "o", {}, delivery="wxapp:o:7", now=NOON)
            with lock:
                numbers.append(number)
        finally:
            own.dispose()

    threads = [threading.Thread(target=work) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert numbers == ["20261126-0001"] * 5
    assert create_ticket(engine, "complaint", "o", {}, delivery="wxapp:o:8", now=NOON) == "20261126-0002"
