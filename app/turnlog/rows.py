"""Turn a `TurnRecord` into the row we store: pseudonymous, masked, clipped to the columns.

This is the only place raw OpenIDs and texts are read; what leaves it (to the database or
the spool file) is safe to keep.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.turnlog.privacy import mask_personal_data, pseudonym
from app.turnlog.record import TurnRecord

MAX_TEXT = 2000


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[:limit]


def to_row(record_id: str, record: TurnRecord, key: bytes) -> dict[str, Any]:
    received = record.received_at
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    return {
        "record_id": record_id,
        "received_at": received.astimezone(UTC),
        "account": _clip(record.account, 64),
        "user_id": pseudonym(key, record.openid),
        "consultation_id": _clip(record.consultation_id, 64),
        "turn_index": int(record.turn_index),
        "msg_type": _clip(record.msg_type, 32),
        "event": _clip(record.event, 64),
        # The dedup key embeds the OpenID (FromUserName + MsgId): keep only a keyed hash,
        # enough to tie retries to their first delivery.
        "dedup_key": pseudonym(key, record.dedup_key)[:40] if record.dedup_key else "",
        "is_retry": bool(record.is_retry),
        "text": _clip(mask_personal_data(record.text), MAX_TEXT),
        "route": _clip(record.route, 32),
        "faq_id": _clip(record.faq_id, 128),
        "score": None if record.score is None else float(record.score),
        "flow_id": _clip(record.flow_id, 128),
        "step": _clip(record.step, 128),
        "reply_type": _clip(record.reply_type, 32),
        "reply_bytes": int(record.reply_bytes),
        "latency_ms": round(float(record.latency_ms), 3),
        "stages": {str(k): round(float(v), 3) for k, v in record.stages.items()},
        "outcome": _clip(record.outcome, 16),
        "late_detail": _clip(record.late_detail, 128),
        "resolved": bool(record.resolved),
        "satisfaction": _clip(record.satisfaction, 16),
    }


def row_to_json(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["received_at"] = row["received_at"].isoformat()
    return out


def row_from_json(data: dict[str, Any]) -> dict[str, Any]:
    row = dict(data)
    row["received_at"] = datetime.fromisoformat(row["received_at"]).astimezone(UTC)
    return row
