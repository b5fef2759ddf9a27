"""Human hand-off (issue 6 fills this in)."""

from __future__ import annotations

from handlers.context import HandlerContext, Turn, TurnResult
from handlers.replies import TransferReply

REQUEST_WORDS = frozenset({"人工", "转人工", "人工客服", "人工服务", "找人工"})


def is_request(command: str) -> bool:
    return command in REQUEST_WORDS


async def request(turn: Turn, ctx: HandlerContext) -> TurnResult:
    return TurnResult(TransferReply(ctx.handoff.agent_account), "handoff", turn.session)
