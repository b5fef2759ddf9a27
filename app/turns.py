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
from app.services import AppServices, DeliveryServices
from app.stores import keys
from app.stores.base import LockTimeout, Started, Store, StoreUnavailable, TurnEnd, TurnStart
from app.turnlog.record import Outcome, TurnRecord
from app.wechat.render import SUCCESS, render, reply_type
from handlers import router
from handlers.context import HandlerContext, Turn, TurnMeta, TurnResult
from handlers.messages import EventMessage, Inbound, user_text
from handlers.replies import NoReply, TextReply, TransferReply
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


async def _finished_within(task: asyncio.Task[_Handled], seconds: float) -> bool:
    """Whether `task` finished within `seconds`; it is never cancelled.

    `asyncio.wait((task,), timeout=…)` with one future and one timer: half its CPU, measured
    with 16 turns in flight on uvloop (docs/reliability.md)."""
    if task.done():
        return True
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    timer = loop.call_later(seconds, wake)
    task.add_done_callback(wake)
    try:
        await waiter
    finally:
        timer.cancel()
        task.remove_done_callback(wake)
    return task.done()


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
    xml: str
    # The dedup record already holds the reply (finish_turn wrote it).
    marked: bool = False


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
            # One round trip: replay record, dedup claim, rate count, lock, session (issue 15).
            started: Started | None = await self.store.begin_turn(self._turn_start(message, key, replay))
        except StoreUnavailable:
            # Without the store we cannot recognise retries; answering twice beats not answering.
            # Side effects are keyed on the delivery in the database (DeliveryServices).
            log.warning("dedup store unavailable; processing without dedup")
            started = None
        stages.mark("dedup")
        if started is not None and started.status == "duplicate":
            return await self._answer_retry(message, key, deadline, stages, started.dedup_value)
        if started is not None and started.status == "limited":
            result = TurnResult(TextReply(TOO_FAST), "limited", None)
            xml = self._render(message, result)
            await self._mark(key, _DONE + xml.encode())
            return Answer(xml, self._record(message, stages, result, "passive", xml))

        task = asyncio.create_task(self._handle(message, stages, deadline, key, started))
        remaining = max(0.0, deadline - time.perf_counter())
        # Waited for, never cancelled: a turn past its deadline keeps running and its reply goes
        # out late. (`wait_for(shield(…))` cost two more futures and their callbacks on every
        # delivery, `asyncio.wait` a set, a waiter and their bookkeeping: see `_finished_within`.)
        if not await _finished_within(task, remaining):
            await self._mark(key, _LATE)
            late = asyncio.create_task(self._deliver_late(message, key, task, stages))
            self._late_tasks.add(late)
            late.add_done_callback(self._late_tasks.discard)
            return Answer(SUCCESS, None)
        handled = task.result()
        if not handled.marked:
            await self._mark(key, _DONE + handled.xml.encode())
        reply = handled.result.reply
        if isinstance(reply, TransferReply) and reply.notice:
            self._send_after(message.from_user, TextReply(reply.notice))
        return Answer(handled.xml, self._record(message, stages, handled.result, "passive", handled.xml))

    def _send_after(self, openid: str, reply: TextReply) -> None:
        """A customer-service message sent after the passive reply (the line before a transfer);
        tracked with the late turns so shutdown waits for it, its failure only logged."""

        async def send() -> None:
            delivery = await self.late_sender.send(openid, reply)
            if not delivery.ok:
                log.warning("notice before transfer not sent: %s", delivery.detail)

        task = asyncio.create_task(send())
        self._late_tasks.add(task)
        task.add_done_callback(self._late_tasks.discard)

    def _turn_start(self, message: Inbound, key: str, replay: Replay | None) -> TurnStart:
        openid = message.from_user
        counted = self.rate_limit_per_minute > 0 and not (
            isinstance(message, EventMessage) and message.event.lower() not in _LIMITED_EVENTS
        )
        # Counted after dedup (in the script), so WeChat's own retries never count.
        rate_key = keys.rate(self.account, openid, int(time.time() // 60)) if counted else None
        return TurnStart(
            dedup_key=key, dedup_ttl=self.dedup_ttl_s, in_flight=_IN_FLIGHT,
            replay_key=replay.key if replay is not None else None,
            replay_ttl=replay.ttl_s if replay is not None else 1.0,
            rate_key=rate_key, rate_ttl=90, rate_limit=self.rate_limit_per_minute,
            lock_key=keys.user_lock(self.account, openid), lock_ttl=self.lock_ttl_s,
            session_key=self.session_key(openid),
        )

    async def _answer_retry(
        self, message: Inbound, key: str, deadline: float, stages: Stages, state: bytes | None
    ) -> Answer:
        """A retry waits for the first delivery's reply, then gets the identical reply."""
        while True:
            if state is not None and state.startswith(_DONE):
                xml = state[len(_DONE) :].decode()
                break
            if state is None or state == _LATE or time.perf_counter() >= deadline:
                # The first delivery missed its deadline: its reply goes out late, so this
                # retry must not show anything. (None: a replay whose record has expired.)
                xml = SUCCESS
                break
            await asyncio.sleep(_POLL_S)
            try:
                state = await self.store.get(key)
            except StoreUnavailable:
                state = None
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

    async def _handle(
        self, message: Inbound, stages: Stages, deadline: float, key: str, started: Started | None
    ) -> _Handled:
        openid = message.from_user
        context = self._turn_context(message)
        result: TurnResult | None = None
        try:
            if started is not None and started.lock_token is not None:
                # The common case: begin_turn took the lock and read the session.
                stages.mark("lock")
                session = self._session_from(openid, started.session)
                stages.mark("load")
                result = await self._dispatch(message, session, context)
                stages.mark("handle")
                xml = self._render(message, result)
                stages.mark("render")
                await self.store.finish_turn(self._turn_end(openid, key, result, xml, started.lock_token))
                stages.mark("save")
                if result.session is None and self.on_session_deleted is not None:
                    self.on_session_deleted(openid)
                return _Handled(result, True, xml, marked=True)
            # The user's lock is busy (their previous message still running), or the store failed
            # at the start: wait for the lock, within the deadline with room for an answer. A lock
            # left behind costs a stateless answer, never a blank `success` (issue 15).
            reserve = min(1.0, self.deadline_s / 4)
            lock_wait = max(0.05, min(self.lock_ttl_s, deadline - reserve - time.perf_counter()))
            async with self.store.lock(keys.user_lock(self.account, openid), ttl=self.lock_ttl_s, wait=lock_wait):
                stages.mark("lock")
                session = await self._load(openid)
                stages.mark("load")
                result = await self._dispatch(message, session, context)
                stages.mark("handle")
                saved = await self._save(openid, result)
                stages.mark("save")
            xml = self._render(message, result)
            stages.mark("render")
            return _Handled(result, saved, xml)
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
            return _Handled(result, False, self._render(message, result))

    def _turn_end(self, openid: str, key: str, result: TurnResult, xml: str, token: str) -> TurnEnd:
        return TurnEnd(
            session_key=self.session_key(openid),
            session=result.session.to_bytes() if result.session is not None else None,
            # Kept past the flow timeout so the next message can say the flow expired.
            session_ttl=self.session_ttl_s * 2,
            dedup_key=key, dedup_value=_DONE + xml.encode(), dedup_ttl=self.dedup_ttl_s, in_flight=_IN_FLIGHT,
            lock_key=keys.user_lock(self.account, openid), lock_token=token,
        )

    async def _load(self, openid: str) -> Session:
        return self._session_from(openid, await self.store.get(self.session_key(openid)))

    def _session_from(self, openid: str, data: bytes | None) -> Session:
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
            if isinstance(context.services, DeliveryServices):
                # Tickets filed in this turn remember its consultation (issue 17: the desk shows it).
                context.services.consultation_id = session.consultation_id
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
