"""Following through on what we gave a citizen: a number looked up, 「我的预约」/「我的工单」, and a
booking cancelled (「取消预约」) or moved (「改约」, 「改到下周三上午」) in the chat (issue 18).

Every number we print (`20261206-0005`) is found here, whether a message says only the number, asks
about it, or answers the progress flow's question with it; the approval system's own numbers still
go to the progress flow and its backend. Lists and changes are by the citizen's OpenID: nobody
sees or changes another citizen's items.

A short exchange (pick one of several, confirm, say the new time) is kept in `Session.followup`;
any message that is not an answer to it drops it and is routed as usual.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from flows import booking as placing
from flows import calendar, words
from flows.dates import display, find_dates
from flows.engine import YES_WORDS, command, is_question
from flows.schema import SATISFACTION_STEP, Flow
from flows.slots import extract
from flows.state import FlowState
from handlers.context import HandlerContext, Turn, TurnMeta, TurnResult
from handlers.ports import BookingView, ItemKind, ItemView
from handlers.replies import TextReply
from handlers.session import FollowUp

# Ticket numbers as we print them (app.db.tickets.ticket_number): 8-digit day, dash, sequence.
# Not inside an approval system's number (「qy-20261127-0032」).
OUR_NUMBER = re.compile(r"(?<![\dA-Za-z_\-])(20\d{6})\s*[-－—]\s*(\d{4,6})(?![\d\-])")
LIST_LIMIT = 9
# What 「5个工作日内核实处理」 in the complaint flow promises, for "what happens next and when".
REPLY_WORKING_DAYS = 5
# The flow that asks for a number to look up: one of ours typed there is answered here.
LOOKUP_FLOW = "progress"

# A statement longer than this that names 「预约记录」 tells a story; it does not ask for the list.
LIST_ASK_LIMIT = 16
LIST_BOOKINGS = ("我的预约", "查看预约", "查询预约", "查预约", "预约记录", "预约查询", "我预约了什么", "我约了什么")
# Not 「我的建议」: 「我的建议是增加停车位」 is a suggestion, for the complaint flow.
LIST_TICKETS = ("我的工单", "我的投诉", "我的留言", "我的办件", "我的事项", "工单查询", "我反映的问题")
# 「我昨天投诉的那个有人管没」「上周反映的路灯问题处理了吗」「我那个工单处理得怎么样了」: what became
# of something already filed.
_FILED_AND_ASKED = re.compile(
    r"(?:(?:投诉|反映|举报|留言|报修)(?:过)?的|工单).{0,8}?"
    r"(?:怎么样|咋样|如何了|有人管|管没|管了没|处理了|处理没|处理得|有结果|结果呢|回复|答复|进展|进度|没动静|没消息|没下文)"
)
# 「什么时候会有结果？」「多久能处理」 right after filing: about the ticket just filed.
_ABOUT_THE_FILED = re.compile(
    r"(?:什么时候|啥时候|多久|几天|多长时间|多会儿).{0,8}?(?:结果|处理|回复|答复|办好|办完|有人|联系|解决)"
    r"|有结果|结果呢|进度|处理到|有人管|有人处理|会处理吗|能解决吗"
)
# 「我约的是几号来着」「之前预约的时间是上午还是下午」: when the booking already made is. Only
# with a mark that the booking exists (我/之前… 约了/约的), so 「可以预约几号的」 stays a question.
_BOOKED_AND_ASKED = re.compile(
    r"(?:我|之前|上次|刚才|刚刚|已经)[^，。？?]{0,4}?约(?:了|过|好|的)[^，。？?]{0,8}?"
    r"(?:几号|哪天|哪一天|什么时候|啥时候|几点|时间|日期|上午还是下午|下午还是上午|星期几|周几)"
)
# 「撤回投诉」: the citizen withdraws a ticket they filed (desk status 已撤销), confirmed first.
WITHDRAW_WORDS = (
    "撤回投诉", "撤销投诉", "取消投诉", "投诉撤回", "撤回我的投诉", "不投诉了", "撤回工单", "撤销工单", "撤回反映",
    "撤回留言",
)
CANCEL_WORDS = ("取消预约", "取消我的预约", "预约取消", "撤销预约", "退约", "取消约")
# 「预约了但是去不了了」「约的那天有事来不了」: the booking cannot be kept — asked to cancel (confirmed
# first; the reply also says how to move it instead).
_CANNOT_GO = re.compile(
    r"约(?:了|的|好|过)[^，。？?]{0,10}?(?:去不了|来不了|去不成|来不成|不去了|不来了|赶不上|赶不过去|过不去)"
)
CHANGE_WORDS = ("改约", "改预约", "预约改", "改期", "换个时间", "改时间", "改一下预约", "重新约时间", "换一天")
_MOVE = re.compile(r"(?:改到|改成|改为|换到|换成|挪到)")
NO_WORDS = frozenset({"不", "不用", "不了", "不要", "算了", "否", "2", "不取消", "不改了", "保留"})

STATUS_NAMES = {"open": "新建"}
BOOKING_STATUS = {"booked": "已预约", "cancelled": "已取消"}
NEXT_STEPS = {
    "新建": "工作人员将在{due}前受理并核实处理，处理结果会通知您。",
    "已受理": "已受理，正在安排办理，预计{due}前答复您。",
    "办理中": "正在办理，预计{due}前办结并答复您。",
    "已办结": "已办结。如对处理结果有疑问，可回复「投诉建议」或「人工」。",
    "已退回": "已退回，请查看工作人员的答复，按要求补充后重新提交。",
    "已撤销": "已撤销，无需再办理。",
}

BOOKED_NEXT = (
    "下一步：请于{when}携带本人身份证件原件到{hall}，在自助机输入预约号取号办理。\n"
    "如需改约请回复「改约」，取消请回复「取消预约」。"
)
NOT_FOUND = (
    "没有查到编号 {number} 的预约或工单。编号在我们发给您的确认消息里（形如 20261206-0005），"
    "只能查询您本人提交的事项。审批系统的受理编号请回复「办件进度查询」。"
)
NONE_BOOKED = "您目前没有待办理的预约。回复「预约办事」可以在线预约。"
NONE_FILED = "您目前没有正在处理的工单。回复「投诉建议」可以反映问题。"
LIST_HEAD = {"booking": "您的预约（最新的在前）：", "ticket": "您的工单（最新的在前）："}
LIST_TAIL = {
    "booking": "回复数字查看详情；如需取消请回复「取消预约」，改时间请回复「改约」。",
    "ticket": "回复数字查看处理进度。",
}
PICK = {"cancel": "您有以下预约，请回复数字选择要取消的一个：", "change": "您有以下预约，请回复数字选择要改约的一个："}
PICK_WITHDRAW = "您有以下正在处理的工单，请回复数字选择要撤回的一个："
NOTHING_TO_WITHDRAW = "您目前没有可以撤回的工单（已办结或已撤销的不能撤回）。"
CONFIRM_WITHDRAW = "确认撤回工单 {number}（{title}）吗？撤回后工作人员将不再处理。回复「确认」撤回，回复「不」保留。"
WITHDRAWN = "已撤回工单 {number}，状态：已撤销。如需再次反映，请回复「投诉建议」。"
NOT_WITHDRAWN = "工单 {number} 已办结、已撤销或正在办结，不能再撤回。回复「我的工单」可查看状态，或回复「人工」咨询。"
KEPT_TICKET = "好的，工单保持不变，我们会继续处理。"
NOTHING_TO_CANCEL = "您目前没有可以取消的预约。"
NOTHING_TO_CHANGE = "您目前没有可以改约的预约。回复「预约办事」可以在线预约。"
CONFIRM_CANCEL = (
    "确认取消{when}的「{business}」预约（预约号：{number}）吗？回复「确认」取消，回复「不」保留预约；只想换个时间请回复「改约」。"
)
CANCELLED = "已取消预约 {number}（{when}「{business}」），名额已释放。如需重新预约，请回复「预约办事」。"
KEPT = "好的，您的预约保持不变。"
GONE = "这个预约已经取消或不存在了。回复「我的预约」可查看您现在的预约。"
ASK_TIME = "请问要把{when}的「{business}」改到哪一天、上午还是下午？例如「下周三上午」。"
CONFIRM_CHANGE = "确认把预约 {number}「{business}」从{old}改到{new}吗？回复「确认」改约，回复「不」保持原预约。"
CHANGED = (
    "改约成功！预约号不变：{number}\n新的时间：{new}，「{business}」\n"
    "请届时携带本人身份证件原件到{hall}，在自助机输入预约号取号办理。原时段的名额已释放。"
)
SAME_TIME = "您的预约已经是{when}，无需改约。"
# A reason given after a low rating is filed as a ticket of this kind.
RATING_FLOW = "rating_followup"
RATING_TITLE = "评价跟进"
REASON_SKIP = frozenset({"不用了", "不用", "不填", "没有", "没有了", "算了", "不了", "不想填", "无", "谢谢", "好的"})
REASON_SKIPPED = "好的，感谢您的评价，我们会继续改进服务！"
REASON_FILED = "已记录您的意见，工单编号：{number}。我们会在5个工作日内跟进并答复您，回复「我的工单」可查看进度。"
REASON_MIN_LENGTH = 2


def _pending(turn: Turn) -> FollowUp | None:
    pending = turn.session.followup
    if pending is None:
        return None
    if turn.now.timestamp() > pending.expires_at:
        turn.session.followup = None
        return None
    return pending


def ask_reason(turn: Turn, ctx: HandlerContext, flow: Flow, state: FlowState, level: str) -> None:
    """After 不满意 / 非常不满意: the next message, unless it is something else, is the reason."""
    turn.session.followup = FollowUp(
        action="reason", stage="reason", number=state.ticket, level=level, title=flow.title,
        expires_at=_expiry(turn, ctx),
    )


def _just_filed(turn: Turn) -> str:
    """The number the flow in this consultation just filed or booked (the rating still open), or ""."""
    state = turn.session.flow
    if state is None or not state.resolved or state.step != SATISFACTION_STEP:
        return ""
    return state.ticket


def _flow_free(turn: Turn) -> bool:
    state = turn.session.flow
    return state is None or state.resolved


def _intent(turn: Turn, text: str) -> str | None:
    said = command(text)
    number = OUR_NUMBER.search(text)
    state = turn.session.flow
    if number is not None and (_flow_free(turn) or (state is not None and state.flow_id == LOOKUP_FLOW)):
        return "lookup"
    if not _flow_free(turn):
        # In a flow, 「取消」 and 「改到后天」 belong to it (cancel it, correct it).
        return None
    if any(word in said for word in WITHDRAW_WORDS):
        return "withdraw"
    if any(word in said for word in CANCEL_WORDS) or _CANNOT_GO.search(said):
        return "cancel"
    if state is not None and state.amendable and (said in words.CANCEL or said in words.DISMISS):
        # 「取消」「算了」 right after a booking made without 「确认」: that booking, confirmed first.
        return "cancel"
    if any(word in said for word in CHANGE_WORDS):
        return "change"
    just_booked = state is not None and state.amendable
    moved = _MOVE.search(said)
    if moved and ("预约" in said[: moved.start()] or _names_a_time(said[moved.end() :], turn)) and not just_booked:
        # 「改到下周三上午」「把预约换到周五」 outside any flow can only mean the citizen's booking;
        # 「把驾照换成中国驾照 帮我预约」 moves nothing. Right after a booking made without 「确认」
        # the flow itself moves it (flows.engine, the undo window).
        return "change"
    if len(said) > LIST_ASK_LIMIT and not is_question(text):
        # 「网上明明预约成功了，到现场说系统里没有我的预约记录，白跑一趟」 tells what went wrong.
        return None
    if any(word in said for word in LIST_BOOKINGS) or _BOOKED_AND_ASKED.search(said):
        return "list_booking"
    if any(word in said for word in LIST_TICKETS) or _FILED_AND_ASKED.search(said):
        return "list_ticket"
    return None


async def handle(turn: Turn, ctx: HandlerContext, text: str) -> TurnResult | None:
    """Answer a follow-up message, or None when the message is for someone else."""
    pending = _pending(turn)
    if pending is not None:
        result = await _continue(turn, ctx, text, pending)
        if result is not None:
            return result
        turn.session.followup = None
    intent = _intent(turn, text)
    just_filed = _just_filed(turn)
    if intent is None and just_filed and is_question(text) and _ABOUT_THE_FILED.search(command(text)):
        # Still in the consultation that filed it: that ticket is the one meant.
        intent = "this_one"
    if intent is None:
        return None
    just_booked = turn.session.flow.ticket if turn.session.flow and turn.session.flow.amendable else ""
    if turn.session.flow is not None:
        # A finished flow waiting for a rating, or the progress flow asking for a number that
        # turns out to be one of ours: this message is about something else now.
        turn.session.flow = None
        turn.session.awaiting_satisfaction = ""
    if intent == "cancel" and just_booked:
        # The booking just made is the one meant, however many the citizen holds.
        item = await ctx.services.find_item(turn.session.openid, just_booked)
        if item is not None:
            pending = FollowUp(action="cancel", stage="pick", numbers=[item.number], expires_at=_expiry(turn, ctx))
            turn.session.followup = pending
            return await _picked(turn, ctx, pending, item, text)
    if intent == "withdraw":
        return await _withdraw(turn, ctx, just_filed)
    if intent == "this_one":
        return await _show(turn, ctx, just_filed)
    if intent == "lookup":
        match = OUR_NUMBER.search(text)
        assert match is not None
        return await _show(turn, ctx, f"{match[1]}-{match[2]}")
    if intent in ("list_booking", "list_ticket"):
        return await _list(turn, ctx, "booking" if intent == "list_booking" else "ticket")
    return await _begin(turn, ctx, intent, text)


# -- results ---------------------------------------------------------------------------------


def _result(turn: Turn, text: str, step: str, *, resolved: bool = False) -> TurnResult:
    meta = TurnMeta(flow_id="followup", step=step, resolved=resolved)
    return TurnResult(TextReply(text), "flow", turn.session, meta)


def _today(turn: Turn) -> date:
    return turn.now.date()


def _when(view: BookingView, today: date) -> str:
    return f"{display(view.day, today)}{view.period}"


def _expiry(turn: Turn, ctx: HandlerContext) -> float:
    return turn.now.timestamp() + ctx.session_timeout_s


def _booking_flow(ctx: HandlerContext, view: BookingView) -> Flow | None:
    if ctx.flows is None:
        return None
    flow = ctx.flows.current(view.flow_id)
    return flow if flow is not None and flow.booking is not None else None


# -- lookups ---------------------------------------------------------------------------------


def _due(created: datetime, working_days: int) -> date:
    day = created.date()
    cal = calendar.active()
    counted = 0
    while counted < working_days:
        day += timedelta(days=1)
        if cal.is_open(day):
            counted += 1
    return day


def describe(item: ItemView, ctx: HandlerContext, now: datetime) -> str:
    """Status, what happens next and when, and the last reply from staff."""
    today = now.date()
    if item.booking is not None:
        view = item.booking
        status = BOOKING_STATUS.get(view.status, view.status)
        if view.status == "booked" and view.day < today:
            status = "已过期"
        lines = [
            f"预约号 {item.number}",
            f"业务：{view.business}（{view.hall}）",
            f"时间：{_when(view, today)}",
            f"状态：{status}",
        ]
        if status == "已预约":
            lines.append(BOOKED_NEXT.format(when=_when(view, today), hall=view.hall))
    else:
        title = _title(ctx, item.flow_id)
        local = item.created_at.astimezone(now.tzinfo)
        status = STATUS_NAMES.get(item.status, item.status)
        due = _due(local, REPLY_WORKING_DAYS)
        lines = [
            f"编号 {item.number}（{title}）",
            f"提交时间：{local.month}月{local.day}日 {local:%H:%M}",
            f"当前状态：{status}",
        ]
        nxt = NEXT_STEPS.get(status)
        if nxt:
            lines.append("下一步：" + nxt.format(due=display(due, today)))
    if item.last_reply:
        stamp = item.last_reply_at.astimezone(now.tzinfo) if item.last_reply_at else None
        head = f"工作人员最新答复（{stamp.month}月{stamp.day}日）" if stamp else "工作人员最新答复"
        lines.append(f"{head}：{item.last_reply}")
    return "\n".join(lines)


def _title(ctx: HandlerContext, flow_id: str) -> str:
    if flow_id == RATING_FLOW:
        return RATING_TITLE
    flow = ctx.flows.current(flow_id) if ctx.flows is not None else None
    return flow.title if flow is not None else "工单"


async def _show(turn: Turn, ctx: HandlerContext, number: str) -> TurnResult:
    item = await ctx.services.find_item(turn.session.openid, number)
    if item is None:
        return _result(turn, NOT_FOUND.format(number=number), "not_found")
    return _result(turn, describe(item, ctx, turn.now), "shown", resolved=True)


def _line(item: ItemView, ctx: HandlerContext, today: date) -> str:
    if item.booking is not None:
        return f"{_when(item.booking, today)} {item.booking.business}，预约号 {item.number}"
    title = _title(ctx, item.flow_id)
    status = STATUS_NAMES.get(item.status, item.status)
    return f"{title} {item.number}（{status}）"


async def _list(turn: Turn, ctx: HandlerContext, kind: ItemKind) -> TurnResult:
    items = await ctx.services.my_items(turn.session.openid, kind, LIST_LIMIT)
    if not items:
        return _result(turn, NONE_BOOKED if kind == "booking" else NONE_FILED, "empty", resolved=True)
    today = _today(turn)
    lines = [LIST_HEAD[kind], *(f"{i}. {_line(item, ctx, today)}" for i, item in enumerate(items, start=1))]
    lines.append(LIST_TAIL[kind])
    turn.session.followup = FollowUp(
        action="show", stage="pick", numbers=[i.number for i in items], expires_at=_expiry(turn, ctx)
    )
    return _result(turn, "\n".join(lines), "listed", resolved=True)


# -- cancel and change -----------------------------------------------------------------------


async def _begin(turn: Turn, ctx: HandlerContext, action: str, text: str) -> TurnResult:
    items = await ctx.services.my_items(turn.session.openid, "booking", LIST_LIMIT)
    if not items:
        return _result(turn, NOTHING_TO_CANCEL if action == "cancel" else NOTHING_TO_CHANGE, "empty", resolved=True)
    pending = FollowUp(action=action, stage="pick", numbers=[i.number for i in items], expires_at=_expiry(turn, ctx))
    turn.session.followup = pending
    if len(items) > 1:
        today = _today(turn)
        lines = [PICK[action], *(f"{i}. {_line(item, ctx, today)}" for i, item in enumerate(items, start=1))]
        # The new time may already be in this message: keep it for after the pick.
        pending.said = text
        return _result(turn, "\n".join(lines), "pick")
    return await _picked(turn, ctx, pending, items[0], text)


async def _withdraw(turn: Turn, ctx: HandlerContext, just_filed: str) -> TurnResult:
    """Which ticket to withdraw: the one just filed, the only open one, or a pick."""
    items = [i for i in await ctx.services.my_items(turn.session.openid, "ticket", LIST_LIMIT) if i.booking is None]
    if just_filed and any(i.number == just_filed for i in items):
        items = [i for i in items if i.number == just_filed]
    if not items:
        return _result(turn, NOTHING_TO_WITHDRAW, "empty", resolved=True)
    numbers = [i.number for i in items]
    pending = FollowUp(action="withdraw", stage="pick", numbers=numbers, expires_at=_expiry(turn, ctx))
    turn.session.followup = pending
    if len(items) > 1:
        today = _today(turn)
        lines = [PICK_WITHDRAW, *(f"{n}. {_line(item, ctx, today)}" for n, item in enumerate(items, start=1))]
        return _result(turn, "\n".join(lines), "pick")
    return await _picked(turn, ctx, pending, items[0], "")


async def _withdraw_confirmed(turn: Turn, ctx: HandlerContext, said: str, pending: FollowUp) -> TurnResult | None:
    if said in NO_WORDS:
        turn.session.followup = None
        return _result(turn, KEPT_TICKET, "kept", resolved=True)
    if not (said in YES_WORDS or said.startswith("确认")):
        return None
    turn.session.followup = None
    if not await ctx.services.withdraw_ticket(turn.session.openid, pending.number):
        return _result(turn, NOT_WITHDRAWN.format(number=pending.number), "gone")
    return _result(turn, WITHDRAWN.format(number=pending.number), "withdrawn", resolved=True)


async def _picked(turn: Turn, ctx: HandlerContext, pending: FollowUp, item: ItemView, text: str) -> TurnResult:
    if pending.action == "withdraw":
        pending.number, pending.stage = item.number, "confirm"
        title = _title(ctx, item.flow_id)
        return _result(turn, CONFIRM_WITHDRAW.format(number=item.number, title=title), "confirm")
    view = item.booking
    if view is None or view.status != "booked":
        turn.session.followup = None
        return _result(turn, GONE, "gone")
    pending.number = item.number
    today = _today(turn)
    if pending.action == "cancel":
        pending.stage = "confirm"
        text = CONFIRM_CANCEL.format(when=_when(view, today), business=view.business, number=item.number)
        return _result(turn, text, "confirm")
    return await _new_time(turn, ctx, pending, view, text)


async def _new_time(turn: Turn, ctx: HandlerContext, pending: FollowUp, view: BookingView, text: str) -> TurnResult:
    """Read the new day and half-day from `text`; ask for what is missing or refused."""
    today = _today(turn)
    flow = _booking_flow(ctx, view)
    pending.stage = "time"
    ask = ASK_TIME.format(when=_when(view, today), business=view.business)
    if flow is None or flow.booking is None:
        return _result(turn, ask, "time")
    spec = flow.booking
    slots = {"date": flow.slots[spec.date], "period": flow.slots[spec.period]}
    found = extract(slots, ["date", "period"], text, today, ["date", "period"])
    if "date" in found.invalid:
        return _result(turn, found.invalid["date"] + "\n" + ask, "time")
    day_found = found.found.get("date")
    period_found = found.found.get("period")
    if day_found is None and period_found is None:
        return _result(turn, ask, "time")
    # 「改到下午」 keeps the day, 「改到周三」 keeps the half-day.
    new_day = date.fromisoformat(day_found.value) if day_found else view.day
    new_period = period_found.value if period_found else view.period
    if (new_day, new_period) == (view.day, view.period):
        turn.session.followup = None
        return _result(turn, SAME_TIME.format(when=_when(view, today)), "same", resolved=True)
    pending.day, pending.period, pending.stage = new_day.isoformat(), new_period, "confirm"
    text = CONFIRM_CHANGE.format(
        number=view.number, business=view.business, old=_when(view, today),
        new=f"{display(new_day, today)}{new_period}",
    )
    return _result(turn, text, "confirm")


async def _continue(turn: Turn, ctx: HandlerContext, text: str, pending: FollowUp) -> TurnResult | None:
    said = command(text)
    openid = turn.session.openid
    if pending.stage == "reason":
        return await _reason(turn, ctx, text, pending)
    if pending.stage == "pick":
        if not (said.isdigit() and 1 <= int(said) <= len(pending.numbers)):
            return None
        number = pending.numbers[int(said) - 1]
        item = await ctx.services.find_item(openid, number)
        if item is None:
            turn.session.followup = None
            return _result(turn, GONE, "gone")
        if pending.action == "show":
            # The list stays: another digit shows another item.
            return _result(turn, describe(item, ctx, turn.now), "shown", resolved=True)
        return await _picked(turn, ctx, pending, item, pending.said)
    if pending.action == "withdraw":
        return await _withdraw_confirmed(turn, ctx, said, pending)
    item = await ctx.services.find_item(openid, pending.number)
    view = item.booking if item is not None else None
    if view is None or view.status != "booked":
        turn.session.followup = None
        return _result(turn, GONE, "gone")
    if pending.stage == "time":
        if _intent(turn, text) not in (None, "change"):
            return None
        if not _names_a_time(text, turn):
            # Not a time at all: leave the exchange and let the message be routed as usual.
            return None
        return await _new_time(turn, ctx, pending, view, text)
    if said in NO_WORDS:
        turn.session.followup = None
        return _result(turn, KEPT, "kept", resolved=True)
    if not (said in YES_WORDS or said.startswith("确认")):
        return None
    turn.session.followup = None
    if pending.action == "cancel":
        cancelled = await ctx.services.cancel_booking(openid, pending.number)
        if cancelled.status == "not_found":
            return _result(turn, GONE, "gone")
        text = CANCELLED.format(number=view.number, when=_when(view, _today(turn)), business=view.business)
        return _result(turn, text, "cancelled", resolved=True)
    return await _change(turn, ctx, pending, view)


async def _reason(turn: Turn, ctx: HandlerContext, text: str, pending: FollowUp) -> TurnResult | None:
    said = command(text)
    if said in REASON_SKIP:
        turn.session.followup = None
        return _result(turn, REASON_SKIPPED, "reason_skipped", resolved=True)
    new_request = _intent(turn, text) is not None or words.asks_for_agent(said)
    if len(said) < REASON_MIN_LENGTH or is_question(text) or new_request:
        # A new question or request, not a reason: routed as usual.
        return None
    fields = {
        "评价": pending.level, "评价事项": pending.title, "关联编号": pending.number or "无", "原因": text.strip(),
    }
    number = await ctx.services.create_ticket(RATING_FLOW, turn.session.openid, fields)
    turn.session.followup = None
    return _result(turn, REASON_FILED.format(number=number), "reason_filed", resolved=True)


def _names_a_time(text: str, turn: Turn) -> bool:
    return bool(find_dates(text, _today(turn))) or any(word in text for word in placing.PERIODS)


async def _change(turn: Turn, ctx: HandlerContext, pending: FollowUp, view: BookingView) -> TurnResult:
    flow = _booking_flow(ctx, view)
    capacity = flow.booking.capacity_for(view.business) if flow is not None and flow.booking is not None else 1
    day, period = date.fromisoformat(pending.day), pending.period
    result = await ctx.services.change_booking(turn.session.openid, view.number, day, period, capacity)
    today = _today(turn)
    new = f"{display(day, today)}{period}"
    if result.status == "booked":
        text = CHANGED.format(number=view.number, new=new, business=view.business, hall=view.hall)
        return _result(turn, text, "changed", resolved=True)
    if result.status == "duplicate" and result.booking is not None:
        return _result(turn, placing.duplicate_text(result.booking, today), "duplicate", resolved=True)
    if result.status == "not_found":
        return _result(turn, GONE, "gone")
    # Full: the nearest free times, and the new time asked again.
    text = placing.FULL.format(when=new, business=view.business)
    if flow is not None and flow.booking is not None:
        window = placing.window_of(flow, flow.booking, today)
        free = await placing.nearest_free(
            ctx.services, flow.booking, view.business, day, period, window, capacity,
            excluding=[(view.day, view.period)],
        )
        if free:
            times = "、".join(f"{display(d, today)}{p}" for d, p in free)
            example = f"{free[0][0].month}月{free[0][0].day}日{free[0][1]}"
            text += placing.OFFER.format(times=times, example=example)
    pending.stage = "time"
    turn.session.followup = pending
    return _result(turn, text, "full")
