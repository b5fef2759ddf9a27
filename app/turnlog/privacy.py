"""What personal data the turn log keeps: none in the clear.

Users are stored as a keyed hash of the OpenID (HMAC-SHA256 with `PSEUDONYM_KEY`, first 128
bits): stable
enough to group a user's turns, useless without the key. Text is stored with resident ID,
bank card and mobile numbers replaced by placeholders, so the unanswered-question lists
admins read stay readable. Masking errs on the side of hiding: any 15–19 digit run goes.
"""

from __future__ import annotations

import hashlib
import re

from knowledge.normalize import spoken_digits

ID_MASK = "[身份证号]"
CARD_MASK = "[银行卡号]"
MOBILE_MASK = "[手机号]"

# Users type on phone keyboards that produce full-width digits (１３８…); fold them first so
# one set of ASCII patterns covers both.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９Ｘｘ＋－", "0123456789Xx+-")
_ID18 = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
# 16–19 digits, bare or grouped as printed on cards (6222 0212 3456 7890 123).
_CARD = re.compile(r"(?<![0-9])[0-9](?:[ \-]?[0-9]){15,18}(?![0-9])")
# First-generation resident IDs had 15 digits.
_ID15 = re.compile(r"(?<![0-9])[0-9]{15}(?![0-9])")
# 138 1234 5678, 138-1234-5678, +86 13812345678.
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[ \-]?)?1[3-9][0-9](?:[ \-]?[0-9]{4}){2}(?![0-9])")


# Most messages carry no digits at all; one search spares them the four substitutions.
_ANY_DIGIT = re.compile(r"[0-9０-９]")

# What people type between digit groups (issue 15: 138.1234.5678, 6222_0212_3456_7890,
# 110105.19900307.1234 were stored in clear): spaces of any width, dots, dashes, underscores,
# slashes and middle dots, full-width forms included, up to three in a row.
_SEP = r"[\s.\-_/·•．－—／＿]"
# A run of digits joined by separators, with an ID number's final X.
_RUN = re.compile(rf"\+?[0-9](?:{_SEP}{{0,3}}[0-9])+(?:{_SEP}{{0,3}}[Xx](?![0-9A-Za-z]))?")
_NOT_DIGIT = re.compile(r"[^0-9Xx]")


def _classify(digits: str) -> str | None:
    """The mask for a whole run read as one number, or None when it is not one we hide."""
    n = len(digits)
    if digits[-1] in "Xx":
        return ID_MASK if n == 18 and digits[:-1].isdigit() else None
    if n == 18 or n == 15:
        return ID_MASK
    if 16 <= n <= 19:
        return CARD_MASK
    if (n == 11 and digits[0] == "1" and digits[1] in "3456789") or (
        n == 13 and digits.startswith("86") and digits[2] == "1" and digits[3] in "3456789"
    ):
        return MOBILE_MASK
    return None


def _mask_run(run: str, mobiles: bool = True) -> str:
    mask = _classify(_NOT_DIGIT.sub("", run))
    if mask is not None:
        return run if mask == MOBILE_MASK and not mobiles else mask
    # Not one number: perhaps several side by side (「13812345678 110105199003071234」).
    run = _ID18.sub(ID_MASK, run)
    run = _CARD.sub(CARD_MASK, run)
    run = _ID15.sub(ID_MASK, run)
    return _MOBILE.sub(MOBILE_MASK, run) if mobiles else run


def _all(match: re.Match[str]) -> str:
    return _mask_run(match.group())


def _identity(match: re.Match[str]) -> str:
    return _mask_run(match.group(), mobiles=False)


def mask_personal_data(text: str) -> str:
    """Resident ID, bank card and mobile numbers replaced by placeholders, whatever separators
    the user put between the digit groups: separators are dropped before a run is matched. A
    number said in Chinese digits (「一三八…」) is read as digits first."""
    text = spoken_digits(text)
    if _ANY_DIGIT.search(text) is None:
        return text
    return _RUN.sub(_all, text.translate(_FULL_WIDTH))


def mask_identity_numbers(text: str) -> str:
    """Resident ID and bank card numbers hidden, mobiles kept: for tickets, where staff need the
    citizen's phone while the matter is open but never an identity number (docs/privacy.md)."""
    text = spoken_digits(text)
    if _ANY_DIGIT.search(text) is None:
        return text
    return _RUN.sub(_identity, text.translate(_FULL_WIDTH))


# 128 bits of the HMAC: ample against collisions and guessing, and half the index size of
# the full digest (the user index is the turn log's most expensive one to maintain).
PSEUDONYM_HEX = 32


_BLOCK = 64  # SHA-256's block size
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


class Pseudonymiser:
    """The keyed hash with one key: HMAC-SHA256 (RFC 2104) kept as its two keyed SHA-256
    states, so each value costs two state copies rather than the hmac module's Python layers
    over them (1.3 vs 3.1 µs; the turn-log writer hashes most of a busy hour's users anew)."""

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def __call__(self, value: str) -> str:
        inner = self._inner.copy()
        inner.update(value.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:PSEUDONYM_HEX]


def pseudonym(key: bytes, openid: str) -> str:
    return Pseudonymiser(key)(openid)
