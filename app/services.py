"""The `handlers.ports.Services` the flows use: tickets in the database, backends over HTTP.

Backends are configured in settings (`FLOW_ENDPOINTS`, JSON): name → {"url", "timeout", "method"}.
`GET` sends the parameters as a query string, `POST` as a JSON body. A backend answers with a
JSON object; the flows read its fields as `{result.<field>}`. HTTP 404 or `{"found": false}`
means "no such record". Network failures never raise: a slow backend is `timeout`, an
unreachable or failing one `unavailable`, a non-JSON answer `bad_response`, so the citizen always
gets a clear message (the flow's `timeout` / `unavailable` text).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from app.db import bookings, subscriptions, tickets
from app.db.writes import Writes
from app.desk import tickets as desk_tickets
from app.desk.sla import SlaPolicy
from app.offers import TopicOffers
from app.push import store as push_store
from app.turnlog.privacy import Pseudonymiser, mask_identity_numbers
from app.wechat.parse import MAX_LIST_ITEMS
from handlers.ports import BookingRequest, BookingResult, EndpointResult, ItemKind, ItemView

log = logging.getLogger("wxbot.services")
DEFAULT_TIMEOUT_S = 3.0
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    timeout: float = DEFAULT_TIMEOUT_S
    method: Literal["GET", "POST"] = "GET"


class EndpointConfigError(ValueError):
    """FLOW_ENDPOINTS names an endpoint without a usable url, timeout or method."""


def parse_endpoints(raw: Mapping[str, Mapping[str, object]]) -> dict[str, Endpoint]:
    endpoints: dict[str, Endpoint] = {}
    for name, spec in raw.items():
        url = spec.get("url")
        timeout = spec.get("timeout", DEFAULT_TIMEOUT_S)
        method = str(spec.get("method", "GET")).upper()
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise EndpointConfigError(f"FLOW_ENDPOINTS[{name!r}]: url must be an http(s) URL")
        if not isinstance(timeout, int | float) or not 0 < timeout <= 30:
            raise EndpointConfigError(f"FLOW_ENDPOINTS[{name!r}]: timeout must be 0-30 seconds")
        if method not in ("GET", "POST"):
            raise EndpointConfigError(f"FLOW_ENDPOINTS[{name!r}]: method must be GET or POST")
        endpoints[name] = Endpoint(url, float(timeout), method)  # type: ignore[arg-type]
    return endpoints


class MemoryTicketBook:
    """Per-day numbering in process memory: for tests and a database-less dev run only."""

    def __init__(self) -> None:
        self._counters: dict[str, itertools.count[int]] = {}
        self._by_delivery: dict[str, str] = {}
        self.tickets: list[tuple[str, str, str, dict[str, str]]] = []

    def create(self, flow_id: str, openid: str, fields: Mapping[str, str], delivery: str | None = None) -> str:
        if delivery and delivery in self._by_delivery:
            return self._by_delivery[delivery]
        day = datetime.now(UTC).astimezone(LOCAL_TZ).strftime("%Y%m%d")
        seq = next(self._counters.setdefault(day, itertools.count(1)))
        number = tickets.ticket_number(day, seq)
        self.tickets.append((number, flow_id, openid, dict(fields)))
        if delivery:
            self._by_delivery[delivery] = number
        return number

    def withdraw(self, openid: str, number: str) -> bool:
        """Withdrawn (kept as a field, there is no desk here); once."""
        for filed, _flow, owner, fields in self.tickets:
            if filed == number and owner == openid and "状态" not in fields:
                fields["状态"] = "已撤销"
                return True
        return False

    def add(self, openid: str, number: str, note: str) -> bool:
        """More details for one of the citizen's tickets (kept as a field, there is no desk here)."""
        for filed, _flow, owner, fields in self.tickets:
            if filed == number and owner == openid:
                fields[f"补充{sum(k.startswith('补充') for k in fields) + 1}"] = note
                return True
        return False


