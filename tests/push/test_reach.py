"""Reach: targeted → sent → delivered → consulted within 10 days → unsubscribed, and delivered / targeted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from app.db import subscriptions
from app.push import store
from app.push.reach import interest, reach
from app.turnlog.privacy import Pseudonymiser
from app.turnlog.rows import to_row
from app.turnlog.store import insert_rows
from tests.turnlog.records import record

KEY = b"k" * 32
SENT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def _sent(engine: Engine, n: int) -> list[str]:
    openids = [f"o{i}" for i in range(n)]
    for openid in openids:
        subscriptions.subscribe(engine, openid, "gjj")
    store.add_recipients(engine, "c1", "template", openids, store.PENDING, SENT)
    for row_id, _openid in store.next_batch(engine, "c1", 100):
        store.claim(engine, row_id, SENT)
        store.finish(engine, row_id, store.SENT, SENT, msgid=f"m{row_id}")
    return openids


def test_reach_is_delivered_over_targeted_and_counts_each_stage(engine: Engine) -> None:
    openids = _sent(engine, 8)
    store.add_recipients(engine, "c1", "template", ["capped1"], store.CAPPED, SENT)
    for row_id, openid in enumerate(openids[:6], start=1):
        status = "success" if row_id <= 5 else "failed:user block"
        store.record_template_result(engine, openid, f"m{row_id}", status)
    # o0 asked about a 公积金 entry 3 days later, o1 after 11 days (too late), o2 about something else.
    rows = [
        to_row(f"r{i}", record(i, openid=openid, account="default", faq_id=faq, received_at=SENT + delay), KEY)
        for i, (openid, faq, delay) in enumerate([
            ("o0", "gjj-balance", timedelta(days=3)),
            ("o1", "gjj-balance", timedelta(days=11)),
            ("o2", "weather", timedelta(days=1)),
        ])
    ]
    insert_rows(engine, rows)
    subscriptions.unsubscribe(engine, "o3", "gjj", now=SENT + timedelta(hours=2))
    result = reach(engine, "c1", ["gjj"], pseudonym=Pseudonymiser(KEY), faq_ids={"gjj-balance"})
    assert (result.targeted, result.sent, result.delivered, result.consulted, result.unsubscribed) == (8, 8, 5, 1, 1)
    assert result.capped == 1
    assert result.reach_10d == 0.625 and not result.met
    assert result.as_dict()["met"] is False


def test_the_target_is_met_at_three_quarters(engine: Engine) -> None:
    openids = _sent(engine, 4)
    for row_id, openid in enumerate(openids[:3], start=1):
        store.record_template_result(engine, openid, f"m{row_id}", "success")
    result = reach(engine, "c1", ["gjj"], pseudonym=Pseudonymiser(KEY))
    assert result.reach_10d == 0.75 and result.met


def test_interest_is_a_count_of_citizens_who_asked_recently(engine: Engine) -> None:
    rows = [
        to_row(f"r{i}", record(i, openid=openid, account="default", faq_id=faq, received_at=SENT + delay), KEY)
        for i, (openid, faq, delay) in enumerate([
            ("o0", "gjj-balance", timedelta(days=1)),
            ("o0", "gjj-loan", timedelta(days=2)),
            ("o1", "gjj-loan", timedelta(days=2)),
            ("o2", "gjj-loan", -timedelta(days=40)),
            ("o3", "weather", timedelta(days=1)),
        ])
    ]
    insert_rows(engine, rows)
    assert interest(engine, SENT - timedelta(days=30), faq_ids={"gjj-balance", "gjj-loan"}) == 2
