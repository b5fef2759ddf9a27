"""Every Official-Account-relevant vector in tests/app/data/wechat_vectors.json is a test.

The vectors are the project's own copy (sources in tests/app/data/README.md), so the suite never
reads outside the repository (issue 15).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.wechat.crypto import AppIdMismatch, DecryptError, MessageCrypto, SignatureError, sign, verify

VECTORS_PATH = Path(__file__).resolve().parent / "data" / "wechat_vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text())["vectors"]


def _of(kind: str) -> list[dict[str, Any]]:
    return [v for v in VECTORS if v["kind"] == kind]


def _ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["id"] for v in vectors]


def test_the_vectors_file_is_there() -> None:
    assert len(VECTORS) >= 10


@pytest.mark.parametrize("vector", _of("url_verification_get"), ids=_ids(_of("url_verification_get")))
def test_url_verification_signature(vector: dict[str, Any]) -> None:
    q = vector["query"]
    assert sign(vector["token"], q["timestamp"], q["nonce"]) == vector["expected_signature"]
    verify((vector["token"], q["timestamp"], q["nonce"]), q["signature"])


@pytest.mark.parametrize("vector", _of("plaintext_post_signature"), ids=_ids(_of("plaintext_post_signature")))
def test_plaintext_post_signature(vector: dict[str, Any]) -> None:
    q = vector["query"]
    verify((vector["token"], q["timestamp"], q["nonce"]), vector["expected_signature"])


def test_a_wrong_signature_is_refused() -> None:
    with pytest.raises(SignatureError):
        verify(("AAAAA", "1714036504", "1514711492"), "f464b24fc39322e44b38aa78f5edd27bd1441697")


def test_a_missing_signature_is_refused() -> None:
    with pytest.raises(SignatureError):
        verify(("AAAAA", "1", "2"), None)


def _decrypt_params(v: dict[str, Any]) -> tuple[str, str, str, str]:
    q = v.get("query", {})
    encrypted = v.get("encrypt") or v["body"]["Encrypt"]
    return encrypted, v.get("timestamp") or q["timestamp"], v.get("nonce") or q["nonce"], (
        v.get("msg_signature") or q["msg_signature"]
    )


@pytest.mark.parametrize("vector", _of("safe_mode_decrypt"), ids=_ids(_of("safe_mode_decrypt")))
def test_safe_mode_decrypt(vector: dict[str, Any]) -> None:
    crypto = MessageCrypto(vector["token"], vector["encoding_aes_key"], vector["receive_id"])
    encrypted, timestamp, nonce, msg_signature = _decrypt_params(vector)
    plain = crypto.decrypt_verified(encrypted, timestamp, nonce, msg_signature)
    expected = vector.get("expected_msg") or vector["derived"]["plaintext"]
    assert plain == expected


def test_official_inbound_body_signature_is_not_msg_signature() -> None:
    # PROTOCOL.md: encrypted bodies are checked with msg_signature, never with `signature`.
    v = next(v for v in VECTORS if v["id"] == "official-safe-mode-inbound")
    crypto = MessageCrypto(v["token"], v["encoding_aes_key"], v["receive_id"])
    q = v["query"]
    with pytest.raises(SignatureError):
        crypto.decrypt_verified(v["body"]["Encrypt"], q["timestamp"], q["nonce"], q["signature"])


@pytest.mark.parametrize("vector", _of("compat_mode_decrypt"), ids=_ids(_of("compat_mode_decrypt")))
def test_compatible_mode_decrypt(vector: dict[str, Any]) -> None:
    from app.wechat.parse import parse_xml

    crypto = MessageCrypto(vector["token"], vector["encoding_aes_key"], vector["receive_id"])
    encrypted = parse_xml(vector["body"])["Encrypt"]
    plain = crypto.decrypt_verified(encrypted, vector["timestamp"], vector["nonce"], vector["msg_signature"])
    assert plain == vector["derived"]["plaintext"]


ENCRYPT_VECTORS = _of("aes_encrypt_fixed_random") + _of("safe_mode_encrypt_reply")


@pytest.mark.parametrize("vector", ENCRYPT_VECTORS, ids=_ids(ENCRYPT_VECTORS))
def test_encrypt_with_fixed_random(vector: dict[str, Any]) -> None:
    crypto = MessageCrypto(vector["token"], vector["encoding_aes_key"], vector["receive_id"])
    assert crypto.encrypt(vector["msg"], vector["random"].encode()) == vector["expected_encrypt"]


@pytest.mark.parametrize("vector", _of("safe_mode_encrypt_reply"), ids=_ids(_of("safe_mode_encrypt_reply")))
def test_encrypted_reply_signature(vector: dict[str, Any]) -> None:
    signature = sign(vector["token"], vector["reply_timestamp"], vector["reply_nonce"], vector["expected_encrypt"])
    assert signature == vector["expected_msg_signature"]


def test_wecom_echostr_vector_exercises_the_shared_cipher() -> None:
    v = next(v for v in VECTORS if v["kind"] == "wecom_url_verification_encrypted_echostr")
    crypto = MessageCrypto(v["token"], v["encoding_aes_key"], v["receive_id"])
    assert crypto.decrypt_verified(v["echostr"], v["timestamp"], v["nonce"], v["msg_signature"]) == (
        v["derived"]["plaintext"]
    )
    with pytest.raises(SignatureError):
        crypto.decrypt_verified(v["echostr"], v["timestamp"], v["negative_cases"][0]["nonce"], v["msg_signature"])


def test_a_message_for_another_appid_is_refused() -> None:
    v = next(v for v in VECTORS if v["id"] == "easywechat-decrypt")
    crypto = MessageCrypto(v["token"], v["encoding_aes_key"], "invalid appid")
    with pytest.raises(AppIdMismatch):
        crypto.decrypt(v["encrypt"])


@pytest.mark.parametrize("garbage", ["not base64 !!", "QUJD", "", "A" * 44])
def test_garbage_ciphertext_is_a_decrypt_error(garbage: str) -> None:
    crypto = MessageCrypto("AAAAA", "A" * 43, "wxba5fad812f8e6fb9")
    with pytest.raises(DecryptError):
        crypto.decrypt(garbage)


def test_round_trip() -> None:
    crypto = MessageCrypto("AAAAA", "A" * 43, "wxba5fad812f8e6fb9")
    assert crypto.decrypt(crypto.encrypt("<xml>中文 ✓</xml>")) == "<xml>中文 ✓</xml>"


def test_wechatpy_agrees_with_us_on_the_official_vector() -> None:
    # The stable wechatpy release is a dependency; check it against the same vector so a
    # divergence between the two would show here.
    from wechatpy.crypto import WeChatCrypto

    v = next(v for v in VECTORS if v["id"] == "tencent-wxbizmsgcrypt-sample-compat-decrypt")
    theirs = WeChatCrypto(v["token"], v["encoding_aes_key"], v["receive_id"])
    plain = theirs.decrypt_message(v["body"], v["msg_signature"], v["timestamp"], v["nonce"])
    assert plain == v["derived"]["plaintext"]
