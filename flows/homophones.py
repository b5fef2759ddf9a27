"""Finding a word in a message despite one IME homophone: 预越 for 预约, 居注证 for 居住证.

Pinyin input methods offer every character with the same syllables, and a citizen typing fast
picks the wrong one; OCR and voice recognition do the same. A word is found at a place where the
message has the same characters except at most one, and that one reads the same (tones ignored)
per pypinyin's character table. Words of one character are matched exactly only: one
substitution there would be a different word.

Only pypinyin's data file is read (its package import also loads a 2.5 MB phrase table, ~55 MB of
RSS in every worker); the table is kept toneless, one interned string per common character (~2 MB).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import threading
import unicodedata
from collections.abc import Set as AbstractSet
from functools import lru_cache
from pathlib import Path

# Longer texts are searched exactly only: a citizen's message is short, and a pasted document (or
# a hostile 20 000-character payload) must not cost a window comparison per character per word.
MAX_TOLERANT_LENGTH = 200


_table: dict[int, str] | None = None
_lock = threading.Lock()


def _toneless(syllables: str) -> str:
    """The readings without tones, the character's usual one first (pypinyin lists it first)."""
    bare = "".join(c for c in unicodedata.normalize("NFD", syllables) if not unicodedata.combining(c))
    return sys.intern(",".join(dict.fromkeys(bare.split(","))))


def _load() -> dict[int, str]:
    global _table
    if _table is None:
        with _lock:
            if _table is None:
                spec = importlib.util.find_spec("pypinyin")
                assert spec is not None and spec.submodule_search_locations is not None
                path = Path(next(iter(spec.submodule_search_locations))) / "pinyin_dict.json"
                raw: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
                # The characters citizens type (CJK unified ideographs); rare extensions are left out.
                _table = {
                    int(code): _toneless(listed)
                    for code, listed in raw.items()
                    if 0x4E00 <= int(code) <= 0x9FFF
                }
    return _table


def warm_up() -> None:
    """Read the character table now, so that the first citizen does not wait for it."""
    _load()


@lru_cache(maxsize=8192)
def readings(char: str) -> frozenset[str]:
    """The toneless syllables `char` can be read as (empty for a character without a reading)."""
    listed = _load().get(ord(char))
    return frozenset(listed.split(",")) if listed else frozenset()


@lru_cache(maxsize=8192)
def usual_reading(char: str) -> str:
    """The syllable `char` is usually read as, toneless ("" for a character without a reading)."""
    listed = _load().get(ord(char))
    return listed.split(",", 1)[0] if listed else ""


def sounds_alike(typed: str, meant: str) -> bool:
    """Whether `typed` is what a pinyin IME offers for one of `meant`'s readings.

    The typed character by its usual reading: 越 (yue) for 约 (yue) and 航 (hang) for 行 (xing, hang)
    are such slips; 说 (shuo, rarely yue) is not one for 约, so 「我想说一下」 is not 「我想约一下」.
    """
    return typed == meant or usual_reading(typed) in readings(meant)


@lru_cache(maxsize=4096)
def _one_off(word: str) -> re.Pattern[str]:
    """Matches `word` with any one character replaced; group j+1 holds the replacement at j."""
    return re.compile("|".join(f"{re.escape(word[:j])}(.){re.escape(word[j + 1 :])}" for j in range(len(word))))


def could_find(word: str, chars: AbstractSet[str]) -> bool:
    """False when `find(word, text)` must fail, `chars` being the characters of `text`: it needs
    every character of `word` in the text, or all but one for a word of two or more.

    A set lookup per character, in C: most words are in no message, and this settles them
    without a search (a flow's keywords are all tried against every new message)."""
    present = sum(map(chars.__contains__, word))
    return present >= len(word) - 1 if len(word) >= 2 else present >= len(word)


def find(word: str, text: str, start: int = 0) -> int:
    """Where `word` is in `text` (exactly, or with one homophone), or -1."""
    at = text.find(word, start)
    if at >= 0 or len(word) < 2 or len(text) > MAX_TOLERANT_LENGTH:
        return at
    # The candidates come from one regular expression (C speed); only they are read for sound.
    pattern = _one_off(word)
    pos = start
    while (m := pattern.search(text, pos)) is not None:
        j = (m.lastindex or 1) - 1
        if sounds_alike(m[j + 1], word[j]):
            return m.start()
        pos = m.start() + 1
    return -1
