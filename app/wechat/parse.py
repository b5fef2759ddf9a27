"""XML bodies → typed messages (`handlers.messages`).

Parsed with expat directly: DTDs, entity declarations and external entities are refused
outright (as defusedxml does), so an entity-expansion or XXE payload is rejected without being
expanded. defusedxml itself drives the pure-Python ElementTree builder, which cost more than the
rest of the boundary; WeChat's bodies are flat enough that a dict is all we need.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn
from xml.parsers import expat

from handlers.messages import (
    EventMessage,
    ImageMessage,
    Inbound,
    LinkMessage,
    LocationMessage,
    TextMessage,
    UnknownMessage,
    VideoMessage,
    VoiceMessage,
)

# Control characters that XML 1.0 forbids; stripped from what users sent before handlers see it.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class MalformedMessage(Exception):
    """The body is not a WeChat message we can read."""


class _Refused(Exception):
    pass


def _refuse(*_: object) -> NoReturn:
    raise _Refused


# WeChat nests at most two levels (ScanCodeInfo, SendPicsInfo/PicList); anything deeper is
# ignored. Levels count from the root <xml> (1), so its children are at level 2.
_MAX_LEVEL = 5


# Repeated <List> items (subscribe_msg_sent_event carries one per notice): at most this many kept.
MAX_LIST_ITEMS = 50


def parse_xml(body: bytes | str) -> dict[str, str]:
    """A flat dict of the leaf elements under <xml>; nested ones (ScanCodeInfo…) are flattened.

    The first occurrence of a name wins; control characters are stripped from the text. A leaf
    inside the n-th <List> element (0-based) is also kept as `List.n.Name`, so events that
    repeat <List> (SubscribeMsgSentEvent, SubscribeMsgPopupEvent) keep every item.
    """
    fields: dict[str, str] = {}
    text: list[str] = []
    level = 0
    leaf = False
    root = ""
    parents: list[str] = []
    lists = -1

    def start(name: str, _attrs: object) -> None:
        nonlocal level, leaf, root, lists
        level += 1
        if level == 1:
            root = name
        if name == "List":
            lists += 1
        parents.append(name)
        text.clear()
        leaf = True

    def end(name: str) -> None:
        nonlocal level, leaf
        parents.pop()
        if leaf and 1 < level <= _MAX_LEVEL:
            value = CONTROL_CHARS.sub("", "".join(text))
            if name not in fields:
                fields[name] = value
            if parents and parents[-1] == "List" and lists < MAX_LIST_ITEMS:
                fields.setdefault(f"List.{lists}.{name}", value)
        leaf = False
        level -= 1

    def data(chunk: str) -> None:
        if leaf:
            text.append(chunk)

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    try:
        parser.Parse(body, True)
    except _Refused as exc:
        raise MalformedMessage("malformed XML: DTDs and entities are refused") from exc
    except (expat.ExpatError, ValueError) as exc:
        raise MalformedMessage(f"malformed XML: {type(exc).__name__}") from exc
    if root != "xml":
        raise MalformedMessage("root element is not <xml>")
    return fields


def _int(fields: dict[str, str], name: str, default: int = 0) -> int:
    try:
        return int(fields.get(name, "") or default)
    except ValueError as exc:
        raise MalformedMessage(f"{name} is not a number") from exc


def _float(fields: dict[str, str], name: str) -> float:
    try:
        return float(fields.get(name, "") or 0)
    except ValueError as exc:
        raise MalformedMessage(f"{name} is not a number") from exc


def to_message(fields: dict[str, str]) -> Inbound:
    msg_type = fields.get("MsgType", "").strip().lower()
    from_user = fields.get("FromUserName", "")
    if not msg_type or not from_user:
        raise MalformedMessage("MsgType or FromUserName missing")
    common: dict[str, Any] = {
        "to_user": fields.get("ToUserName", ""),
        "from_user": from_user,
        "create_time": _int(fields, "CreateTime"),
        "msg_type": msg_type,
    }
    if msg_type == "event":
        known = {"ToUserName", "FromUserName", "CreateTime", "MsgType", "Event", "EventKey"}
        return EventMessage(
            **common,
            event=fields.get("Event", "").strip().lower(),
            event_key=fields.get("EventKey", ""),
            extra={k: v for k, v in fields.items() if k not in known},
        )
    user = {**common, "msg_id": fields.get("MsgId", "")}
    if msg_type == "text":
        return TextMessage(**user, content=fields.get("Content", ""))
    if msg_type == "image":
        return ImageMessage(**user, pic_url=fields.get("PicUrl", ""), media_id=fields.get("MediaId", ""))
    if msg_type == "voice":
        return VoiceMessage(
            **user,
            media_id=fields.get("MediaId", ""),
            format=fields.get("Format", ""),
            recognition=fields.get("Recognition", ""),
        )
    if msg_type in ("video", "shortvideo"):
        return VideoMessage(
            **user, media_id=fields.get("MediaId", ""), thumb_media_id=fields.get("ThumbMediaId", "")
        )
    if msg_type == "location":
        return LocationMessage(
            **user,
            latitude=_float(fields, "Location_X"),
            longitude=_float(fields, "Location_Y"),
            scale=_int(fields, "Scale"),
            label=fields.get("Label", ""),
        )
    if msg_type == "link":
        return LinkMessage(
            **user,
            title=fields.get("Title", ""),
            description=fields.get("Description", ""),
            url=fields.get("Url", ""),
        )
    return UnknownMessage(**user)
