"""Slot parsers: find a slot's value in whatever the citizen wrote, or say why it is not valid.

Two ways of reading a message:
- *scan*: every message is searched for every open slot whose type can be recognised out of
  context (a choice synonym, a date, 上午/下午, a mobile or ID number, a regex), so 「我想预约明天
  上午去办社保卡」 fills three slots at once;
- *focus*: the slots we just asked for also accept what only makes sense as an answer (a bare
  digit picking a numbered option, a number, a name: whatever is left of the message).

A person's name (`name`) is taken from any message when it is labelled (「我叫张三」「姓名：张三」);
otherwise from what is left of an answer, and then only when it looks like a name: a common
surname first, or the whole reply when the name was the one thing asked. 「不对，改成后天」 and
「那就12月3号」 leave words behind that are not names.

Values are stored canonically (dates as ISO `2026-12-03`) and shown with `display`.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from flows import dates, homophones, words
from flows.schema import Elsewhere, Slot

DEFAULT_ERRORS = {
    "choice": "抱歉，没有识别出您的选择，请回复选项前的数字。",
    "date": "抱歉，没有识别出日期，请这样回复：明天、下周三、12月3日。",
    "period": "请回复「上午」或「下午」。",
    "mobile": "手机号码格式不正确，请输入11位手机号码，例如 13812345678。",
    "id_number": "身份证号码不正确，请核对后重新输入18位身份证号码。",
    "name": "请输入真实姓名，例如「张三」；外籍人士请填写护照上的英文姓名。",
    "number": "请输入数字。",
    "text": "抱歉，没有看懂您的回复，请再说一遍。",
    "regex": "格式不正确，请核对后重新输入。",
}

# Matched before the rest: a span taken by one slot is not read again by another.
_TYPE_ORDER = ["id_number", "mobile", "regex", "date", "period", "choice", "number", "name", "text"]

_MOBILE = re.compile(r"(?<![\d])1[3-9]\d(?:[\s-]?\d){8}(?![\d])")
_MOBILE_LIKE = re.compile(r"(?<![\d])1\d{10}(?![\d])")
# Digits typed as a phone number, perhaps in groups (「139 1234 567」): 7 to 12 of them.
_DIGIT_RUN = re.compile(r"(?<![\d])\d(?: ?\d){6,11}(?![\d])")
_ID = re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])")
_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_ID_CHECK = "10X98765432"
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CN_NUMBER = re.compile(r"[一二两三四五六七八九十]{1,3}")
# Everyday and regional words for the half-days (「一早」「上半天」「头午」; 上昼/下昼 in the south).
_PERIOD_WORDS = [
    ("上午", ("上午", "早上", "早晨", "上班时间", "午前", "一早", "一大早", "清早", "上半天", "前半天", "头午",
             "上昼", "朝早", "中午以前", "中午之前")),
    ("下午", ("下午", "午后", "傍晚", "下半天", "后半天", "过午", "下昼", "晏昼", "午饭后", "吃完午饭",
             "中午以后", "中午之后")),
]
_CLOCK = re.compile(r"(?P<h>\d{1,2}|[一二两三四五六七八九十]{1,3})\s*(?:点|时|:|：)")
_SPLIT = re.compile(r"[\s,，。.;；:：!！?？、/|]+")
# Words around a free-text answer that are not part of it (「我叫张三」, 「姓名：张三」).
_FILLERS = re.compile(
    r"我的名字是|我的名字叫|我的姓名是|名字是|姓名是|我叫|我是|姓名|名字|叫做|"
    r"手机号码是|手机号码|手机号是|手机号|手机|电话号码|联系电话|电话|联系方式|号码是|号码|"
    r"预约人|联系人|本人|是"
)
# A fragment that is only an acknowledgement is not an answer.
_ACKS = frozenset(
    {"好", "好的", "嗯", "嗯嗯", "是的", "对", "对的", "可以", "行", "谢谢", "ok", "OK", "收到"}
)

CORRECTION_CUE = re.compile(
    r"不对|不是|改成|改为|改到|换成|换到|更正|更改|修改|应该是|错了|搞错|重新选|改一下"
)


@dataclass(frozen=True, slots=True)
class Found:
    value: str
    start: int
    end: int
    # Why the value is inferred rather than plainly said, or "" (flows.reading keeps it in
    # `FlowState.unsure`): homophone (「公即金」 read as 公积金), partial (「户籍」 as one
    # option's words), week / month (flows.dates.DateMatch.doubt), name (a whole reply taken as
    # a name although it starts with no common surname).
    doubt: str = ""


@dataclass(slots=True)
class Extraction:
    found: dict[str, Found] = field(default_factory=dict)
    # Slot → why what the user wrote for it cannot be accepted (a weekend date, a bad checksum).
    invalid: dict[str, str] = field(default_factory=dict)


def id_checksum_ok(number: str) -> bool:
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def _id_birth_ok(number: str) -> bool:
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return birth.year >= 1900


def error_text(slot: Slot) -> str:
    return slot.error or DEFAULT_ERRORS[slot.type]


def display(slot: Slot, value: str, today: date | None = None) -> str:
    if slot.type == "date":
        try:
            return dates.display(date.fromisoformat(value), today)
        except ValueError:
            return value
    if slot.type == "id_number" and len(value) == 18:
        # Confirmation messages may be seen over a shoulder: show enough to check, not all.
        return value[:4] + "*" * 10 + value[14:]
    return value


def option_terms(slot: Slot) -> list[tuple[str, str]]:
    """(term lower-cased, option value) for every way of naming an option, longest term first.

    Read for every choice of every flow for every message, and a slot never changes (a reload
    builds new ones): listed once per slot object."""
    found = _terms.get(id(slot))
    if found is None:
        terms = [(term.lower(), opt.value) for opt in slot.options for term in (opt.value, *opt.synonyms)]
        found = _terms[id(slot)] = sorted(terms, key=lambda t: len(t[0]), reverse=True)
        # Forgotten with the slot, before its id can be another object's.
        weakref.finalize(slot, _terms.pop, id(slot), None)
    return found


_terms: dict[int, list[tuple[str, str]]] = {}


class _Masked:
    """The message with taken spans blanked out, so offsets stay those of the original text."""

    def __init__(self, text: str) -> None:
        self.original = text
        self.chars = list(text)

    @property
    def text(self) -> str:
        return "".join(self.chars)

    def take(self, start: int, end: int) -> None:
        for i in range(start, end):
            self.chars[i] = " "


_ORDINAL_AROUND = re.compile(r"^(?:选|就|那就|我选)?第?|(?:个|项|条|种|吧|就行)+$")


def _choice(slot: Slot, text: str, focus: bool) -> Found | None:
    stripped = text.strip().strip("。.!！ ")
    if focus:
        number = dates.chinese_number(_ORDINAL_AROUND.sub("", stripped))
        if number is not None and 1 <= number <= len(slot.options) and len(stripped) <= 5:
            return Found(slot.options[number - 1].value, 0, len(text))
    lowered = text.lower()
    hits = [Found(value, at, at + len(term)) for term, value in option_terms(slot) if (at := lowered.find(term)) >= 0]
    if len({hit.value for hit in hits}) > 1:
        # 「算了公积金先不弄了 改成医保报销吧」: the option named after the change of mind is the one meant.
        changed = None
        for cue in _CHANGED_MIND.finditer(lowered):
            changed = cue.end()
        hits = [hit for hit in hits if changed is not None and hit.start >= changed] or hits
    best = max(hits, key=lambda hit: hit.end - hit.start, default=None)
    if best is None:
        # 「公即金」「居注证」: an option named with one IME homophone. A two-character name
        # (「离昏」 for 离婚) only in a short message: in a long one, some pair of its characters
        # reads like some option by chance.
        # A name of three characters or more with one character that sounds the same is that name
        # (「公基金」 is nothing else a citizen could mean) and is taken as said; a two-character
        # one (「户照」) is a guess, read back before acting.
        shortest = 2 if len(_SPLIT.sub("", text)) <= SHORT_FOR_HOMOPHONES else 3
        chars = frozenset(lowered)
        for term, value in option_terms(slot):
            # A set lookup per character settles most terms without a search.
            near = shortest <= len(term) <= len(lowered) and homophones.could_find(term, chars)
            at = homophones.find(term, lowered) if near else -1
            if at >= 0:
                return Found(value, at, at + len(term), "homophone" if len(term) < SURE_HOMOPHONE else "")
    if best is None and focus and len(_SPLIT.sub("", text)) <= SHORT_FOR_HOMOPHONES:
        # Only in a short answer: in a sentence (「电梯一直坏着」) two characters of some option's
        # words (一直 of 「一直没消息」) are there by chance.
        best = _shortened(slot, text)
    return best


# Messages up to this many characters (punctuation and spaces aside) may name a two-character
# option with one homophone.
SHORT_FOR_HOMOPHONES = 12
# Option names at least this long, found with one homophone, are not a guess.
SURE_HOMOPHONE = 3


def _shortened(slot: Slot, text: str) -> Found | None:
    """An answer that is part of one option's words only (「结婚」 of 结婚证, 「户籍」 of 户籍与身份证).

    Only for the question just asked: out of context a short word is too easily something else.
    A word inside a longer reply is a guess (read back before acting); the whole reply being that
    word (「婚姻」 to 「办理哪项业务」) is a plain answer.
    """
    whole = _SPLIT.sub("", text).lower()
    terms = option_terms(slot)
    for m in re.finditer(r"[\u4e00-\u9fa5A-Za-z]{2,}", text):
        run = m.group(0).lower()
        # The longest part of the run that only one option's words contain (「想办婚姻方面的」 → 婚姻).
        for size in range(min(len(run), 6), 1, -1):
            for at in range(len(run) - size + 1):
                piece = run[at : at + size]
                owners = {value for term, value in terms if piece in term}
                if len(owners) == 1 and piece not in _NOT_NAMES:
                    start = m.start() + at
                    return Found(owners.pop(), start, start + size, "" if piece == whole else "partial")
    return None


def elsewhere(slot: Slot, text: str) -> str | None:
    """What `slot` says about a business it does not offer that `text` names, or None."""
    found = elsewhere_at(slot, text)
    return found[0].say if found is not None else None


def elsewhere_at(slot: Slot, text: str) -> tuple[Elsewhere, int, int] | None:
    """The place `slot` refers a business it does not offer to, when `text` names one, with where
    the words naming it are (the longest of the first place found), or None."""
    for place in slot.elsewhere:
        # A two-character word through a homophone is too often another word (「那个退役」 has 个退,
        # which a rare reading of 税 turns into 个税): found exactly; longer ones tolerate one.
        hits = [(at, at + len(word)) for word in place.words if (at := _place_word_at(word, text)) >= 0]
        if hits:
            start, end = max(hits, key=lambda hit: hit[1] - hit[0])
            return place, start, end
    return None


def _place_word_at(word: str, text: str) -> int:
    return homophones.find(word, text) if len(word) >= SURE_HOMOPHONE else text.find(word)


def other(slot: Slot, text: str) -> Found | None:
    """The citizen's own words for `slot`'s 「其他」 option (the question was asked alone)."""
    words = _SPLIT.sub("", text)
    if not slot.other or len(words) < 2 or words in _NOT_NAMES or words in _ACKS:
        return None
    return Found(f"{slot.other}（{words[:20]}）", 0, len(text))


def _date(slot: Slot, text: str, today: date) -> tuple[Found | None, str, tuple[int, int]]:
    """The date `text` settles on, or why it cannot be taken; with its span either way.

    The first date, unless the message moves on from it: the one after 「改」「那就」
    (「12号是星期六啊 那改14号」), or a later date that can be taken after one that cannot.
    """
    found = dates.find_dates(text, today)
    if not found:
        return None, "", (0, 0)
    moved = _moved_on_at(text)
    later = [d for d in found[1:] if moved is not None and d.start >= moved]
    m = later[0] if later else found[0]
    problem = _date_problem(slot, m, today)
    if problem and not later:
        better = next((d for d in found[1:] if not d.doubt and not _date_problem(slot, d, today)), None)
        if better is not None:
            m, problem = better, ""
    return _date_found(m, problem), problem, (m.start, m.end)


_EARLY_DAY = re.compile(r"[今明]早(?!点|些|就|已)")
# Where a message that names two options turns to the one it wants (「不办公积金了，还是办医保吧」);
# not 换 alone, which is what is done to a card (「换社保卡」).
_CHANGED_MIND = re.compile(r"改成|改为|改办|换成|换办|那就|还是|算了")
# Words after which a message gives the day (or half-day) it settles on.
_MOVED_ON = re.compile(r"改成|改到|改为|改|换成|换到|换|那就|就|还是")


def _moved_on_at(text: str) -> int | None:
    """Where the message moves on to what it settles on (after its last 「改」「那就」…), or None."""
    last = None
    for cue in _MOVED_ON.finditer(text):
        last = cue.end()
    return last


def _date_found(m: dates.DateMatch, problem: str) -> Found | None:
    """The date as a value, unless it does not exist or `problem` says why it cannot be taken."""
    if m.value is None or problem:
        return None
    return Found(m.value.isoformat(), m.start, m.end, m.doubt)


def _date_problem(slot: Slot, m: dates.DateMatch, today: date) -> str:
    if m.value is None:
        return "这个日期不存在，请核对后重新输入，例如 12月3日。"
    day = m.value
    if day < today:
        return f"不能预约过去的日期：{dates.display(day, today)}已经过去了，请选择今天或以后的日期。"
    offset = (day - today).days
    if offset < slot.min_days:
        first = dates.display(date.fromordinal(today.toordinal() + slot.min_days), today)
        return f"最早可以选择{first}，请重新选择日期。"
    if slot.working_day and not dates.working_day(day).working:
        # The reason first, even beyond the window: 「明年春节能约吗」 deserves 「春节放假」.
        return _closed_day(day, today, slot)
    if offset > slot.max_days:
        return f"只能预约{slot.max_days}天以内的日期，请重新选择。"
    return ""


def _closed_day(day: date, today: date, slot: Slot) -> str:
    """「1月1日元旦放假，大厅不对外办公。最近的办公日：12月31日（周四）、1月4日（周一）…」"""
    earliest = date.fromordinal(today.toordinal() + slot.min_days)
    latest = date.fromordinal(today.toordinal() + slot.max_days)
    nearest = [d for d in dates.nearest_working_days(day, earliest) if d <= latest]
    text = f"{dates.closed_reason(day)}，大厅不对外办公。"
    if nearest:
        shown = "、".join(dates.display(d, today) for d in nearest)
        text += f"最近的办公日：{shown}，请选择其中一天或其他工作日。"
    elif day > latest:
        text += f"目前只能预约{slot.max_days}天以内的日期，请重新选择。"
    return text


def _period(text: str, original: str = "") -> Found | None:
    said = [
        Found(value, at, at + len(word))
        for value, spoken in _PERIOD_WORDS
        for word in spoken
        if (at := text.find(word)) >= 0
    ]
    if said:
        # 「时间改成下午吧 上午走不开」: the half-day after 「改」 is the one meant; else the first said.
        moved = _moved_on_at(text)
        after = [f for f in said if moved is not None and f.start >= moved]
        return min(after or said, key=lambda f: f.start)
    if original and _EARLY_DAY.search(original):
        # 「明早」「今早」: the day and the morning in one word (the day was read from it already).
        return Found("上午", 0, 0)
    m = _CLOCK.search(text)
    if m is not None:
        hour = dates.chinese_number(m["h"])
        if hour is not None and 7 <= hour <= 11:
            return Found("上午", m.start(), m.end())
        if hour is not None and (12 <= hour <= 18 or 1 <= hour <= 5):
            return Found("下午", m.start(), m.end())
    return _misspelt_period(text, original or text)


def _misspelt_period(text: str, original: str) -> Found | None:
    """「明天商务」「下吴」: 上午 or 下午 as a pinyin IME may offer them (shangwu → 商务).

    商务 and 下五 are words of their own, so only right after a day (「明天商务」, the day already
    taken out of `text`) or as a short answer on its own, and not as part of a place (商务局).
    """
    short = len(_SPLIT.sub("", original)) <= 3
    for at in range(len(text) - 1):
        pair = text[at : at + 2]
        value = next((v for v in ("上午", "下午") if all(map(homophones.sounds_alike, pair, v))), "")
        if not value or _PLACE_AFTER.match(text, at + 2):
            continue
        before = at - 1
        while before >= 0 and original[before] in " ,，、":
            before -= 1
        # What came before, as written, was taken by another slot (the day).
        after_a_day = before >= 0 and text[before] == " " and original[before] != " "
        if short or after_a_day:
            return Found(value, at, at + 2)
    return None


_PLACE_AFTER = re.compile(r"局|楼|中心|厅|部|区|酒店|宾馆|学院|公司")


def mobile_in(text: str) -> str:
    """The first mainland mobile number `text` gives (spaces and dashes between digits allowed), or ""."""
    found, _ = _mobile(text, focus=False)
    return found.value if found is not None else ""


def mask_mobile(phone: str) -> str:
    """138****5678: enough to tell two citizens apart, or to recognise one's own, not enough to call."""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def _mobile(text: str, focus: bool) -> tuple[Found | None, str]:
    m = _MOBILE.search(text)
    if m is not None:
        return Found(re.sub(r"[\s-]", "", m.group(0)), m.start(), m.end()), ""
    if focus and (_MOBILE_LIKE.search(text) or _DIGIT_RUN.search(text)):
        return None, "invalid"
    return None, ""


