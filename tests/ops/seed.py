"""A turn log with known content for dashboard tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from app.turnlog.rows import to_row
from app.turnlog.store import insert_rows
from tests.turnlog.records import record

UNANSWERED = "公积金异地转移怎么办"


def seed(engine: Engine, now: datetime) -> None:
    """Three hours of traffic ending at `now`: FAQ answers, a flow, fallbacks, a hand-off, ratings."""
    rows = []
    n = 0

    def add(minutes_ago: float, openid: str, **fields: object) -> None:
        nonlocal n
        n += 1
        rows.append(to_row(f"seed{n:04d}", record(n, received_at=now - timedelta(minutes=minutes_ago),
                                                    openid=openid, **fields), b"k"))

    for i in range(12):
        add(170 - i * 10, f"faq-user-{i}", route="faq", faq_id=f"faq-{i % 3}", latency_ms=40 + i * 5)
    add(100, "flow-user", route="flow", faq_id="", flow_id="booking", step="date", latency_ms=120)
    add(99, "flow-user", route="flow", faq_id="", flow_id="booking", step="confirm", resolved=True,
        latency_ms=150)
    add(98, "flow-user", route="menu", faq_id="", satisfaction="满意", latency_ms=20)
    for i in range(3):
        add(60 - i, f"lost-user-{i}", route="fallback", faq_id="", text=UNANSWERED, latency_ms=90)
    add(30, "angry-user", route="fallback", faq_id="", text="人工", latency_ms=80)
    add(29, "angry-user", route="handoff", faq_id="", latency_ms=30)
    add(10, "slow-user", route="faq", faq_id="faq-9", latency_ms=4200)
    add(5, "rater", route="faq", faq_id="faq-1", latency_ms=55)
    add(4, "rater", route="menu", faq_id="", satisfaction="不满意", latency_ms=20)
    insert_rows(engine, rows)


SURGE_QUESTION = "医保卡在外地用不了怎么办"
# Campaign files for the reach panel (topics from knowledge/topics.yaml).
CAMPAIGNS = {
    "gjj-rate-2027": "title: 公积金贷款利率调整\ntopics: [gongjijin]\nchannel: template\ntemplate_id: T1\n"
                     "content: 自 1 月 1 日起下调。\n",
    "shebao-base-2027": "title: 社保缴费基数调整\ntopics: [shebao]\nchannel: template\ntemplate_id: T2\n"
                        "content: 新基数。\n",
}


def seed_push(engine: Engine, now: datetime, key: bytes) -> None:
    """Two campaigns sent three days before `now` and a surge of one unanswered question.

    gjj-rate-2027: 10 targeted, all sent, 6 delivered (60%: below the 75% target), 2 opened,
    3 asked about 公积金 within 10 days, 1 unsubscribed. shebao-base-2027: 4 targeted (one more
    left out by the frequency cap), 4 delivered (100%). The surge: 6 fallbacks in the last 10
    hours (none before), first answered by an FAQ entry 4 hours ago, 6 hours after it started.
    """
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from app.db import subscriptions
    from app.db.models import PushRecipient
    from app.push import store

    sent_at = now - timedelta(days=3)
    for campaign, topic, n, delivered in (("gjj-rate-2027", "gongjijin", 10, 6), ("shebao-base-2027", "shebao", 4, 4)):
        openids = [f"{topic}-{i}" for i in range(n)]
        for openid in openids:
            subscriptions.subscribe(engine, openid, topic, now=sent_at - timedelta(days=1))
        store.add_recipients(engine, campaign, "template", openids, store.PENDING, sent_at)
        for index, (row_id, openid) in enumerate(store.next_batch(engine, campaign, 100)):
            store.claim(engine, row_id, sent_at)
            store.finish(engine, row_id, store.SENT, sent_at, msgid=f"{campaign}-{row_id}")
            if index < delivered:
                store.record_template_result(engine, openid, f"{campaign}-{row_id}", "success")
            elif index == delivered:
                store.record_template_result(engine, openid, f"{campaign}-{row_id}", "failed:user block")
            if campaign == "gjj-rate-2027" and index < 2:
                with Session(engine) as conn, conn.begin():
                    conn.execute(update(PushRecipient).where(PushRecipient.id == row_id)
                                 .values(opened_at=sent_at + timedelta(hours=1)))
    store.add_recipients(engine, "shebao-base-2027", "template", ["shebao-capped"], store.CAPPED, sent_at)
    subscriptions.unsubscribe(engine, "gongjijin-9", "gongjijin", now=sent_at + timedelta(hours=5))

    rows = []
    n = 0

    def add(at: datetime, openid: str, **fields: object) -> None:
        nonlocal n
        n += 1
        rows.append(to_row(f"push{n:04d}", record(n, received_at=at, openid=openid, account="default", **fields),
                           key))

    for i in range(3):  # asked about 公积金 after the push; one of them twice
        add(sent_at + timedelta(days=1, hours=i), f"gongjijin-{i}", route="faq", faq_id="gongjijin-001",
            text="公积金余额怎么查")
    add(sent_at + timedelta(days=2), "gongjijin-0", route="faq", faq_id="gongjijin-001", text="公积金余额怎么查")
    for i in range(6):
        add(now - timedelta(hours=10 - i), f"surge-user-{i}", route="fallback", faq_id="", text=SURGE_QUESTION)
    add(now - timedelta(hours=4), "surge-answered", route="faq", faq_id="yibao-009", text=SURGE_QUESTION)
    insert_rows(engine, rows)
