"""What one message says, read once: the value the router, the flows and the FAQ decide from.

A message's text is normalised once (full-width digits and letters folded, traditional → simplified with OpenCC,
so 「預約下週三」 reads as 「预约下周三」 everywhere) and read once into an `Utterance`: its
command form, whether it is a question, an acknowledgement or small talk, a pick from a numbered
list (「2」「第二个」), the dates it names, the intents it expresses (`flows.intents`, with
scores) and, per flow, every slot value it gives with its span. Slot readings are computed the
first time a flow asks for them and kept in the value, so the trigger check, the prefill, the
identifier check and the flow's own reading of the message share one extraction instead of
re-parsing the text (docs/ARCHITECTURE.md, "Understand a message once, decide many times").

Rasa's NLU `Message` (intent, intent_ranking, entities) and Dialogflow CX's `QueryResult` are the
models: the dialogue policies only read it.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field, fields
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

from flows import calendar, dates, words
from flows import slots as parsers
from flows.schema import Flow
from knowledge.normalize import normalize, spoken_digits, to_simplified

if TYPE_CHECKING:
    from flows.intents import Intent

_QUESTION = re.compile(
    r"[?？]|吗|么$|怎么|怎样|咋|如何|什么|啥|哪|几点|(?<!好)几天(?!了)|多少|多久|多长|为什么|为啥|能否|可否|能不能|可不可以|可以不|"
    r"是否|有没有|有无|要不要|需不需要|是不是|请问|行不行|好不好|对不对|何时|多会儿"
)
# 「停车方便不」「有结果了没有」: a statement closed by a bare negation asks a yes/no question.
_TAIL_QUESTION = re.compile(r"..(?:不|没|没有|不是|没呢)[\s。.!！~～]*$")
# 「方便不方便」: A-not-A.
_A_NOT_A = re.compile(r"([\u4e00-\u9fa5]{1,2})不\1")
_CONTENT = re.compile(r"[0-9A-Za-z\u4e00-\u9fff]")
# Punctuation and spaces around a short command (「好的。」「取消!」).
_STRIP = "。.!！~～?？,，、 \t\r\n"


def is_question(text: str) -> bool:
    """Whether `text` asks something (a question mark, a question word, 「…不」 at the end)."""
    return bool(_QUESTION.search(text) or _TAIL_QUESTION.search(text) or _A_NOT_A.search(text))


# Full-width digits and Latin letters (ＳＱ２０２６…) → ASCII; Chinese punctuation (，。？) is kept
# as typed: it is part of a complaint's description or a rating's reason, which are stored.
_WIDTH = {code: code - 0xFEE0 for code in [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)]}
_WIDTH[0x3000] = 0x20


def fold(raw: str) -> str:
    """The message as every reader sees it: digits and letters half-width, simplified characters,
    a long number said digit by digit in Chinese as digits, pinyin initials written out."""
    return _shorthand(spoken_digits(to_simplified(raw.translate(_WIDTH)))).strip()


# Shorthand people type for the words of this trade: pinyin initials and a few English words
# (「想yy gjj提取」「sfz过期了」); only unambiguous ones (not sb, hz), and only standing alone:
# 「JZZ-2026-118734」 is a receipt number.
SHORTHAND = {
    "yy": "预约",
    "sfz": "身份证",
    "gjj": "公积金",
    "sbk": "社保卡",
    "jzz": "居住证",
    "yyzz": "营业执照",
    "hkb": "户口本",
    "jhz": "结婚证",
    # English words typed the same way (「想book一下医保」「我要 complaint」).
    "book": "预约",
    "complaint": "投诉",
    "complain": "投诉",
}
_SHORTHAND = re.compile(r"(?<![A-Za-z0-9_-])(" + "|".join(SHORTHAND) + r")(?![A-Za-z0-9_-])(?!\s*\d)", re.I)


def _shorthand(text: str) -> str:
    return _SHORTHAND.sub(lambda m: SHORTHAND[m[1].lower()], text)


def command_form(text: str) -> str:
    return text.strip().strip(_STRIP).lower()


def _pick(command: str) -> int | None:
    said = words.around(command)
    if said.isdigit():
        return int(said) if len(said) <= 2 else None
    m = words.ORDINAL.match(said)
    if m is None or not (said.startswith(("第", "选")) or said.endswith(("个", "项", "条", "种"))):
        return None
    return dates.chinese_number(m["n"])


_PIECES = re.compile(r"[\s,，。.!！~～、]+")
# Modal particles people add to anything they say (「谢谢啊」「多谢了」「好的呀」): the word lists hold
# the bare words, so these are dropped from the end before looking a piece up.
_PARTICLE_CHARS = "啊呀哈嘛啦了哦呢吧噢喔哇呗嘞的"
_PARTICLES = re.compile(rf"(?<=.)[{_PARTICLE_CHARS}]+$")


# 「知道了谢谢」: a thank-you closing a message.
_THANKS_AFTER = re.compile(r"(?:谢谢|谢了|多谢|感谢|辛苦)(?:你们|您们|您|你|大家|了)?(?:啦|了|哈|啊|呀)?$")
# 「收到收到」「好的好的好的」: one word said again and again.
_REPEATED = re.compile(r"^(.{1,4}?)\1+$")


def _unrepeated(command: str) -> str:
    found = _REPEATED.match(command)
    return found.group(1) if found and not found.group(1).isdigit() else command


# Every listed word of small talk (the kinds are told apart afterwards).
_SMALL_TALK_WORDS = words.THANKS | words.GREETING | words.DISMISS | words.ACKNOWLEDGE


def _listed(piece: str, listed: frozenset[str]) -> bool:
    return piece in listed or _PARTICLES.sub("", piece) in listed


_LONGEST_SMALL_TALK = max(map(len, _SMALL_TALK_WORDS))


# Every character of every small-talk word (with the particles): a piece with any other character
# cannot be small-talk words run together, which settles most messages without the search.
_SMALL_TALK_CHARS = frozenset("".join(_SMALL_TALK_WORDS) + _PARTICLE_CHARS)
RUN_TOGETHER_MAX_CHARS = 12


def _run_together(piece: str) -> list[str]:
    """「嗯嗯好的」「好的收到」: small-talk words typed without a break, split (else [])."""
    if len(piece) > RUN_TOGETHER_MAX_CHARS or not _SMALL_TALK_CHARS.issuperset(piece):
        return []
    # ways[i]: a split of piece[:i] into listed words (with their particles), or None.
    ways: list[list[str] | None] = [[], *([None] * len(piece))]
    for end in range(1, len(piece) + 1):
        for start in range(max(0, end - _LONGEST_SMALL_TALK - 2), end):
            before = ways[start]
            if before is not None and _listed(piece[start:end], _SMALL_TALK_WORDS):
                ways[end] = [*before, piece[start:end]]
                break
    return ways[-1] or []


# Emoji and WeChat's emoji codes said beside words (「辛苦了🙏」「好的[OK]」): they colour what is
# said without changing it, so small talk is looked up without them.
_DECORATION = re.compile(r"\[[^\[\]\s]{1,4}\]|[^0-9A-Za-z\u4e00-\u9fff\s,，。.!！?？~～、]")


_TERMS_OF_ADDRESS = (
    r"(?:同志|师傅|老师|美女|帅哥|亲|领导|大姐|大哥|小姑娘|姑娘|妹儿|妹子|小妹|小姐姐|小哥|小伙子|阿姨|大爷|大妈)"
)
_ADDRESS = re.compile(rf"^{_TERMS_OF_ADDRESS}[，,\s]*|[，,\s]*{_TERMS_OF_ADDRESS}$")


def _small_talk(command: str) -> str:
    if not command or not _CONTENT.search(command) or words.EMOJI_CODES.match(command):
        # Only emoji, punctuation or a sticker's placeholder.
        return "emoji"
    command = _DECORATION.sub("", command).strip(_STRIP) or command
    # 「谢谢啦同志」「师傅你好」: how the citizen addresses us changes nothing of what they say.
    command = _ADDRESS.sub("", command).strip(_STRIP) or command
    if not _listed(command, _SMALL_TALK_WORDS):
        single = _unrepeated(command)
        if _listed(single, _SMALL_TALK_WORDS):
            command = single
    # 「收到，谢谢」「好的 再见」: every piece is small talk; the kindest kind answers.
    # 「谢谢你哈妹儿」: a term of address ends or starts any piece, not only the message.
    pieces = [_ADDRESS.sub("", p) or p for p in _PIECES.split(command) if p and _CONTENT.search(p)]
    # Each piece, or the listed words it runs together (「嗯嗯好的」 is 嗯嗯 + 好的).
    pieces = [w for p in pieces for w in (_run_together(p) if not _listed(p, _SMALL_TALK_WORDS) else [p]) or [p]]
    for kind, listed in (
        ("thanks", words.THANKS),
        ("greeting", words.GREETING),
        ("dismiss", words.DISMISS),
        ("ack", words.ACKNOWLEDGE),
    ):
        if _listed(command, listed):
            return kind
    if len(pieces) > 1 and all(_listed(p, _SMALL_TALK_WORDS) for p in pieces):
        for kind, listed in (("thanks", words.THANKS), ("dismiss", words.DISMISS), ("greeting", words.GREETING)):
            if any(_listed(p, listed) for p in pieces):
                return kind
        return "ack"
    thanked = _THANKS_AFTER.search(command)
    if thanked and (not command[: thanked.start()] or _listed(command[: thanked.start()], _SMALL_TALK_WORDS)):
        # 「好的谢谢你」「知道了谢谢」: an acknowledgement run into a thank-you.
        return "thanks"
    if words.NO_CONTACT.match(command):
        # 「不用留电话」 after a complaint is filed: fine, nothing to do.
        return "ack"
    if words.STOP.match(command):
        return "dismiss"
    if words.LAUGH.match(command):
        return "laugh"
    if words.PRAISE.match(command):
        return "praise"
    if words.ABOUT_BOT.match(command):
        return "bot"
    if words.asks_what_we_do(command):
        return "capabilities"
    if words.vague(command):
        return "vague"
    return ""


@dataclass(frozen=True, slots=True)
class _Reading:
    flow: Flow
    calendar: object
    found: parsers.Extraction


@dataclass(slots=True)
class Utterance:
    raw: str
    # Folded text (see `fold`): what every slot parser reads; spans refer to it.
    text: str
    # `text` without the punctuation around it, lower-cased: compared against word lists.
    command: str
    # The matcher's normal form (punctuation folded to spaces): what trigger words are found in.
    norm: str
    today: date
    question: bool
    # A pick from a numbered list: a bare number or an ordinal (「第二个」).
    pick: int | None
    # 「不知道编号」: the citizen cannot give what was asked.
    dont_know: bool
    # "", or what kind of small talk this is: greeting, thanks, ack, dismiss, laugh, emoji,
    # praise, capabilities (「你们能干啥」), bot (「你们是机器人吗」) or vague (「有事想办一下」).
    small_talk: str
    dates: list[dates.DateMatch]
    # 「先核对一下」: the details are to be read back before the action (words.CHECK_FIRST).
    check_first: bool = False
    # 「补充一下，地址是…」: more about something already said or filed (words.MORE_DETAILS).
    more_details: bool = False
    # The flows this message asks for, best first (`flows.intents.rank`); empty until ranked.
    intents: list[Intent] = field(default_factory=list)
    # Slot readings by flow object and focus, each with the flow and the calendar it was read
    # against. Shared by every turn that sends this text on this day (see `_fresh`): a reading is
    # never changed once made, and one made against another calendar is made again.
    _readings: dict[tuple[object, ...], _Reading] = field(default_factory=dict, repr=False)

    # -- slots ---------------------------------------------------------------------------------
    def reading(
        self, flow: Flow, focus: tuple[str, ...] = (), *, names: tuple[str, ...] | None = None, residual: bool = True
    ) -> parsers.Extraction:
        """The slot values this message gives `flow` (those in `focus` were just asked for).

        Computed once per flow and focus and kept: every decision about this message and this
        flow reads the same extraction.
        """
        chosen = tuple(flow.slots) if names is None else names
        # By the flow object: another account's flow of the same id is read for itself. The
        # reading holds its flow, so the id cannot be another object's while it is kept.
        key = (id(flow), chosen, focus, residual)
        kept = self._kept(key, flow)
        if kept is not None:
            return kept
        found = parsers.extract(flow.slots, list(chosen), self.text, self.today, focus, noise(flow), residual=residual)
        self._readings[key] = _Reading(flow, calendar.active(), found)
        return found

    def _kept(self, key: tuple[object, ...], flow: Flow) -> parsers.Extraction | None:
        """The reading kept under `key`, if it was made for this flow object and the calendar in force."""
        kept = self._readings.get(key)
        if kept is not None and kept.flow is flow and kept.calendar is calendar.active():
            return kept.found
        return None

    def scan(self, flow: Flow) -> parsers.Extraction:
        """What the message says for `flow` out of context (no slot was asked)."""
        return self.reading(flow)

    def mentions(self, flow: Flow) -> set[str]:
        """The slots the message speaks of, taken or refused (「周六」 names a date even if refused)."""
        found = self.scan(flow)
        return {*found.found, *found.invalid}

    def prefill(self, flow: Flow) -> list[str]:
        """The slots the message would fill if it started `flow`."""
        return list(self.scan(flow).found)

    def identifiers(self, flow: Flow) -> list[parsers.Found]:
        """The identifiers `flow` starts with (a 受理编号) that the message carries."""
        names = tuple(n for n in flow.steps[0].ask if flow.slots[n].type in ("regex", "id_number"))
        if not names:
            return []
        return list(self.reading(flow, names, names=names).found.values())

    def identifier_only(self, flow: Flow) -> bool:
        """Whether the message is little more than an identifier `flow` starts with (a bare 受理编号)."""
        for hit in self.identifiers(flow):
            rest = self.text[: hit.start] + self.text[hit.end :]
            if parsers.content_length(rest, noise(flow)) <= IDENTIFIER_EXTRA_CHARS:
                return True
        return False

    def correction(self, flow: Flow) -> dict[str, parsers.Found]:
        """「手机号改为139…」: the words after 改成, read for the slot the label names."""
        key = ("correction", id(flow))
        kept = self._kept(key, flow)
        if kept is not None:
            return kept.found
        result = parsers.Extraction()
        self._readings[key] = _Reading(flow, calendar.active(), result)
        m = _TARGETED.search(self.text)
        if m is None:
            return result.found
        label = m["label"].removeprefix("把").removesuffix("的")
        for name, slot in flow.slots.items():
            field_words = (slot.label, *_FIELD_WORDS.get(slot.type, ()))
            if label and any(label in word or word in label for word in field_words):
                found = parsers.extract(flow.slots, [name], m["value"], self.today, [name])
                if name in found.found:
                    result.found[name] = found.found[name]
                    break
        return result.found

    @property
    def tells_of_the_past(self) -> bool:
        """Every date the message names lies before today: 「昨天下午在社保窗口排了两小时」 recounts
        what happened; it is not a request made of facts (a business and a day) to start a service."""
        days = [m.value for m in self.dates if m.value is not None]
        return bool(days) and all(day < self.today for day in days)

    @property
    def several_days(self) -> bool:
        """The message names more than one day (「明天或者后天」): which one is meant is a guess."""
        return len({m.value for m in self.dates if m.value is not None}) > 1

    def intent(self, flow_id: str) -> Intent | None:
        return next((i for i in self.intents if i.flow_id == flow_id), None)


# 「日期改成后天」: which slot (by its label) and the new words.
_TARGETED = re.compile(
    r"(?P<label>[\u4e00-\u9fa5A-Za-z]{1,8}?)(?:写错了|填错了|弄错了|错了|不对|有误)?[\s，,]*"
    r"(?:改成|改为|换成|改到|换到|应该是|应为|是)\s*(?P<value>.+)"
)
# Everyday words for a field, by slot type (「名字改成…」 for 预约人姓名, 「电话改成…」 for 手机号码).
_FIELD_WORDS = {
    "date": ("日期", "时间", "日子", "哪天", "那天", "天"),
    "period": ("时段", "上下午", "上午下午"),
    "mobile": ("手机", "电话", "号码", "联系方式"),
    "name": ("名字", "姓名", "名"),
    "id_number": ("身份证",),
}
# 「SQ2026…查一下」: words besides a bare identifier that still leave it a bare identifier.
IDENTIFIER_EXTRA_CHARS = 4


def noise(flow: Flow) -> tuple[str, ...]:
    """A flow's own trigger words: 「我要投诉」 alone does not describe a complaint.

    Read for most messages (slot readings, the bare-identifier check), and a flow never changes
    (a reload builds new ones), so they are listed once per flow object."""
    found = _noise.get(id(flow))
    if found is None:
        words = [*flow.triggers.phrases, flow.title]
        # Words that say what happened (停水, 漏水: an option's everyday words, or a grievance's)
        # start the flow and are the account too: 「我们这停水三天了」 describes the matter.
        telling = {term for slot in flow.slots.values() for opt in slot.options for term in (opt.value, *opt.synonyms)}
        if flow.triggers.grievance is not None:
            telling.update(flow.triggers.grievance.about, flow.triggers.grievance.bad)
        for keyword in [*flow.triggers.keywords, *flow.triggers.topics]:
            # A one-character part (差 of 「态度+差」) is part of what is told: 「窗口人员态度很差」
            # describes something with or without it, and taking it out made the account too short.
            words.extend(p for p in _KEYWORD_PARTS.split(keyword) if len(p) >= 2 and p not in telling)
        found = _noise[id(flow)] = tuple(words)
        # Forgotten with the flow, before its id can be another object's.
        weakref.finalize(flow, _noise.pop, id(flow), None)
    return found


_KEYWORD_PARTS = re.compile(r"[+…]")
_noise: dict[int, tuple[str, ...]] = {}


def understand(raw: str, today: date) -> Utterance:
    """Read `raw` once. Intents are ranked by the caller that knows the flows (`flows.intents`)."""
    if len(raw) > READ_CACHE_MAX_CHARS:
        return _understand(raw, today)
    return _fresh(_remembered(raw, today))


# Citizens send the same phrasings again and again, and what `_understand` reads is a pure function
# of the text and the day (word lists and patterns fixed in code, no calendar, no flows): kept for
# the most recent texts, as it was a tenth of a delivery's CPU (docs/reliability.md). The value
# kept is never handed out: each call gets a copy with containers of its own (intents, dates),
# but for the slot readings, which are checked against the flow and calendar they were read for.
# Long texts (descriptions) are rarely sent twice and are not kept, so the memory stays small:
# ~0.75 KB a text for the sample phrasings (10 characters on average), ~2.6 MB with every entry
# at the length bound.
READ_CACHE_SIZE = 2048
READ_CACHE_MAX_CHARS = 64


def _fresh(kept: Utterance) -> Utterance:
    # A field-by-field copy (no __init__ to run again: a fifth of the cost of building one). The
    # slot readings are shared, not copied: a message read mid-flow is read for the flow's slots
    # several times a turn, and citizens send the same phrasings again (see `_readings`).
    fresh = object.__new__(Utterance)
    for name in _FIELDS:
        value = getattr(kept, name)
        if type(value) in _CONTAINERS and name != "_readings":
            value = value.copy()
        setattr(fresh, name, value)
    return fresh


_CONTAINERS = (list, dict, set)


def _understand(raw: str, today: date) -> Utterance:
    text = fold(raw)
    plain = words.plain_words(text)
    command = command_form(plain)
    return Utterance(
        raw=raw,
        text=text,
        command=command,
        norm=normalize(plain),
        today=today,
        question=is_question(text),
        pick=_pick(command),
        dont_know=bool(words.DONT_KNOW.search(command)),
        small_talk=_small_talk(command),
        dates=dates.find_dates(text, today),
        check_first=bool(words.CHECK_FIRST.search(command)),
        more_details=bool(words.MORE_DETAILS.search(command)),
    )


_remembered = lru_cache(maxsize=READ_CACHE_SIZE)(_understand)
_FIELDS = tuple(f.name for f in fields(Utterance))