def _id_number(text: str) -> tuple[Found | None, str]:
    for m in _ID.finditer(text):
        number = m.group(0).upper()
        if id_checksum_ok(number) and _id_birth_ok(number):
            return Found(number, m.start(), m.end()), ""
        return None, "invalid"
    return None, ""


def _number(slot: Slot, text: str) -> tuple[Found | None, str]:
    m = _NUMBER.search(text)
    value: float | None = None
    if m is not None:
        value = float(m.group(0))
    else:
        m = _CN_NUMBER.search(text)
        if m is not None:
            n = dates.chinese_number(m.group(0))
            value = None if n is None else float(n)
    if m is None or value is None:
        return None, ""
    too_small = slot.minimum is not None and value < slot.minimum
    if too_small or (slot.maximum is not None and value > slot.maximum):
        return None, "invalid"
    shown = str(int(value)) if value.is_integer() else str(value)
    return Found(shown, m.start(), m.end()), ""


def _regex(slot: Slot, text: str) -> Found | None:
    pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{slot.pattern})(?![A-Za-z0-9])")
    m = next((m for m in pattern.finditer(text) if not (slot.not_id_number and id_checksum_ok(m.group(0)))), None)
    if m is None:
        # 「GJJ 2026 1201 0077」: a number copied in groups. Read without the spaces between
        # groups of letters and digits, the value kept as printed on the receipt.
        grouped = _GROUPED.search(text)
        if grouped is None:
            return None
        joined = re.sub(r"\s+", "", grouped.group(0))
        whole = pattern.fullmatch(joined) if joined != grouped.group(0) else None
        if whole is None or (slot.not_id_number and id_checksum_ok(joined)):
            return None
        return Found(joined, grouped.start(), grouped.end())
    return Found(m.group(0), m.start(), m.end())


