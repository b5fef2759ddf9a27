"""Reply values → WeChat passive-reply XML.

Every text goes through `_cdata`, which strips C0 control characters (they break WeChat's
XML reader: WeRoBot#420) and splits `]]>` so user text cannot close the CDATA section.
"""

from __future__ import annotations

from app.wechat.parse import CONTROL_CHARS as _CONTROL
from handlers.replies import NewsReply, NoReply, Reply, TextReply, TransferReply

SUCCESS = "success"


def _cdata(text: str) -> str:
    clean = _CONTROL.sub("", text).replace("]]>", "]]]]><![CDATA[>")
    return f"<![CDATA[{clean}]]>"


def reply_type(reply: Reply) -> str:
    if isinstance(reply, TextReply):
        return "text"
    if isinstance(reply, NewsReply):
        return "news"
    if isinstance(reply, TransferReply):
        return "transfer_customer_service"
    return "success"


def render(reply: Reply, to_user: str, from_user: str, create_time: int) -> str:
    """The plain XML for `reply`; `success` for NoReply. `to_user` is the inbound FromUserName."""
    if isinstance(reply, NoReply):
        return SUCCESS
    head = (
        f"<xml><ToUserName>{_cdata(to_user)}</ToUserName>"
        f"<FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
    )
    if isinstance(reply, TextReply):
        return head + f"<MsgType><![CDATA[text]]></MsgType><Content>{_cdata(reply.content)}</Content></xml>"
    if isinstance(reply, NewsReply):
        # WeChat shows a single article in reply to a user message.
        items = "".join(
            f"<item><Title>{_cdata(a.title)}</Title><Description>{_cdata(a.description)}</Description>"
            f"<PicUrl>{_cdata(a.pic_url)}</PicUrl><Url>{_cdata(a.url)}</Url></item>"
            for a in reply.articles[:1]
        )
        count = min(len(reply.articles), 1)
        return (
            head + f"<MsgType><![CDATA[news]]></MsgType><ArticleCount>{count}</ArticleCount>"
            f"<Articles>{items}</Articles></xml>"
        )
    assert isinstance(reply, TransferReply)
    trans = (
        f"<TransInfo><KfAccount>{_cdata(reply.kf_account)}</KfAccount></TransInfo>" if reply.kf_account else ""
    )
    return head + f"<MsgType><![CDATA[transfer_customer_service]]></MsgType>{trans}</xml>"
