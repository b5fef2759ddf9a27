"""Typed inbound messages: what the parser in `app.wechat.parse` produces and handlers receive."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Inbound:
    to_user: str  # the account's gh_ id
    from_user: str  # the user's OpenID
    create_time: int
    msg_type: str  # lower-case MsgType as sent

    def dedup_key(self) -> str:
        """Key under which retries of this delivery are recognised.

        WeChat's official keys are MsgId (messages) and FromUserName+CreateTime (events);
        PROTOCOL.md hardens them because MsgId collisions across users were reported.
        """
        return f"{self.from_user}:{self.create_time}:{self.msg_type}"


@dataclass(frozen=True, slots=True)
class UserMessage(Inbound):
    msg_id: str = ""

    def dedup_key(self) -> str:
        if self.msg_id:
            return f"{self.from_user}:{self.msg_id}"
        return f"{self.from_user}:{self.create_time}:{self.msg_type}"


@dataclass(frozen=True, slots=True)
class TextMessage(UserMessage):
    content: str = ""


@dataclass(frozen=True, slots=True)
class ImageMessage(UserMessage):
    pic_url: str = ""
    media_id: str = ""


@dataclass(frozen=True, slots=True)
class VoiceMessage(UserMessage):
    media_id: str = ""
    format: str = ""
    recognition: str = ""


@dataclass(frozen=True, slots=True)
class VideoMessage(UserMessage):
    media_id: str = ""
    thumb_media_id: str = ""


@dataclass(frozen=True, slots=True)
class LocationMessage(UserMessage):
    latitude: float = 0.0
    longitude: float = 0.0
    scale: int = 0
    label: str = ""


@dataclass(frozen=True, slots=True)
class LinkMessage(UserMessage):
    title: str = ""
    description: str = ""
    url: str = ""


@dataclass(frozen=True, slots=True)
class UnknownMessage(UserMessage):
    """A MsgType we do not know (WeChat adds types over time); answered politely."""


@dataclass(frozen=True, slots=True)
class EventMessage(Inbound):
    event: str = ""  # lower-cased: WeChat mixes `CLICK`, `subscribe`, `SCAN`…
    event_key: str = ""
    # Event-specific fields we do not model individually (Latitude, KfAccount, ScanCodeInfo…).
    extra: dict[str, str] = field(default_factory=dict)

    def dedup_key(self) -> str:
        return f"{self.from_user}:{self.create_time}:{self.event}:{self.event_key}"


def user_text(message: Inbound) -> str | None:
    """The text a user 'typed': text content, or a voice message's recognition when present."""
    if isinstance(message, TextMessage):
        return message.content
    if isinstance(message, VoiceMessage) and message.recognition.strip():
        return message.recognition
    return None
