"""Which service flows a message asks for, with scores: the flows' `triggers` (YAML) scored.

The triggers are data that admins edit in `flows/*.yaml`; this module is the only code that
scores them. In order of strength:

1. an action word (`keywords`: 预约, 投诉, 查进度 …), found tolerant of one IME homophone (a
   gapped 「A…B」 and an 「=A」 exactly); between several flows' action words, the flow with the
   higher `precedence` (a complaint names what it is about: 「我想投诉你们的预约系统」);
2. a trigger phrase or a citizen's example (`phrases`, `examples`) the whole message is close to;
3. a topic word (`topics`: the business, 营业执照): weaker than any flow's action word, so
   「预约去大厅办营业执照」 is a booking, not licence guidance; or a grievance (`grievance`:
   a word of what the flow is about and a word of a bad state, 「大厅的空调坏了」);
4. the facts a flow names in `fills`, all given in a statement (「下周三下午去办居住证」);
5. an identifier the flow starts with, bare or in a question (a 受理编号 on its own, or 「…咋样了，
   编号SQ2026…」).

A message naming one of a flow's `exclude` words is not for that flow (「营业执照丢了」).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache

from flows.homophones import could_find, find
from flows.registry import FlowRegistry
from flows.schema import Flow
from flows.utterance import Utterance

# 「明天下午能去办医保吗」: asking whether one may come on a day for a business is asking to come.
# So is a plan said and then asked about (「礼拜五下半天好伐 行不行啊」「下周三上午去办居住证可以吗」).
_CAN_I_COME = re.compile(
    r"(?:能|可以|能不能|可不可以|方便)(?:去|来|过去|过来)"
    # 「今天能不能办居住证」; not 「能办好吗」「多久能办完」 (whether it will be done by then).
    r"|(?:能不能|可不可以|可以|能)办(?!好|完|下来|成|结)"
    # Not 「能办好吗」: whether it will be done by then.
    r"|(?:行不行|可不可以|可以吗|行吗|(?<![办弄做搞])(?:好吗|好伐|好不好)|中不中|成不成|得不得|要得不|没问题吧)[啊呀吧哈呢？?！!。\s]*$"
)
# A trigger phrase this similar to the message starts the flow on its own (PhraseIndex, 0..1).
PHRASE_THRESHOLD = 0.7
# 「开…店」: the second part within this many characters after the first.
NEAR = 4

ACTION = 4.0
PHRASE = 3.0
TOPIC = 2.0
FACTS = 1.0
IDENTIFIER = 0.5
# One step of `triggers.precedence`: above any keyword's length (/100), below the next tier.
PRECEDENCE_STEP = 0.25


@dataclass(frozen=True, slots=True)
class Intent:
    flow_id: str
    # Tier (ACTION … IDENTIFIER) plus a fraction that orders flows within a tier.
    score: float
    # "action" | "phrase" | "topic" | "facts" | "identifier"
    kind: str
    # The trigger word or phrase that matched ("" for facts and identifiers).
    word: str
    # How close the message is to the flow's best trigger phrase (0..1), whatever the kind.
    phrase_score: float


@lru_cache(maxsize=4096)
def _parsed(keyword: str) -> tuple[str, tuple[str, ...]]:
    """("near", (A, B)) for "A…B"; ("exact", (A,)) for "=A"; ("all", parts) for "A+B" or a plain word."""
    if keyword.startswith("="):
        return "exact", (keyword[1:],)
    if "…" in keyword:
        first, _, second = keyword.partition("…")
        return "near", (first, second)
    return "all", tuple(p for p in keyword.split("+") if p)


def keyword_length(keyword: str, norm: str) -> int:
    """Characters of `keyword` found in `norm` (0: not found). "A+B" needs both; "A…B" in order."""
    how, parts = _parsed(keyword)
    if how == "near":
        # Found exactly: a gap is loose enough, and with a homophone too 「那个取号机…取不了号」
        # read as 「拿个…号」 (那个 is what the IME offers first for nage).
        first, second = parts
        at = norm.find(first)
        while at >= 0:
            tail = norm[at + len(first) : at + len(first) + NEAR + len(second)]
            if second in tail:
                return len(first) + len(second)
            at = norm.find(first, at + 1)
        return 0
    if how == "exact":
        return len(parts[0]) if _affirmed(parts[0], norm, exact=True) else 0
    if parts and all(_affirmed(p, norm) for p in parts):
        return sum(len(p) for p in parts)
    return 0


# 「我问的是进度 不是预约」: a word said right after one of these is what the citizen does not want.
_NEGATIONS = ("不是", "不要", "不想", "不用")


def _affirmed(word: str, norm: str, *, exact: bool = False) -> bool:
    """Whether `word` is in `norm` (exactly, or with one homophone) somewhere not negated."""
    at = norm.find(word) if exact else find(word, norm)
    while at >= 0:
        if not norm[:at].endswith(_NEGATIONS):
            return True
        at = norm.find(word, at + 1) if exact else find(word, norm, at + 1)
    return False


def best_word(keywords: Sequence[str], norm: str, chars: AbstractSet[str] | None = None) -> tuple[int, str]:
    """The keyword with the most characters found in `norm` (`chars`: its characters, if known);
    the first listed wins a tie."""
    chars = frozenset(norm) if chars is None else chars
    best, word = 0, ""
    for keyword in _candidates(tuple(keywords), chars):
        length = keyword_length(keyword, norm)
        if length > best:
            best, word = length, keyword
    return best, word


def _candidates(keywords: tuple[str, ...], chars: AbstractSet[str]) -> list[str]:
    """The keywords that may be found in a text of `chars`, in their listed order.

    A flow lists a hundred keywords and a message names a few: looking each one up (with the
    homophone search) for every new message was most of the cost of ranking its intents. A
    keyword's first part must be found, so at least one of its characters is in the text
    (`flows.homophones.could_find`); the index by character settles most keywords unread.
    """
    by_char, always = _by_char(keywords)
    positions = set(always)
    for char in chars:
        listed = by_char.get(char)
        if listed is not None:
            positions.update(listed)
    return [
        keywords[i] for i in sorted(positions)
        if all(could_find(part, chars) for part in _parsed(keywords[i])[1])
    ]


@lru_cache(maxsize=512)
def _by_char(keywords: tuple[str, ...]) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    """Character → positions of the keywords whose first part contains it; and the keywords
    without a first part to index (tried on every text)."""
    by_char: dict[str, list[int]] = {}
    always: list[int] = []
    for i, keyword in enumerate(keywords):
        parts = _parsed(keyword)[1]
        if not parts or not parts[0]:
            always.append(i)
            continue
        for char in set(parts[0]):
            by_char.setdefault(char, []).append(i)
    return {char: tuple(found) for char, found in by_char.items()}, tuple(always)


# 「结婚登记要预约吗」「办护照需不需要预约」: a necessity word right before the action word, in a
# question, asks whether the action is required, which is not asking to do it.
# 「我要预约」 is wanting, not needing; 「…，可以吗」 asks permission.
_NEEDED_BEFORE = re.compile(
    r"(?:需要|必须|要不要|需不需要|用不用|是不是要|是否需要|是否要|(?<![我想])要|(?<!我)用|(?<!我)得)(?:先|提前|事先)?$"
)
_ASKS = re.compile(r"(?<!可以)(?<!行)(?<!好)(?:吗|么|嘛|不)$")
_A_NOT_A = ("要不要", "需不需要", "用不用", "是否")


def asks_whether_needed(utterance: Utterance, intent: Intent) -> bool:
    """Whether the message asks if the intent's action word is required rather than asking for it."""
    if intent.kind != "action" or not intent.word:
        return False
    norm = _compact(utterance.norm)
    _, parts = _parsed(intent.word)
    at = find(parts[0], norm) if parts else -1
    if at < 0 or not _NEEDED_BEFORE.search(norm[:at]):
        return False
    before = norm[:at]
    return bool(_ASKS.search(norm)) or any(w in before for w in _A_NOT_A)