# Letters and digits in groups separated by single spaces (at least two groups).
_GROUPED = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9][A-Za-z0-9_-]*(?: [A-Za-z0-9_-]+)+(?![A-Za-z0-9])")


def _text_patterns(slot: Slot, text: str) -> Found | None:
    for expr in slot.patterns:
        m = re.search(expr, text)
        if m is not None and m.group("value").strip():
            return Found(m.group("value").strip(), m.start("value"), m.end("value"))
    return None


def _text_ok(slot: Slot, value: str) -> bool:
    if not slot.min_length <= len(value) <= slot.max_length:
        return False
    return not slot.pattern or re.fullmatch(slot.pattern, value) is not None


# Common surnames. Characters that mostly begin ordinary words (那, 和, 时, 明, 都, 文, 安, 查 …)
# are left out on purpose, so that 「那就」「明天」「查一下」 never pass for a name; a citizen with
# such a surname is still understood when the name is the whole reply or is labelled.
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵"
    "万钱严覃武戴莫孔汤温康施牛樊葛邢齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿兰焦俞左柳甘祝包宁尚符舒"
    "阮柯纪梅童凌毕季裴霍涂苗谷盛曲翁冉骆蓝路游辛靳柴蒙鲍华喻祁蒲房滕屈饶牟艾尤穆农卓古吉缪芦麦"
    "褚娄窦戚岑景宫卜晏卫柏宗瞿桂佟臧闵苟邬卞姬仇栾隋刁沙荣巫寇桑郎甄丛仲虞敖巩佘苑邝鞠荆冀郁胥"
    "储栗燕楚鄢奚皮粟冼蔺厉伊仝阚屠朴廉禹祖漆卿狄扈晁芮鹿邸雍辜裘亓邰赫嵇湛茅呼檀衣"
)
_COMPOUND_SURNAMES = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "令狐", "端木", "西门", "南宫", "独孤", "呼延", "轩辕", "申屠", "太史", "万俟", "钟离",
)
_NAME = re.compile(r"[\u4e00-\u9fa5]{2,4}|[\u4e00-\u9fa5]{1,8}·[\u4e00-\u9fa5·]{1,10}")
_NAME_LABEL = re.compile(
    r"(?P<label>我叫|叫我|她叫|他叫|我的名字是|我的名字叫|我的姓名是|姓名|名字|预约人|联系人|申请人|办理人|我是|本人"
    # Booking for a relative: 「我妈叫李秀兰」「孩子他爸叫王强」.
    r"|(?:我|俺)?(?:妈妈?|爸爸?|母亲|父亲|老婆|老公|爱人|媳妇|丈夫|妻子|孩子|儿子|女儿|爷爷|奶奶|姥姥|姥爷|外婆|外公|老人家?)"
    r"(?:的名字)?叫)"
    r"\s*(?P<link>(?:是|为|叫)?\s*[:：]?)\s*(?P<value>[\u4e00-\u9fa5·]{2,12})"
)
# Labels that name a field rather than introduce a name: without 是 or ：, what follows may be
# anything (「房产证上想加我老婆名字 约个时间去办」), so it must look like a name.
_FIELD_LABELS = frozenset({"姓名", "名字", "预约人", "联系人", "申请人", "办理人"})
# A labelled name ends where the sentence goes on (「我叫张三想预约」).
_NAME_END = re.compile(
    r"手机|电话|联系|号码|想|要|预约|办|的|身份证|今天|明天|后天|下周|这周|本周|上午|下午|来|去|就行|就好|就可以"
)
# Said around an answer; never part of the name (「那就张三吧」).
_NAME_TRIM = re.compile(r"^(?:那就|就是|就|那|还是|是)|(?:吧|呢|啊|呀|哦|了|的|哈)$")
_NOT_NAMES = frozenset(
    {"好的", "可以", "没问题", "谢谢", "不用", "不用了", "没有", "算了", "随便", "都行", "就这样", "这样",
     "那样", "知道了", "明白", "收到", "不知道", "你好", "您好", "请问", "麻烦", "办理", "预约", "确认"}
)


