"""The push tables (issue 19): one `push_recipients` row per citizen and campaign, one `push_mass` per mass send.

Blocking SQLAlchemy, used by the CLI job and the callback (through `asyncio.to_thread`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, bindparam, case, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db.models import PushMass, PushRecipient, Subscription

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
# 43004 / 43101: not following, or refused the message; never retried.
BLOCKED = "blocked"
# 45047: this citizen's quota for now; a later run retries.
LIMITED = "limited"
FAILED = "failed"
# The job stopped between WeChat's call and recording its answer: it may or may not have arrived.
UNKNOWN = "unknown"
CAPPED = "capped"
# Rows a run sends (`limited` rows are turned back to `pending` when a run starts).
SENDABLE = (PENDING,)
BATCH = 500


def _insert(engine: Engine, table: type[PushRecipient] | type[PushMass]):  # type: ignore[no-untyped-def]
    return (pg_insert if engine.dialect.name == "postgresql" else sqlite_insert)(table)


def existing(engine: Engine, campaign: str, *, account: str = "default") -> set[str]:
    query = select(PushRecipient.openid).where(PushRecipient.account == account, PushRecipient.campaign == campaign)
    with Session(engine) as conn:
        return set(conn.execute(query).scalars())


def recent_counts(
    engine: Engine, campaign: str, days: int, now: datetime, *, account: str = "default"
) -> dict[str, int]:
    """Pushes each citizen received from other campaigns within `days` (the frequency cap's window)."""
    since = now.astimezone(UTC) - timedelta(days=days)
    query = (
        select(PushRecipient.openid, func.count())
        .where(PushRecipient.account == account, PushRecipient.campaign != campaign,
               PushRecipient.status == SENT, PushRecipient.sent_at >= since)
        .group_by(PushRecipient.openid)
    )
    with Session(engine) as conn:
        return {openid: count for openid, count in conn.execute(query)}


def add_recipients(
    engine: Engine, campaign: str, channel: str, openids: Iterable[str], status: str, now: datetime,
    *, account: str = "default",
) -> None:
    """Rows for citizens this campaign has none for yet; a row that exists is never touched (idempotent)."""
    batch: list[dict[str, object]] = []

    def flush() -> None:
        if batch:
            stmt = _insert(engine, PushRecipient).values(batch).on_conflict_do_nothing()
            with Session(engine) as conn, conn.begin():
                conn.execute(stmt)
            batch.clear()

    for openid in openids:
        batch.append({"account": account, "campaign": campaign, "openid": openid, "channel": channel,
                      "status": status, "created_at": now, "msgid": "", "delivery": ""})
        if len(batch) >= BATCH:
            flush()
    flush()


def add_audience(
    engine: Engine, campaign: str, channel: str, topics: Sequence[str], cap_count: int, cap_since: datetime,
    now: datetime, *, account: str = "default",
) -> int:
    """Rows for every subscriber of `topics` this campaign has none for yet, in one INSERT … SELECT.

    A citizen who received `cap_count` pushes from other campaigns since `cap_since` gets a
    `capped` row, everyone else a `pending` one; existing rows are never touched (idempotent).
    Done in the database so a 100,000-citizen audience never passes through this process's
    memory (bench/push.py checks the job's peak RSS). Returns how many rows were added."""
    recent = (
        select(PushRecipient.openid.label("openid"), func.count().label("n"))
        .where(PushRecipient.account == account, PushRecipient.campaign != campaign,
               PushRecipient.status == SENT, PushRecipient.sent_at >= cap_since.astimezone(UTC))
        .group_by(PushRecipient.openid)
        .subquery()
    )
    audience = (
        select(
            literal(account), literal(campaign), Subscription.openid, literal(channel),
            case((func.coalesce(func.max(recent.c.n), 0) >= cap_count, CAPPED), else_=PENDING),
            literal(now.astimezone(UTC), PushRecipient.created_at.type), literal(""), literal(""),
        )
        .select_from(Subscription)
        .outerjoin(recent, recent.c.openid == Subscription.openid)
        .where(Subscription.account == account, Subscription.topic.in_(list(topics)),
               Subscription.status == "subscribed")
        .group_by(Subscription.openid)
        .order_by(func.min(Subscription.id))
    )
    columns = ["account", "campaign", "openid", "channel", "status", "created_at", "msgid", "delivery"]
    stmt = _insert(engine, PushRecipient).from_select(columns, audience).on_conflict_do_nothing()
    with engine.begin() as conn:
        return int(conn.execute(stmt).rowcount or 0)


def next_batch(engine: Engine, campaign: str, limit: int, *, account: str = "default") -> list[tuple[int, str]]:
    query = (
        select(PushRecipient.id, PushRecipient.openid)
        .where(PushRecipient.account == account, PushRecipient.campaign == campaign,
               PushRecipient.status.in_(SENDABLE))
        .order_by(PushRecipient.id)
        .limit(limit)
    )
    with Session(engine) as conn:
        return [(row_id, openid) for row_id, openid in conn.execute(query)]


def claim(engine: Engine, row_id: int, now: datetime) -> bool:
    """Mark the row `sending` (and when) before the call: a crash after this leaves it `sending`."""
    with Session(engine) as conn, conn.begin():
        claimed = conn.execute(
            update(PushRecipient)
            .where(PushRecipient.id == row_id, PushRecipient.status.in_(SENDABLE))
            .values(status=SENDING, sent_at=now)
            .returning(PushRecipient.id)
        )
        return claimed.first() is not None


def finish(
    engine: Engine, row_id: int, status: str, now: datetime, *, errcode: int | None = None, msgid: str = ""
) -> None:
    values: dict[str, object] = {"status": status, "errcode": errcode, "msgid": msgid}
    if status == SENT:
        values["sent_at"] = now
    with Session(engine) as conn, conn.begin():
        conn.execute(update(PushRecipient).where(PushRecipient.id == row_id).values(**values))


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one row's send ended, recorded by `step` (or `finish`)."""

    row_id: int
    status: str
    errcode: int | None = None
    msgid: str = ""


# Built once: the send loop runs these for every message, and building a statement costs more
# Python than executing the cached compiled one.
_FINISH_SENT = (
    update(PushRecipient).where(PushRecipient.id == bindparam("row_id"))
    .values(status=bindparam("status"), errcode=bindparam("errcode"), msgid=bindparam("msgid"),
            sent_at=bindparam("now"))
)
_FINISH_OTHER = (
    update(PushRecipient).where(PushRecipient.id == bindparam("row_id"))
    .values(status=bindparam("status"), errcode=bindparam("errcode"), msgid=bindparam("msgid"))
)
_CLAIM = (
    update(PushRecipient)
    .where(PushRecipient.id == bindparam("claim_id"), PushRecipient.status.in_(SENDABLE))
    .values(status=SENDING, sent_at=bindparam("now"))
    .returning(PushRecipient.id)
)


def step(engine: Engine, done: Outcome | None, claim_id: int | None, now: datetime) -> bool:
    """Record the previous row's outcome and claim the next row, in one transaction.

    The same two writes as `finish` then `claim`, in the same order, so a crash leaves at most
    one row `sending` as before; one commit per message instead of two is most of what a send
    costs this process (bench/push.py). True when `claim_id` was claimed."""
    with engine.begin() as conn:
        if done is not None:
            conn.execute(_FINISH_SENT if done.status == SENT else _FINISH_OTHER,
                         {"row_id": done.row_id, "status": done.status, "errcode": done.errcode,
                          "msgid": done.msgid, "now": now})
        if claim_id is None:
            return False
        return conn.execute(_CLAIM, {"claim_id": claim_id, "now": now}).first() is not None


def interrupted(engine: Engine, campaign: str, *, account: str = "default") -> int:
    """Rows a killed run left `sending`: their message may have gone out, so they become `unknown`."""
    with Session(engine) as conn, conn.begin():
        changed = conn.execute(
            update(PushRecipient)
            .where(PushRecipient.account == account, PushRecipient.campaign == campaign,
                   PushRecipient.status == SENDING)
            .values(status=UNKNOWN)
            .returning(PushRecipient.id)
        )
        return len(changed.all())


def settle(engine: Engine, campaign: str, before: datetime, *, account: str = "default") -> int:
    """`unknown` rows claimed before `before` for which WeChat reported nothing: never sent, so pending.

    Every template message WeChat accepts is reported by a TEMPLATESENDJOBFINISH event within
    seconds to minutes (the callback turns the `unknown` row into `sent`); one still unknown after
    the settle time was not accepted, and sending it now is the only way it is not skipped."""
    with Session(engine) as conn, conn.begin():
        changed = conn.execute(
            update(PushRecipient)
            .where(PushRecipient.account == account, PushRecipient.campaign == campaign,
                   PushRecipient.status == UNKNOWN, PushRecipient.sent_at < before.astimezone(UTC))
            .values(status=PENDING, sent_at=None)
            .returning(PushRecipient.id)
        )
        return len(changed.all())


def counts(engine: Engine, campaign: str, *, account: str = "default") -> dict[str, int]:
    query = (
        select(PushRecipient.status, func.count())
        .where(PushRecipient.account == account, PushRecipient.campaign == campaign)
        .group_by(PushRecipient.status)
    )
    with Session(engine) as conn:
        return {status: n for status, n in conn.execute(query)}


def mass_row(engine: Engine, campaign: str, *, account: str = "default") -> PushMass | None:
    with Session(engine, expire_on_commit=False) as conn:
        return conn.execute(
            select(PushMass).where(PushMass.account == account, PushMass.campaign == campaign)
        ).scalars().first()


def ensure_mass(
    engine: Engine, campaign: str, tag_id: int, clientmsgid: str, targeted: int, now: datetime,
    *, account: str = "default",
) -> PushMass:
    stmt = _insert(engine, PushMass).values(
        account=account, campaign=campaign, tag_id=tag_id, clientmsgid=clientmsgid, status=PENDING,
        targeted=targeted, created_at=now, msg_id="",
    ).on_conflict_do_nothing()
    with Session(engine) as conn, conn.begin():
        conn.execute(stmt)
    row = mass_row(engine, campaign, account=account)
    assert row is not None
    return row


def update_mass(engine: Engine, row_id: int, **values: object) -> None:
    with Session(engine) as conn, conn.begin():
        conn.execute(update(PushMass).where(PushMass.id == row_id).values(**values))


def mark_all(engine: Engine, campaign: str, status: str, now: datetime, *, account: str = "default",
             statuses: Sequence[str] = (PENDING,)) -> None:
    with Session(engine) as conn, conn.begin():
        conn.execute(
            update(PushRecipient)
            .where(PushRecipient.account == account, PushRecipient.campaign == campaign,
                   PushRecipient.status.in_(statuses))
            .values(status=status, sent_at=now if status == SENT else None)
        )


def record_template_result(
    engine: Engine, openid: str, msgid: str, status: str, *, account: str = "default"
) -> bool:
    """TEMPLATESENDJOBFINISH: the row with this msgid gets WeChat's delivery status.

    A row left `unknown` by an interrupted run has no msgid yet: the event proves the message
    went out, so that citizen's oldest `unknown` row becomes `sent` (and is never resent)."""
    delivery = status[:32]
    with Session(engine) as conn, conn.begin():
        done = conn.execute(
            update(PushRecipient)
            .where(PushRecipient.account == account, PushRecipient.msgid == msgid, PushRecipient.openid == openid)
            .values(delivery=delivery)
            .returning(PushRecipient.id)
        ).first()
        if done is not None:
            return True
        row_id = conn.execute(
            select(PushRecipient.id)
            .where(PushRecipient.account == account, PushRecipient.openid == openid,
                   PushRecipient.status.in_((UNKNOWN, SENDING)))
            .order_by(PushRecipient.id)
            .limit(1)
        ).scalar()
        if row_id is None:
            return False
        conn.execute(
            update(PushRecipient).where(PushRecipient.id == row_id).values(status=SENT, msgid=msgid, delivery=delivery)
        )
        return True


@dataclass(frozen=True, slots=True)
class NoticeResult:
    """One item of a subscribe_msg_sent_event: a subscription notice (订阅通知) WeChat tried to deliver."""

    template_id: str
    msgid: str
    errcode: int | None
    status: str  # ErrorStatus: success | failed:user refuse | failed:system failed …

    @property
    def delivery(self) -> str:
        # The same vocabulary as TEMPLATESENDJOBFINISH's Status, which the reach figure reads.
        if self.status == "success" or (not self.status and self.errcode == 0):
            return "success"
        return (self.status or f"failed:{self.errcode}")[:32]


def record_subscribe_results(
    engine: Engine, openid: str, results: Sequence[NoticeResult], *, account: str = "default"
) -> bool:
    """subscribe_msg_sent_event: each notice's result on the citizen's oldest unreported notice row.

    bizsend answers without a msgid, so the report is matched by citizen (and channel): the
    oldest `subscribe` row of theirs WeChat has not reported on yet. A row an interrupted run
    left `unknown`/`sending` becomes `sent` (the event proves it went out; never resent)."""
    found = False
    with Session(engine) as conn, conn.begin():
        for result in results:
            row_id = conn.execute(
                select(PushRecipient.id)
                .where(PushRecipient.account == account, PushRecipient.openid == openid,
                       PushRecipient.channel == "subscribe", PushRecipient.delivery == "",
                       PushRecipient.status.in_((SENT, UNKNOWN, SENDING)))
                .order_by(PushRecipient.id)
                .limit(1)
            ).scalar()
            if row_id is None:
                continue
            conn.execute(update(PushRecipient).where(PushRecipient.id == row_id).values(
                status=SENT, msgid=result.msgid[:64], delivery=result.delivery,
                errcode=result.errcode if result.errcode else None,
            ))
            found = True
    return found


def record_mass_result(
    engine: Engine, msg_id: str, fields: dict[str, int], now: datetime, *, account: str = "default"
) -> bool:
    """MASSSENDJOBFINISH: TotalCount, FilterCount, SentCount, ErrorCount for the mass send with this MsgID."""
    values = {"total_count": fields.get("TotalCount"), "filter_count": fields.get("FilterCount"),
              "sent_count": fields.get("SentCount"), "error_count": fields.get("ErrorCount"),
              "finished_at": now, "status": "finished"}
    with Session(engine) as conn, conn.begin():
        row_id = conn.execute(
            select(PushMass.id).where(PushMass.account == account, PushMass.msg_id == msg_id)
        ).scalar()
        if row_id is None:
            # Sent by a run that died before recording WeChat's msg_id (45065 on the rerun).
            row_id = conn.execute(
                select(PushMass.id)
                .where(PushMass.account == account, PushMass.msg_id == "", PushMass.status == SENT)
                .order_by(PushMass.id).limit(1)
            ).scalar()
        if row_id is None:
            return False
        conn.execute(update(PushMass).where(PushMass.id == row_id).values(msg_id=msg_id, **values))
        return True
