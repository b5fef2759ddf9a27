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