# 「王先生」「李女士」: how to address someone, not the full name a booking is made in.
_HONORIFIC = re.compile(
    r"^(?:[\u4e00-\u9fa5]{1,2})(?:先生|女士|小姐|老师|师傅|同志|阿姨|大爷|大妈|姐|哥|总|经理|老板)$"
)
HONORIFIC_ONLY = "请告诉我您的全名（例如「王建国」），「{value}」这样的称呼不能用于登记。"
# 「叫我阿强就行」「小王」: what friends call someone, not the name a booking is made in.
_NICKNAME = re.compile(r"^(?:阿|小|老)[\u4e00-\u9fa5]$")


# 「周一」「周末」: days, though 周 is a surname.
_DAY_WORD = re.compile(r"周[一二三四五六日天末\d]|星期.|礼拜.")
# Kind words are no names, though 谢 is a surname (「…想约个时间去换社保卡，谢谢你」).
_KIND_WORDS = words.THANKS | words.GREETING | words.ACKNOWLEDGE | words.DISMISS


def looks_like_name(value: str) -> bool:
    if "·" in value:
        return True
    if len(value) > 4 or value in _NOT_NAMES or value in _KIND_WORDS or _DAY_WORD.fullmatch(value):
        return False
    return value.startswith(_COMPOUND_SURNAMES) or value[0] in _SURNAMES


