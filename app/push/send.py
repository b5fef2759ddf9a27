"""`wxbot push send`: a campaign's send job, persistent and safe to interrupt (issue 19).

The audience is written first as one row per citizen (`push_recipients`, unique per account,
campaign and citizen), then each row is claimed (`sending`), sent and recorded. A rerun adds
rows only for new subscribers and sends only rows still `pending` (or `limited` by 45047), so
nobody is messaged twice and nobody is skipped. The one ambiguous case — killed after the row
was claimed and before WeChat's answer was recorded — leaves a `sending` row; the next run turns
it into `unknown` and does not resend it at once. WeChat reports every template message it
accepted with a TEMPLATESENDJOBFINISH event, and every subscription notice with a
subscribe_msg_sent_event (the callback then marks the row `sent`); a row still `unknown` after
`SETTLE_S` was never accepted and goes back to `pending`.

A mass send goes to a tag: the topic's subscribers are tagged first (batchtagging, idempotent),
then one `sendall` with a `clientmsgid` derived from the campaign, which WeChat refuses to
repeat (45065), so a rerun after a crash cannot send it twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import Engine

from app.push import store
from app.wxapi.client import WeChatClient
from app.wxapi.errors import (
    DAILY_QUOTA,
    DUPLICATE_CLIENTMSGID,
    NOT_FOLLOWING,
    NOT_SUBSCRIBED,
    QUOTA_USED,
    WeChatApiError,
    WeChatTimeout,
    WeChatUnavailable,
)
from knowledge.campaigns import Campaign

log = structlog.get_logger(__name__)
TAG_BATCH = 50  # batchtagging takes at most 50 openids
# How long an interrupted send waits for WeChat's TEMPLATESENDJOBFINISH before it counts as not sent.
SETTLE_S = 600.0


@dataclass(slots=True)
class SendSummary:
    campaign: str
    targeted: int = 0
    sent: int = 0
    blocked: int = 0
    limited: int = 0
    failed: int = 0
    unknown: int = 0
    capped: int = 0
    # Why the run stopped before the end: "" (it finished), "quiet", "daily_quota", "unavailable".
    stopped: str = ""
    errcodes: dict[int, int] = field(default_factory=dict)


Clock = Callable[[], datetime]
Progress = Callable[[int, int], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RateLimiter:
    """At most `rate` calls a second, spaced evenly (WeChat's per-second limits)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = time.monotonic()

    async def wait(self) -> None:
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(self._next, now) + self._interval


def prepare(
    engine: Engine, campaign: Campaign, now: datetime, *, account: str = "default"
) -> int:
    """Write the audience: a row per subscriber not yet in the campaign; the cap's rows as `capped`.

    One INSERT … SELECT in the database (store.add_audience): memory stays flat however large
    the audience. Returns how many rows were added."""
    since = now.astimezone(UTC) - timedelta(days=campaign.cap_days)
    return store.add_audience(
        engine, campaign.id, campaign.channel, campaign.topics, campaign.cap_count, since, now, account=account
    )


async def send(
    engine: Engine, client: WeChatClient, campaign: Campaign, *, account: str = "default",
    clock: Clock = _utcnow, progress: Progress | None = None, ignore_quiet: bool = False,
    settle_s: float = SETTLE_S, link: Callable[[int], str] | None = None,
) -> SendSummary:
    now = clock()
    summary = SendSummary(campaign.id)
    if not ignore_quiet and campaign.quiet.contains(now):
        summary.stopped = "quiet"
        return _summarise(engine, campaign, summary, account)
    store.interrupted(engine, campaign.id, account=account)
    store.settle(engine, campaign.id, now - timedelta(seconds=settle_s), account=account)
    # 45047 is a quota for now: a new run tries those citizens again (once per run).
    store.mark_all(engine, campaign.id, store.PENDING, now, account=account, statuses=(store.LIMITED,))
    prepare(engine, campaign, now, account=account)
    if campaign.channel == "mass":
        await _send_mass(engine, client, campaign, summary, account, clock)
    else:
        await _send_templates(engine, client, campaign, summary, account, clock, progress, ignore_quiet, link)
    return _summarise(engine, campaign, summary, account)


async def _send_templates(
    engine: Engine, client: WeChatClient, campaign: Campaign, summary: SendSummary, account: str,
    clock: Clock, progress: Progress | None, ignore_quiet: bool, link: Callable[[int], str] | None,
) -> None:
    limiter = RateLimiter(campaign.rate_per_second)
    totals = store.counts(engine, campaign.id, account=account)
    total = sum(n for s, n in totals.items() if s in store.SENDABLE)
    done = 0
    data = {"title": campaign.title, "content": campaign.content}
    # A subscription notice (订阅通知) goes to citizens who accepted its template; its result comes
    # back as subscribe_msg_sent_event, a template message's as TEMPLATESENDJOBFINISH.
    deliver = client.send_subscribe_notice if campaign.channel == "subscribe" else client.send_template
    # The outcome of the last row sent, written with the next row's claim (store.step).
    done_row: store.Outcome | None = None
    try:
        while True:
            batch = store.next_batch(engine, campaign.id, 200, account=account)
            if not batch:
                return
            for row_id, openid in batch:
                if not ignore_quiet and campaign.quiet.contains(clock()):
                    summary.stopped = "quiet"
                    return
                claimed = await asyncio.to_thread(store.step, engine, done_row, row_id, clock())
                done_row = None
                if not claimed:
                    continue
                await limiter.wait()
                try:
                    # With a public address, the page is reached through our signed link (opens are counted).
                    url = link(row_id) if link is not None and campaign.url else campaign.url
                    msgid = await deliver(openid, campaign.template_id, data, url=url)
                except WeChatApiError as exc:
                    summary.errcodes[exc.errcode] = summary.errcodes.get(exc.errcode, 0) + 1
                    if exc.errcode == DAILY_QUOTA:
                        # Nothing was sent: the row goes back to pending and the job stops for today.
                        done_row = store.Outcome(row_id, store.PENDING)
                        summary.stopped = "daily_quota"
                        return
                    status = {NOT_FOLLOWING: store.BLOCKED, NOT_SUBSCRIBED: store.BLOCKED,
                              QUOTA_USED: store.LIMITED}.get(exc.errcode, store.FAILED)
                    done_row = store.Outcome(row_id, status, errcode=exc.errcode)
                except WeChatTimeout:
                    # It may have arrived: not resent.
                    done_row = store.Outcome(row_id, store.UNKNOWN)
                except WeChatUnavailable:
                    # No answer at all (refused connection, HTTP error): not sent; stop and let a rerun go on.
                    done_row = store.Outcome(row_id, store.PENDING)
                    summary.stopped = "unavailable"
                    return
                else:
                    done_row = store.Outcome(row_id, store.SENT, msgid=msgid)
                done += 1
                if progress is not None:
                    progress(done, total)
            # Recorded before the next batch is read, so that batch does not see the row `sending`.
            await asyncio.to_thread(store.step, engine, done_row, None, clock())
            done_row = None
    finally:
        # Every way out but a crash (a return above, a cancelled task) records the last outcome.
        if done_row is not None:
            await asyncio.to_thread(store.step, engine, done_row, None, clock())


def clientmsgid(account: str, campaign: str) -> str:
    return hashlib.sha256(f"{account}:{campaign}".encode()).hexdigest()[:32]


async def _send_mass(
    engine: Engine, client: WeChatClient, campaign: Campaign, summary: SendSummary, account: str, clock: Clock
) -> None:
    pending = [openid for _id, openid in store.next_batch(engine, campaign.id, 10**9, account=account)]
    row = store.ensure_mass(
        engine, campaign.id, campaign.tag_id, clientmsgid(account, campaign.id), len(pending), clock(),
        account=account,
    )
    if row.status != store.PENDING:
        return
    try:
        # Only subscribers are in the tag, so only they receive it (follower consent plus their
        # own): whoever unsubscribed since the last send is taken out first.
        wanted = set(pending)
        stale = [o for o in await client.tag_members(campaign.tag_id) if o not in wanted]
        for start in range(0, len(stale), TAG_BATCH):
            await client.untag_users(campaign.tag_id, stale[start:start + TAG_BATCH])
        for start in range(0, len(pending), TAG_BATCH):
            await client.tag_users(campaign.tag_id, pending[start:start + TAG_BATCH])
        msg_id = await client.mass_send_to_tag(campaign.tag_id, campaign.content, row.clientmsgid)
    except WeChatApiError as exc:
        summary.errcodes[exc.errcode] = summary.errcodes.get(exc.errcode, 0) + 1
        if exc.errcode == DUPLICATE_CLIENTMSGID:
            # An earlier run's send went out and the run died before recording it.
            msg_id = ""
        elif exc.errcode == DAILY_QUOTA:
            summary.stopped = "daily_quota"
            return
        else:
            store.update_mass(engine, row.id, status=store.FAILED, errcode=exc.errcode)
            store.mark_all(engine, campaign.id, store.FAILED, clock(), account=account)
            return
    except WeChatUnavailable:
        summary.stopped = "unavailable"
        return
    store.update_mass(engine, row.id, status=store.SENT, msg_id=msg_id)
    store.mark_all(engine, campaign.id, store.SENT, clock(), account=account)


def _summarise(engine: Engine, campaign: Campaign, summary: SendSummary, account: str) -> SendSummary:
    totals = store.counts(engine, campaign.id, account=account)
    summary.targeted = sum(totals.values())
    summary.sent = totals.get(store.SENT, 0)
    summary.blocked = totals.get(store.BLOCKED, 0)
    summary.limited = totals.get(store.LIMITED, 0)
    summary.failed = totals.get(store.FAILED, 0)
    summary.unknown = totals.get(store.UNKNOWN, 0)
    summary.capped = totals.get(store.CAPPED, 0)
    log.info("push_send_summary", campaign=campaign.id, sent=summary.sent, stopped=summary.stopped)
    return summary