# 「请问怎么投诉窗口人员」「去哪反映问题」: a question word right before the action word asks how to
# do it. The service starts (that is what is wanted), but the question is not the account.
_HOW_BEFORE = re.compile(
    r"(?:怎么|怎样|如何|咋|去哪|去哪里|在哪|在哪里|哪里|找谁|向谁|跟谁|到哪)(?:能|可以|才能|去|来|样)?$"
)
# More than this after the action word is an account given with the question (「怎么投诉，上午在
# 2号窗口等了两个小时没人管」).
HOW_TAIL_MAX_CHARS = 8


def asks_how(utterance: Utterance, flow: Flow) -> bool:
    """Whether the message only asks how to do `flow`'s action (「请问怎么投诉窗口人员」)."""
    if not utterance.question:
        return False
    norm = _compact(utterance.norm)
    length, word = best_word(flow.triggers.keywords, norm)
    if not length:
        return False
    at = _found_at(word, norm)
    if at < 0 or not _HOW_BEFORE.search(norm[:at]):
        return False
    return len(norm) - at - len(_parsed(word)[1][0]) <= HOW_TAIL_MAX_CHARS


def _compact(norm: str) -> str:
    # Trigger words are found across the spaces that punctuation became (「预约，社保卡」).
    return re.sub(r"\s+", "", norm)