# A name as a foreign passport writes it (「Michael Brown」「Kenji Tanaka」): two to four words of
# Latin letters, each capitalised, none an English word said around the facts (「Monday」「morning」).
_LATIN_NAME = re.compile(r"(?<![A-Za-z])[A-Z][A-Za-z'’-]*\.?(?:[ ]+[A-Z][A-Za-z'’-]*\.?){1,3}(?![A-Za-z])")
# The whole reply to the name question, however it is capitalised (「michael brown」).
_LATIN_REPLY = re.compile(r"[A-Za-z][A-Za-z'’-]*\.?(?:[ ]+[A-Za-z][A-Za-z'’-]*\.?){1,3}")
_ENGLISH_WORDS = frozenset(
    [
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "morning", "afternoon",
        "evening", "noon", "am", "pm", "today", "tomorrow", "next", "week", "this", "the", "a", "an", "and", "or",
        "of", "for", "to", "in", "on", "at", "my", "is", "i", "i'm", "im", "are", "you", "your", "we",
        "hello", "hi", "hey", "thanks", "thank", "please", "ok", "okay", "yes", "no", "sorry", "residence",
        "permit", "passport", "visa", "card", "id", "number", "phone", "mobile", "name", "booking", "book",
        "appointment", "office", "hall", "social", "security", "housing", "fund", "marriage", "license", "licence",
        "business"
    ]
)


