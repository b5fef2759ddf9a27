"""Build TurnFacts sequences for one user, minute by minute."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.turnlog.consultations import TurnFacts
from tests.turnlog.records import T0


def at(minute: float, route: str = "faq", user: str = "u1", **fields: Any) -> TurnFacts:
    return TurnFacts(received_at=T0 + timedelta(minutes=minute), user_id=user, route=route, **fields)
