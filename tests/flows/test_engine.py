"""The flow engine on the sample flows: one behaviour per test, a fixed clock, recording services."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flows import engine
from flows.registry import FlowRegistry
from flows.schema import CONFIRM_STEP, RETRY_STEP, SATISFACTION_STEP, Flow
from flows.state import FlowState
from handlers.ports import EndpointResult
from tests.flows.conftest import THURSDAY, RecordingServices, always_confirming, asking_every_step


@pytest.fixture
def booking(registry: FlowRegistry) -> Flow:
    # Confirming every time: these tests are about the confirmation step itself (the sample flow
    # confirms only when uncertain; tests/flows/test_confirm_policy.py).
    flow = registry.current("booking")
    assert flow is not None
    return always_confirming(flow)


def flow_of(registry: FlowRegistry, flow_id: str) -> Flow:
    flow = registry.current(flow_id)
    assert flow is not None
    return flow


async def say(flow: Flow, state: FlowState, text: str, services: RecordingServices, **kw: object) -> engine.Outcome:
    return await engine.advance(flow, state, text, THURSDAY, services, "o_user", **kw)  # type: ignore[arg-type]


async def test_first_message_fills_several_slots_and_only_missing_ones_are_asked(
    booking: Flow, services: RecordingServices
) -> None:
    out = await engine.start(booking, "我想预约明天上午去办社保卡", THURSDAY, services)
    assert out.state is not None
    assert out.state.slots == {"business": "社保卡办理", "date": "2026-11-27", "period": "上午"}
    assert out.state.awaiting == ["name", "mobile"]
    assert "已记录" in out.reply and "社保卡办理" in out.reply


async def test_one_answer_fills_two_slots_and_reaches_the_confirmation(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "张三，13812345678", services)
    assert out.state is not None and out.state.step == CONFIRM_STEP
    assert out.state.slots["name"] == "张三" and out.state.slots["mobile"] == "13812345678"
    assert "请核对预约信息" in out.reply


async def test_a_filled_slot_is_never_asked_again(booking: Flow, services: RecordingServices) -> None:
    out = await engine.start(booking, "我要预约", THURSDAY, services)
    asked: list[list[str]] = []
    for answer in ["社保卡", "下周三 上午", "张三 13812345678"]:
        assert out.state is not None
        asked.append(list(out.state.awaiting))
        out = await say(booking, out.state, answer, services)
    assert asked[0] == ["business", "date", "period", "name", "mobile"]
    assert asked[1] == ["date", "period", "name", "mobile"]
    assert asked[2] == ["name", "mobile"]
    assert out.state is not None and out.state.step == CONFIRM_STEP


async def test_correction_updates_a_filled_slot(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "不对，改成下周三", services)
    assert out.state is not None and out.state.slots["date"] == "2026-12-02"
    assert "已将预约日期改为12月2日（周三）" in out.reply


async def test_a_new_value_without_a_correction_word_does_not_overwrite(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "公积金那边人多吗", services)
    assert out.state is not None and out.state.slots["business"] == "社保卡办理"


async def test_correction_naming_the_field_at_the_confirmation(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "明天上午办社保卡，我叫张三，电话13812345678", THURSDAY, services)
    assert start.state is not None and start.state.step == CONFIRM_STEP
    out = await say(booking, start.state, "手机号改为13912345678", services)
    assert out.state is not None and out.state.slots["mobile"] == "13912345678"
    assert out.state.step == CONFIRM_STEP and "13912345678" in out.reply


async def test_weekend_correction_is_refused_and_the_old_date_kept(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "明天上午办社保卡，我叫张三，电话13812345678", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "不对，改成后天", services)
    assert out.state is not None and out.state.slots["date"] == "2026-11-27"
    assert "休息日" in out.reply and "预约日期仍为11月27日（周五）" in out.reply


async def test_confirming_creates_the_ticket_and_asks_for_satisfaction(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "明天上午办社保卡，我叫张三，电话13812345678", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "确认", services)
    assert services.tickets == [
        (
            "booking",
            "o_user",
            {
                "办理业务": "社保卡办理",
                "预约日期": "11月27日（周五）",
                "时段": "上午",
                "预约人姓名": "张三",
                "手机号码": "13812345678",
            },
        )
    ]
    assert out.resolved and "20261126-0001" in out.reply
    assert out.state is not None and out.state.step == SATISFACTION_STEP


@pytest.mark.parametrize(
    ("answer", "value"),
    [("1", "非常满意"), ("2", "满意"), ("基本满意", "基本满意"), ("4", "不满意"), ("5", "非常不满意"),
     ("不满意", "不满意")],
)
async def test_satisfaction_answer_is_recorded_and_ends_the_flow(
    booking: Flow, services: RecordingServices, answer: str, value: str
) -> None:
    start = await engine.start(booking, "明天上午办社保卡，我叫张三，电话13812345678", THURSDAY, services)
    assert start.state is not None
    done = await say(booking, start.state, "确认", services)
    assert done.state is not None
    out = await say(booking, done.state, answer, services)
    assert out.satisfaction == value and out.state is None


async def test_unrelated_message_after_satisfaction_question_passes_through(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "明天上午办社保卡，我叫张三，电话13812345678", THURSDAY, services)
    assert start.state is not None
    done = await say(booking, start.state, "确认", services)
    assert done.state is not None
    out = await say(booking, done.state, "公积金怎么提取", services)
    assert out.passthrough and out.state is None


async def test_ticket_failure_keeps_the_answers_for_a_retry(booking: Flow) -> None:
    failing = RecordingServices(ticket_error=RuntimeError("db down"))
    start = await engine.start(booking, "明天上午办社保卡，我叫张三，电话13812345678", THURSDAY, failing)
    assert start.state is not None
    out = await say(booking, start.state, "确认", failing)
    assert out.state is not None and out.state.step == RETRY_STEP and not out.resolved
    assert len(out.state.slots) == 5 and "稍后" in out.reply


async def test_cancel_ends_the_flow(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "我要预约", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "取消", services)
    assert out.state is None and "已为您取消" in out.reply


async def test_restart_clears_everything(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "重新开始", services)
    assert out.state is not None and out.state.slots == {}
    assert out.state.awaiting == ["business", "date", "period", "name", "mobile"]


async def test_back_returns_to_the_previous_step_and_asks_it_again(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    licence = asking_every_step(flow_of(registry, "business_licence"))
    start = await engine.start(licence, "个体户营业执照怎么办", THURSDAY, services)
    assert start.state is not None and start.state.step == "sole_trader"
    out = await say(licence, start.state, "上一步", services)
    assert out.state is not None and out.state.step == "entity"
    assert out.state.awaiting == ["entity_type"] and "entity_type" not in out.state.slots


async def test_back_at_the_first_step_says_so(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "我要预约", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "返回", services)
    assert "已经是第一步" in out.reply and out.state is not None


async def test_back_in_a_one_step_flow_undoes_the_last_answer(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡", THURSDAY, services)
    assert start.state is not None
    named = await say(booking, start.state, "张三", services)
    assert named.state is not None
    out = await say(booking, named.state, "返回", services)
    assert out.state is not None and out.state.slots == start.state.slots
    assert out.state.awaiting == ["name", "mobile"] and "预约人姓名" in out.reply


async def test_back_at_the_confirmation_takes_back_only_the_last_answer(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡，我叫张三", THURSDAY, services)
    assert start.state is not None
    confirm = await say(booking, start.state, "13812345678", services)
    assert confirm.state is not None and confirm.state.step == CONFIRM_STEP
    out = await say(booking, confirm.state, "返回", services)
    assert out.state is not None and out.state.step == "collect" and out.state.awaiting == ["mobile"]
    assert {"business", "date", "period", "name"} <= set(out.state.slots)


async def test_back_twice_goes_back_two_answers(registry: FlowRegistry, services: RecordingServices) -> None:
    licence = asking_every_step(flow_of(registry, "business_licence"))
    start = await engine.start(licence, "营业执照办理指引", THURSDAY, services)
    assert start.state is not None
    company = await say(licence, start.state, "有限公司", services)
    assert company.state is not None and company.state.step == "company"
    back = await say(licence, company.state, "返回", services)
    assert back.state is not None
    again = await say(licence, back.state, "返回", services)
    assert again.state is not None and again.state.step == "entity" and "已经是第一步" in again.reply


async def test_faq_question_is_answered_and_the_prompt_repeated(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡", THURSDAY, services)
    assert start.state is not None

    def faq(text: str, *, menu: bool, numbered: bool) -> str | None:
        return "补办社保卡需携带身份证原件。" if "需要带" in text else None

    out = await say(booking, start.state, "补办需要带什么材料？", services, faq=faq)
    assert out.reply.startswith("补办社保卡需携带身份证原件。")
    assert "预约人姓名" in out.reply and "手机号码" in out.reply
    assert out.state is not None and out.state.attempts == {} and "name" not in out.state.slots


async def test_async_faq_answers_are_awaited(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡", THURSDAY, services)
    assert start.state is not None

    async def faq(text: str, *, menu: bool, numbered: bool) -> str | None:
        return "大厅周一至周五 9:00-17:00 办公。"

    out = await say(booking, start.state, "你们几点上班？", services, faq=faq)
    assert out.reply.startswith("大厅周一至周五")


async def test_attempts_are_bounded_and_then_offer_handoff_or_leaving(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡，我叫张三", THURSDAY, services)
    assert start.state is not None and start.state.awaiting == ["mobile"]
    out = start
    replies = []
    for _ in range(3):
        assert out.state is not None
        out = await say(booking, out.state, "123", services)
        replies.append(out.reply)
    assert "手机号码格式不正确" in replies[0]
    assert "人工" in replies[2] and "退出" in replies[2]
    assert out.state is not None and out.state.attempts.get("mobile", 0) == 0


async def test_digit_answers_a_numbered_choice(registry: FlowRegistry, services: RecordingServices) -> None:
    licence = flow_of(registry, "business_licence")
    start = await engine.start(licence, "营业执照办理指引", THURSDAY, services)
    assert start.state is not None and "1. 个体工商户" in start.reply
    out = await say(licence, start.state, "2", services)
    assert out.state is not None and out.state.slots["entity_type"] == "有限责任公司"
    assert out.resolved and "【有限责任公司设立登记指引】" in out.reply


async def test_branch_on_slot_value_picks_the_reply(registry: FlowRegistry, services: RecordingServices) -> None:
    licence = flow_of(registry, "business_licence")
    out = await engine.start(licence, "我想开个网店，个体户营业执照怎么办", THURSDAY, services)
    assert out.resolved and "网络经营场所说明" in out.reply


async def test_optional_slot_is_never_asked_on_its_own(registry: FlowRegistry, services: RecordingServices) -> None:
    complaint = flow_of(registry, "complaint")
    out = await engine.start(complaint, "我要投诉，三号窗口的工作人员态度很差，一直玩手机", THURSDAY, services)
    assert out.resolved and "contact" not in (out.state.slots if out.state else {})
    assert services.tickets[0][2]["问题类别"] == "服务态度"


async def test_optional_slot_rides_along_with_required_ones(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    complaint = flow_of(registry, "complaint")
    out = await engine.start(complaint, "我要投诉", THURSDAY, services)
    assert out.state is not None and out.state.awaiting == ["category", "description", "contact"]
    assert "（可不填）" in out.reply


async def test_progress_lookup_through_the_endpoint(registry: FlowRegistry, services: RecordingServices) -> None:
    progress = flow_of(registry, "progress")
    out = await engine.start(progress, "帮我查下SQ20261120000123办到哪了", THURSDAY, services)
    assert services.calls == [("progress", {"number": "SQ20261120000123"})]
    assert out.resolved and "审核中" in out.reply


@pytest.mark.parametrize(
    ("text", "number"),
    [
        # Every approval system prints its own kind of number; the backend says whether it exists.
        ("GJJ2026112800045批下来没有", "GJJ2026112800045"),
        ("查一下 BDC-2026-1128-0456", "BDC-2026-1128-0456"),
        ("编号1234567890123456789 到哪一步了", "1234567890123456789"),
        ("sb20261130007 办好了没", "sb20261130007"),
        # 18 digits whose check digit does not make an ID number.
        ("320100202611200456", "320100202611200456"),
    ],
)
async def test_progress_takes_the_numbers_approval_systems_print(
    registry: FlowRegistry, services: RecordingServices, text: str, number: str
) -> None:
    progress = flow_of(registry, "progress")
    await engine.start(progress, text, THURSDAY, services)
    assert services.calls == [("progress", {"number": number})]


@pytest.mark.parametrize("text", ["13812345678", "021-12345678", "11010519491231002X", "440524188001010014", "12.15"])
async def test_a_phone_an_id_number_or_a_date_is_not_looked_up_as_an_application(
    registry: FlowRegistry, services: RecordingServices, text: str
) -> None:
    progress = flow_of(registry, "progress")
    out = await engine.start(progress, "查进度", THURSDAY, services)
    assert out.state is not None
    await say(progress, out.state, text, services)
    assert services.calls == []


@pytest.mark.parametrize(
    ("result", "expected"),
    [(EndpointResult(False, {}, "timeout"), "响应较慢"), (EndpointResult(False, {}, "unavailable"), "暂时无法访问")],
)
async def test_progress_backend_trouble_gets_a_clear_message_and_confirm_retries(
    registry: FlowRegistry, result: EndpointResult, expected: str
) -> None:
    progress = flow_of(registry, "progress")
    services = RecordingServices(endpoint=result)
    out = await engine.start(progress, "查询进度 SQ20261120000123", THURSDAY, services)
    assert expected in out.reply and "「确认」重新查询" in out.reply and not out.resolved
    assert out.state is not None and out.state.step == RETRY_STEP


async def test_a_number_the_backend_does_not_know_is_asked_again(registry: FlowRegistry) -> None:
    progress = flow_of(registry, "progress")
    services = RecordingServices(endpoint=EndpointResult(True, {"found": False}))
    out = await engine.start(progress, "查询进度 SQ20261120000123", THURSDAY, services)
    assert "没有查到" in out.reply and progress.slots["number"].prompt in out.reply
    assert out.state is not None and out.state.awaiting == ["number"] and out.state.slots == {}


async def test_handoff_word_keeps_the_flow(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "我要预约", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "转人工", services)
    assert out.handoff and out.state is not None


async def test_advance_never_changes_the_callers_state(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "我要预约", THURSDAY, services)
    assert start.state is not None
    before = start.state.model_dump()
    await say(booking, start.state, "社保卡 明天 上午", services)
    assert start.state.model_dump() == before


def test_expiry_counts_from_the_last_activity(booking: Flow) -> None:
    state = engine.new_state(booking, THURSDAY)
    assert not engine.expired(state, THURSDAY + timedelta(minutes=29), 1800)
    assert engine.expired(state, THURSDAY + timedelta(minutes=31), 1800)


async def test_unrecognised_message_is_marked_not_understood(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡，我叫张三", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "随便", services)
    assert not out.understood


async def test_an_invalid_fact_in_the_first_message_is_explained(booking: Flow, services: RecordingServices) -> None:
    out = await engine.start(booking, "我想预约后天上午去办社保卡", THURSDAY, services)
    assert "11月28日（周六）是休息日" in out.reply
    assert out.state is not None and "date" in out.state.awaiting and "date" not in out.state.slots


class AskedFaq:
    """An FAQ that knows nothing and records how it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, bool, bool]] = []

    def __call__(self, text: str, *, menu: bool, numbered: bool) -> str | None:
        self.asked.append((text, menu, numbered))
        return None


