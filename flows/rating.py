"""好差评: the five levels of the government-service evaluation scheme (issue 18).

非常满意、满意、基本满意、不满意、非常不满意, rated once per matter when a service completes. The
satisfaction rate is the share of the top two levels, against the ≥ 90% target. The two lowest may
come with a reason, which becomes a follow-up ticket (handlers.followup).

Rows written before the scheme hold the three old levels (满意、基本满意、不满意); they are the same
words, so they read as the matching levels of the five.
"""

from __future__ import annotations

import re

LEVELS = ("非常满意", "满意", "基本满意", "不满意", "非常不满意")
SATISFIED = frozenset(LEVELS[:2])
LOW = frozenset(LEVELS[3:])
# The target the industry report sets for the share of the top two levels.
TARGET = 0.90
DIGITS = {str(i): level for i, level in enumerate(LEVELS, start=1)}

PROMPT = "请您对本次服务进行评价：回复 1 非常满意，2 满意，3 基本满意，4 不满意，5 非常不满意。"
THANKS = "感谢您的评价，我们会继续改进服务！"
ASK_REASON = (
    "很抱歉这次没能让您满意。请直接告诉我们哪里需要改进（可不填），"
    "我们会登记为工单并在5个工作日内跟进答复；不想填写可回复「不用了」。"
)

# Searched in this order, so that 「非常不满意」 is not read as 「不满意」 or 「满意」, nor 「不太满意」 as 「满意」.
_WORDS: list[tuple[str, tuple[str, ...]]] = [
    ("非常不满意", (
        "非常不满意", "很不满意", "特别不满意", "极不满意", "太差了", "非常差", "很差", "差评", "垃圾", "恶劣",
    )),
    ("不满意", (
        "不满意", "不太满意", "不是很满意", "不怎么满意", "没满意", "太差", "真差", "差劲", "不好", "不行", "失望",
    )),
    ("基本满意", ("基本满意", "比较满意", "还算满意", "还行", "一般", "还可以", "凑合", "马马虎虎", "过得去", "还好")),
    ("非常满意", ("非常满意", "很满意", "特别满意", "十分满意", "太好了", "非常好", "完美", "五星", "超赞", "好评")),
    ("满意", ("满意", "很好", "挺好", "真好", "不错", "还不错", "点赞", "赞", "棒", "给力")),
]
# A rating is a short remark; a longer message that happens to hold 「不错」 is something else.
MAX_LENGTH = 15
_STRIP = re.compile(r"[\s。.!！~～,，]+")
# 「不好意思，换成上午」 asks to change what was just done: no rating (and 不好意思 is no 不好).
_CHANGE = re.compile(r"换成|换到|改成|改到|改为|改一下|改个")


def parse(text: str) -> str:
    """The level a short reply gives (「2」, 「很满意」, 「太差了」), or ""."""
    said = _STRIP.sub("", text).lower()
    if said in DIGITS:
        return DIGITS[said]
    if not said or len(said) > MAX_LENGTH or _CHANGE.search(said):
        return ""
    said = said.replace("不好意思", "")
    for level, words in _WORDS:
        if any(word in said for word in words):
            return level
    return ""


def satisfied_share(counts: dict[str, int]) -> float | None:
    """The share of the top two levels among all ratings, or None without any."""
    total = sum(counts.values())
    if not total:
        return None
    return sum(n for level, n in counts.items() if level in SATISFIED) / total
