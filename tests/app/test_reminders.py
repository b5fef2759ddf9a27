"""Booking reminders (app/reminders.py) against the fake WeChat API, on SQLite and PostgreSQL:
the channel chosen, cancelled and changed bookings, one send per booking under concurrent
runners and after a crash, and the settling of sends a dead worker left `sending`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, insert, select

from app.db import bookings
from app.db.engine import make_engine
from app.db.models import Ticket, TicketEvent
from app.desk import outbox
from app.notify import Delivery, Notifier, Template
from app.reminders import (
    NotificationTask,
    ReminderConfigError,
    ReminderPolicy,
    claim,
    due_bookings,
    parse_reminders,
    reminder_key,
    send_reminders,
)
from app.stores.base import Store
from app.stores.memory import MemoryStore
from app.stores.redis import RedisStore
from app.wxapi import WeChatClient
from flows.schema import BookingSpec
from handlers.ports import BookingRequest
from tests.conftest import delete_prefixed, wechat_client
from tests.db.fixtures import Database, database, engine, postgres_url
from tests.fakes.fake_wechat import FakeWeChat

__all__ = ["database", "engine", "postgres_url"]

# Monday 7 December 2026, 10:00 in Shanghai: inside the default hours (09:00-20:00).
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
TOMORROW = date(2026, 12, 8)
HALL = "市政务服务中心"
SPEC = BookingSpec(hall=HALL, address="幸福大道 1 号（示例地址）", hours={"上午": "9:00-12:00", "下午": "13:30-17:00"})
REMINDER = Template("tpl-reminder", {"keyword1": "{business}", "keyword2": "{time}", "remark": "{note}"})
POLICY = ReminderPolicy()


def spec_for(account: str, flow_id: str) -> BookingSpec | None:
    return SPEC if flow_id == "booking" else None


def book(engine: Engine, openid: str, day: date = TOMORROW, period: str = "上午", account: str = "default") -> str:
    request = BookingRequest("booking", openid, "社保卡办理", HALL, day, period, 20, {"姓名": "张伟"})
    result = bookings.book(engine, request, account=account, now=NOW - timedelta(days=3))
    assert result.status == "booked" and result.booking is not None
    return result.booking.number


class Window:
    """When each citizen last wrote: inside or outside the 48-hour window per test."""

    def __init__(self) -> None:
        self.last: dict[str, datetime] = {}

    async def __call__(self, openid: str) -> datetime | None:
        return self.last.get(openid)


@pytest.fixture
async def client(wechat: FakeWeChat) -> AsyncIterator[WeChatClient]:
    async with wechat_client(wechat) as made:
        yield made


def notifiers(
    client: WeChatClient, window: Window, store: Store | None = None, *, templates: bool = True
) -> Callable[[str], Notifier]:
    notifier = Notifier(
        client=client, window=window, templates={"reminder": REMINDER} if templates else {}, store=store,
        clock=lambda: NOW,
    )
    return lambda account: notifier


def events(engine: Engine, number: str) -> list[TicketEvent]:
    with engine.connect() as conn:
        ticket_id = conn.execute(select(Ticket.id).where(Ticket.number == number)).scalar_one()
        return list(conn.execute(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        ).all())


async def remind(engine: Engine, notifier_for: Callable[[str], Notifier], now: datetime = NOW, **kw: object):  # type: ignore[no-untyped-def]
    return await send_reminders(engine, notifier_for, POLICY, flows_for=spec_for, now=now, **kw)  # type: ignore[arg-type]


async def test_inside_the_window_the_reminder_is_a_customer_service_message(
    engine: Engine, client: WeChatClient, wechat: FakeWeChat
) -> None:
    number = book(engine, "o-kf")
    window = Window()
    window.last["o-kf"] = NOW - timedelta(hours=47)
    summary = await remind(engine, notifiers(client, window))
    assert (summary.due, summary.sent_kf, summary.sent_template) == (1, 1, 0)
    (message,) = wechat.sent
    text = message["text"]["content"]
    assert message["touser"] == "o-kf"
    assert "明天12月8日（周二）上午（9:00-12:00）" in text
    assert "市政务服务中心" in text and "地址：幸福大道 1 号（示例地址）" in text and number in text
    assert "回复「取消预约」" in text and "回复「改约」" in text
    (event,) = events(engine, number)
    assert (event.action, event.delivery, event.channel) == ("reminder", "sent", "kf")
    assert event.request_key == reminder_key(number, TOMORROW, "上午") and event.note == text


async def test_outside_the_window_the_reminder_template_is_sent(
    engine: Engine, client: WeChatClient, wechat: FakeWeChat
) -> None:
    number = book(engine, "o-tpl", period="下午")
    summary = await remind(engine, notifiers(client, Window()))
    assert summary.sent_template == 1 and wechat.sent == []
    (body,) = wechat.templates_sent
    assert body["touser"] == "o-tpl" and body["template_id"] == "tpl-reminder"
    assert body["data"]["keyword1"] == {"value": "社保卡办理"}
    assert body["data"]["keyword2"] == {"value": "2026-12-08 下午"}
    assert "取消预约" in body["data"]["remark"]["value"]
    (event,) = events(engine, number)
    assert (event.delivery, event.channel) == ("sent", "template")


@pytest.mark.parametrize("errcode", [45015, 45047])
async def test_a_refused_customer_service_message_falls_back_to_the_template(
    engine: Engine, client: WeChatClient, wechat: FakeWeChat, errcode: int
) -> None:
    number = book(engine, "o-refused")
    window = Window()
    window.last["o-refused"] = NOW - timedelta(hours=1)
    wechat.fail_next("custom_send", errcode)
    summary = await remind(engine, notifiers(client, window))
    assert summary.sent_template == 1
    assert len(wechat.calls_to("custom_send")) == 1 and len(wechat.templates_sent) == 1
    (event,) = events(engine, number)
    assert (event.delivery, event.channel) == ("sent", "template")


async def test_without_any_template_the_ticket_template_is_used(
    engine: Engine, client: WeChatClient, wechat: FakeWeChat
) -> None:
    book(engine, "o-ticket-tpl")
    ticket = Template("tpl-ticket", {"keyword1": "{number}", "keyword2": "{status}"})
    notifier = Notifier(client=client, window=Window(), templates={"ticket": ticket}, clock=lambda: NOW)
    summary = await remind(engine, lambda account: notifier)
    assert summary.sent_template == 1
    assert wechat.templates_sent[0]["template_id"] == "tpl-ticket"
    assert wechat.templates_sent[0]["data"]["keyword2"] == {"value": "预约提醒"}


async def test_no_channel_is_recorded_as_impossible(engine: Engine, client: WeChatClient, wechat: FakeWeChat) -> None:
    number = book(engine, "o-nothing")
    summary = await remind(engine, notifiers(client, Window(), templates=False))
    assert summary.impossible == 1 and summary.sent == 0
    (event,) = events(engine, number)
    assert event.delivery == "impossible"
    # Not retried on the next round: the desk shows staff to call instead.
    assert (await remind(engine, notifiers(client, Window()))).due == 0
    assert wechat.templates_sent == []


async def test_a_cancelled_booking_gets_no_reminder(engine: Engine, client: WeChatClient, wechat: FakeWeChat) -> None:
    number = book(engine, "o-cancelled")
    assert bookings.cancel(engine, "o-cancelled", number, now=NOW - timedelta(days=1)).status == "booked"
    summary = await remind(engine, notifiers(client, Window()))
    assert summary.due == 0 and wechat.templates_sent == [] and events(engine, number) == []


async def test_a_booking_cancelled_between_the_read_and_the_claim_is_skipped(engine: Engine) -> None:
    number = book(engine, "o-late-cancel")
    (due,) = due_bookings(engine, NOW.date(), POLICY)
    bookings.cancel(engine, "o-late-cancel", number, now=NOW)
    assert claim(engine, due, "text", NOW) is None
    assert events(engine, number) == []


async def test_a_changed_booking_is_reminded_of_the_new_date_only(
    engine: Engine, client: WeChatClient, wechat: FakeWeChat
) -> None:
    number = book(engine, "o-moved")
    later = TOMORROW + timedelta(days=2)
    assert bookings.change(engine, "o-moved", number, later, "下午", 20, now=NOW - timedelta(days=1)).status == "booked"
    assert (await remind(engine, notifiers(client, Window()))).due == 0
    assert (await remind(engine, notifiers(client, Window()), now=NOW + timedelta(days=1))).due == 0
    summary = await remind(engine, notifiers(client, Window()), now=NOW + timedelta(days=2))
    assert summary.sent_template == 1
    (body,) = wechat.templates_sent
    assert body["data"]["keyword2"] == {"value": "2026-12-10 下午"}
    (event,) = events(engine, number)
    assert "明天12月10日（周四）下午（13:30-17:00）" in event.note


async def test_a_booking_moved_after_its_reminder_is_reminded_again(
    engine: Engine, client: WeChatClient, wechat: FakeWeChat
) -> None:
    number = book(engine, "o-moved-twice")
    await remind(engine, notifiers(client, Window()))
    bookings.change(engine, "o-moved-twice", number, TOMORROW, "下午", 20, now=NOW)
    await remind(engine, notifiers(client, Window()))
    assert [b["data"]["keyword2"]["value"] for b in wechat.templates_sent] == ["2026-12-08 上午", "2026-12-08 下午"]


async def test_a_rerun_sends_nothing_again(engine: Engine, client: WeChatClient, wechat: FakeWeChat) -> None:
    for i in range(3):
        book(engine, f"o-rerun-{i}")
    first = await remind(engine, notifiers(client, Window()))
    second = await remind(engine, notifiers(client, Window()), now=NOW + timedelta(hours=3))
    assert first.sent == 3 and second.due == 0
    assert len(wechat.templates_sent) == 3


async def test_only_the_reminder_days_and_hours_count(
    engine: Engine, client: WeChatClient, wechat: FakeWeChat
) -> None:
    book(engine, "o-far", day=TOMORROW + timedelta(days=1))
    book(engine, "o-today", day=NOW.date())
    book(engine, "o-soon")
    early = datetime(2026, 12, 7, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
    assert (await remind(engine, notifiers(client, Window()), now=early)).outside_hours
    assert wechat.calls_to("template_send") == []
    summary = await remind(engine, notifiers(client, Window()))
    assert summary.due == 1 and [b["touser"] for b in wechat.templates_sent] == ["o-soon"]


async def test_a_crash_after_the_send_never_resends(
    engine: Engine, client: WeChatClient, wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = book(engine, "o-crash")

    def killed(*args: object) -> None:
        raise SystemExit("killed between the send and the record")

    with monkeypatch.context() as patch:
        patch.setattr(outbox, "record", killed)
        with pytest.raises(SystemExit):
            await remind(engine, notifiers(client, Window(), MemoryStore()))
    assert len(wechat.templates_sent) == 1
    # The restarted runner (a new process: a fresh store client) sends nothing again.
    assert (await remind(engine, notifiers(client, Window(), MemoryStore()), now=NOW + timedelta(minutes=5))).due == 0
    (event,) = events(engine, number)
    assert event.delivery == "sending"
    # Settled as unknown once nobody can still be sending it; still never resent.
    assert outbox.settle_stuck(engine, now=NOW + timedelta(minutes=5)) == 0
    assert outbox.settle_stuck(engine, now=NOW + timedelta(minutes=11)) == 1
    (event,) = events(engine, number)
    assert (event.delivery, event.delivery_detail) == ("unknown", "interrupted")
    assert "无法确认是否送达" in Delivery(False, "", event.delivery_detail).describe()
    assert (await remind(engine, notifiers(client, Window()), now=NOW + timedelta(hours=1))).due == 0
    assert len(wechat.templates_sent) == 1


async def test_the_store_claim_holds_if_the_database_record_is_lost(
    engine: Engine, client: WeChatClient, wechat: FakeWeChat
) -> None:
    number = book(engine, "o-restored")
    store = MemoryStore()
    await remind(engine, notifiers(client, Window(), store))
    with engine.begin() as conn:  # a database restored from before the send
        conn.execute(delete(TicketEvent))
    summary = await remind(engine, notifiers(client, Window(), store))
    assert summary.failed == 1 and summary.errors == {"duplicate": 1}
    assert len(wechat.templates_sent) == 1
    (event,) = events(engine, number)
    assert event.delivery_detail == "duplicate"


async def test_accounts_are_reminded_through_their_own_notifier(
    engine: Engine, client: WeChatClient, wechat: FakeWeChat
) -> None:
    book(engine, "o-rsj", account="rsj")
    book(engine, "o-gaj", account="gaj")
    used: list[str] = []
    notifier = notifiers(client, Window())

    def notifier_for(account: str) -> Notifier:
        used.append(account)
        return notifier(account)

    summary = await remind(engine, notifier_for, accounts=["rsj"])
    assert summary.sent == 1 and used == ["rsj"] and wechat.templates_sent[0]["touser"] == "o-rsj"
    await remind(engine, notifier_for)
    assert used == ["rsj", "gaj"]


async def test_a_dry_run_sends_and_records_nothing(engine: Engine, client: WeChatClient, wechat: FakeWeChat) -> None:
    number = book(engine, "o-dry")
    early = datetime(2026, 12, 6, 23, 0, tzinfo=UTC)  # 07:00: a dry run ignores the hours
    summary = await remind(engine, notifiers(client, Window()), now=early, dry_run=True)
    ((due, text),) = summary.planned
    assert due.number == number and "预约号：" + number in text
    assert wechat.calls == [] and events(engine, number) == []


@pytest.mark.redis
async def test_two_concurrent_runners_send_each_reminder_once(
    database: Database, redis_url: str, wechat: FakeWeChat
) -> None:
    """Two runners as on two hosts: their own engine, store client and WeChat client, sharing
    only the database and Redis."""
    first_engine = make_engine(database.url)
    from app.db.migrate import upgrade

    upgrade(first_engine)
    second_engine = make_engine(database.url)
    numbers = [book(first_engine, f"o-race-{i}", period="上午" if i % 2 else "下午") for i in range(12)]
    prefix = f"wxbot-test:{uuid.uuid4().hex}:"
    stores = [RedisStore.from_url(redis_url, prefix=prefix) for _ in range(2)]
    clients = [
        WeChatClient(appid=wechat.appid, secret=wechat.secret, store=s, base_url=wechat.url) for s in stores
    ]
    try:
        window = Window()
        for i in range(0, 12, 3):
            window.last[f"o-race-{i}"] = NOW - timedelta(hours=2)
        results = await asyncio.gather(*(
            remind(e, notifiers(c, window, s)) for e, c, s in zip((first_engine, second_engine), clients, stores,
                                                                  strict=True)
        ))
        assert sum(r.sent for r in results) == 12
        recipients = [m["touser"] for m in wechat.sent] + [b["touser"] for b in wechat.templates_sent]
        assert sorted(recipients) == sorted(f"o-race-{i}" for i in range(12))
        for number in numbers:
            assert [e.delivery for e in events(first_engine, number)] == ["sent"]
    finally:
        for c in clients:
            await c.aclose()
        await delete_prefixed(stores[0], prefix)
        for s in stores:
            await s.close()
        first_engine.dispose()
        second_engine.dispose()


async def test_claims_race_on_the_database_alone(engine: Engine, database: Database) -> None:
    """Many claims of one due booking at once, from separate engines (connection pools): one wins."""
    book(engine, "o-claim")
    (due,) = due_bookings(engine, NOW.date(), POLICY)
    engines = [make_engine(database.url) for _ in range(4)]
    try:
        won = await asyncio.gather(*(asyncio.to_thread(claim, e, due, "text", NOW) for e in engines for _ in range(2)))
    finally:
        for e in engines:
            e.dispose()
    assert sum(w is not None for w in won) == 1


def desk_event(engine: Engine, number: str, delivery: str, at: datetime, claimed: datetime | None = None) -> int:
    with engine.begin() as conn:
        ticket_id = conn.execute(select(Ticket.id).where(Ticket.number == number)).scalar_one()
        result = conn.execute(insert(TicketEvent).values(
            ticket_id=ticket_id, at=at, actor="zhou", action="reply", note="请带上户口本。", delivery=delivery,
            delivered_at=claimed,
        ))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


async def test_settle_stuck_leaves_live_sends_alone(engine: Engine) -> None:
    number = book(engine, "o-desk")
    old = desk_event(engine, number, "sending", NOW - timedelta(hours=1), claimed=NOW - timedelta(minutes=30))
    unstamped = desk_event(engine, number, "sending", NOW - timedelta(hours=1))
    live = desk_event(engine, number, "sending", NOW - timedelta(hours=1), claimed=NOW - timedelta(seconds=20))
    assert outbox.settle_stuck(engine, now=NOW) == 2
    states = {e.id: e.delivery for e in events(engine, number)}
    assert (states[old], states[unstamped], states[live]) == ("unknown", "unknown", "sending")


async def test_the_task_delivers_desk_notices_a_dead_worker_left_pending(
    engine: Engine, client: WeChatClient, wechat: FakeWeChat
) -> None:
    number = book(engine, "o-pending", day=TOMORROW + timedelta(days=5))
    stale = desk_event(engine, number, "pending", NOW - timedelta(minutes=5))
    fresh = desk_event(engine, number, "pending", NOW - timedelta(seconds=10))
    ancient = desk_event(engine, number, "pending", NOW - timedelta(days=3))
    task = NotificationTask(engine, notifiers(client, Window()), ReminderPolicy(enabled=False), MemoryStore(),
                            accounts=["default"], clock=lambda: NOW)
    ticket = Template("tpl-ticket", {"remark": "{text}"})
    task.notifier_for = lambda account: Notifier(
        client=client, window=Window(), templates={"ticket": ticket}, clock=lambda: NOW
    )
    await task.tick()
    states = {e.id: e.delivery for e in events(engine, number)}
    assert (states[stale], states[fresh], states[ancient]) == ("sent", "pending", "pending")
    assert len(wechat.templates_sent) == 1
    assert "请带上户口本" in wechat.templates_sent[0]["data"]["remark"]["value"]


@pytest.mark.redis
async def test_one_worker_per_interval_takes_the_task(engine: Engine, redis_url: str, wechat: FakeWeChat) -> None:
    prefix = f"wxbot-test:{uuid.uuid4().hex}:"
    stores = [RedisStore.from_url(redis_url, prefix=prefix) for _ in range(2)]
    try:
        book(engine, "o-lease")
        async with WeChatClient(appid=wechat.appid, secret=wechat.secret, store=stores[0], base_url=wechat.url) as c:
            tasks = [
                NotificationTask(engine, notifiers(c, Window()), POLICY, s, accounts=["default"],
                                 flows_for=spec_for, clock=lambda: NOW, interval_s=60)
                for s in stores
            ]
            results = await asyncio.gather(*(t.tick() for t in tasks))
        assert sorted(r is None for r in results) == [False, True]
        assert len(wechat.templates_sent) == 1
    finally:
        await delete_prefixed(stores[0], prefix)
        for s in stores:
            await s.close()


def test_the_policy_is_read_strictly() -> None:
    assert parse_reminders(None) == ReminderPolicy()
    policy = parse_reminders({"days_before": 2, "at": "08:30", "until": "18:00"})
    assert policy.days(date(2026, 12, 7)) == (date(2026, 12, 8), date(2026, 12, 9))
    assert policy.in_hours(datetime(2026, 12, 7, 0, 30, tzinfo=UTC))  # 08:30 local
    assert not policy.in_hours(datetime(2026, 12, 7, 10, 0, tzinfo=UTC))  # 18:00 local
    for bad in ({"at": "9点"}, {"days_before": 0}, {"enabled": "yes"}, {"until": "08:00"}, {"hour": 9}):
        with pytest.raises(ReminderConfigError):
            parse_reminders(bad)


def test_long_keys_are_hashed_not_cut() -> None:
    short = reminder_key("20261207-0001", TOMORROW, "上午")
    assert short == "remind:20261207-0001:20261208:上午"
    long_a = reminder_key("20261207-0001", TOMORROW, "第" + "一" * 60)
    long_b = reminder_key("20261207-0001", TOMORROW, "第" + "一" * 61)
    assert len(long_a) <= 64 and long_a != long_b


async def test_the_task_runs_on_its_own_until_stopped(engine: Engine, client: WeChatClient, wechat: FakeWeChat) -> None:
    book(engine, "o-background")
    task = NotificationTask(engine, notifiers(client, Window()), POLICY, MemoryStore(), accounts=["default"],
                            flows_for=spec_for, clock=lambda: NOW, interval_s=0.2)
    task.start()
    try:
        for _ in range(100):
            if wechat.templates_sent:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # more rounds: still one reminder
    finally:
        await task.stop()
    assert [b["touser"] for b in wechat.templates_sent] == ["o-background"]
    assert not task.running
