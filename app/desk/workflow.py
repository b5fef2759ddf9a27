"""A ticket's life: statuses and the moves between them, its kind, and what a citizen is told.

Statuses are stored as the labels staff and citizens read, so a progress look-up can show the
column as it is. Tickets filed before the desk were `open`; migration 0005 made them 新建.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from flows import slots

NEW = "新建"
ACCEPTED = "已受理"
IN_PROGRESS = "办理中"
DONE = "已办结"
RETURNED = "已退回"
CANCELLED = "已撤销"

STATUSES = (NEW, ACCEPTED, IN_PROGRESS, DONE, RETURNED, CANCELLED)
OPEN_STATUSES = (NEW, ACCEPTED, IN_PROGRESS)
CLOSED_STATUSES = (DONE, RETURNED, CANCELLED)

# Where a ticket may go from each status. Closed tickets can be reopened into 办理中 (a
# citizen calls back about a closed complaint); nothing goes back to 新建.
TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    NEW: (ACCEPTED, IN_PROGRESS, DONE, RETURNED, CANCELLED),
    ACCEPTED: (IN_PROGRESS, DONE, RETURNED, CANCELLED),
    IN_PROGRESS: (DONE, RETURNED, CANCELLED),
    DONE: (IN_PROGRESS,),
    RETURNED: (IN_PROGRESS,),
    CANCELLED: (IN_PROGRESS,),
}

# What the citizen is told when their ticket moves; statuses absent here are not announced.
CITIZEN_NOTICES: Mapping[str, str] = {
    ACCEPTED: "您提交的事项（编号：{number}）已受理，我们将尽快办理。",
    IN_PROGRESS: "您提交的事项（编号：{number}）正在办理中。",
    DONE: "您提交的事项（编号：{number}）已办结。",
    RETURNED: "您提交的事项（编号：{number}）已退回。",
    CANCELLED: "您提交的事项（编号：{number}）已撤销。",
}

# A ticket event the citizen wrote (more details sent after filing, issue 13), and who it shows as.
CITIZEN_NOTE = "citizen"
CITIZEN_ACTOR = "群众"

KINDS = ("投诉", "建议", "留言", "预约")
COMPLAINT, SUGGESTION, MESSAGE, BOOKING = KINDS

# Field labels (the flows' slot labels) that carry the category and the contact mobile.
CATEGORY_LABELS = ("问题类别", "办理业务", "类别")
PHONE_LABELS = ("联系电话", "手机号码", "手机号")
SUGGESTION_CATEGORIES = frozenset({"意见建议", "建议"})


class TransitionRefused(ValueError):
    """The status change is not one the workflow allows."""


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, ())


def check_move(current: str, target: str) -> None:
    if not can_move(current, target):
        raise TransitionRefused(f"{current} → {target}")


def category_of(fields: Mapping[str, str]) -> str:
    for label in CATEGORY_LABELS:
        if fields.get(label):
            return fields[label][:64]
    return ""


def phone_of(fields: Mapping[str, str]) -> str:
    for label in PHONE_LABELS:
        digits = "".join(ch for ch in fields.get(label, "") if ch.isdigit())
        if digits:
            return digits[:20]
    return ""


def mobile_in(note: str) -> str:
    """The first mobile number a citizen's note gives, with any separators (「136.0000.1111」), or ""."""
    return slots.mobile_in(re.sub(r"(?<=\d)[\s\-.]+(?=\d)", "", note))


def kind_of(flow_id: str, fields: Mapping[str, str]) -> str:
    """投诉 / 建议 from the complaint flow (by its category), 预约 from booking, else 留言."""
    if flow_id == "booking":
        return BOOKING
    if flow_id == "complaint":
        return SUGGESTION if category_of(fields) in SUGGESTION_CATEGORIES else COMPLAINT
    return MESSAGE


# 138****5678 in the desk's lists (the same masking the chat uses when it says a number back).
mask_phone = slots.mask_mobile
