"""Reply values handlers return; `app.wechat.render` turns them into XML."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TextReply:
    content: str


@dataclass(frozen=True, slots=True)
class Article:
    title: str
    description: str = ""
    url: str = ""
    pic_url: str = ""


@dataclass(frozen=True, slots=True)
class NewsReply:
    # WeChat shows one article when replying to a user message (PROTOCOL.md).
    articles: list[Article] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TransferReply:
    """Hand the conversation to WeChat's customer-service (human agent) system."""

    kf_account: str | None = None
    # Shown before the transfer (issue 17): the transfer itself is silent in WeChat, so the app
    # sends this as a customer-service message right after the passive reply.
    notice: str = ""


@dataclass(frozen=True, slots=True)
class NoReply:
    """Answer `success`: received, nothing to show the user."""


Reply = TextReply | NewsReply | TransferReply | NoReply
