"""A campaign's reach (issue 19): targeted → sent → delivered → opened → consulted the topic → unsubscribed.

**10-day reach = delivered / targeted**, against the 75% target the industry report sets for a
key policy. Targeted is every citizen the campaign was meant for, except those the frequency cap
removed (they were deliberately not sent to). Delivered is WeChat's own report:
TEMPLATESENDJOBFINISH `success` per template message, subscribe_msg_sent_event `success` (ErrorCode
0) per subscription notice, MASSSENDJOBFINISH `SentCount` for a mass send. "Consulted" counts
recipients whose turns within 10 days of the send asked about an FAQ entry or flow of the
campaign's topics (the turn log keys users by pseudonym).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.orm import Session

from app.db.models import PushRecipient, Subscription, TurnRow
from app.push import store

TARGET = 0.75
WINDOW = timedelta(days=10)
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Reach:
    campaign: str
    channel: str
    targeted: int
    sent: int
    delivered: int
    opened: int
    consulted: int
    unsubscribed: int
    capped: int
    blocked: int
    # WeChat reported the message not delivered (a failed TEMPLATESENDJOBFINISH Status or
    # subscribe_msg_sent_event ErrorStatus), or the send call itself failed; a mass send: ErrorCount.
    failed: int
    first_sent_at: str
    reach_10d: float | None
    target: float = TARGET

    @property
    def met(self) -> bool:
        return self.reach_10d is not None and self.reach_10d >= self.target

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "met": self.met}


def reach(
    engine: Engine, campaign: str, topics: Collection[str], *, account: str = "default",
    pseudonym: Callable[[str], str], faq_ids: Collection[str] = (), flow_ids: Collection[str] = (),
) -> Reach:
    with Session(engine) as conn:
        rows = conn.execute(
            select(PushRecipient.openid, PushRecipient.status, PushRecipient.delivery, PushRecipient.sent_at,
                   PushRecipient.channel, PushRecipient.opened_at)
            .where(PushRecipient.account == account, PushRecipient.campaign == campaign)
        ).all()
    capped = sum(1 for r in rows if r.status == store.CAPPED)
    targeted_rows = [r for r in rows if r.status != store.CAPPED]
    sent_rows = [r for r in targeted_rows if r.status == store.SENT]
    channel = rows[0].channel if rows else ""
    if channel == "mass":
        mass = store.mass_row(engine, campaign, account=account)
        delivered = mass.sent_count or 0 if mass is not None else 0
        failed = mass.error_count or 0 if mass is not None else 0
    else:
        delivered = sum(1 for r in sent_rows if r.delivery == "success")
        failed = sum(1 for r in targeted_rows if r.status == store.FAILED or r.delivery.startswith("failed"))
    first = min((r.sent_at for r in sent_rows if r.sent_at is not None), default=None)
    consulted = _consulted(engine, sent_rows, account, pseudonym, faq_ids, flow_ids)
    with Session(engine) as conn:
        unsubscribed = 0 if first is None else conn.execute(
            select(func.count(func.distinct(Subscription.openid))).where(
                Subscription.account == account, Subscription.topic.in_(list(topics)),
                Subscription.status == "unsubscribed", Subscription.updated_at >= first,
                Subscription.openid.in_([r.openid for r in sent_rows][:10000]),
            )
        ).scalar_one()
    targeted = len(targeted_rows)
    return Reach(
        campaign=campaign, channel=channel, targeted=targeted, sent=len(sent_rows), delivered=delivered,
        opened=sum(1 for r in sent_rows if r.opened_at is not None),
        consulted=consulted, unsubscribed=unsubscribed, capped=capped,
        blocked=sum(1 for r in rows if r.status == store.BLOCKED), failed=failed,
        first_sent_at=first.isoformat() if first is not None else "",
        reach_10d=round(delivered / targeted, 4) if targeted else None,
    )


def _consulted(
    engine: Engine, sent_rows: list, account: str, pseudonym: Callable[[str], str],  # type: ignore[type-arg]
    faq_ids: Collection[str], flow_ids: Collection[str],
) -> int:
    if not sent_rows or not (faq_ids or flow_ids):
        return 0
    sent_at = {pseudonym(r.openid): r.sent_at for r in sent_rows if r.sent_at is not None}
    about = or_(TurnRow.faq_id.in_(list(faq_ids)), TurnRow.flow_id.in_(list(flow_ids)))
    earliest = min(sent_at.values())
    found: set[str] = set()
    users = list(sent_at)
    with Session(engine) as conn:
        for start in range(0, len(users), _CHUNK):
            chunk = users[start:start + _CHUNK]
            query = select(TurnRow.user_id, TurnRow.received_at).where(
                and_(TurnRow.user_id.in_(chunk), about, TurnRow.received_at >= earliest,
                     TurnRow.account.in_([account, ""]))
            )
            for user_id, received_at in conn.execute(query):
                when = sent_at[user_id]
                if when <= received_at <= when + WINDOW:
                    found.add(user_id)
    return len(found)


def interest(
    engine: Engine, since: datetime, *, account: str = "default", faq_ids: Collection[str] = (),
    flow_ids: Collection[str] = (),
) -> int:
    """How many citizens asked about a topic since `since`: a count from the turn log, for planning.

    Interest is never stored per citizen (issue 19: no profiles); it is counted when asked for."""
    if not (faq_ids or flow_ids):
        return 0
    about = or_(TurnRow.faq_id.in_(list(faq_ids)), TurnRow.flow_id.in_(list(flow_ids)))
    query = select(func.count(func.distinct(TurnRow.user_id))).where(
        about, TurnRow.received_at >= since, TurnRow.account.in_([account, ""])
    )
    with Session(engine) as conn:
        return int(conn.execute(query).scalar_one())
