"""Bookings on both backends: seats, duplicates, change and cancel, the citizen's own lookups, and
capacity held under concurrency by the database across worker processes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from app.db import bookings
from app.db.engine import make_engine
from app.db.models import Booking, Ticket
from app.db.tickets import create_ticket
from app.desk.sla import SlaPolicy
from handlers.ports import BookingRequest
from tests.db import booking_worker
from tests.db.fixtures import Database

ROOT = Path(__file__).resolve().parents[2]
NOON = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
DAY = date(2026, 12, 8)
HALL = "市政务服务中心"


def request(
    openid: str, *, day: date = DAY, period: str = "上午", capacity: int = 2, business: str = "社保卡办理"
) -> BookingRequest:
    return BookingRequest("booking", openid, business, HALL, day, period, capacity, {"办理业务": business})


def test_a_booking_files_a_ticket_and_holds_a_seat(engine: Engine) -> None:
    result = bookings.book(engine, request("o1"), now=NOON)
    assert result.status == "booked" and result.booking is not None
    assert result.booking.number == "20261206-0001"
    with engine.connect() as conn:
        seat = conn.execute(select(Booking.seat).where(Booking.number == "20261206-0001")).scalar_one()
        flow = conn.execute(select(Ticket.flow_id).where(Ticket.number == "20261206-0001")).scalar_one()
    assert (seat, flow) == (1, "booking")


def test_a_full_period_is_refused_without_burning_a_number(engine: Engine) -> None:
    bookings.book(engine, request("o1"), now=NOON)
    bookings.book(engine, request("o2"), now=NOON)
    assert bookings.book(engine, request("o3"), now=NOON).status == "full"
    assert bookings.book(engine, request("o3", period="下午"), now=NOON).booking.number == "20261206-0003"  # type: ignore[union-attr]


def test_one_citizen_cannot_hold_two_bookings_for_a_business_on_one_day(engine: Engine) -> None:
    first = bookings.book(engine, request("o1"), now=NOON)
    again = bookings.book(engine, request("o1", period="下午"), now=NOON)
    assert again.status == "duplicate" and again.booking == first.booking
    other_business = bookings.book(engine, request("o1", business="公积金业务"), now=NOON)
    assert other_business.status == "booked"


def test_cancelling_frees_the_seat_and_withdraws_the_ticket(engine: Engine) -> None:
    first = bookings.book(engine, request("o1"), now=NOON).booking
    bookings.book(engine, request("o2"), now=NOON)
    assert first is not None
    assert bookings.cancel(engine, "o2", first.number).status == "not_found"  # not theirs
    cancelled = bookings.cancel(engine, "o1", first.number)
    assert cancelled.booking is not None and cancelled.booking.status == "cancelled"
    assert bookings.book(engine, request("o3"), now=NOON).status == "booked"
    assert bookings.cancel(engine, "o1", first.number).status == "not_found"  # already cancelled
    with engine.connect() as conn:
        status = conn.execute(select(Ticket.status).where(Ticket.number == first.number)).scalar_one()
    assert status == "已撤销"


def test_a_change_keeps_the_number_and_frees_the_old_seat(engine: Engine) -> None:
    first = bookings.book(engine, request("o1"), now=NOON).booking
    assert first is not None
    moved = bookings.change(engine, "o1", first.number, DAY + timedelta(days=1), "下午", 2)
    assert moved.status == "booked" and moved.booking is not None
    after = (moved.booking.number, moved.booking.day, moved.booking.period)
    assert after == (first.number, DAY + timedelta(days=1), "下午")
    assert bookings.booked_counts(engine, "社保卡办理", HALL, [DAY, DAY + timedelta(days=1)]) == {
        (DAY + timedelta(days=1), "下午"): 1
    }


def test_a_change_to_a_full_period_keeps_the_booking(engine: Engine) -> None:
    mine = bookings.book(engine, request("o1"), now=NOON).booking
    bookings.book(engine, request("o2", period="下午"), now=NOON)
    bookings.book(engine, request("o3", period="下午"), now=NOON)
    assert mine is not None
    refused = bookings.change(engine, "o1", mine.number, DAY, "下午", 2)
    assert refused.status == "full" and refused.booking == mine


def test_lookups_find_only_the_citizens_own_items(engine: Engine) -> None:
    booked = bookings.book(engine, request("o1"), now=NOON).booking
    complaint = create_ticket(engine, "complaint", "o1", {"问题类别": "服务态度"}, now=NOON + timedelta(minutes=1))
    assert booked is not None
    item = bookings.find_item(engine, "o1", booked.number)
    assert item is not None and item.booking is not None and item.booking.period == "上午"
    assert bookings.find_item(engine, "o2", booked.number) is None
    found = bookings.find_item(engine, "o1", complaint)
    assert found is not None and found.booking is None and found.fields == {"问题类别": "服务态度"}


def test_my_items_lists_open_ones_newest_first(engine: Engine) -> None:
    older = bookings.book(engine, request("o1"), now=NOON).booking
    newer = bookings.book(engine, request("o1", day=DAY + timedelta(days=1)), now=NOON + timedelta(minutes=5)).booking
    gone = bookings.book(engine, request("o1", day=DAY + timedelta(days=2)), now=NOON + timedelta(minutes=9)).booking
    past = bookings.book(engine, request("o1", day=date(2026, 12, 1)), now=NOON).booking
    assert older and newer and gone and past
    bookings.cancel(engine, "o1", gone.number)
    complaint = create_ticket(engine, "complaint", "o1", {}, now=NOON)
    listed = bookings.my_items(engine, "o1", "booking", 9, today=date(2026, 12, 6))
    assert [i.number for i in listed] == [newer.number, older.number]
    assert [i.number for i in bookings.my_items(engine, "o1", "ticket", 9)] == [complaint]
    assert bookings.my_items(engine, "o2", "booking", 9, today=date(2026, 12, 6)) == []


def _race(url: str, citizens: int, workers: int) -> dict[str, str]:
    start_at = time.time() + 3.0
    per = citizens // workers
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.db.booking_worker", url, str(w * per), str(per), str(start_at)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )
        for w in range(workers)
    ]
    results: dict[str, str] = {}
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        results.update(json.loads(out))
    return results


def test_fifty_citizens_racing_for_the_last_ten_seats_across_two_workers(engine: Engine, database: Database) -> None:
    taken = booking_worker.CAPACITY - 10
    for i in range(taken):
        req = request(f"early-{i}", day=booking_worker.DAY, capacity=booking_worker.CAPACITY)
        assert bookings.book(engine, req).status == "booked"
    results = _race(database.url, citizens=50, workers=2)
    assert len(results) == 50
    assert sorted(results.values()).count("booked") == 10
    assert set(results.values()) == {"booked", "full"}
    with engine.connect() as conn:
        seats = conn.execute(select(Booking.seat).where(Booking.day == booking_worker.DAY)).scalars().all()
    assert sorted(seats) == list(range(1, booking_worker.CAPACITY + 1))


def test_bookings_belong_to_their_account(engine: Engine) -> None:
    mine = bookings.book(engine, request("o1"), account="rsj", now=NOON).booking
    assert mine is not None
    assert bookings.find_item(engine, "o1", mine.number) is None  # the default account does not see it
    assert bookings.find_item(engine, "o1", mine.number, account="rsj") is not None
    assert bookings.cancel(engine, "o1", mine.number).status == "not_found"
    # Seats and the one-per-day rule are per account too.
    assert bookings.book(engine, request("o1"), now=NOON).status == "booked"


def test_two_citizens_moving_into_the_last_seat_at_once_get_it_once(engine: Engine, database: Database) -> None:
    a = bookings.book(engine, request("a", period="下午"), now=NOON).booking
    b = bookings.book(engine, request("b", period="下午"), now=NOON).booking
    bookings.book(engine, request("c"), now=NOON)  # one seat of two left in the morning
    assert a is not None and b is not None
    outcomes: list[str] = []
    lock = threading.Lock()

    def move(openid: str, number: str) -> None:
        own = make_engine(database.url)
        try:
            status = bookings.change(own, openid, number, DAY, "上午", 2).status
        finally:
            own.dispose()
        with lock:
            outcomes.append(status)

    threads = [threading.Thread(target=move, args=(o, n)) for o, n in (("a", a.number), ("b", b.number))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["booked", "full"]
    assert bookings.booked_counts(engine, "社保卡办理", HALL, [DAY]) == {(DAY, "上午"): 2, (DAY, "下午"): 1}


def test_a_retried_delivery_gets_its_booking_back_not_a_second_seat_or_a_refusal(
    engine: Engine, database: Database
) -> None:
    # Issue 15: the session store down, WeChat's retries run the flow again, concurrently.
    results: list[bookings.BookingResult] = []
    lock = threading.Lock()

    def work() -> None:
        own = make_engine(database.url)
        try:
            result = bookings.book(own, request("o-retry"), delivery="wxapp:o-retry:99")
            with lock:
                results.append(result)
        finally:
            own.dispose()

    threads = [threading.Thread(target=work) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status for r in results] == ["booked"] * 5
    assert len({r.booking.number for r in results if r.booking}) == 1
    with engine.connect() as conn:
        assert len(conn.execute(select(Booking.id)).all()) == 1
        assert len(conn.execute(select(Ticket.id)).all()) == 1


def test_a_bookings_ticket_carries_its_consultation_and_deadlines_for_the_desk(engine: Engine) -> None:
    result = bookings.book(engine, request("o1"), now=NOON, consultation_id="c-42", sla=SlaPolicy())
    assert result.booking is not None
    with engine.connect() as conn:
        ticket = conn.execute(select(Ticket).where(Ticket.number == result.booking.number)).one()
    assert ticket.consultation_id == "c-42"
    assert ticket.response_due_at is not None and ticket.resolve_due_at is not None
