"""Reply XML: ids swapped, CDATA-safe, one news article, transfer with optional agent."""

from __future__ import annotations

from app.wechat.parse import parse_xml
from app.wechat.render import SUCCESS, render
from handlers.replies import Article, NewsReply, NoReply, TextReply, TransferReply


def test_text_reply_swaps_ids() -> None:
    fields = parse_xml(render(TextReply("你好"), "o_user", "gh_account", 1700000000))
    assert fields == {
        "ToUserName": "o_user",
        "FromUserName": "gh_account",
        "CreateTime": "1700000000",
        "MsgType": "text",
        "Content": "你好",
    }


def test_cdata_terminator_in_text_is_escaped() -> None:
    xml = render(TextReply("a]]>b<c>"), "o", "gh", 1)
    assert parse_xml(xml)["Content"] == "a]]>b<c>"


def test_control_characters_are_stripped() -> None:
    assert parse_xml(render(TextReply("a\x00b\x1bc\td"), "o", "gh", 1))["Content"] == "abc\td"


def test_no_reply_is_success() -> None:
    assert render(NoReply(), "o", "gh", 1) == SUCCESS


def test_news_reply_carries_one_article() -> None:
    reply = NewsReply([Article("标题一", "描述", "https://a.example/1"), Article("标题二")])
    fields = parse_xml(render(reply, "o", "gh", 1))
    assert fields["ArticleCount"] == "1"
    assert fields["Title"] == "标题一"


def test_transfer_without_agent_has_no_transinfo() -> None:
    xml = render(TransferReply(), "o", "gh", 1)
    assert "transfer_customer_service" in xml and "TransInfo" not in xml


def test_transfer_to_a_named_agent() -> None:
    fields = parse_xml(render(TransferReply("kf2001@gh_account"), "o", "gh", 1))
    assert fields["MsgType"] == "transfer_customer_service"
    assert fields["KfAccount"] == "kf2001@gh_account"