async def test_a_question_the_faq_cannot_answer_keeps_the_place_without_an_attempt(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡，我叫张三", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "那边有没有复印的地方？", services, faq=AskedFaq())
    assert out.reply.startswith(engine.NO_ANSWER) and booking.slots["mobile"].prompt in out.reply
    assert out.state is not None and out.state.attempts == {}


async def test_an_answer_worded_as_a_question_never_gets_an_faq_menu(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "我要预约办社保卡", THURSDAY, services)
    assert start.state is not None
    faq = AskedFaq()
    out = await say(booking, start.state, "明天上午可以吗？", services, faq=faq)
    assert faq.asked == [("明天上午可以吗？", False, True)]
    assert out.state is not None and out.state.slots["period"] == "上午"


class MenuFaq:
    def __call__(self, text: str, *, menu: bool, numbered: bool) -> str | None:
        return "您是不是想问：\n· 社保卡怎么激活" if menu else None


async def test_a_question_that_also_answers_gets_the_faq_menu_and_keeps_the_answer(
    booking: Flow, services: RecordingServices
) -> None:
    # 「办社保卡要多久能拿到」 while the business is asked: the business is taken, and the question,
    # which asks more than whether its answer will do, gets the FAQ's menu as an aside.
    start = await engine.start(booking, "帮我约个号", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "办社保卡要多久能拿到", services, faq=MenuFaq())
    assert "您是不是想问" in out.reply
    assert out.state is not None and out.state.slots["business"] == "社保卡办理"


async def test_the_faq_menu_is_not_numbered_while_a_choice_is_asked(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    licence = flow_of(registry, "business_licence")
    start = await engine.start(licence, "营业执照办理指引", THURSDAY, services)
    assert start.state is not None
    faq = AskedFaq()
    await say(licence, start.state, "护照怎么办？", services, faq=faq)
    assert faq.asked == [("护照怎么办？", True, False)]


async def test_asking_about_a_weekend_after_the_date_was_given_explains_without_an_attempt(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡，我叫张三", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "周六能办吗", services)
    assert "休息日" in out.reply and booking.slots["mobile"].prompt in out.reply
    assert out.state is not None and out.state.attempts == {} and out.state.slots["date"] == "2026-11-27"


async def test_restating_a_given_fact_is_acknowledged_and_what_is_missing_asked(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡，我叫张三", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "就明天上午", services)
    assert out.reply.startswith("已记录：预约日期 11月27日（周五）；时段 上午。\n")
    assert booking.slots["mobile"].prompt in out.reply and "没有识别" not in out.reply


async def test_a_reply_that_only_restates_cannot_loop_for_ever(booking: Flow, services: RecordingServices) -> None:
    out = await engine.start(booking, "我想预约明天上午去办社保卡，我叫张三", THURSDAY, services)
    for _ in range(booking.slots["mobile"].max_attempts):
        assert out.state is not None
        out = await say(booking, out.state, "就明天上午", services)
    assert "「人工」" in out.reply


async def test_a_longer_option_of_a_later_slot_wins_over_a_shorter_one(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    licence = flow_of(registry, "business_licence")
    start = await engine.start(licence, "营业执照", THURSDAY, services)
    assert start.state is not None and start.state.awaiting == ["entity_type"]
    out = await say(licence, start.state, "个体户，网店", services)
    assert out.resolved and "网络经营场所说明" in out.reply


@pytest.mark.parametrize("answer", ["不对，改成后天", "那就12月3号", "还是下午吧"])
async def test_words_around_a_correction_or_a_date_are_never_taken_as_the_name(
    booking: Flow, services: RecordingServices, answer: str
) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, answer, services)
    assert out.state is not None and "name" not in out.state.slots and "name" in out.state.awaiting


async def rated_booking(booking: Flow, services: RecordingServices) -> FlowState:
    start = await engine.start(booking, "明天上午办社保卡，我叫张三，电话13812345678", THURSDAY, services)
    assert start.state is not None
    done = await say(booking, start.state, "确认", services)
    assert done.state is not None and done.state.step == SATISFACTION_STEP
    return done.state


@pytest.mark.parametrize(
    ("answer", "value"),
    [("非常满意，谢谢", "非常满意"), ("挺好的！", "满意"), ("还行吧", "基本满意"), ("一般般", "基本满意"),
     ("不太满意", "不满意"), ("太差了", "非常不满意"), ("1分", "")],
)
async def test_satisfaction_is_read_the_way_citizens_say_it(
    booking: Flow, services: RecordingServices, answer: str, value: str
) -> None:
    state = await rated_booking(booking, services)
    out = await say(booking, state, answer, services)
    assert out.satisfaction == value


async def test_an_unsatisfied_citizen_is_asked_why(booking: Flow, services: RecordingServices) -> None:
    out = await say(booking, await rated_booking(booking, services), "4", services)
    assert out.satisfaction == "不满意" and "哪里需要改进" in out.reply


@pytest.mark.parametrize("answer", ["谢谢", "不用了", "好的"])
async def test_thanks_instead_of_a_rating_ends_politely(
    booking: Flow, services: RecordingServices, answer: str
) -> None:
    out = await say(booking, await rated_booking(booking, services), answer, services)
    assert out.state is None and not out.passthrough and not out.satisfaction and "不客气" in out.reply


async def test_another_number_after_a_progress_lookup_is_looked_up(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    progress = flow_of(registry, "progress")
    done = await engine.start(progress, "查询进度 SQ20261120000123", THURSDAY, services)
    assert done.state is not None and done.state.step == SATISFACTION_STEP
    out = await say(progress, done.state, "SQ20261120000456", services)
    assert services.calls[-1] == ("progress", {"number": "SQ20261120000456"}) and out.resolved


async def at_confirmation(booking: Flow, services: RecordingServices) -> FlowState:
    start = await engine.start(booking, "明天上午办社保卡，我叫张三，电话13812345678", THURSDAY, services)
    assert start.state is not None and start.state.step == CONFIRM_STEP
    return start.state


@pytest.mark.parametrize(
    ("correction", "slot", "value"),
    [("名字写错了，应该是张珊", "name", "张珊"), ("电话改成13912345678", "mobile", "13912345678"),
     ("姓名改为李四", "name", "李四"), ("日子换到下周三", "date", "2026-12-02")],
)
async def test_a_correction_naming_the_field_in_everyday_words(
    booking: Flow, services: RecordingServices, correction: str, slot: str, value: str
) -> None:
    out = await say(booking, await at_confirmation(booking, services), correction, services)
    assert out.state is not None and out.state.slots[slot] == value and out.state.step == CONFIRM_STEP


async def test_a_labelled_name_is_not_a_complaint_about_the_name(booking: Flow, services: RecordingServices) -> None:
    out = await say(booking, await at_confirmation(booking, services), "名字写错了", services)
    assert out.state is not None and out.state.slots["name"] == "张三"


async def test_what_was_taken_is_acknowledged_before_an_error_in_the_same_message(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "我叫李雷 电话1381234567", services)
    assert out.reply.startswith("已记录：预约人姓名 李雷。") and "手机号码格式不正确" in out.reply


async def test_an_answer_that_leaves_questions_open_is_acknowledged_with_the_date_it_means(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "我要预约办社保卡", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "那下周一吧，上午", services)
    assert out.reply.startswith("已记录：预约日期 11月30日（周一）；时段 上午。\n")


async def test_a_phone_number_alone_is_not_a_complaint_description(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    complaint = flow_of(registry, "complaint")
    start = await engine.start(complaint, "投诉服务态度", THURSDAY, services)
    assert start.state is not None and start.state.awaiting == ["description", "contact"]
    out = await say(complaint, start.state, "13912345678", services)
    assert out.state is not None and out.state.slots.get("contact") == "13912345678"
    assert "description" not in out.state.slots and services.tickets == []


async def test_a_short_plain_description_is_enough(registry: FlowRegistry, services: RecordingServices) -> None:
    complaint = flow_of(registry, "complaint")
    start = await engine.start(complaint, "投诉服务态度", THURSDAY, services)
    assert start.state is not None
    out = await say(complaint, start.state, "那个窗口的人很凶", services)
    assert out.resolved and services.tickets[0][2]["具体情况"] == "那个窗口的人很凶"


async def test_a_number_the_backend_does_not_know_is_not_first_acknowledged(
    registry: FlowRegistry,
) -> None:
    progress = flow_of(registry, "progress")
    services = RecordingServices(endpoint=EndpointResult(True, {"found": False}))
    out = await engine.start(progress, "SQ20261120000120", THURSDAY, services)
    assert out.reply.startswith("没有查到受理编号 SQ20261120000120")


@pytest.mark.parametrize("word", ["菜单", "帮助"])
async def test_asking_for_help_mid_flow_explains_the_commands_and_asks_again(
    booking: Flow, services: RecordingServices, word: str
) -> None:
    start = await engine.start(booking, "我要预约", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, word, services)
    assert "「取消」" in out.reply and "「返回」" in out.reply and "预约人姓名" in out.reply
    assert out.state is not None and out.state.slots == {} and out.state.attempts == {}


async def test_a_greeting_mid_flow_is_returned_and_the_question_repeated(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "我要预约", THURSDAY, services)
    assert start.state is not None
    out = await say(booking, start.state, "你好", services)
    assert out.reply.startswith("您好！") and "预约人姓名" in out.reply
    assert out.state is not None and out.state.attempts == {}


async def test_a_statement_that_gives_nothing_gets_no_faq_menu(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡", THURSDAY, services)
    assert start.state is not None
    faq = AskedFaq()
    await say(booking, start.state, "不知道", services, faq=faq)
    assert faq.asked == [("不知道", False, True)]


async def test_after_the_last_attempt_the_citizen_hears_why_what_else_they_can_do_and_the_question(
    booking: Flow, services: RecordingServices
) -> None:
    out = await engine.start(booking, "我想预约明天上午去办社保卡，我叫张三", THURSDAY, services)
    for _ in range(booking.slots["mobile"].max_attempts):
        assert out.state is not None
        out = await say(booking, out.state, "1391234567", services)
    lines = out.reply.splitlines()
    assert lines[0].startswith("手机号码格式不正确") and "「人工」" in lines[1]
    assert lines[-1] == booking.slots["mobile"].prompt