def _latin_name(text: str, *, answer: bool) -> Found | None:
    """A foreign name in Latin letters: capitalised words anywhere, or the whole reply to a question
    that asked for the name."""
    stripped = text.strip().strip("。.!！ ")
    if answer and _LATIN_REPLY.fullmatch(stripped) and not _english(stripped):
        at = text.find(stripped)
        return Found(stripped, at, at + len(stripped))
    for m in _LATIN_NAME.finditer(text):
        if not _english(m.group(0)):
            return Found(m.group(0), m.start(), m.end())
    return None


def _english(words_: str) -> bool:
    return any(w.lower().strip(".'’") in _ENGLISH_WORDS for w in words_.split())


def _name(slot: Slot, text: str, answer: bool, *, alone: bool, original: str = "") -> tuple[Found | None, str]:
    """A labelled name anywhere; else, for an answer, a leftover word that looks like a name."""
    latin = _latin_name(text, answer=answer)
    if latin is not None and _text_ok(slot, latin.value):
        return latin, ""
    for m in _NAME_LABEL.finditer(text):
        value = m["value"]
        end = _NAME_END.search(value, 2)
        value = value[: end.start()] if end else value
        weak = m["label"] in ("我是", "本人") or (m["label"] in _FIELD_LABELS and not m["link"].strip())
        if _NICKNAME.match(value) and not weak:
            return None, HONORIFIC_ONLY.format(value=value)
        plausible = value not in _NOT_NAMES and not CORRECTION_CUE.search(value) and not _HONORIFIC.match(value)
        if plausible and _NAME.fullmatch(value) and _text_ok(slot, value) and (not weak or looks_like_name(value)):
            return Found(value, m.start("value"), m.start("value") + len(value)), ""
    if not answer:
        return _listed_name(slot, text, original or text), ""
    cleaned = CORRECTION_CUE.sub(" ", text)
    pieces = [_NAME_TRIM.sub("", p) for p in _SPLIT.split(cleaned) for p in p.split()]
    pieces = [p for p in pieces if p and p not in _ACKS]
    for piece in pieces:
        if _HONORIFIC.match(piece) and (piece[0] in _SURNAMES or piece.startswith(_COMPOUND_SURNAMES)):
            return None, HONORIFIC_ONLY.format(value=piece)
        ok = _NAME.fullmatch(piece) is not None and _text_ok(slot, piece)
        # The whole reply to 「请问预约人的姓名是？」 is taken even with a rare surname.
        if ok and (looks_like_name(piece) or (alone and len(pieces) == 1 and piece not in _NOT_NAMES)):
            at = text.find(piece)
            return Found(piece, at, at + len(piece), "" if looks_like_name(piece) else "name"), ""
    return None, "invalid" if (alone or len(pieces) == 1) and pieces else ""


