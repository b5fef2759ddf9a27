"""Fifty citizens confirm a booking at once for the last ten seats, against two service workers
sharing Redis and the database (issue 18): exactly ten are booked, every other one is offered
other times and asked again, and no seat is handed out twice."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from app.db import bookings
from app.db.engine import make_engine
from app.db.models import Booking
from app.settings import DEV_ADMIN_TOKEN, DEV_TOKEN
from app.wechat.simulator import Simulator
from bench.common import service
from flows import calendar
from handlers.ports import BookingRequest
from tests.db.fixtures import Database, database, postgres_url  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.redis]
CITIZENS, LEFT, CAPACITY = 50, 10, 20
HALL = "市政务服务中心"


def open_day() -> date:
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=2)
    while not calendar.active().is_open(day):
        day += timedelta(days=1)
    return day


def test_fifty_citizens_two_workers_ten_seats(database: Database, redis_url: str) -> None:  # noqa: F811
    day = open_day()
    engine = make_engine(database.url)
    env = {
        "DATABASE_URL": database.url, "REDIS_URL": redis_url, "RATE_LIMIT_PER_MINUTE": "0",
        "REPLY_DEADLINE_S": "4.9", "WECHAT_ENCRYPT_MODE": "plain",
    }
    run = uuid.uuid4().hex[:8]
    openids = [f"race-{run}-{i}" for i in range(CITIZENS)]
    with service(workers=2, env=env) as svc:
        for i in range(CAPACITY - LEFT):
            request = BookingRequest("booking", f"early-{run}-{i}", "社保卡办理", HALL, day, "上午", CAPACITY, {})
            assert bookings.book(engine, request).status == "booked"
        sim = Simulator(DEV_TOKEN)

        def say(client: httpx.Client, openid: str, text: str) -> str:
            delivery = sim.deliver(sim.text(openid, text))
            response = client.post("/wechat", params=delivery.params, content=delivery.body)
            response.raise_for_status()
            return sim.read_reply(response.text, delivery.params["nonce"]).get("Content", "")

        # Every fact plainly said: the booking is made by this message, no 「确认」 (issue 13), so
        # the fifty first messages are what race for the seats.
        first = f"预约{day.month}月{day.day}日上午办社保卡，我叫张伟，手机13812345678"

        def book(openid: str) -> str:
            with httpx.Client(base_url=svc.base, timeout=30) as client:
                return say(client, openid, first)

        with ThreadPoolExecutor(max_workers=CITIZENS) as pool:
            replies = list(pool.map(book, openids))

        admin = {"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
        with httpx.Client(base_url=svc.base, timeout=30, headers=admin) as client:
            states = [client.get(f"/admin/sessions/{openid}").json() for openid in openids]

    booked = [s for s in states if s["resolved"]]
    offered = [s for s in states if not s["resolved"]]
    assert len(booked) == LEFT
    # The others were told the period is full and asked for another day and half-day.
    assert len(offered) == CITIZENS - LEFT
    assert all(set(s["awaiting"]) == {"date", "period"} for s in offered)
    answered = [r for r in replies if r]  # a reply past the deadline goes out by the API instead
    assert sum("预约成功" in r for r in answered) <= LEFT
    assert all("预约成功" in r or ("预约已满" in r and "最近还有空位的时间" in r) for r in answered)
    with engine.connect() as conn:
        seats = conn.execute(
            select(Booking.seat).where(Booking.day == day, Booking.period == "上午", Booking.status == "booked")
        ).scalars().all()
    engine.dispose()
    assert sorted(seats) == list(range(1, CAPACITY + 1))