def rank(utterance: Utterance, registry: FlowRegistry) -> list[Intent]:
    """Every flow the message asks for, best first; also stored on `utterance.intents`.

    Citizens repeat the same phrasings, and the answer depends only on the registry (immutable),
    the text and the day (relative dates), so it is remembered per registry.
    """
    key = ("intents", utterance.text, utterance.today)
    ranked = registry.remembered(key, lambda: _rank(utterance, registry))
    utterance.intents = list(ranked)
    return utterance.intents


def _rank(utterance: Utterance, registry: FlowRegistry) -> tuple[Intent, ...]:
    norm = _compact(utterance.norm)
    allowed = {flow.id: flow for flow in registry if not registry.excluded(flow.id, utterance.norm)}
    if not allowed:
        return ()
    hits = {hit.doc_id: hit.score for hit in registry.trigger_hits(utterance.text) if hit.doc_id in allowed}
    found: list[Intent] = []
    chars = frozenset(norm)
    for flow in allowed.values():
        found.extend(_score(flow, utterance, norm, hits.get(flow.id, 0.0), chars))
    # One intent per flow, its strongest.
    best: dict[str, Intent] = {}
    for intent in found:
        if intent.flow_id not in best or intent.score > best[intent.flow_id].score:
            best[intent.flow_id] = intent
    ranked = sorted(best.values(), key=lambda i: i.score, reverse=True)
    actions = [i for i in ranked if i.kind == "action"]
    if len(actions) > 1 and _FIRST_THEN.search(norm):
        # 「先查个进度 再约个号」: the citizen says which comes first; that one is served first.
        first = min(actions, key=lambda i: _position(i.word, norm))
        ranked = [first, *(i for i in ranked if i is not first)]
    if ranked and ranked[0].kind == "action":
        # A business named beside another flow's action word is what the action is about.
        ranked = [i for i in ranked if i.kind != "topic"]
    return tuple(ranked)


# 「先…再…」「先…然后…」: two things asked for in order.
_FIRST_THEN = re.compile(r"先.+(?:再|然后|之后|完了)")


def _found_at(keyword: str, norm: str) -> int:
    """Where `keyword`'s first part is found in `norm`, or -1."""
    _, parts = _parsed(keyword)
    return find(parts[0], norm) if parts else -1


def _position(keyword: str, norm: str) -> int:
    """Where `keyword`'s first part is found in `norm` (its end when not found)."""
    at = _found_at(keyword, norm)
    return at if at >= 0 else len(norm)


def _score(flow: Flow, utterance: Utterance, norm: str, phrase: float, chars: AbstractSet[str]) -> list[Intent]:
    out: list[Intent] = []
    length, word = best_word(flow.triggers.keywords, norm, chars)
    if length:
        # Within the action tier (a precedence step is worth more than any keyword length).
        rank_in_tier = flow.triggers.precedence * PRECEDENCE_STEP + length / 100 + phrase / 1000
        out.append(Intent(flow.id, ACTION + rank_in_tier, "action", word, phrase))
    if phrase >= PHRASE_THRESHOLD:
        out.append(Intent(flow.id, PHRASE + phrase / 10, "phrase", "", phrase))
    length, word = best_word(flow.triggers.topics, norm, chars)
    if length:
        out.append(Intent(flow.id, TOPIC + length / 100 + phrase / 1000, "topic", word, phrase))
    grievance = flow.triggers.grievance
    if grievance is not None and not length:
        about, what = best_word(grievance.about, norm, chars)
        bad, how = best_word(grievance.bad, norm, chars) if about else (0, "")
        if bad:
            out.append(Intent(flow.id, TOPIC + (about + bad) / 100 + phrase / 1000, "topic", f"{what}+{how}", phrase))
    if out:
        return out
    if (
        flow.triggers.fills
        and (not utterance.question or _CAN_I_COME.search(utterance.text) is not None)
        and not utterance.tells_of_the_past
        and set(flow.triggers.fills) <= utterance.mentions(flow)
    ):
        out.append(Intent(flow.id, FACTS + phrase / 10, "facts", "", phrase))
    elif utterance.identifier_only(flow) or (utterance.question and utterance.identifiers(flow)):
        # A bare 受理编号, or one asked about in the citizen's own words (「居住证那个申请咋样了，
        # 编号SQ2026…」): the number is what the flow looks up.
        out.append(Intent(flow.id, IDENTIFIER + phrase / 10, "identifier", "", phrase))
    return out
