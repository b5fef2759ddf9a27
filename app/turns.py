"""The turn processor: dedup → lock → load session → route → save session → render, on a deadline.

Order matters (STYLE.md, aiogram#1317): a delivery is claimed first so a retry never runs the
handlers twice; the per-user lock is taken next so two messages from one user run one after
the other; the session is loaded only once the lock is held.

WeChat gives up after 5 s and retries; we answer within `reply_deadline_s`. A turn that is not
done by then is answered `success` and keeps running; its reply goes out through the late-reply
sender when it finishes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from app.accounts import DEFAULT_ACCOUNT
from app.late import LateReplySender
from app.services import AppServices
from app.stores import keys
from app.stores.base import LockTimeout, Store, StoreUnavailable
from app.turnlog.record import Outcome, TurnRecord
from app.wechat.render import SUCCESS, render, reply_type
from handlers import router
from handlers.context import HandlerContext, Turn, TurnMeta, TurnResult
from handlers.messages import EventMessage, Inbound, user_text
from handlers.replies import NoReply, TextReply
from handlers.session import Session

log = logging.getLogger("wxbot.turns")
SHANGHAI = ZoneInfo("Asia/Shanghai")

SORRY = "抱歉，系统刚才开了个小差，请稍后再试，或回复「人工」联系客服。"
# Says what happens (issue 15): the limited message is not handled, so the citizen must resend it.
TOO_FAST = "您发送消息的速度有点快，刚才这条消息没有处理。请稍等片刻，再重新发送您的问题。"
# Events counted against the rate limit: what a user does by hand (menu clicks). Follow and
# unfollow never are: leaving must always erase.
_LIMITED_EVENTS = frozenset({"click", "scancode_push", "scancode_waitmsg", "location_select"})
STORE_DOWN_FLOW = "系统正在恢复中，您正在办理的业务请稍后再继续；如有问题也可以直接输入咨询。"
# Dedup states kept under the claim key.
_IN_FLIGHT = b"P"
_LATE = b"L"
_DONE = b"D"
_POLL_S = 0.02


class TurnSink(Protocol):
    def submit(self, record: TurnRecord) -> None: ...


class DiscardingSink:
    """Used when the turn log is switched off."""

    def submit(self, record: TurnRecord) -> None:
        return None


@dataclass(slots=True)
class Stages:
    started: float = field(default_factory=time.perf_counter)
    # Wall-clock arrival, for the turn log (a late turn's row is written long after).
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Per-stage time in whole microseconds: integers, because the turn log's writer encodes
    # them on every row and float repr cost it a seventh of its work (docs/turnlog.md).
    marks: dict[str, int] = field(default_factory=dict)
    _last: float = 0.0

    def __post_init__(self) -> None:
        self._last = self.started

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.marks[name] = int((now - self._last) * 1_000_000)
        self._last = now

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 3)


@dataclass(slots=True)
class Answer:
    """What the HTTP layer needs: the plain reply XML (or `success`) and the turn's record.

    `record` is None when the turn missed its deadline: its one row is written when the late
    reply has gone out, with the delivery result.
    """

    xml: str
    record: TurnRecord | None


@dataclass(frozen=True, slots=True)
class Replay:
    """A request's signed parameters (`app.stores.keys.replay`) and how long they stay valid."""

    key: str
    ttl_s: float


@dataclass(slots=True)
class _Handled:
    result: TurnResult
    session_saved: bool


