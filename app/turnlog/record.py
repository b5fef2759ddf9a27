"""What the callback hands to the turn log for every delivery, retries included.

The callback fills this in; the turn log (writer, masking, pseudonymisation) owns what happens next.
Raw text and openid are passed in; the writer masks and pseudonymises before anything is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Outcome = Literal["passive", "late", "failed", "duplicate"]


@dataclass(slots=True)
class TurnRecord:
    received_at: datetime  # aware UTC
    account: str  # the account id (app.accounts), `default` for a single-account deployment
    openid: str  # raw; pseudonymised by the writer, never stored as is
    msg_type: str
    dedup_key: str
    text: str  # raw user text (masked by the writer)
    route: str  # faq / clarify / fallback / flow / menu / event / handoff / media / more / duplicate / late …
    reply_type: str  # text / news / transfer / success
    reply_bytes: int
    latency_ms: float
    # Per-stage timings in whole µs: verify, decrypt, parse, dedup, lock, load, handle, save, render, encrypt.
    stages: dict[str, int] = field(default_factory=dict)
    outcome: Outcome = "passive"
    is_retry: bool = False
    consultation_id: str = ""
    turn_index: int = 0
    faq_id: str = ""
    score: float | None = None
    flow_id: str = ""
    step: str = ""
    resolved: bool = False
    satisfaction: str = ""
    late_detail: str = ""  # delivery result of a late reply
    event: str = ""