# What a listed name may directly follow in the message as written.
_AFTER_AN_ITEM = re.compile(r"[\s,，。.;；:：!！?？、/|\dA-Za-z天午号日]")
# What may directly follow it: a separator, a number, or a day or half-day (「王芳明天上午」); not
# the rest of a word (「房子抵押登记」: 房子 is no name, though 房 is a surname).
_BEFORE_AN_ITEM = re.compile(r"[\s,，。.;；:：!！?？、/|\d+今明后大下上这本周星礼十一二三四五六七八九]")


def _listed_name(slot: Slot, text: str, original: str) -> Found | None:
    """A name given as one item of a list in any message (「约个号办公积金，明天上午，刘洋，137…」).

    Only a separated item that is nothing but a name with a common surname (2-3 characters): the
    other items were taken by other slots first, so what is left standing alone is the name — not
    asked again. A longer or rarer item is left for the name question. Started as the citizen
    wrote it (`original`): after a separator, a digit or the end of a day or half-day
    (「明天上午刘洋」); a word run on from another value (「预约生育津贴申领」 without the business
    is 「申领」) was not given as an item.
    """
    if not _SPLIT.search(text.strip()):
        return None
    for m in re.finditer(r"[^\s,，。.;；:：!！?？、/|]+", text):
        piece = m.group(0)
        if m.start() > 0 and not _AFTER_AN_ITEM.match(original[m.start() - 1]):
            continue
        if m.end() < len(original) and not _BEFORE_AN_ITEM.match(original[m.end()]):
            continue
        plain = not _HONORIFIC.match(piece) and not CORRECTION_CUE.search(piece)
        short = 2 <= len(piece) <= 3 and _NAME.fullmatch(piece) is not None
        if short and plain and looks_like_name(piece) and _text_ok(slot, piece):
            return Found(piece, m.start(), m.end())
    return None


def _residual(text: str) -> list[str]:
    """What is left of an answer once other slots' values and filler words are removed."""
    fragments = [_FILLERS.sub(" ", part).strip() for part in _SPLIT.split(text)]
    pieces = [p for frag in fragments for p in frag.split() if p]
    return [p for p in pieces if p not in _ACKS]


_FILLERS = re.compile(r"我要|我想|想要|请问|你好|您好|麻烦|帮我|一下|[我的了吧啊呢吗嘛]")
_OPENERS = re.compile(
    r"想?[给跟和向对]?你们|说说|讲讲|谈谈|聊聊|说一下|有件事|有个事|有点事|有事|事情|个事儿|个事|事儿|个情况|情况"
    # How the citizen wants to be dealt with, not what happened (「我想投诉但是不想留电话」「匿名反映」).
    r"|(?:但是|可是|不过)?(?:不想|不愿意|不愿|不方便|不用|不要|能不能不)?(?:留|透露|告诉你们)?"
    r"(?:电话|手机号|手机|号码|名字|姓名|联系方式)|匿名|实名|可以吗|行吗|能吗"
)