class TurnProcessor:
    def __init__(
        self,
        *,
        store: Store,
        context: Callable[[], HandlerContext],
        late_sender: LateReplySender,
        sink: TurnSink,
        app_id: str,
        deadline_s: float,
        session_ttl_s: float,
        dedup_ttl_s: float,
        lock_ttl_s: float,
        rate_limit_per_minute: int = 0,
        on_session_deleted: Callable[[str], None] | None = None,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        # The account id (app.accounts) this processor serves; every key and row carries it.
        self.account = account
        self.store = store
        self.context = context
        self.late_sender = late_sender
        self.sink = sink
        self.app_id = app_id
        self.deadline_s = deadline_s
        self.session_ttl_s = session_ttl_s
        self.dedup_ttl_s = dedup_ttl_s
        self.lock_ttl_s = lock_ttl_s
        self.rate_limit_per_minute = rate_limit_per_minute
        self.on_session_deleted = on_session_deleted
        # Turns that outlived their deadline; kept so they are not garbage-collected mid-flight.
        self._late_tasks: set[asyncio.Task[None]] = set()
        # Store writes that must happen but found the store down (a leaving user's session):
        # retried every `retry_interval_s` until the store takes them.
        self.retry_interval_s = 1.0
        self._pending_deletes: set[str] = set()
        self._retrier: asyncio.Task[None] | None = None

    # -- keys ---------------------------------------------------------------------------
    def _dedup_key(self, message: Inbound) -> str:
        return keys.dedup(self.app_id, message.dedup_key())

    def session_key(self, openid: str) -> str:
        return keys.session(self.account, openid)

    # -- the turn -------------------------------------------------------------------------
    async def process(self, message: Inbound, stages: Stages, replay: Replay | None = None) -> Answer:
        """Answer one delivery. `replay` is the request's signed parameters, recorded for the
        whole timestamp window: the same signed request seen again is never processed again,
        even after the (shorter-lived) dedup record with the reply has expired (issue 15)."""
        deadline = stages.started + self.deadline_s
        key = self._dedup_key(message)
        try:
            claimed = replay is None or await self.store.set_if_absent(replay.key, b"1", replay.ttl_s)
            if claimed:
                claimed = await self.store.set_if_absent(key, _IN_FLIGHT, self.dedup_ttl_s)
        except StoreUnavailable:
            # Without the store we cannot recognise retries; answering twice beats not answering.
            # Side effects are keyed on the delivery in the database (DeliveryServices).
            log.warning("dedup store unavailable; processing without dedup")
            claimed = True
        stages.mark("dedup")
        if not claimed:
            return await self._answer_retry(message, key, deadline, stages)
        if await self._over_rate_limit(message):
            result = TurnResult(TextReply(TOO_FAST), "limited", None)
            xml = self._render(message, result)
            await self._mark(key, _DONE + xml.encode())
            return Answer(xml, self._record(message, stages, result, "passive", xml))

        task = asyncio.create_task(self._handle(message, stages, deadline))
        remaining = max(0.0, deadline - time.perf_counter())
        try:
            handled = await asyncio.wait_for(asyncio.shield(task), timeout=remaining)
        except TimeoutError:
            await self._mark(key, _LATE)
            late = asyncio.create_task(self._deliver_late(message, key, task, stages))
            self._late_tasks.add(late)
            late.add_done_callback(self._late_tasks.discard)
            return Answer(SUCCESS, None)
        xml = self._render(message, handled.result)
        stages.mark("render")
        await self._mark(key, _DONE + xml.encode())
        return Answer(xml, self._record(message, stages, handled.result, "passive", xml))

    async def _over_rate_limit(self, message: Inbound) -> bool:
        """A flood from one user is answered politely without running handlers.

        Counted after dedup, so WeChat's own retries never count against the user.
        """
        if self.rate_limit_per_minute <= 0:
            return False
        if isinstance(message, EventMessage) and message.event.lower() not in _LIMITED_EVENTS:
            return False
        window = int(time.time() // 60)
        try:
            count = await self.store.incr(keys.rate(self.account, message.from_user, window), 90)
        except StoreUnavailable:
            return False
        return count > self.rate_limit_per_minute

    async def _answer_retry(self, message: Inbound, key: str, deadline: float, stages: Stages) -> Answer:
        """A retry waits for the first delivery's reply, then gets the identical reply."""
        while True:
            try:
                state = await self.store.get(key)
            except StoreUnavailable:
                state = None
            if state is not None and state.startswith(_DONE):
                xml = state[len(_DONE) :].decode()
                break
            if state is None or state == _LATE or time.perf_counter() >= deadline:
                # The first delivery missed its deadline: its reply goes out late, so this
                # retry must not show anything.
                xml = SUCCESS
                break
            await asyncio.sleep(_POLL_S)
        stages.mark("retry_wait")
        record = self._record(message, stages, TurnResult(NoReply(), "event", None), "duplicate")
        record.route = "duplicate"
        record.is_retry = True
        record.reply_type = "success" if xml == SUCCESS else "cached"
        record.reply_bytes = len(xml.encode())
        return Answer(xml, record)

    def delivery_id(self, message: Inbound) -> str:
        """What identifies this delivery for side effects: AppID + MsgId (or the event key)."""
        return f"{self.app_id}:{message.dedup_key()}"

    def _turn_context(self, message: Inbound) -> HandlerContext:
        context = self.context()
        if isinstance(context.services, AppServices):
            # Bound to this delivery: a ticket filed by a retry is the one the first try filed.
            context.services = context.services.for_delivery(self.delivery_id(message))
        return context

    async def _handle(self, message: Inbound, stages: Stages, deadline: float) -> _Handled:
        openid = message.from_user
        # The wait for the user's lock ends inside the deadline with room for an answer: a
        # lock left behind costs a stateless answer, never a blank `success` (issue 15).
        reserve = min(1.0, self.deadline_s / 4)
        lock_wait = max(0.05, min(self.lock_ttl_s, deadline - reserve - time.perf_counter()))
        context = self._turn_context(message)
        result: TurnResult | None = None
        try:
            async with self.store.lock(keys.user_lock(self.account, openid), ttl=self.lock_ttl_s, wait=lock_wait):
                stages.mark("lock")
                session = await self._load(openid)
                stages.mark("load")
                result = await self._dispatch(message, session, context)
                stages.mark("handle")
                saved = await self._save(openid, result)
                stages.mark("save")
                return _Handled(result, saved)
        except (StoreUnavailable, LockTimeout) as exc:
            # Degrade: answer statelessly. FAQ answers need no session; a flow cannot be
            # continued safely, so the user is asked to come back in a moment.
            log.warning("store unavailable during turn: %s", type(exc).__name__)
            stages.mark("lock")
            if result is None:
                result = await self._dispatch(message, Session(openid=openid), context)
            # else: the store failed after the handlers ran (saving, unlocking): their result
            # stands, and running them again would repeat what they did.
            if result.session is None:
                # The user left: erasure does not wait for the session store (issue 15). The
                # turn log records it durably now; the session goes when the store returns.
                if self.on_session_deleted is not None:
                    self.on_session_deleted(openid)
                self.delete_later(self.session_key(openid))
            created = getattr(context.services, "created", None)
            # Without the session we cannot tell a question the FAQ does not know from an
            # answer to a flow's question (「明天上午」, a name, a number): both fall back, and a
            # citizen mid-flow told "no answer found" would think the flow is lost. A clarify
            # menu cannot work either, since the choice cannot be remembered. A turn that did
            # file something says so instead: the citizen needs that number.
            if result.route in ("flow", "fallback", "clarify") and not created:
                result = TurnResult(TextReply(STORE_DOWN_FLOW), result.route, None, result.meta)
            stages.mark("handle")
            return _Handled(result, False)

    async def _load(self, openid: str) -> Session:
        data = await self.store.get(self.session_key(openid))
        if data is None:
            return Session(openid=openid)
        try:
            return Session.from_bytes(data)
        except ValueError:
            # A session written by an incompatible version: start afresh rather than fail.
            log.warning("discarding unreadable session")
            return Session(openid=openid)

    async def _save(self, openid: str, result: TurnResult) -> bool:
        if result.session is None:
            await self.store.delete(self.session_key(openid))
            if self.on_session_deleted is not None:
                self.on_session_deleted(openid)
            return True
        # Kept past the flow timeout so the next message can say the flow expired.
        await self.store.set(self.session_key(openid), result.session.to_bytes(), self.session_ttl_s * 2)
        return True

    async def _dispatch(self, message: Inbound, session: Session, context: HandlerContext) -> TurnResult:
        now = datetime.now(SHANGHAI)
        self._advance_consultation(session, now.timestamp())
        try:
            result = await router.dispatch(Turn(message, session, now), context)
        except Exception:
            # Anything after the boundary is logged and answered; the user never sees an error.
            log.exception("handler failed")
            return TurnResult(TextReply(SORRY), "fallback", session, TurnMeta())
        if result.session is not None:
            result.session.last_seen = now.timestamp()
            if result.meta.resolved:
                result.session.consultation_resolved = True
        return result

    def _advance_consultation(self, session: Session, now: float) -> None:
        idle = now - session.last_seen if session.last_seen else None
        if (
            not session.consultation_id
            or (idle is not None and idle > self.session_ttl_s)
            or (session.consultation_resolved and not session.awaiting_satisfaction)
        ):
            session.consultation_id = os.urandom(16).hex()  # a uuid4 without building a UUID
            session.turn_index = 0
            session.consultation_resolved = False
        session.turn_index += 1

    def _render(self, message: Inbound, result: TurnResult) -> str:
        return render(result.reply, message.from_user, message.to_user, int(time.time()))

    async def _mark(self, key: str, value: bytes) -> None:
        try:
            await self.store.set(key, value, self.dedup_ttl_s)
        except StoreUnavailable:
            log.warning("could not record dedup state")

    async def _deliver_late(
        self, message: Inbound, key: str, task: asyncio.Task[_Handled], stages: Stages
    ) -> None:
        try:
            handled = await task
        except Exception:
            log.exception("late turn failed")
            return
        result = handled.result
        detail = "nothing_to_send"
        ok = True
        if not isinstance(result.reply, NoReply):
            delivery = await self.late_sender.send(message.from_user, result.reply)
            ok, detail = delivery.ok, delivery.detail
        stages.mark("late_send")
        await self._mark(key, _DONE + SUCCESS.encode())
        record = self._record(message, stages, result, "late" if ok else "failed")
        record.route = "late"
        record.late_detail = detail
        self.sink.submit(record)

    async def drain(self, wait_s: float = 5.0) -> None:
        """Wait for late turns on shutdown so their replies are not lost."""
        if self._late_tasks:
            await asyncio.wait(self._late_tasks, timeout=wait_s)
        if self._retrier is not None:
            self._retrier.cancel()

    # -- writes retried until the store takes them -------------------------------------------
    def delete_later(self, *store_keys: str) -> None:
        """Delete these keys as soon as the store answers again (it just failed)."""
        self._pending_deletes.update(store_keys)
        if self._retrier is None or self._retrier.done():
            self._retrier = asyncio.get_running_loop().create_task(self._retry_pending())

    async def _retry_pending(self) -> None:
        while self._pending_deletes:
            await asyncio.sleep(self.retry_interval_s)
            batch = list(self._pending_deletes)
            try:
                await self.store.delete(*batch)
            except StoreUnavailable:
                continue
            self._pending_deletes.difference_update(batch)
            log.info("deleted %d keys the store refused earlier", len(batch))

    # -- logging ---------------------------------------------------------------------------
    def _record(
        self, message: Inbound, stages: Stages, result: TurnResult, outcome: Outcome, xml: str | None = None
    ) -> TurnRecord:
        meta = result.meta
        session = result.session
        text = user_text(message) or ""
        event = getattr(message, "event", "")
        reply = result.reply
        if xml is None:  # a late reply: sized as the passive reply would have been
            xml = render(reply, message.from_user, message.to_user, 0) if not isinstance(reply, NoReply) else ""
        body = "" if xml == SUCCESS else xml
        return TurnRecord(
            received_at=stages.received_at,
            account=self.account,
            openid=message.from_user,
            msg_type=message.msg_type,
            dedup_key=message.dedup_key(),
            text=text,
            route=result.route,
            reply_type=reply_type(reply),
            reply_bytes=len(body.encode()),
            latency_ms=stages.elapsed_ms(),
            stages=dict(stages.marks),
            outcome=outcome,
            consultation_id=session.consultation_id if session else "",
            turn_index=session.turn_index if session else 0,
            faq_id=meta.faq_id,
            score=meta.score,
            flow_id=meta.flow_id,
            step=meta.step,
            resolved=meta.resolved,
            satisfaction=meta.satisfaction,
            event=event,
        )
