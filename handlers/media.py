"""Non-text messages: a sensible reply that steers the user back to typing."""

from __future__ import annotations

from handlers import texts
from handlers.context import HandlerContext, Turn, TurnResult
from handlers.messages import ImageMessage, LinkMessage, LocationMessage, VideoMessage
from handlers.replies import TextReply


async def voice_empty(turn: Turn, ctx: HandlerContext) -> TurnResult:
    return TurnResult(TextReply(texts.VOICE_EMPTY), "media", turn.session)


async def reply(turn: Turn, ctx: HandlerContext) -> TurnResult:
    msg = turn.message
    if isinstance(msg, ImageMessage):
        content = texts.IMAGE
    elif isinstance(msg, VideoMessage):
        content = texts.VIDEO
    elif isinstance(msg, LocationMessage):
        content = texts.LOCATION.format(label=msg.label or f"{msg.latitude:.4f}, {msg.longitude:.4f}")
    elif isinstance(msg, LinkMessage):
        content = texts.LINK.format(title=msg.title or "链接")
    else:
        return TurnResult(TextReply(texts.UNKNOWN), "unknown", turn.session)
    return TurnResult(TextReply(content), "media", turn.session)
