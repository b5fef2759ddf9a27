"""Booking reminders the day before, and the periodic notification task of `wxbot serve` (issue 18).

A citizen holding a booking is reminded once, `days_before` days ahead (default: the day
before), between `at` and `until` local time (Asia/Shanghai), by `app.notify`: a
customer-service message inside WeChat's 48-hour window, else the `reminder` template (or the
desk's `ticket` template when no `reminder` one is configured). The schedule is the desk
configuration's `notify.reminders` (DESK_CONFIG, README "Booking reminders"):

    notify:
      reminders: {enabled: true, days_before: 1, at: "09:00", until: "20:00"}

Each reminder is a `ticket_events` row of the booking's ticket (`action="reminder"`), the table
the desk already stores every notification in, with the text sent and its result. Sending once:

- the row's unique `request_key` is `remind:<number>:<day>:<period>`. Inserting it is the claim:
  of any number of runners (workers, hosts, a CLI run beside the server), one insert succeeds and
  the others skip the booking. A booking moved to another day or period gets a new key, so it is
  reminded of the new date; a cancelled booking is not due, and the claim re-reads the booking,
  so one cancelled a moment ago is skipped;
- the send then also claims `notify:once:booking-reminder:<key>` in the shared store (Notifier's
  `once`), which still holds for two weeks if the database row were lost (a restore);
- the row is inserted `sending` and updated with the result. A runner that dies between the send
  and the update leaves it `sending`; it is never sent again (the key exists) and `settle_stuck`
  marks it `unknown` after ten minutes: a second reminder is worse than one unconfirmed.

In `wxbot serve` every worker runs `NotificationTask`, but each tick first takes a lease in the
shared store, so one worker does the work per interval; correctness does not depend on the
lease (the claims above), it only saves the other workers the queries.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Engine, and_, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.background import Background
from app.db.bookings import BOOKED, CLOSED_TICKET_STATUSES
from app.db.models import Booking, Ticket, TicketEvent
from app.desk import outbox
from app.notify import Delivery, Notice, Notifier
from app.stores.base import Store, StoreUnavailable
from flows.dates import display
from flows.schema import BookingSpec

log = structlog.get_logger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")
ACTION = "reminder"
ACTOR = "系统"
LEASE_KEY = "notify:task-lease"

# What the citizen reads. The period's hours and the hall's address come from the flow's
# `booking:` section when it has them.
TEXT = (
    "【预约提醒】您{when}{period}{hours}在{hall}有一个预约。\n"
    "业务：{business}\n"
    "预约号：{number}\n"
    "{address}"
    "请携带本人身份证件原件按时前往，在大厅自助机输入预约号取号办理。\n"
    "如需改约，请回复「改约」（例如「改到下周三上午」）；如需取消，请回复「取消预约」。"
)
_RELATIVE = {1: "明天", 2: "后天"}


class ReminderConfigError(ValueError):
    """`notify.reminders` is malformed; the message names the key."""


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    enabled: bool = True
    # Remind this many days ahead at the latest (1: the day before).
    days_before: int = 1
    # Local (Asia/Shanghai) hours in which reminders go out; after downtime, sending catches up
    # until `until`, never at night.
    at: time = time(9, 0)
    until: time = time(20, 0)

    def in_hours(self, now: datetime) -> bool:
        local = now.astimezone(SHANGHAI).time()
        return self.at <= local < self.until

    def days(self, today: date) -> tuple[date, date]:
        """The appointment days due for a reminder on `today`: tomorrow up to `days_before` ahead."""
        return today + timedelta(days=1), today + timedelta(days=self.days_before)


def _clock_time(raw: object, key: str) -> time:
    try:
        hours, minutes = str(raw).strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise ReminderConfigError(f"notify.reminders.{key}: expected HH:MM, not {raw!r}") from exc


def parse_reminders(raw: Mapping[str, object] | None) -> ReminderPolicy:
    if raw is None:
        return ReminderPolicy()
    if not isinstance(raw, Mapping):
        raise ReminderConfigError("notify.reminders must be a mapping")
    unknown = set(raw) - {"enabled", "days_before", "at", "until"}
    if unknown:
        raise ReminderConfigError(f"notify.reminders: unknown keys {sorted(unknown)}")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ReminderConfigError("notify.reminders.enabled: true or false")
    days_before = raw.get("days_before", 1)
    if not isinstance(days_before, int) or isinstance(days_before, bool) or not 1 <= days_before <= 7:
        raise ReminderConfigError("notify.reminders.days_before: a whole number of days, 1 to 7")
    at = _clock_time(raw.get("at", "09:00"), "at")
    until = _clock_time(raw.get("until", "20:00"), "until")
    if until <= at:
        raise ReminderConfigError("notify.reminders.until must be later than at")
    return ReminderPolicy(enabled=enabled, days_before=days_before, at=at, until=until)


@dataclass(frozen=True, slots=True)
class Due:
    """A booking that should hear from us, and the key its reminder is sent under."""

    key: str
    ticket_id: int
    account: str
    number: str
    openid: str
    flow_id: str
    business: str
    hall: str
    day: date
    period: str


def reminder_key(number: str, day: date, period: str) -> str:
    key = f"remind:{number}:{day:%Y%m%d}:{period}"
    # request_key holds 64 characters; a long period name is hashed rather than cut (cut keys could collide).
    return key if len(key) <= 64 else "remind:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def due_bookings(
    engine: Engine, today: date, policy: ReminderPolicy, *, accounts: Sequence[str] | None = None
) -> list[Due]:
    """Active bookings within the reminder days that have not been reminded of their current
    day and period; oldest appointment first."""
    first, last = policy.days(today)
    query = (
        select(Booking, Ticket.id)
        .join(Ticket, and_(Ticket.number == Booking.number, Ticket.account == Booking.account))
        .where(
            Booking.status == BOOKED, Booking.day >= first, Booking.day <= last,
            Ticket.status.not_in(CLOSED_TICKET_STATUSES),
        )
        .order_by(Booking.day, Booking.id)
    )
    if accounts is not None:
        query = query.where(Booking.account.in_(list(accounts)))
    with Session(engine, expire_on_commit=False) as conn:
        rows = [(booking, int(ticket_id)) for booking, ticket_id in conn.execute(query)]
        ids = [ticket_id for _, ticket_id in rows]
        done: set[str] = set()
        for start in range(0, len(ids), 500):
            done.update(str(k) for k in conn.execute(
                select(TicketEvent.request_key).where(
                    TicketEvent.ticket_id.in_(ids[start:start + 500]), TicketEvent.action == ACTION
                )
            ).scalars())
    due = [
        Due(
            key=reminder_key(b.number, b.day, b.period), ticket_id=ticket_id, account=b.account,
            number=b.number, openid=b.openid, flow_id=b.flow_id, business=b.business, hall=b.hall,
            day=b.day, period=b.period,
        )
        for b, ticket_id in rows
    ]
    return [d for d in due if d.key not in done]


def reminder_text(due: Due, spec: BookingSpec | None, today: date) -> str:
    relative = _RELATIVE.get((due.day - today).days, "")
    hours = spec.hours.get(due.period, "") if spec is not None else ""
    address = spec.address if spec is not None and spec.address and spec.hall == due.hall else ""
    return TEXT.format(
        when=f"{relative}{display(due.day, today)}", period=due.period, hours=f"（{hours}）" if hours else "",
        hall=due.hall, business=due.business, number=due.number,
        address=f"地址：{address}\n" if address else "",
    )


def notice_for(due: Due, text: str, spec: BookingSpec | None, today: date) -> Notice:
    hours = spec.hours.get(due.period, "") if spec is not None else ""
    return Notice(text=text, fields={
        "number": due.number, "status": "预约提醒", "business": due.business, "hall": due.hall,
        "address": spec.address if spec is not None else "", "date": display(due.day, today),
        "period": f"{due.period} {hours}".strip(), "time": f"{due.day:%Y-%m-%d} {due.period}",
        "note": "如需改约请回复「改约」，如需取消请回复「取消预约」",
    })


def claim(engine: Engine, due: Due, text: str, now: datetime) -> int | None:
    """Insert the reminder's event `sending`: the event id, or None when another runner holds
    the key or the booking was cancelled or moved since it was read."""
    try:
        with Session(engine, expire_on_commit=False) as conn, conn.begin():
            still = conn.execute(
                select(Booking.id).where(
                    Booking.number == due.number, Booking.account == due.account, Booking.status == BOOKED,
                    Booking.day == due.day, Booking.period == due.period,
                )
            ).first()
            if still is None:
                return None
            status = conn.execute(select(Ticket.status).where(Ticket.id == due.ticket_id)).scalar_one()
            result = conn.connection().execute(insert(TicketEvent).values(
                ticket_id=due.ticket_id, at=now, actor=ACTOR, action=ACTION, from_status=status, to_status=status,
                note=text, request_key=due.key, delivery="sending", delivered_at=now,
            ))
            key = result.inserted_primary_key
            return int(key[0]) if key is not None else None
    except IntegrityError:
        return None


Progress = Callable[[int, int], None]
FlowsFor = Callable[[str, str], BookingSpec | None]


@dataclass(slots=True)
class ReminderSummary:
    due: int = 0
    sent_kf: int = 0
    sent_template: int = 0
    # No channel open and no template configured: staff see 「请电话联系」 on the ticket.
    impossible: int = 0
    failed: int = 0
    # Taken by another runner, or cancelled/moved between the read and the claim.
    skipped: int = 0
    outside_hours: bool = False
    # A dry run: what would be sent, (booking, text).
    planned: list[tuple[Due, str]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return self.sent_kf + self.sent_template


def _count(summary: ReminderSummary, delivery: Delivery) -> None:
    if delivery.ok:
        if delivery.channel == "kf":
            summary.sent_kf += 1
        else:
            summary.sent_template += 1
        return
    if outbox.state_of(delivery) == "impossible":
        summary.impossible += 1
    else:
        summary.failed += 1
    summary.errors[delivery.detail] = summary.errors.get(delivery.detail, 0) + 1


def _template(notifier: Notifier) -> str:
    return "reminder" if "reminder" in notifier.templates else "ticket"


async def send_reminders(
    engine: Engine,
    notifier_for: Callable[[str], Notifier],
    policy: ReminderPolicy,
    *,
    flows_for: FlowsFor = lambda account, flow_id: None,
    accounts: Sequence[str] | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    ignore_hours: bool = False,
    progress: Progress | None = None,
) -> ReminderSummary:
    """Remind every booking due now, each once; a dry run claims and sends nothing."""
    now = now or datetime.now(UTC)
    summary = ReminderSummary()
    if not (ignore_hours or dry_run or policy.in_hours(now)):
        summary.outside_hours = True
        return summary
    today = now.astimezone(SHANGHAI).date()
    due = await asyncio.to_thread(due_bookings, engine, today, policy, accounts=accounts)
    summary.due = len(due)
    for done, item in enumerate(due, start=1):
        spec = flows_for(item.account, item.flow_id)
        text = reminder_text(item, spec, today)
        if dry_run:
            summary.planned.append((item, text))
        else:
            event_id = await asyncio.to_thread(claim, engine, item, text, now)
            if event_id is None:
                summary.skipped += 1
            else:
                notifier = notifier_for(item.account)
                delivery = await notifier.notify(
                    item.openid, notice_for(item, text, spec, today), template=_template(notifier),
                    once=f"booking-{item.key}",
                )
                await asyncio.to_thread(outbox.record, engine, event_id, delivery)
                _count(summary, delivery)
                log.info("booking_reminder", number=item.number, account=item.account,
                         channel=delivery.channel, detail=delivery.detail)
        if progress is not None:
            progress(done, len(due))
    return summary


class NotificationTask(Background):
    """`wxbot serve`'s periodic notification work, every `interval_s`: settle sends left
    `sending` by a dead worker, deliver desk notices left `pending`, and send the reminders due."""

    task_name = "notifications"

    def __init__(
        self,
        engine: Engine,
        notifier_for: Callable[[str], Notifier],
        policy: ReminderPolicy,
        store: Store,
        *,
        accounts: Sequence[str],
        flows_for: FlowsFor = lambda account, flow_id: None,
        interval_s: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        self.engine = engine
        self.notifier_for = notifier_for
        self.policy = policy
        self.store = store
        self.accounts = tuple(accounts)
        self.flows_for = flows_for
        self.interval_s = interval_s
        self.clock = clock

    async def _lease(self) -> bool:
        try:
            # Shorter than the interval, so the next tick of any worker can take it.
            return await self.store.set_if_absent(LEASE_KEY, b"1", max(self.interval_s * 0.8, 1.0))
        except StoreUnavailable:
            # The claims keep it correct without the lease; every worker doing the queries is the cost.
            return True

    async def tick(self) -> ReminderSummary | None:
        """One round; None when another worker holds this interval's lease."""
        if not await self._lease():
            return None
        now = self.clock()
        stuck = await asyncio.to_thread(outbox.settle_stuck, self.engine, now=now)
        if stuck:
            log.warning("notifications_interrupted", count=stuck)
        await outbox.deliver_stale(self.engine, self.notifier_for, now=now)
        if not self.policy.enabled:
            return ReminderSummary()
        summary = await send_reminders(
            self.engine, self.notifier_for, self.policy, flows_for=self.flows_for, accounts=self.accounts, now=now,
        )
        if summary.due:
            log.info("booking_reminders", due=summary.due, sent=summary.sent, failed=summary.failed,
                     impossible=summary.impossible, skipped=summary.skipped)
        return summary

    async def _run(self) -> None:
        # The first round waits most of an interval: workers started together spread out instead
        # of racing for the lease, and a short-lived server (a test, a smoke check) sends nothing.
        await asyncio.sleep(self.interval_s * random.uniform(0.5, 1.0))
        while True:
            try:
                await self.tick()
            except Exception:
                # A failing round (database down) must not stop the next one; the reason is in the log.
                log.exception("notification_task_failed")
            await asyncio.sleep(self.interval_s)
