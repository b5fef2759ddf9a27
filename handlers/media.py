"""Non-text messages: a sensible reply that steers the user back to typing."""

from __future__ import annotations

from handlers import flow, texts
from handlers.context import HandlerContext, Turn, TurnResult
from handlers.messages import ImageMessage, LinkMessage, LocationMessage, VideoMessage
from handlers.replies import TextReply


async def voice_empty(turn: Turn, ctx: HandlerContext) -> TurnResult:
    return TurnResult(TextReply(texts.VOICE_EMPTY), "media", turn.session)


def _note(msg: object) -> str:
    """What staff read on the desk for a photo, video or place sent after filing a ticket."""
    if isinstance(msg, ImageMessage):
        return f"[图片] {msg.pic_url or msg.media_id}"
    if isinstance(msg, VideoMessage):
        return f"[视频] media_id={msg.media_id}"
    if isinstance(msg, LocationMessage):
        return f"[位置] {msg.label}（{msg.latitude:.5f}, {msg.longitude:.5f}）"
    return ""


async def reply(turn: Turn, ctx: HandlerContext) -> TurnResult:
    msg = turn.message
    note = _note(msg)
    if note:
        # Right after filing a complaint, a photo or a place is evidence for it (issue 13).
        attached = await flow.attach_media(turn, ctx, note)
        if attached is not None:
            return attached
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
