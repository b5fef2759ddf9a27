"""The real `LateReplySender`: a reply that missed the callback's deadline goes out as a
customer-service message.

WeChat allows these within its window after a user message (45015 when closed) and up to a
small quota (45047 when used). Neither is retried: the result is returned as `LateDelivery` for
the turn log, and the client has already logged and counted it. `NoReply` has nothing to send.
A transfer to an agent exists only as a passive reply, so a late one cannot happen: the user is
asked to send 「人工」 again (the quiet route lets that through) and the delivery is not ok.
"""

from __future__ import annotations

import asyncio

import structlog

from app.late import DroppingLateSender, LateDelivery, LateReplySender
from app.wxapi import WeChatClient, WeChatError
from handlers import handoff
from handlers.replies import NewsReply, NoReply, Reply, TextReply, TransferReply

log = structlog.get_logger(__name__)


class CustomerServiceSender:
    def __init__(self, client: WeChatClient, *, budget_s: float = 10.0) -> None:
        """`budget_s` bounds one delivery end to end, a token refresh and its retry included."""
        self._client = client
        self._budget_s = budget_s

    async def send(self, openid: str, reply: Reply) -> LateDelivery:
        if isinstance(reply, NoReply) or (isinstance(reply, NewsReply) and not reply.articles):
            return LateDelivery(ok=True, detail="nothing_to_send")
        if isinstance(reply, TransferReply):
            log.warning("late_transfer_missed")
            delivery = await self._deliver(openid, TextReply(handoff.TRANSFER_MISSED))
            return LateDelivery(ok=False, detail="transfer_missed" if delivery.ok else delivery.detail)
        return await self._deliver(openid, reply)

    async def _deliver(self, openid: str, reply: TextReply | NewsReply) -> LateDelivery:
        try:
            async with asyncio.timeout(self._budget_s):
                if isinstance(reply, TextReply):
                    await self._client.send_text(openid, reply.content)
                else:
                    await self._client.send_news(openid, reply.articles[0])
        except TimeoutError:
            return LateDelivery(ok=False, detail="timeout")
        except WeChatError as exc:
            # "45015", "45047", "timeout", "network", "http_502"…
            return LateDelivery(ok=False, detail=exc.code)
        return LateDelivery(ok=True, detail="sent")


def build_late_sender(client: WeChatClient | None) -> LateReplySender:
    """The customer-service sender, or one that records `not_configured` without an AppSecret."""
    if client is None:
        return DroppingLateSender()
    return CustomerServiceSender(client)
