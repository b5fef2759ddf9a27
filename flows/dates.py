"""Dates as citizens write them (今天, 后天, 下周三, 12月3日, 2026-12-03…), resolved against a given day.

Working days come from the office calendar (`flows.calendar`): the published schedule where
there is one, the statutory holidays by rule for any year; `WorkingDay.known` says whether the
year's schedule (with its make-up working days) is published.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from flows import calendar

WEEKDAYS = "一二三四五六日"
# 「周3」「礼拜5」: the day's number typed as a digit (1 = Monday … 7 = Sunday).
_WEEKDAY_INDEX = {**{c: i for i, c in enumerate(WEEKDAYS)}, "天": 6, "七": 6, **{str(n): n - 1 for n in range(1, 8)}}
_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}

# A month and day up to this many days ago is taken as that recent day, further back as next year's.
PAST_MONTH_DAY_LIMIT = 92
_NUM = r"(?:\d{1,2}|[一二两三四五六七八九十]{1,3})"
_RELATIVE_DAYS = {
    "今天": 0,
    "今日": 0,
    "明天": 1,
    "明日": 1,
    # 「明早」: tomorrow morning (the morning is read by the half-day).
    "明早": 1,
    "今早": 0,
    "后天": 2,
    "大后天": 3,
    # Past days are dates too, so that 「昨天」 is answered 'cannot book a past date', not 'no date'.
    "昨天": -1,
    "昨日": -1,
    "前天": -2,
    "大前天": -3,
}

# 「这周/本月」「下周/下个月」「下下周」「上周」: how many weeks or months from this one.
_STEPS = {"这": 0, "本": 0, "下": 1, "下下": 2, "上": -1}

# 「周三」「下周三」「下个礼拜三」: a weekday, in the week named (or the coming one).
# The space is part of it only after the week's word (「下 周三」): a bare weekday's match starts at
# 周, not at the blanks before it (a mobile taken out of 「李秀兰 13698765432 礼拜三」 leaves some).
_WEEKDAY = re.compile(
    r"(?:(?P<which>下下|下|这|本|上)\s*)?(?:个)?(?:周|星期|礼拜)(?P<w>[一二三四五六日天七]|[1-7](?![\d.号日]))"
)

_PATTERNS = [
    # 2026-12-03, 2026/12/3, 2026.12.03, 2026年12月3日
    ("ymd", re.compile(
        r"(?P<y>20\d{2})\s*(?:[-/.]|年)\s*(?P<m>\d{1,2})\s*(?:[-/.]|月)\s*(?P<d>\d{1,2})\s*[日号]?"
    )),
    # 「下个月8号」「本月20号」「下个月的3号」: a day of a month named relative to this one.
    ("rmd", re.compile(rf"(?P<which>下下|下|这|本|上)\s*个?\s*月\s*的?\s*(?P<d>{_NUM})\s*[日号]?")),
    ("md", re.compile(rf"(?P<m>{_NUM})\s*月\s*(?P<d>{_NUM})\s*[日号]?")),
    # 「12.15」「12/21」「12-18」, as people write a day on a phone. Not part of a longer number,
    # a time or an amount (「12.15元」「1.5个小时」).
    ("md", re.compile(
        r"(?<![\dA-Za-z.:：/\-])(?P<m>1[0-2]|0?[1-9])\s?[./／\-]\s?(?P<d>3[01]|[12]\d|0?[1-9])(?![\d.:：/\-])"
        r"(?!\s*(?:元|块|万|千|百|%|％|米|公里|斤|个|天|小时|分|倍|折|岁|年|周|号楼|栋|单元|室|g|kg|G|M|版))\s*[日号]?"
    )),
    ("rel", re.compile("|".join(sorted(_RELATIVE_DAYS, key=len, reverse=True)))),
    ("after", re.compile(rf"(?P<n>{_NUM})\s*天[以之]?后")),
    ("week", _WEEKDAY),
    ("d", re.compile(rf"(?<![月\d年])(?P<d>{_NUM})\s*[日号](?!子|窗口|楼|门|线|厅)")),
]


# 「约个下礼拜的号」: a week named without its day; a bare weekday said later is in that week.
_WEEK_ONLY = re.compile(r"(?P<which>下下|下|这|本)\s*个?\s*(?:周|星期|礼拜)(?![一二三四五六日天七末1-7])")
# The word that puts a bare weekday (「周二」) in a week: 下 + 周二.
WEEK_WORDS = {0: "本", 1: "下", 2: "下下"}


def week_named(text: str) -> int | None:
    """How many weeks ahead a week named without its day is (「下礼拜」 → 1), or None."""
    m = _WEEK_ONLY.search(text)
    return None if m is None else _STEPS[m["which"]]


def week_of(day: str) -> int | None:
    """For a date said as a weekday (a `DateMatch`'s text): how many weeks ahead the week it names
    is (「下周二」 → 1), or None for a bare weekday (「周二」), a past week or any other date."""
    m = _WEEKDAY.fullmatch(day)
    return None if m is None or m["which"] in (None, "上") else _STEPS[m["which"]]


def bare_weekday(day: str) -> bool:
    """Whether a date was said as a weekday without its week (「周二」「礼拜四」)."""
    m = _WEEKDAY.fullmatch(day)
    return m is not None and m["which"] is None


def chinese_number(text: str) -> int | None:
    """`12`, `十二`, `二十一`, `三十` → int; None when it is not a small number."""
    if text.isdigit():
        return int(text)
    if not text or any(c not in _DIGITS and c != "十" for c in text):
        return None
    if "十" not in text:
        return _DIGITS[text] if len(text) == 1 else None
    tens, _, units = text.partition("十")
    if "十" in units:
        return None
    high = _DIGITS.get(tens, -1) if tens else 1
    low = _DIGITS.get(units, -1) if units else 0
    if high < 0 or low < 0:
        return None
    return high * 10 + low


@dataclass(frozen=True, slots=True)
class DateMatch:
    value: date | None  # None: looks like a date but is not one (2月30日)
    start: int
    end: int
    # Why the day read is a guess, or "": `week` — the 下 of 「下周」 may belong to the word
    # before it (「帮我约一下周三」: 一下 + 周三, or 一 + 下周三?); `month` — a bare 「3号」
    # already past this month, read as next month's.
    doubt: str = ""


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _resolve(kind: str, m: re.Match[str], today: date) -> date | None:
    if kind == "ymd":
        return _safe_date(int(m["y"]), int(m["m"]), int(m["d"]))
    if kind == "md":
        month, day = chinese_number(m["m"]), chinese_number(m["d"])
        if month is None or day is None:
            return None
        found = _safe_date(today.year, month, day)
        # 「1月5日」 said in December means next January; 「11月20日」 said on 11-26 is a day that
        # has just passed (and is refused as such), not one eleven months ahead.
        if found is not None and (today - found).days > PAST_MONTH_DAY_LIMIT:
            found = _safe_date(today.year + 1, month, day)
        return found
    if kind == "rmd":
        day = chinese_number(m["d"])
        if day is None:
            return None
        months = today.year * 12 + today.month - 1 + _STEPS[m["which"]]
        return _safe_date(months // 12, months % 12 + 1, day)
    if kind == "rel":
        return today + timedelta(days=_RELATIVE_DAYS[m.group(0)])
    if kind == "after":
        n = chinese_number(m["n"])
        return None if n is None else today + timedelta(days=n)
    if kind == "week":
        weekday = _WEEKDAY_INDEX[m["w"]]
        monday = today - timedelta(days=today.weekday())
        which = m["which"] or ""
        if which == "下下" and (_softened(m) or _after(m, _ASKING_VERBS)):
            # 「约一下下周二」: 约一下 + 下周二. The other split, 约一 + 下下周二, is no Chinese; the
            # week after next after 一下 is written 「一下下下周」. Likewise 「想问下下周二…」,
            # 「查下下周三有没有号」: 问下 / 查下 + 下周.
            which = "下"
        if which:
            return monday + timedelta(days=7 * _STEPS[which] + weekday)
        # A bare 「周三」 means the coming Wednesday (today if it is Wednesday).
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    if kind == "d":
        day = chinese_number(m["d"])
        if day is None:
            return None
        found = _safe_date(today.year, today.month, day)
        if found is None or found < today:
            nxt = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
            found = _safe_date(nxt.year, nxt.month, day)
        return found
    raise AssertionError(kind)


def _softened(m: re.Match[str]) -> bool:
    """Whether the date's first 下 follows a 一 (「约一下…」): it is the verb's 一下 then."""
    return _after(m, "一")


def _after(m: re.Match[str], chars: str) -> bool:
    return m.start() > 0 and m.string[m.start() - 1] in chars


# Verbs of asking and looking, which take 下 as 一下 (「问下」「看下」「查下」) and never a date
# straight after them: 「问下下周二」 is 问下 + 下周二.
_ASKING_VERBS = "问看查瞧说讲"
# Verbs that take 下 as 一下 and a date too: 「约下下周二」 is 约下 + 下周二 or 约 + 下下周二.
_DOING_VERBS = "约排挂订帮"


def _doubt(kind: str, m: re.Match[str], text: str, today: date) -> str:
    """Why this reading of a date may not be what was meant (see `DateMatch.doubt`)."""
    if kind == "week" and m["which"] == "下下" and (_softened(m) or _after(m, _ASKING_VERBS)):
        # Read as 一下 + 下周 (see `_resolve`): no other reading is Chinese.
        return ""
    if kind == "week" and m["which"] == "下下" and _after(m, _DOING_VERBS):
        # 「约下下周二」: 约下 + 下周二, or 约 + 下下周二? Read as written (下下周), and checked.
        return "week"
    if kind == "week" and m.group(0).startswith("下") and m.start() > 0 and text[m.start() - 1] == "一":
        # 「帮我约一下周三」: 一下 + 周三 (this week), or 一 + 下周三? 一下 softens a verb as often as not.
        return "week"
    if kind == "d":
        day = chinese_number(m["d"])
        if day is not None and day < today.day:
            return "month"
    return ""


def find_dates(text: str, today: date) -> list[DateMatch]:
    """Every date mentioned in `text`, left to right, without overlaps."""
    taken: list[tuple[int, int]] = []
    found: list[DateMatch] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            taken.append((m.start(), m.end()))
            found.append(DateMatch(_resolve(kind, m, today), m.start(), m.end(), _doubt(kind, m, text, today)))
    return sorted(found, key=lambda d: d.start)


@dataclass(frozen=True, slots=True)
class WorkingDay:
    working: bool
    # False when the year's schedule is not published: statutory holidays and weekends are
    # closed by rule, make-up working days are unknown (so the guess errs toward closed).
    known: bool


def working_day(day: date) -> WorkingDay:
    status = calendar.active().status(day)
    return WorkingDay(status.open, status.published)


def holiday_name(day: date) -> str:
    """The Chinese name of the holiday `day` falls in (「国庆节」), or ""."""
    status = calendar.active().status(day)
    return "" if status.open else status.holiday


def closed_reason(day: date) -> str:
    """「1月1日元旦放假」 or 「12月12日（周六）是休息日」; "" for an open day."""
    return calendar.active().status(day).reason


def next_working_day(day: date) -> date:
    return calendar.active().next_open(day) or day


def nearest_working_days(day: date, earliest: date) -> list[date]:
    """The open days either side of a closed `day`, nearest first, none before `earliest`."""
    return calendar.active().nearest_open(day, earliest=earliest)


def display(day: date, today: date | None = None) -> str:
    """`12月3日（周四）`, with the year when it is not this year."""
    prefix = f"{day.year}年" if today is not None and day.year != today.year else ""
    return f"{prefix}{day.month}月{day.day}日（周{WEEKDAYS[day.weekday()]}）"
