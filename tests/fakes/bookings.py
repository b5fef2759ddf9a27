"""An in-memory book of tickets and bookings with the database's rules (seats, one per citizen,
business and day), for handler and flow tests that do not need a database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from handlers.ports import BookingRequest, BookingResult, BookingView, ItemKind, ItemView


@dataclass
class _Ticket:
    number: str
    flow_id: str
    openid: str
    fields: dict[str, str]
    status: str
    created_at: datetime
    # What the citizen sent after filing (Services.add_to_ticket), oldest first.
    notes: list[str] = field(default_factory=list)


class MemoryBook:
    def __init__(self, day: str = "20261126") -> None:
        self.day = day
        self.filed: list[_Ticket] = []
        self.bookings: dict[str, tuple[str, BookingView]] = {}  # number → (openid, booking)
        self.capacity: dict[tuple[str, str, date, str], int] = {}
        self.replies: dict[str, tuple[str, datetime]] = {}

    def _ticket(self, flow_id: str, openid: str, fields: Mapping[str, str]) -> str:
        number = f"{self.day}-{len(self.filed) + 1:04d}"
        stamp = datetime(2026, 11, 26, 2, 0, tzinfo=UTC).replace(minute=len(self.filed) % 60)
        self.filed.append(_Ticket(number, flow_id, openid, dict(fields), "open", stamp))
        return number

    async def create_ticket(self, flow_id: str, openid: str, fields: Mapping[str, str]) -> str:
        return self._ticket(flow_id, openid, fields)

    def _active(self) -> list[tuple[str, BookingView]]:
        return [(o, b) for o, b in self.bookings.values() if b.status == "booked"]

    def _taken(self, business: str, hall: str, day: date, period: str, besides: str = "") -> int:
        return sum(
            1 for _o, b in self._active()
            if (b.business, b.hall, b.day, b.period) == (business, hall, day, period) and b.number != besides
        )

    def _duplicate(self, openid: str, business: str, day: date, besides: str = "") -> BookingView | None:
        for o, b in self._active():
            if o == openid and b.business == business and b.day == day and b.number != besides:
                return b
        return None

    async def book(self, request: BookingRequest) -> BookingResult:
        existing = self._duplicate(request.openid, request.business, request.day)
        if existing is not None:
            return BookingResult("duplicate", existing)
        if self._taken(request.business, request.hall, request.day, request.period) >= request.capacity:
            return BookingResult("full")
        number = self._ticket(request.flow_id, request.openid, request.fields)
        view = BookingView(number, request.business, request.hall, request.day, request.period, "booked",
                           self.filed[-1].created_at, request.flow_id)
        self.bookings[number] = (request.openid, view)
        return BookingResult("booked", view)

    async def booked_counts(self, business: str, hall: str, days: Sequence[date]) -> Mapping[tuple[date, str], int]:
        counts: dict[tuple[date, str], int] = {}
        for _o, b in self._active():
            if b.business == business and b.hall == hall and b.day in days:
                counts[(b.day, b.period)] = counts.get((b.day, b.period), 0) + 1
        return counts

    def _own(self, openid: str, number: str) -> BookingView | None:
        found = self.bookings.get(number)
        if found is None or found[0] != openid or found[1].status != "booked":
            return None
        return found[1]

    async def change_booking(self, openid: str, number: str, day: date, period: str, capacity: int) -> BookingResult:
        current = self._own(openid, number)
        if current is None:
            return BookingResult("not_found")
        existing = self._duplicate(openid, current.business, day, besides=number)
        if existing is not None:
            return BookingResult("duplicate", existing)
        if self._taken(current.business, current.hall, day, period, besides=number) >= capacity:
            return BookingResult("full", current)
        moved = replace(current, day=day, period=period)
        self.bookings[number] = (openid, moved)
        return BookingResult("booked", moved)

    async def cancel_booking(self, openid: str, number: str) -> BookingResult:
        current = self._own(openid, number)
        if current is None:
            return BookingResult("not_found")
        cancelled = replace(current, status="cancelled")
        self.bookings[number] = (openid, cancelled)
        for ticket in self.filed:
            if ticket.number == number:
                ticket.status = "已撤销"
        return BookingResult("booked", cancelled)

    async def withdraw_ticket(self, openid: str, number: str) -> bool:
        for ticket in self.filed:
            mine = ticket.number == number and ticket.openid == openid
            if mine and ticket.status in ("open", "新建", "已受理", "办理中"):
                ticket.status = "已撤销"
                return True
        return False

    async def add_to_ticket(self, openid: str, number: str, note: str) -> bool:
        for ticket in self.filed:
            if ticket.number == number and ticket.openid == openid:
                ticket.notes.append(note)
                return True
        return False

    def _item(self, ticket: _Ticket) -> ItemView:
        booking = self.bookings.get(ticket.number)
        reply = self.replies.get(ticket.number)
        return ItemView(
            ticket.number, ticket.flow_id, ticket.status, ticket.created_at, dict(ticket.fields),
            booking[1] if booking else None, reply[0] if reply else "", reply[1] if reply else None,
        )

    async def find_item(self, openid: str, number: str) -> ItemView | None:
        for ticket in self.filed:
            if ticket.number == number and ticket.openid == openid:
                return self._item(ticket)
        return None

    async def my_items(self, openid: str, kind: ItemKind, limit: int) -> list[ItemView]:
        found = []
        for ticket in reversed(self.filed):
            if ticket.openid != openid:
                continue
            booking = self.bookings.get(ticket.number)
            if kind == "booking" and booking is not None and booking[1].status == "booked":
                found.append(self._item(ticket))
            if kind == "ticket" and booking is None and ticket.status not in ("已办结", "已退回", "已撤销"):
                found.append(self._item(ticket))
        return found[:limit]