def subscribe_results(fields: Mapping[str, str]) -> list[push_store.NoticeResult]:
    """The items of a subscribe_msg_sent_event (SubscribeMsgSentEvent/List, one per notice)."""
    results = []
    for index in range(MAX_LIST_ITEMS):
        prefix = f"List.{index}."
        if prefix + "MsgID" not in fields and prefix + "TemplateId" not in fields:
            break
        code = fields.get(prefix + "ErrorCode", "").strip()
        results.append(push_store.NoticeResult(
            template_id=fields.get(prefix + "TemplateId", ""), msgid=fields.get(prefix + "MsgID", ""),
            errcode=int(code) if code.lstrip("-").isdigit() else None,
            status=fields.get(prefix + "ErrorStatus", ""),
        ))
    return results


class AppServices:
    """Implements `handlers.ports.Services`; built once in the lifespan, closed on shutdown."""

    def __init__(
        self,
        *,
        engine: Engine | None,
        endpoints: Mapping[str, Endpoint],
        client: httpx.AsyncClient | None = None,
        on_backend_error: Callable[[str, str], None] | None = None,
        account: str = "default",
        pseudonym_key: bytes = b"",
        sla: SlaPolicy | None = None,
        offers: TopicOffers | None = None,
        writes: Writes | None = None,
    ) -> None:
        # Tickets filed through this instance belong to this account (app.accounts id).
        self.account = account
        # Tickets carry the user's pseudonym (as the turn log does) so erasure can find them.
        self._pseudonym = Pseudonymiser(pseudonym_key)
        self.sla = sla
        self.engine = engine
        self.memory = MemoryTicketBook() if engine is None else None
        # Accounts of one worker share one (app.main passes it): one writer for the database.
        self._owns_writes = writes is None and engine is not None
        self._writes_or_none = writes if writes is not None or engine is None else Writes(engine)
        self.offers = offers if offers is not None or engine is None else TopicOffers(engine, writes=self.writes)
        self.endpoints = dict(endpoints)
        self.client = client or httpx.AsyncClient(follow_redirects=False)
        # Metrics hook: (endpoint name, error kind).
        self.on_backend_error = on_backend_error

    @property
    def writes(self) -> Writes:
        """Where this port's database writes run (app.db.writes); only with a database (`_db`)."""
        self._db()
        assert self._writes_or_none is not None  # made with the engine (__init__)
        return self._writes_or_none

    def for_delivery(self, delivery: str) -> DeliveryServices:
        """This port bound to one delivery: what it creates is keyed on it (see DeliveryServices)."""
        return DeliveryServices(self, delivery)

    async def create_ticket(
        self, flow_id: str, openid: str, fields: Mapping[str, str], *, delivery: str | None = None,
        consultation_id: str = "",
    ) -> str:
        # Identity numbers never reach a ticket, whatever slot they were typed into; the
        # contact mobile stays while the matter is open (docs/privacy.md, ticket retention).
        fields = {label: mask_identity_numbers(value) for label, value in fields.items()}
        if self.engine is None:
            assert self.memory is not None
            return self.memory.create(flow_id, openid, fields, delivery)
        # The repository is blocking SQLAlchemy; keep the event loop free while it writes.
        return await self.writes.run(
            tickets.create_ticket, flow_id, openid, fields, account=self.account, delivery=delivery,
            user_id=self._pseudonym(openid),
            consultation_id=consultation_id, sla=self.sla,
        )

    async def withdraw_ticket(self, openid: str, number: str) -> bool:
        if self.engine is None:
            assert self.memory is not None
            return self.memory.withdraw(openid, number)
        return await self.writes.run(
            desk_tickets.withdraw_by_citizen, number, openid, account=self.account
        )

    async def add_to_ticket(self, openid: str, number: str, note: str, *, delivery: str | None = None) -> bool:
        # Identity numbers never reach a ticket (as in create_ticket).
        note = mask_identity_numbers(note)
        if self.engine is None:
            assert self.memory is not None
            return self.memory.add(openid, number, note)
        key = hashlib.sha256(f"citizen-note:{delivery}".encode()).hexdigest() if delivery else None
        return await self.writes.run(
            desk_tickets.add_citizen_note, number, openid, note, account=self.account, request_key=key
        )

    def _db(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("bookings and lookups need a database (DATABASE_URL)")
        return self.engine

    async def book(
        self, request: BookingRequest, *, delivery: str | None = None, consultation_id: str = ""
    ) -> BookingResult:
        masked = replace(request, fields={k: mask_identity_numbers(v) for k, v in request.fields.items()})
        return await self.writes.run(
            bookings.book, masked, account=self.account, delivery=delivery,
            user_id=self._pseudonym(request.openid), consultation_id=consultation_id, sla=self.sla,
        )

    async def booked_counts(
        self, business: str, hall: str, days: Sequence[date]
    ) -> Mapping[tuple[date, str], int]:
        return await asyncio.to_thread(bookings.booked_counts, self._db(), business, hall, days, account=self.account)

    async def change_booking(
        self, openid: str, number: str, day: date, period: str, capacity: int
    ) -> BookingResult:
        return await self.writes.run(
            bookings.change, openid, number, day, period, capacity, account=self.account
        )

    async def cancel_booking(self, openid: str, number: str) -> BookingResult:
        return await self.writes.run(bookings.cancel, openid, number, account=self.account)

    async def find_item(self, openid: str, number: str) -> ItemView | None:
        return await asyncio.to_thread(bookings.find_item, self._db(), openid, number, account=self.account)

    async def my_items(self, openid: str, kind: ItemKind, limit: int) -> list[ItemView]:
        return await asyncio.to_thread(bookings.my_items, self._db(), openid, kind, limit, account=self.account)

    async def subscribe(self, openid: str, topic: str) -> bool:
        return await self.writes.run(subscriptions.subscribe, openid, topic, account=self.account)

    async def unsubscribe(self, openid: str, topic: str | None) -> list[str]:
        return await self.writes.run(subscriptions.unsubscribe, openid, topic, account=self.account)

    async def subscriptions(self, openid: str) -> list[str]:
        return await asyncio.to_thread(subscriptions.subscribed_topics, self._db(), openid, account=self.account)

    async def offer_topic(self, openid: str, topic: str) -> bool:
        if self.offers is None:
            # Without a database an offer could not be remembered, so it is never made.
            return False
        try:
            # Decided by a read, stored off the reply path (app.offers: a write here stalled replies).
            return await self.offers.offer(self.account, openid, topic)
        except SQLAlchemyError as exc:
            # Not migrated (wxbot db upgrade) or the database is down: answer without the offer.
            log.warning("topic offer not recorded: %s", type(exc).__name__)
            return False

    async def forget_subscriptions(self, openid: str) -> None:
        if self.engine is None:
            return
        try:
            await self.writes.run(subscriptions.unsubscribe, openid, None, account=self.account)
        except SQLAlchemyError as exc:
            log.error("subscriptions of an unfollower not ended: %s", type(exc).__name__)

    async def record_push_result(self, openid: str, event: str, fields: Mapping[str, str]) -> None:
        if self.engine is None:
            return
        if event == "subscribe_msg_sent_event":
            found = await self.writes.run(
                push_store.record_subscribe_results, openid, subscribe_results(fields),
                account=self.account,
            )
        elif event == "templatesendjobfinish":
            found = await self.writes.run(
                push_store.record_template_result, openid, fields.get("MsgID", ""),
                fields.get("Status", ""), account=self.account,
            )
        else:
            counts = {k: int(v) for k, v in fields.items()
                      if k in ("TotalCount", "FilterCount", "SentCount", "ErrorCount") and v.strip().isdigit()}
            found = await self.writes.run(
                push_store.record_mass_result, fields.get("MsgID", ""), counts, datetime.now(UTC),
                account=self.account,
            )
        if not found:
            log.info("push result for no known send: %s %s", event, fields.get("MsgID", ""))

    async def call_endpoint(
        self, name: str, params: Mapping[str, str], *, delivery: str | None = None
    ) -> EndpointResult:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            log.error("flow endpoint %r is not configured (FLOW_ENDPOINTS)", name)
            return self._failed(name, "unavailable")
        try:
            if endpoint.method == "GET":
                response = await self.client.get(endpoint.url, params=dict(params), timeout=endpoint.timeout)
            else:
                # A POST may create something (a booking): the backend can recognise a retried
                # delivery by this key (the IETF Idempotency-Key header draft).
                headers = {"Idempotency-Key": delivery} if delivery else None
                response = await self.client.post(
                    endpoint.url, json=dict(params), timeout=endpoint.timeout, headers=headers
                )
        except httpx.TimeoutException:
            log.warning("flow endpoint %r timed out after %.1fs", name, endpoint.timeout)
            return self._failed(name, "timeout")
        except httpx.HTTPError as exc:
            log.warning("flow endpoint %r unreachable: %s", name, type(exc).__name__)
            return self._failed(name, "unavailable")
        if response.status_code == 404:
            return EndpointResult(True, {"found": False})
        if response.status_code >= 400:
            log.warning("flow endpoint %r answered HTTP %d", name, response.status_code)
            return self._failed(name, "unavailable")
        try:
            data = response.json()
        except ValueError:
            return self._failed(name, "bad_response")
        if not isinstance(data, dict):
            return self._failed(name, "bad_response")
        return EndpointResult(True, data)

    def _failed(self, name: str, error: str) -> EndpointResult:
        if self.on_backend_error is not None:
            self.on_backend_error(name, error)
        return EndpointResult(False, {}, error)

    async def close(self) -> None:
        if self.offers is not None:
            await self.offers.stop()
        if self._owns_writes and self._writes_or_none is not None:
            await asyncio.to_thread(self._writes_or_none.close)
        await self.client.aclose()


class DeliveryServices:
    """The `Services` port for one turn, bound to the delivery being processed.

    The handlers stay free of I/O and of delivery bookkeeping: whatever a turn creates through
    this port is keyed on `delivery` (AppID + MsgId, or the event key), so a retry or replay of
    the same delivery, even with the session store down, gets the same ticket back instead of
    filing another (issue 15). `created` lists what this turn filed, so the turn can say so even
    when the session could not be kept.
    """

    __slots__ = ("_base", "consultation_id", "created", "delivery")

    def __init__(self, base: AppServices, delivery: str, consultation_id: str = "") -> None:
        self._base = base
        self.delivery = delivery
        # The turn's consultation (turn log), set once the session is loaded: the desk shows
        # the conversation that led to a ticket (issue 17).
        self.consultation_id = consultation_id
        self.created: list[str] = []

    async def create_ticket(self, flow_id: str, openid: str, fields: Mapping[str, str]) -> str:
        number = await self._base.create_ticket(
            flow_id, openid, fields, delivery=self.delivery, consultation_id=self.consultation_id
        )
        self.created.append(number)
        return number

    async def call_endpoint(self, name: str, params: Mapping[str, str]) -> EndpointResult:
        return await self._base.call_endpoint(name, params, delivery=self.delivery)

    async def book(self, request: BookingRequest) -> BookingResult:
        result = await self._base.book(request, delivery=self.delivery, consultation_id=self.consultation_id)
        if result.booking is not None and result.status == "booked":
            self.created.append(result.booking.number)
        return result

    async def booked_counts(
        self, business: str, hall: str, days: Sequence[date]
    ) -> Mapping[tuple[date, str], int]:
        return await self._base.booked_counts(business, hall, days)

    async def change_booking(
        self, openid: str, number: str, day: date, period: str, capacity: int
    ) -> BookingResult:
        return await self._base.change_booking(openid, number, day, period, capacity)

    async def cancel_booking(self, openid: str, number: str) -> BookingResult:
        return await self._base.cancel_booking(openid, number)

    async def find_item(self, openid: str, number: str) -> ItemView | None:
        return await self._base.find_item(openid, number)

    async def add_to_ticket(self, openid: str, number: str, note: str) -> bool:
        return await self._base.add_to_ticket(openid, number, note, delivery=self.delivery)

    async def withdraw_ticket(self, openid: str, number: str) -> bool:
        return await self._base.withdraw_ticket(openid, number)

    async def my_items(self, openid: str, kind: ItemKind, limit: int) -> list[ItemView]:
        return await self._base.my_items(openid, kind, limit)

    async def subscribe(self, openid: str, topic: str) -> bool:
        return await self._base.subscribe(openid, topic)

    async def unsubscribe(self, openid: str, topic: str | None) -> list[str]:
        return await self._base.unsubscribe(openid, topic)

    async def subscriptions(self, openid: str) -> list[str]:
        return await self._base.subscriptions(openid)

    async def offer_topic(self, openid: str, topic: str) -> bool:
        return await self._base.offer_topic(openid, topic)

    async def record_push_result(self, openid: str, event: str, fields: Mapping[str, str]) -> None:
        await self._base.record_push_result(openid, event, fields)

    async def forget_subscriptions(self, openid: str) -> None:
        await self._base.forget_subscriptions(openid)
