"""Turn a `TurnRecord` into the row we store: pseudonymous, masked, clipped to the columns.

This is the only place raw OpenIDs and texts are read; what leaves it (to the database or
the spool file) is safe to keep.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

from app.turnlog.privacy import PSEUDONYM_HEX, mask_personal_data
from app.turnlog.record import TurnRecord

MAX_TEXT = 2000


# Rows are lists in this column order: the writer builds one per delivery and hands it to the
# driver as is, so no per-row dict or per-parameter processing stands between them.
COLUMNS = (
    "record_id", "received_at", "account", "user_id", "consultation_id", "turn_index", "msg_type", "event",
    "dedup_key", "is_retry", "text", "route", "faq_id", "score", "flow_id", "step", "reply_type", "reply_bytes",
    "latency_ms", "stages", "outcome", "late_detail", "resolved", "satisfaction",
)
Row = list[Any]
RECEIVED_AT, USER_ID, CONSULTATION_ID, DEDUP_KEY, IS_RETRY, TEXT, STAGES, RESOLVED = (
    COLUMNS.index(c)
    for c in ("received_at", "user_id", "consultation_id", "dedup_key", "is_retry", "text", "stages", "resolved")
)


class RowMaker:
    """Builds rows with one HMAC key. Runs for every delivery, so it is written for speed:
    slicing instead of helper calls, and a cache of recent users' pseudonyms."""

    CACHE_SIZE = 65_536

    def __init__(self, key: bytes) -> None:
        # Copying a keyed HMAC skips re-deriving the key pads each time (≈2× faster).
        self._hmac = hmac.new(key, digestmod=hashlib.sha256)
        self._cache: dict[str, str] = {}

    def pseudonym(self, value: str) -> str:
        cached = self._cache.get(value)
        if cached is not None:
            return cached
        h = self._hmac.copy()
        h.update(value.encode())
        digest = h.hexdigest()[:PSEUDONYM_HEX]
        if len(self._cache) >= self.CACHE_SIZE:
            self._cache.clear()
        self._cache[value] = digest
        return digest

    def __call__(self, record_id: str, record: TurnRecord) -> Row:
        received = record.received_at
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        elif received.utcoffset():
            received = received.astimezone(UTC)
        user_id = self.pseudonym(record.openid)
        dedup = record.dedup_key
        if dedup:
            # Dedup keys start with the OpenID (FromUserName:MsgId…): keep the rest, which ties
            # retries to their first delivery, behind the pseudonym instead.
            openid = record.openid
            dedup = (user_id[:16] + dedup[len(openid):] if openid and dedup.startswith(openid)
                     else self.pseudonym(dedup)[:40])[:200]
        text = record.text
        score = record.score
        return [
            record_id,
            received,
            record.account[:64],
            user_id,
            record.consultation_id[:64],
            record.turn_index,
            record.msg_type[:32],
            record.event[:64],
            dedup,
            record.is_retry,
            # PostgreSQL text cannot hold NUL; nothing a user typed needs it.
            mask_personal_data(text)[:MAX_TEXT].replace("\x00", "") if text else "",
            record.route[:32],
            record.faq_id[:128],
            None if score is None else float(score),
            record.flow_id[:128],
            record.step[:128],
            record.reply_type[:32],
            record.reply_bytes,
            float(record.latency_ms),
            record.stages,
            record.outcome[:16],
            record.late_detail[:128],
            record.resolved,
            record.satisfaction[:16],
        ]


def as_dict(row: Row) -> dict[str, Any]:
    return dict(zip(COLUMNS, row, strict=True))


def from_dict(values: dict[str, Any]) -> Row:
    return [values[c] for c in COLUMNS]


def to_row(record_id: str, record: TurnRecord, key: bytes) -> dict[str, Any]:
    """One record as a column → value mapping (tests and tools; the writer uses `RowMaker`)."""
    return as_dict(RowMaker(key)(record_id, record))


def row_to_json(row: Row) -> list[Any]:
    out = list(row)
    out[RECEIVED_AT] = row[RECEIVED_AT].isoformat()
    return out


def row_from_json(values: list[Any]) -> Row:
    row = list(values)
    row[RECEIVED_AT] = datetime.fromisoformat(row[RECEIVED_AT]).astimezone(UTC)
    return row
