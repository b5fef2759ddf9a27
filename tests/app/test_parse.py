"""Inbound XML → typed messages, with hardened dedup keys."""

from __future__ import annotations

import pytest

from app.wechat.parse import MalformedMessage, parse_xml, to_message
from handlers.messages import (
    EventMessage,
    ImageMessage,
    LinkMessage,
    LocationMessage,
    TextMessage,
    UnknownMessage,
    VideoMessage,
    VoiceMessage,
)

HEAD = (
    "<ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o_1]]></FromUserName>"
    "<CreateTime>1700000000</CreateTime>"
)


def parse(inner: str) -> object:
    return to_message(parse_xml(f"<xml>{HEAD}{inner}</xml>"))


def test_text() -> None:
    msg = parse("<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[社保卡]]></Content><MsgId>42</MsgId>")
    assert msg == TextMessage("gh_1", "o_1", 1700000000, "text", msg_id="42", content="社保卡")


def test_message_dedup_key_includes_the_user() -> None:
    # MsgId collisions across users were reported (WxJava#333).
    msg = parse("<MsgType>text</MsgType><Content>x</Content><MsgId>42</MsgId>")
    assert isinstance(msg, TextMessage)
    assert msg.dedup_key() == "o_1:42"


def test_event_name_is_lower_cased_and_key_kept() -> None:
    msg = parse("<MsgType>event</MsgType><Event>CLICK</Event><EventKey>flow:booking</EventKey>")
    assert isinstance(msg, EventMessage)
    assert (msg.event, msg.event_key) == ("click", "flow:booking")
    assert msg.dedup_key() == "o_1:1700000000:click:flow:booking"


def test_nested_event_fields_are_flattened_into_extra() -> None:
    msg = parse(
        "<MsgType>event</MsgType><Event>scancode_push</Event><EventKey>k</EventKey>"
        "<ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>r</ScanResult></ScanCodeInfo>"
    )
    assert isinstance(msg, EventMessage)
    assert msg.extra == {"ScanType": "qrcode", "ScanResult": "r"}


@pytest.mark.parametrize(
    ("inner", "cls"),
    [
        ("<MsgType>image</MsgType><PicUrl>u</PicUrl><MediaId>m</MediaId><MsgId>1</MsgId>", ImageMessage),
        ("<MsgType>voice</MsgType><MediaId>m</MediaId><Format>amr</Format>"
         "<Recognition>你好</Recognition>", VoiceMessage),
        ("<MsgType>video</MsgType><MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId>", VideoMessage),
        ("<MsgType>shortvideo</MsgType><MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId>", VideoMessage),
        ("<MsgType>location</MsgType><Location_X>31.2</Location_X><Location_Y>121.4</Location_Y>"
         "<Scale>15</Scale><Label>广场</Label>", LocationMessage),
        ("<MsgType>link</MsgType><Title>t</Title><Description>d</Description><Url>http://x</Url>", LinkMessage),
        ("<MsgType>miniprogrampage</MsgType><MsgId>9</MsgId>", UnknownMessage),
    ],
)
def test_every_inbound_type_parses(inner: str, cls: type) -> None:
    assert isinstance(parse(inner), cls)


def test_location_coordinates_are_numbers() -> None:
    msg = parse("<MsgType>location</MsgType><Location_X>31.2</Location_X><Location_Y>121.4</Location_Y>")
    assert isinstance(msg, LocationMessage)
    assert (msg.latitude, msg.longitude) == (31.2, 121.4)


def test_non_numeric_create_time_is_malformed() -> None:
    with pytest.raises(MalformedMessage):
        to_message(parse_xml("<xml><FromUserName>o</FromUserName><MsgType>text</MsgType><CreateTime>x</CreateTime></xml>"))


def test_invalid_utf8_is_malformed() -> None:
    with pytest.raises(MalformedMessage):
        parse_xml(b"<xml><Content>\xff\xfe</Content></xml>")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_dtd_is_refused_whatever_the_encoding(encoding: str) -> None:
    body = (f'<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE x [<!ENTITY e "boom">]>'
            "<xml><Content>&e;</Content></xml>")
    with pytest.raises(MalformedMessage, match="DTDs and entities"):
        parse_xml(body.encode(encoding))


def test_the_first_of_repeated_fields_wins_and_deep_nesting_is_ignored() -> None:
    deep = "<a><b><c><d><e>too deep</e></d></c></b></a>"
    fields = parse_xml(f"<xml><MsgType>text</MsgType><MsgType>event</MsgType>{deep}<Content>中文</Content></xml>")
    assert fields == {"MsgType": "text", "Content": "中文"}


def test_a_root_other_than_xml_is_malformed() -> None:
    with pytest.raises(MalformedMessage, match="root"):
        parse_xml(b"<root><MsgType>text</MsgType></root>")
