"""Long answers: WeChat truncates passive text past ~2 KB, so we page at 2000 UTF-8 bytes."""

from __future__ import annotations

from handlers import texts
from handlers.context import TurnResult
from handlers.replies import TextReply

MAX_REPLY_BYTES = 2000
MORE_WORDS = frozenset({"更多", "更多内容", "继续", "下一页"})


def _split(text: str, limit: int) -> tuple[str, str]:
    """Cut `text` so that the head is at most `limit` bytes, preferring a line break."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text, ""
    head = encoded[:limit].decode("utf-8", errors="ignore")
    cut = head.rfind("\n")
    if cut > len(head) // 2:
        head = head[:cut]
    return head, text[len(head):].lstrip("\n")


def paginate(result: TurnResult) -> TurnResult:
    """Keep the reply within the limit; the rest waits in the session for 「更多」."""
    reply = result.reply
    if not isinstance(reply, TextReply) or len(reply.content.encode()) <= MAX_REPLY_BYTES:
        return result
    hint_bytes = len(texts.MORE_HINT.encode())
    pages: list[str] = []
    rest = reply.content
    while rest:
        page, rest = _split(rest, MAX_REPLY_BYTES - hint_bytes)
        pages.append(page)
    result.reply = TextReply(pages[0] + texts.MORE_HINT)
    if result.session is not None:
        result.session.more = pages[1:]
    return result


def next_page(more: list[str]) -> tuple[str, list[str]]:
    page, rest = more[0], more[1:]
    return (page + texts.MORE_HINT if rest else page), rest
