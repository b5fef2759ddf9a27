"""Late replies: what the callback hands over when a turn misses its deadline.

The callback answers `success` within the budget and passes the finished reply here; the
customer-service API sender (issue 6) implements this interface for real, tests use a recorder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from handlers.replies import Reply


@dataclass(frozen=True, slots=True)
class LateDelivery:
    ok: bool
    # e.g. "sent", "45015 window closed", "45047 quota", "timeout", "not_configured"
    detail: str


class LateReplySender(Protocol):
    async def send(self, openid: str, reply: Reply) -> LateDelivery: ...


class DroppingLateSender:
    """Used when no AppSecret is configured: the late reply cannot go out; we say so in the log."""

    async def send(self, openid: str, reply: Reply) -> LateDelivery:
        return LateDelivery(ok=False, detail="not_configured")


class RecordingLateSender:
    """Keeps what it was asked to send; for tests and the dev simulator."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Reply]] = []

    async def send(self, openid: str, reply: Reply) -> LateDelivery:
        self.sent.append((openid, reply))
        return LateDelivery(ok=True, detail="recorded")
