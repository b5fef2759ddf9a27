"""XML bodies → typed messages (`handlers.messages`).

defusedxml refuses DTDs, entity declarations and external entities outright, so an
entity-expansion or XXE payload is rejected without being expanded.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

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


def parse_xml(body: bytes | str) -> dict[str, str]:
    """A flat dict of the root's children; nested elements (ScanCodeInfo…) are flattened."""
    try:
        root = fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedMessage(f"malformed XML: {type(exc).__name__}") from exc
    if root.tag != "xml":
        raise MalformedMessage("root element is not <xml>")
    fields: dict[str, str] = {}
    _flatten(root, fields, depth=0)
    return fields


# WeChat nests at most two levels (ScanCodeInfo, SendPicsInfo/PicList); anything deeper is
# ignored, so a hostile body of thousands of nested elements costs no recursion.
_MAX_DEPTH = 4


def _flatten(node: Element, into: dict[str, str], depth: int) -> None:
    if depth >= _MAX_DEPTH:
        return
    for child in node:
        if not isinstance(child.tag, str):
            continue
        if len(child):
            _flatten(child, into, depth + 1)
        else:
            into.setdefault(child.tag, CONTROL_CHARS.sub("", child.text or ""))


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
