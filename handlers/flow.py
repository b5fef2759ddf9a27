"""Flow turns: start, continue and leave service flows (issue 4 fills this in)."""

from __future__ import annotations

from handlers.context import HandlerContext, Turn, TurnResult
from handlers.session import ClarifyOption


async def start(turn: Turn, ctx: HandlerContext, flow_id: str, text: str) -> TurnResult | None:
    return None


async def continue_(
    turn: Turn, ctx: HandlerContext, text: str, choices: list[ClarifyOption]
) -> TurnResult | None:
    return None


async def maybe_start(turn: Turn, ctx: HandlerContext, text: str) -> TurnResult | None:
    return None
