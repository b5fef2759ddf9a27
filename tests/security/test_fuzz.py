"""Property-based fuzzing of the parser, the decryption and the reply renderer.

The properties: any input either parses or raises the one typed error the boundary maps to a
4xx; nothing hangs; whatever a handler writes renders to XML that reads back to the same text.
"""

from __future__ import annotations

import base64
import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.wechat.crypto import DecryptError, MessageCrypto
from app.wechat.parse import MalformedMessage, parse_xml, to_message
from app.wechat.render import _CONTROL, render
from app.wechat.simulator import to_xml
from handlers.replies import TextReply

CRYPTO = MessageCrypto("AAAAA", "A" * 43, "wxba5fad812f8e6fb9")
FUZZ = settings(max_examples=300, deadline=500, suppress_health_check=[HealthCheck.too_slow])

field_names = st.sampled_from(
    ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event", "EventKey",
     "Location_X", "Location_Y", "Scale", "Recognition", "PicUrl", "X"]
)
field_values = st.one_of(st.text(max_size=200), st.integers(min_value=-(2**70), max_value=2**70).map(str))


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_parse_or_raise_malformed(body: bytes) -> None:
    with contextlib.suppress(MalformedMessage):
        to_message(parse_xml(body))


@FUZZ
@given(st.dictionaries(field_names, field_values, max_size=10))
def test_arbitrary_field_sets_parse_or_raise_malformed(fields: dict[str, str]) -> None:
    try:
        body = to_xml(fields).encode("utf-8", errors="surrogatepass")
    except UnicodeEncodeError:
        return
    with contextlib.suppress(MalformedMessage):
        to_message(parse_xml(body))


@FUZZ
@given(st.text(max_size=600))
def test_arbitrary_ciphertext_decrypts_or_raises_decrypt_error(text: str) -> None:
    with contextlib.suppress(DecryptError):
        CRYPTO.decrypt(text)


@FUZZ
@given(st.binary(min_size=1, max_size=512))
def test_arbitrary_valid_base64_decrypts_or_raises_decrypt_error(raw: bytes) -> None:
    with contextlib.suppress(DecryptError):
        CRYPTO.decrypt(base64.b64encode(raw).decode())


@FUZZ
@given(st.text(max_size=1000))
def test_any_reply_text_renders_to_xml_that_reads_back(text: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError:
        return  # lone surrogates cannot come from a handler's str literals or user UTF-8
    xml = render(TextReply(text), "o_user", "gh_account", 1)
    assert parse_xml(xml.encode())["Content"] == _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


@FUZZ
@given(st.text(max_size=300))
def test_encrypt_then_decrypt_is_identity(text: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError:
        return
    assert CRYPTO.decrypt(CRYPTO.encrypt(text)) == text
