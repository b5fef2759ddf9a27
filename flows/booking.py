"""Placing a booking: a seat at the time asked for, or why not and the nearest free times (issue 18).

The engine calls `place` when a flow with a `booking` action completes. The seat itself is taken
by the database (`Services.book`), which refuses a full period or a second booking of the same
business on one day atomically; this module turns those answers into what the citizen reads and
finds the free times nearest the one asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from flows import calendar
from flows.dates import display
from flows.schema import BookingSpec, Flow
from handlers.ports import BookingRequest, BookingView, Services

PERIODS = ("上午", "下午")
# How many free times a full period offers, and how many open days either side are looked at.
OFFERED = 3
SEARCH_OPEN_DAYS = 6

FULL = "抱歉，{when}的「{business}」预约已满。"
OFFER = "最近还有空位的时间：{times}。请回复新的日期和时段，例如「{example}」。"
NO_FREE = "近期{business}的预约都已约满，请换一项业务或稍后再试，也可以回复「人工」咨询。"
DUPLICATE = (
    "您已预约{when}的「{business}」（预约号：{number}），同一业务同一天只能预约一次。"
    "如需改约，请回复「改约」；如需取消，请回复「取消预约」。"
)


@dataclass(frozen=True, slots=True)
class Placed:
    number: str = ""
    # When not booked: what to tell the citizen, and the slots to ask again (none: the flow ends).
    refusal: str = ""
    reask: tuple[str, ...] = ()


def when(day: date, period: str, today: date) -> str:
    return f"{display(day, today)}{period}"


async def place(
    flow: Flow, slots: Mapping[str, str], fields: Mapping[str, str], services: Services, openid: str, today: date
) -> Placed:
    spec = flow.booking
    assert spec is not None, "a booking action has a booking section (schema)"
    business = slots[spec.business]
    day = date.fromisoformat(slots[spec.date])
    period = slots[spec.period]
    capacity = spec.capacity_for(business)
    request = BookingRequest(flow.id, openid, business, spec.hall, day, period, capacity, fields)
    result = await services.book(request)
    if result.status == "booked" and result.booking is not None:
        return Placed(number=result.booking.number)
    if result.status == "duplicate" and result.booking is not None:
        return Placed(refusal=duplicate_text(result.booking, today))
    window = window_of(flow, spec, today)
    free = await nearest_free(services, spec, business, day, period, window, capacity)
    text = FULL.format(when=when(day, period, today), business=business)
    if not free:
        return Placed(refusal=text + NO_FREE.format(business=business))
    times = "、".join(when(d, p, today) for d, p in free)
    example = f"{free[0][0].month}月{free[0][0].day}日{free[0][1]}"
    return Placed(refusal=text + OFFER.format(times=times, example=example), reask=(spec.date, spec.period))


def duplicate_text(existing: BookingView, today: date) -> str:
    return DUPLICATE.format(
        when=when(existing.day, existing.period, today), business=existing.business, number=existing.number
    )


def window_of(flow: Flow, spec: BookingSpec, today: date) -> tuple[date, date]:
    slot = flow.slots[spec.date]
    return today + timedelta(days=slot.min_days), today + timedelta(days=slot.max_days)


def _open_days_near(day: date, window: tuple[date, date]) -> list[date]:
    """Open days inside the window, nearest to `day` first (the earlier one first on a tie)."""
    first, last = window
    cal = calendar.active()
    found: list[date] = []
    for offset in range(0, (last - first).days + 1):
        for candidate in (day - timedelta(days=offset), day + timedelta(days=offset)) if offset else (day,):
            if first <= candidate <= last and candidate not in found and cal.is_open(candidate):
                found.append(candidate)
        if len(found) >= SEARCH_OPEN_DAYS * 2:
            break
    return found


async def nearest_free(
    services: Services,
    spec: BookingSpec,
    business: str,
    day: date,
    period: str,
    window: tuple[date, date],
    capacity: int,
    *,
    excluding: Sequence[tuple[date, str]] = (),
) -> list[tuple[date, str]]:
    """Up to `OFFERED` free (day, period) pairs nearest the one asked for: the same day first."""
    days = _open_days_near(day, window)
    if not days:
        return []
    counts = await services.booked_counts(business, spec.hall, days)
    skip = {(day, period), *excluding}
    free = [
        (d, p) for d in days for p in PERIODS
        if (d, p) not in skip and counts.get((d, p), 0) < capacity
    ]
    return free[:OFFERED]
