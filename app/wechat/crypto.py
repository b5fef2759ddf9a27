"""WeChat callback signatures and message encryption, pinned to shared/wechat/vectors.json.

We own this module instead of using wechatpy's `WeChatCrypto` because wechatpy compares
signatures with `!=` (timing leak) and mixes `signature`/`msg_signature` checks in ways
PROTOCOL.md warns about; tests cross-check our output against wechatpy on the vectors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32-byte blocks (PKCS#7 with k=32), not AES's 16


class SignatureError(Exception):
    """A signature is missing or does not match."""


class DecryptError(Exception):
    """The ciphertext is not valid base64, padding or framing."""


class AppIdMismatch(DecryptError):
    """The message decrypts but was meant for another account."""


def sign(*parts: str) -> str:
    """sha1 over the lexicographically sorted parts, lower-case hex."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def verify(expected_parts: tuple[str, ...], signature: str | None) -> None:
    if not signature:
        raise SignatureError("missing signature")
    if not hmac.compare_digest(sign(*expected_parts).encode(), signature.lower().encode()):
        raise SignatureError("signature mismatch")


def aes_key_from_encoding(encoding_aes_key: str) -> bytes:
    if len(encoding_aes_key) != 43:
        raise ValueError("EncodingAESKey must be 43 characters")
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:
        raise ValueError("EncodingAESKey does not decode to 32 bytes")
    return key


class MessageCrypto:
    """AES-256-CBC, IV = key[:16]; plaintext = random(16) + len(4, big-endian) + msg + AppID."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        self.token = token
        self.key = aes_key_from_encoding(encoding_aes_key)
        self.app_id = app_id
        self._algorithm = algorithms.AES(self.key)
        self._mode = modes.CBC(self.key[:16])

    def encrypt(self, msg: str, random_prefix: bytes | None = None) -> str:
        prefix = random_prefix if random_prefix is not None else os.urandom(16)
        body = msg.encode()
        plain = prefix + struct.pack(">I", len(body)) + body + self.app_id.encode()
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        encryptor = Cipher(self._algorithm, self._mode).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DecryptError("Encrypt is not valid base64") from exc
        if not data or len(data) % 16:
            raise DecryptError("ciphertext length is not a multiple of the AES block")
        decryptor = Cipher(self._algorithm, self._mode).decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or pad > len(plain):
            raise DecryptError("bad padding")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise DecryptError("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise DecryptError("declared length exceeds the plaintext")
        msg, app_id = plain[20 : 20 + length], plain[20 + length :]
        if not hmac.compare_digest(app_id, self.app_id.encode()):
            raise AppIdMismatch("AppID in the message is not ours")
        try:
            return msg.decode()
        except UnicodeDecodeError as exc:
            raise DecryptError("message is not UTF-8") from exc

    def decrypt_verified(self, encrypted: str, timestamp: str, nonce: str, msg_signature: str | None) -> str:
        # Encrypted bodies are checked with msg_signature, never with `signature` (PROTOCOL.md).
        verify((self.token, timestamp, nonce, encrypted), msg_signature)
        return self.decrypt(encrypted)

    def encrypt_reply(self, xml: str, timestamp: str, nonce: str) -> str:
        encrypted = self.encrypt(xml)
        signature = sign(self.token, timestamp, nonce, encrypted)
        return (
            f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp>"
            f"<Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )
