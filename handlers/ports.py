"""Ports: the I/O that handlers need, declared here and implemented in `app/`.

Handlers call these through `HandlerContext.services`; tests pass recording fakes. The app hands
each turn a `Services` bound to the delivery being processed, so what a turn creates is created
once per delivery however often WeChat retries it (issue 15); handlers need not know the key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class EndpointResult:
    ok: bool
    data: Mapping[str, object]
    # "timeout" | "unavailable" | "bad_response" when not ok.
    error: str = ""


@dataclass(frozen=True, slots=True)
class BookingRequest:
    """A citizen asking for one seat of a business at a hall on a day and half-day."""

    flow_id: str
    openid: str
    business: str
    hall: str
    day: date
    period: str
    # Seats per business, hall, day and period (the flow's `booking.capacity`).
    capacity: int
    # What the ticket records, by field label.
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BookingView:
    number: str
    business: str
    hall: str
    day: date
    period: str
    # booked | cancelled
    status: str
    created_at: datetime
    flow_id: str = "booking"


# booked: done (the new or changed booking); full: no seat left at that time;
# duplicate: the citizen already holds `booking` for that business on that day;
# not_found: no active booking of theirs has that number.
BookingStatus = Literal["booked", "full", "duplicate", "not_found"]


@dataclass(frozen=True, slots=True)
class BookingResult:
    status: BookingStatus
    booking: BookingView | None = None


@dataclass(frozen=True, slots=True)
class ItemView:
    """Anything we gave a citizen a number for: a ticket, and the booking it is, if it is one."""

    number: str
    flow_id: str
    # The ticket's status as stored (`open`, or the desk's 新建/已受理/办理中/已办结/已退回/已撤销).
    status: str
    created_at: datetime
    fields: Mapping[str, str]
    booking: BookingView | None = None
    # The last reply staff sent about it, if any, and when.
    last_reply: str = ""
    last_reply_at: datetime | None = None


ItemKind = Literal["booking", "ticket"]


class Services(Protocol):
    async def create_ticket(self, flow_id: str, openid: str, fields: Mapping[str, str]) -> str:
        """Store a ticket and return its readable number, e.g. `20261126-0012`."""
        ...

    async def call_endpoint(self, name: str, params: Mapping[str, str]) -> EndpointResult:
        """Call a configured HTTP endpoint with its timeout; never raises for network errors."""
        ...

    async def book(self, request: BookingRequest) -> BookingResult:
        """File the booking and its ticket, holding a seat; full and duplicate are refused atomically."""
        ...

    async def booked_counts(
        self, business: str, hall: str, days: Sequence[date]
    ) -> Mapping[tuple[date, str], int]:
        """Active bookings per (day, period) of a business at a hall, for offering free times."""
        ...

    async def change_booking(
        self, openid: str, number: str, day: date, period: str, capacity: int
    ) -> BookingResult:
        """Move the citizen's active booking to another time, keeping its number; its old seat is freed."""
        ...

    async def cancel_booking(self, openid: str, number: str) -> BookingResult:
        """Cancel the citizen's active booking, freeing its seat."""
        ...

    async def find_item(self, openid: str, number: str) -> ItemView | None:
        """The citizen's own ticket or booking with this number (someone else's is not found)."""
        ...

    async def withdraw_ticket(self, openid: str, number: str) -> bool:
        """Withdraw the citizen's own open ticket (desk status 已撤销, recorded as theirs); False when
        they have no open ticket with that number."""
        ...

    async def add_to_ticket(self, openid: str, number: str, note: str) -> bool:
        """Attach more the citizen sent (details, a photo's link) to their own ticket, for staff on
        the desk; False when they have no ticket with that number. Once per delivery."""
        ...

    async def my_items(self, openid: str, kind: ItemKind, limit: int) -> list[ItemView]:
        """The citizen's open bookings (today or later) or open tickets, newest first."""
        ...

    async def subscribe(self, openid: str, topic: str) -> bool:
        """Subscribe the citizen to a topic (issue 19); True when they were not subscribed before."""
        ...

    async def unsubscribe(self, openid: str, topic: str | None) -> list[str]:
        """Unsubscribe from one topic, or all with None; the topic ids that were left."""
        ...

    async def subscriptions(self, openid: str) -> list[str]:
        """The topic ids the citizen is subscribed to, oldest first."""
        ...

    async def offer_topic(self, openid: str, topic: str) -> bool:
        """Record that the bot offers this topic; True only the first time for this citizen and topic.

        False also when the offer cannot be recorded: an offer is optional, the answer is not."""
        ...

    async def forget_subscriptions(self, openid: str) -> None:
        """The citizen unfollowed: end every subscription; never raises (the unfollow must go on)."""
        ...

    async def record_push_result(self, openid: str, event: str, fields: Mapping[str, str]) -> None:
        """WeChat's report on a push (MASSSENDJOBFINISH, TEMPLATESENDJOBFINISH, subscribe_msg_sent_event; issue 19)."""
        ...
