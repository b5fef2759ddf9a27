"""TurnRecord builders for turn-log tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.turnlog.record import TurnRecord

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def record(n: int = 0, **overrides: Any) -> TurnRecord:
    values: dict[str, Any] = {
        "received_at": T0 + timedelta(seconds=n),
        "account": "gh_test",
        "openid": f"o-user-{n % 7}",
        "msg_type": "text",
        "dedup_key": f"o-user-{n % 7}:{1000 + n}",
        "text": f"社保卡怎么办理 {n}",
        "route": "faq",
        "reply_type": "text",
        "reply_bytes": 120,
        "latency_ms": 12.5,
        "stages": {"parse": 200, "handle": 10_000},
        "faq_id": "social-card",
        "score": 91.0,
    }
    values.update(overrides)
    return TurnRecord(**values)
