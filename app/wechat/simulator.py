"""Builds deliveries exactly as WeChat does (signed, and encrypted in safe/compatible mode).

Used by `wxbot chat`, the benchmarks and the tests, so all three speak the real protocol.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field

from app.wechat.crypto import MessageCrypto, sign
from app.wechat.parse import parse_xml
from app.wechat.render import _cdata

ACCOUNT = "gh_wxbotdemo0001"


@dataclass(slots=True)
class Delivery:
    params: dict[str, str]
    body: bytes
    fields: dict[str, str]


@dataclass
class Simulator:
    token: str
    mode: str = "plain"  # plain | compatible | safe
    crypto: MessageCrypto | None = None
    account: str = ACCOUNT
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(int(time.time() * 1000)))

    def text(self, openid: str, content: str, **extra: str) -> dict[str, str]:
        return self._message(openid, "text", Content=content, **extra)

    def voice(self, openid: str, recognition: str) -> dict[str, str]:
        return self._message(openid, "voice", MediaId="media-sim", Format="amr", Recognition=recognition)

    def location(self, openid: str, lat: float, lng: float, label: str = "") -> dict[str, str]:
        return self._message(
            openid, "location", Location_X=str(lat), Location_Y=str(lng), Scale="15", Label=label
        )

    def event(self, openid: str, event: str, key: str = "") -> dict[str, str]:
        fields = self._base(openid, "event")
        fields["Event"] = event
        if key:
            fields["EventKey"] = key
        return fields

    def _base(self, openid: str, msg_type: str) -> dict[str, str]:
        return {
            "ToUserName": self.account,
            "FromUserName": openid,
            "CreateTime": str(int(time.time())),
            "MsgType": msg_type,
        }

    def _message(self, openid: str, msg_type: str, **extra: str) -> dict[str, str]:
        fields = self._base(openid, msg_type)
        fields.update(extra)
        fields["MsgId"] = str(next(self._ids))
        return fields

    def deliver(
        self, fields: dict[str, str], *, timestamp: str | None = None, nonce: str | None = None,
        xml: str | None = None,
    ) -> Delivery:
        """`xml`: the body to send as is (nested elements such as SubscribeMsgSentEvent/List), for
        `fields` (its top-level fields: FromUserName…); by default the body is built from `fields`."""
        ts = timestamp or str(int(time.time()))
        nc = nonce or str(secrets.randbelow(10**9))
        params = {"signature": sign(self.token, ts, nc), "timestamp": ts, "nonce": nc,
                  "openid": fields.get("FromUserName", "")}
        xml = xml if xml is not None else to_xml(fields)
        if self.mode == "plain":
            return Delivery(params, xml.encode(), fields)
        assert self.crypto is not None, "encrypted modes need the AES key"
        encrypted = self.crypto.encrypt(xml)
        params["encrypt_type"] = "aes"
        params["msg_signature"] = sign(self.token, ts, nc, encrypted)
        outer = {"ToUserName": self.account, "Encrypt": encrypted}
        if self.mode == "compatible":
            outer = {**fields, "Encrypt": encrypted}
        return Delivery(params, to_xml(outer).encode(), fields)

    def read_reply(self, body: str, nonce: str) -> dict[str, str]:
        """The reply's fields, decrypted and signature-checked when encrypted; {} for `success`."""
        if body.strip() in ("", "success"):
            return {}
        fields = parse_xml(body)
        if "Encrypt" in fields:
            assert self.crypto is not None
            inner = self.crypto.decrypt_verified(fields["Encrypt"], fields["TimeStamp"], nonce, fields["MsgSignature"])
            if fields.get("Nonce") != nonce:
                raise ValueError("reply nonce does not echo the request")
            fields = parse_xml(inner)
        return fields


def to_xml(fields: dict[str, str]) -> str:
    parts = []
    for name, value in fields.items():
        parts.append(f"<{name}>{value}</{name}>" if value.isdigit() else f"<{name}>{_cdata(value)}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"
