"""Text normalisation and word segmentation, shared by the FAQ matcher and the flow triggers.

`normalize` folds the ways users type the same words (full-width letters, traditional characters,
upper case, punctuation); `tokenize` segments the result with jieba and applies a `Vocabulary`
(synonyms → canonical word, stopwords dropped).

jieba's dictionary is the expensive part (about 1 s to build). There is one process-wide
tokenizer, built once by `warm_up()` before serving; knowledge bases add their user-dictionary
and synonym words to it additively (jieba cannot remove words, and a word that a reload dropped
only changes how a phrase is cut, never what it means). Its dictionary is jieba's own without the
rarest words: the full one costs ~56 MB of RSS, the trimmed one ~23 MB, and the words it drops
(freq < 5: names, idioms, rare compounds) are cut into shorter words and still reached through
character-level similarity.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import re
import sys
import threading
import types
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import opencc


def _hmm_disabled(*_: object, **__: object) -> None:
    raise RuntimeError("jieba's HMM is not loaded in this process (knowledge.normalize._HMM)")


def _import_jieba() -> None:
    """Import jieba without what it loads at import but we never use; every worker saves the memory
    (issue 2's budget is 150 MB a worker).

    - pkg_resources (~12 MB), which it loads only to open its dictionary: its own fallback, used
      when pkg_resources is missing, opens the same bundled file by path.
    - its HMM model, `jieba.finalseg` (~9 MB of probability tables): we segment with HMM off
      (`_HMM` below), so a stand-in that refuses to be used takes its place.
    """
    if "jieba" in sys.modules:
        return
    hide_pkg_resources = "pkg_resources" not in sys.modules
    if hide_pkg_resources:
        sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # makes the import fail
    finalseg = types.ModuleType("jieba.finalseg")
    finalseg.cut = _hmm_disabled  # type: ignore[attr-defined]
    sys.modules["jieba.finalseg"] = finalseg
    try:
        importlib.import_module("jieba")
    finally:
        if hide_pkg_resources:
            del sys.modules["pkg_resources"]


_import_jieba()
import jieba  # noqa: E402  (after the import above has loaded it the lean way)

# jieba's HMM guesses unknown words; it costs a third of segmentation time and made no difference
# on the dev set, where character-level similarity already covers unknown words.
_HMM = False

# Words rarer than this in jieba's dictionary are left out (see the module docstring).
MIN_DICT_FREQ = 5

# Function words and pleasantries that say nothing about what is being asked. Deliberately short:
# question words (怎么, 为什么, 多久…) are kept, since they separate "how" from "why" entries, and
# the IDF weighting already discounts words that every entry shares.
_STOPWORDS = """
    的 了 吗 呢 吧 啊 呀 哦 喔 噢 嗯 么 嘛 哈 哎 诶 唉 喂 啦 哇 呃 额 嗨 着 过 地 得
    我 你 您 他 她 它 我们 你们 他们 咱 咱们 俺 本人 自己
    请 请问 问 问下 问一下 一下 想问 想问下 咨询 咨询一下 你好 您好 谢谢 谢谢你 麻烦 麻烦你 打扰
    那个 这个 就是 那么 这么 然后 还有 一个 这样 那样 那 这 个 下 是 在 和 与 及 跟 或 或者
    把 被 给 也 都 又 就 还 再 而 并 但 但是 所以 因为 如果 的话 一些 有点 一点 现在 已经
"""
DEFAULT_STOPWORDS = frozenset(_STOPWORDS.split())

# Synonyms of everyday service-desk language that hold in any domain (issue 14: a fifth of the
# misses on unseen questions were a missing synonym such as close / cancel / terminate an account,
# withdraw / transfer out, telephone / mobile number). Every knowledge base gets them under its own
# synonyms.yaml, whose groups win for any word they list. The first word of a group is canonical.
# Deliberately not here: words whose sense depends on the domain (补办 vs 换领, 年检 vs 年审).
GENERAL_SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("注销", "销户", "销号", "注销账户", "注销账号", "注销帐号", "注销帐户", "关闭账户", "关闭账号",
     "取消账户", "取消账号", "账户注销", "账号注销"),
    ("取消", "撤销", "撤回", "撤掉", "作废"),
    ("提现", "转出", "取出", "取现", "提出来", "取出来", "转出来"),
    ("手机号", "手机号码", "电话号码", "电话号", "手机号"),
    ("电话", "联系电话", "咨询电话", "客服电话", "服务电话", "热线电话", "热线", "联系方式"),
    ("账户", "账号", "帐号", "帐户"),
    ("怎么", "咋", "如何", "怎样", "怎么样", "咋样"),
    ("怎么办", "咋办", "怎么整", "咋整", "怎么处理", "如何处理"),
    ("为什么", "为啥", "为何", "怎么回事", "咋回事", "什么原因", "啥原因", "原因"),
    ("什么时候", "啥时候", "何时", "哪天"),
    ("多久", "多长时间", "几天", "多少天", "多少时间"),
    ("什么", "啥", "甚么"),
    ("哪里", "哪儿", "啥地方", "什么地方", "何处", "哪个地方"),
    ("查询", "查", "查一下", "查下", "查查", "查看"),
    ("修改", "更改", "变更", "更正"),
    ("退款", "退钱", "退费"),
    ("失败", "不成功", "没成功"),
    ("忘记", "忘了", "不记得", "记不得", "记不住"),
    ("丢失", "遗失", "弄丢", "搞丢", "丢掉", "丢了"),
    ("手续费", "费用", "收费", "多少钱", "收费标准"),
)
GENERAL_SYNONYMS: Mapping[str, str] = {
    word: group[0] for group in GENERAL_SYNONYM_GROUPS for word in group if word != group[0]
}

_WORD_SPLIT = re.compile(r"\s+")
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """How a knowledge base reads words: synonyms (word → canonical word) and stopwords."""

    synonyms: Mapping[str, str] = field(default_factory=dict)
    stopwords: frozenset[str] = DEFAULT_STOPWORDS

    def canonical(self, word: str) -> str:
        return self.synonyms.get(word, word)


DEFAULT_VOCABULARY = Vocabulary()

_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None
_converter: opencc.OpenCC | None = None
# Words we added and the frequency they were added with (None: jieba's suggestion).
_added_words: dict[str, int | None] = {}
# Bumped whenever the tokenizer learns something, so that cached segmentations can be trusted
# exactly as long as it has not.
_generation = 0


def _build_tokenizer() -> jieba.Tokenizer:
    path = os.path.join(os.path.dirname(jieba.__file__), "dict.txt")
    kept = io.BytesIO()
    with open(path, "rb") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and int(parts[1]) >= MIN_DICT_FREQ:
                kept.write(line)
    kept.seek(0)
    tokenizer = jieba.Tokenizer()
    # Building the prefix dictionary ourselves (instead of `initialize()`) is what lets us trim it;
    # jieba's own cache file would hold the full dictionary.
    tokenizer.FREQ, tokenizer.total = tokenizer.gen_pfdict(kept)
    tokenizer.initialized = True
    return tokenizer


def _get_tokenizer() -> jieba.Tokenizer:
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)
                _tokenizer = _build_tokenizer()
    return _tokenizer


def _get_converter() -> opencc.OpenCC:
    global _converter
    if _converter is None:
        with _lock:
            if _converter is None:
                _converter = opencc.OpenCC("t2s")
    return _converter


def warm_up() -> None:
    """Build the tokenizer and the converter now, so that the first user does not wait ~1 s."""
    _get_tokenizer()
    _get_converter()
    tokenize("社保卡丢了怎么补办")


def add_words(words: Iterable[tuple[str, int | None]]) -> None:
    """Teach the shared tokenizer words (user dictionary, synonyms); additive and idempotent."""
    global _generation
    tokenizer = _get_tokenizer()
    cleaned = [(normalize(word).replace(" ", ""), freq) for word, freq in words]
    with _lock:
        for word, freq in cleaned:
            if not word or (word in _added_words and _added_words[word] == freq):
                continue
            # add_word without a frequency picks one high enough that the word is cut out whole.
            tokenizer.add_word(word, freq)
            _added_words[word] = freq
            _generation += 1


def tokenizer_generation() -> int:
    """Changes whenever `add_words` taught the tokenizer something new."""
    return _generation


def _fold_char(ch: str) -> str:
    category = unicodedata.category(ch)
    # Punctuation, symbols, separators and control characters all become a word boundary.
    if category[0] in "PSZC":
        return " "
    return ch


def to_simplified(text: str) -> str:
    """Traditional characters → simplified (OpenCC t2s), nothing else changed."""
    converted: str = _get_converter().convert(text)
    return converted


# A number said digit by digit in Chinese (voice input: 「一三八一二三四五六七八」, 「幺三九…」): seven
# or more in a row is a number, never words, so it is read as digits (a mobile, a 受理编号) — and
# masked as one by the turn log.
# A run of seven or more, or groups of three or more read out with a pause between them
# (「二零二六 一二零三 零八六五」「幺三八 一二三四 五六七八」), seven or more in all.
_DIGIT_CHARS = "[零〇一二三四五六七八九幺洞]"
_SPOKEN_DIGITS = re.compile(rf"{_DIGIT_CHARS}{{3,}}(?:[ -]{_DIGIT_CHARS}{{3,}})+|{_DIGIT_CHARS}{{7,}}")
_SPOKEN_VALUE = str.maketrans("零〇一二三四五六七八九幺洞", "0012345678910")


def spoken_digits(text: str) -> str:
    """`text` with every number read out in Chinese digit characters (seven or more, in one run or
    in groups) written in digits; the separators and so every position are kept."""
    return _SPOKEN_DIGITS.sub(_digits, text)


def _digits(m: re.Match[str]) -> str:
    said = m.group(0)
    return said.translate(_SPOKEN_VALUE) if len(said) - said.count(" ") - said.count("-") >= 7 else said


def normalize(text: str) -> str:
    """Fold width, script (traditional → simplified), case and punctuation; idempotent."""
    text = unicodedata.normalize("NFKC", text)
    text = _get_converter().convert(text)
    text = "".join(_fold_char(ch) for ch in text.lower())
    return " ".join(_WORD_SPLIT.split(text.strip()))


def segment(normalized: str, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> list[str]:
    """jieba words of already normalised text, synonyms mapped, stopwords kept."""
    # One call for the whole text: jieba splits at spaces itself, and per-call overhead is
    # a third of the cost for short messages.
    synonyms = vocabulary.synonyms
    return [synonyms.get(w, w) for w in _get_tokenizer().lcut(normalized, HMM=_HMM) if w != " "]


def tokenize(text: str, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> list[str]:
    """Words of `text` as the matcher sees them: normalised, segmented, canonical, no stopwords."""
    return [w for w in segment(normalize(text), vocabulary) if w not in vocabulary.stopwords]