def content_length(text: str, noise: Iterable[str]) -> int:
    """Length of `text` once the given trigger words, fillers and punctuation are taken out
    (read in plain words: 「俺要反映个事儿」 tells no more than 「我要反映个事」)."""
    text = words.plain_words(text)
    for word in sorted(set(noise), key=len, reverse=True):
        if word:
            text = text.replace(word, "")
    text = _FILLERS.sub("", text)
    # How people open before saying anything (「有个想法想给你们说说」「有件事想跟你们反映一下」).
    text = _OPENERS.sub("", text)
    return len(_SPLIT.sub("", text))


def extract(
    slots: dict[str, Slot],
    names: Sequence[str],
    text: str,
    today: date,
    focus: Sequence[str] = (),
    noise: Iterable[str] = (),
    *,
    residual: bool = True,
) -> Extraction:
    """Read `text` for the slots in `names`; those in `focus` were just asked for.

    `noise` are the flow's trigger words: a message that is only 「我要投诉」 does not count as
    a complaint's description. With `residual` off, free text is not read from what is left of
    the message (it is a question, not an answer).
    """
    result = Extraction()
    masked = _Masked(text)
    # The same, with only the values that describe nothing taken out (a mobile, a number): the
    # words that named a choice in passing (「大厅空调太冷了」 → 环境设施) are part of an account.
    spoken = _Masked(text)
    labels: list[str] = []
    # Choices are matched longest term first across slots, the one just asked winning a tie:
    # 「网店」 is the premises, not the 「店」 of a sole trader's shop.
    def order(name: str) -> tuple[int, int, bool]:
        slot = slots[name]
        best = _choice(slot, text, name in focus) if slot.type == "choice" else None
        return _TYPE_ORDER.index(slot.type), -(best.end - best.start if best else 0), name not in focus

    ordered = sorted(names, key=order)
    for name in ordered:
        slot = slots[name]
        in_focus = name in focus
        if not (in_focus or slot.scans):
            continue
        current = masked.text
        found: Found | None = None
        problem = ""
        if slot.type == "choice":
            found = _choice(slot, current, in_focus)
            if found is None and in_focus and residual and list(focus) == [name] and elsewhere(slot, text) is None:
                found = other(slot, current)
        elif slot.type == "date":
            found, problem, span = _date(slot, current, today)
            if problem:
                # A refused date is still a date: its words are not read as a name or the like.
                masked.take(*span)
        elif slot.type == "period":
            found = _period(current, text)
        elif slot.type == "mobile":
            found, problem = _mobile(current, in_focus)
        elif slot.type == "id_number":
            found, problem = _id_number(current)
        elif slot.type == "number":
            found, problem = _number(slot, current)
        elif slot.type == "regex":
            found = _regex(slot, current)
        elif slot.type == "name":
            # A rare surname is taken only from the whole reply to 「请问预约人的姓名是？」 alone.
            alone = not (result.found or result.invalid) and list(focus) == [name]
            found, problem = _name(slot, current, in_focus and residual, alone=alone, original=text)
        elif slot.type == "text":
            found = _text_patterns(slot, current)
            told = max(content_length(current, noise), content_length(spoken.text, [*noise, *labels]))
            if found is None and slot.scan and residual and told >= slot.min_length:
                # Free text read whole (a complaint's description): the citizen's own words. What
                # counts is what is left besides other answers: a bare phone number describes
                # nothing, nor does an option's own label (「服务态度」); a choice's everyday
                # words do (「空调太冷了」).
                whole = text.strip()
                found = Found(whole[: slot.max_length], 0, 0)
            elif found is None and in_focus and residual:
                pieces = _residual(current)
                if len(pieces) == 1 or (pieces and slot.pattern == ""):
                    candidate = "".join(pieces) if slot.pattern else " ".join(pieces)
                    found = Found(candidate, 0, 0) if _text_ok(slot, candidate) else None
                    problem = "" if found else "invalid"
                if found is None and pieces:
                    good = [p for p in pieces if _text_ok(slot, p)]
                    found = Found(good[0], 0, 0) if good else None
                    problem = "" if found else "invalid"
            if found is not None and not _text_ok(slot, found.value):
                found, problem = None, "invalid"
        if found is not None:
            result.found[name] = found
            masked.take(found.start, found.end)
            if slot.type == "choice":
                labels.extend(opt.value for opt in slot.options)
            else:
                spoken.take(found.start, found.end)
        elif problem == "invalid" and slot.type in ("text", "name") and len(focus) > 1:
            # Leftover words that are not a valid name are only an error when the name was
            # the one thing asked; with several questions open they are just other words.
            continue
        elif problem and (in_focus or slot.type in ("date", "id_number")):
            result.invalid[name] = error_text(slot) if problem == "invalid" else problem
    return result
