"""Confirm only when uncertain (issue 13): a booking whose facts were plainly said is made at once,
read back with the way to change it; 「确认」 is asked when a value was a guess or the citizen asked
to check; a correction right after the booking changes it; 「确认」 said anyway is harmless."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from flows import engine
from flows.registry import FlowRegistry, check_dir
from flows.schema import CONFIRM_STEP, SATISFACTION_STEP, Flow
from flows.state import FlowState
from tests.flows.conftest import THURSDAY, RecordingServices

HALL = "市政务服务中心"
PLAIN = "我想预约明天上午办社保卡，我叫张三，手机13812345678"


@pytest.fixture
def booking(registry: FlowRegistry) -> Flow:
    flow = registry.current("booking")
    assert flow is not None and flow.confirm is not None and flow.confirm.when == "when_uncertain"
    return flow


async def say(flow: Flow, state: FlowState | None, text: str, services: RecordingServices) -> engine.Outcome:
    assert state is not None
    return await engine.advance(flow, state, text, THURSDAY, services, "o_user")


async def test_plainly_said_facts_book_at_once_read_back_with_the_undo(
    booking: Flow, services: RecordingServices
) -> None:
    out = await engine.start(booking, PLAIN, THURSDAY, services, "o_user")
    assert out.state is not None and out.state.step == SATISFACTION_STEP and out.state.amendable
    assert "预约成功！预约号：20261126-0001" in out.reply
    facts = "办理业务 社保卡办理；预约日期 11月27日（周五）；时段 上午；预约人姓名 张三；手机号码 13812345678"
    assert f"登记的信息：{facts}。" in out.reply
    assert "信息有误？直接说要改的内容" in out.reply and "「取消预约」" in out.reply
    assert "请核对" not in out.reply and "回复「确认」" not in out.reply
    assert len(services.tickets) == 1


async def test_the_last_missing_answer_books_without_a_confirmation(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡", THURSDAY, services)
    out = await say(booking, start.state, "张伟，13812345678", services)
    assert out.state is not None and out.state.step == SATISFACTION_STEP
    assert "预约成功" in out.reply and "预约人姓名 张伟" in out.reply


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # 一下 + 周三, or 一 + 下周三?
        ("约一下周三上午办社保卡，我叫张三，手机13812345678", "请核对是哪一周"),
        # Two days named: which is meant is a guess.
        ("预约明天或者后天上午办社保卡，我叫张三，手机13812345678", "不止一天"),
        # A bare day of the month already past: next month's.
        ("预约25号上午办社保卡，我叫张三，手机13812345678", "按下个月理解"),
    ],
)
async def test_a_guessed_value_is_confirmed_and_said_why(
    booking: Flow, services: RecordingServices, text: str, reason: str
) -> None:
    out = await engine.start(booking, text, THURSDAY, services, "o_user")
    assert out.state is not None and out.state.step == CONFIRM_STEP
    assert "请特别留意" in out.reply and reason in out.reply and "请核对预约信息" in out.reply
    assert services.tickets == []
    done = await say(booking, out.state, "确认", services)
    assert "预约成功" in done.reply and "信息有误" not in done.reply
    assert done.state is not None and not done.state.amendable


async def test_a_long_business_name_with_one_homophone_books_at_once(
    booking: Flow, services: RecordingServices
) -> None:
    # 「公即金」 can only be 公积金: asking the citizen to confirm it would cost a message for nothing.
    out = await engine.start(booking, "预约明天上午办公即金，我叫张三，手机13812345678", THURSDAY, services, "o_user")
    assert "预约成功" in out.reply and "办理业务 公积金业务" in out.reply and "按同音字理解" not in out.reply
    assert len(services.tickets) == 1


async def test_asking_to_check_first_gets_the_confirmation(booking: Flow, services: RecordingServices) -> None:
    out = await engine.start(booking, PLAIN + "，先核对一下再提交", THURSDAY, services, "o_user")
    assert out.state is not None and out.state.step == CONFIRM_STEP and "请特别留意" not in out.reply
    assert services.tickets == []


async def test_a_value_replaced_without_saying_so_is_confirmed(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "预约下周二上午办社保卡", THURSDAY, services)
    out = await say(booking, start.state, "12月4号下午，张三，13812345678", services)
    assert out.state is not None and out.state.step == CONFIRM_STEP
    assert "已按您新说的替换了原来的" in out.reply


async def test_correcting_the_guess_at_the_confirmation_books_at_once(
    booking: Flow, services: RecordingServices
) -> None:
    text = "约一下周三上午办社保卡，我叫张三，手机13812345678"
    out = await engine.start(booking, text, THURSDAY, services, "o_user")
    done = await say(booking, out.state, "不对，是12月1日", services)
    assert done.state is not None and done.state.step == SATISFACTION_STEP
    assert "预约成功" in done.reply and "预约日期 12月1日（周二）" in done.reply and "信息有误" in done.reply


async def test_confirm_said_anyway_is_harmless(booking: Flow, services: RecordingServices) -> None:
    out = await engine.start(booking, PLAIN, THURSDAY, services, "o_user")
    again = await say(booking, out.state, "确认", services)
    assert "已经为您办好了" in again.reply and "20261126-0001" in again.reply and "非常满意" in again.reply
    assert again.state is not None and again.state.step == SATISFACTION_STEP
    assert len(services.tickets) == 1
    rated = await say(booking, again.state, "满意", services)
    assert rated.state is None and rated.satisfaction == "满意"


async def test_a_new_time_right_after_moves_the_booking_keeping_its_number(
    booking: Flow, services: RecordingServices
) -> None:
    out = await engine.start(booking, PLAIN, THURSDAY, services, "o_user")
    moved = await say(booking, out.state, "改到下周三下午", services)
    assert "已为您改约，预约号不变：20261126-0001" in moved.reply
    assert "预约日期 12月2日（周三）；时段 下午" in moved.reply
    counts = await services.booked_counts("社保卡办理", HALL, [date(2026, 11, 27), date(2026, 12, 2)])
    assert counts == {(date(2026, 12, 2), "下午"): 1}
    assert moved.state is not None and moved.state.step == SATISFACTION_STEP and moved.state.amendable


@pytest.mark.parametrize(
    ("text", "shown"),
    [("名字改成王建国", "预约人姓名 王建国"), ("电话写错了，应该是13912345678", "手机号码 13912345678")],
)
async def test_a_corrected_fact_right_after_books_again_with_it(
    booking: Flow, services: RecordingServices, text: str, shown: str
) -> None:
    out = await engine.start(booking, PLAIN, THURSDAY, services, "o_user")
    fixed = await say(booking, out.state, text, services)
    assert "原预约 20261126-0001 已取消" in fixed.reply and "预约号：20261126-0002" in fixed.reply
    assert shown in fixed.reply
    left = await services.my_items("o_user", "booking", 9)
    assert [item.number for item in left] == ["20261126-0002"]


async def test_a_new_time_that_is_full_keeps_the_booking(booking: Flow, services: RecordingServices) -> None:
    from handlers.ports import BookingRequest

    out = await engine.start(booking, PLAIN, THURSDAY, services, "o_user")
    for i in range(20):
        request = BookingRequest("booking", f"x{i}", "社保卡办理", HALL, date(2026, 12, 2), "上午", 20, {})
        assert (await services.book(request)).status == "booked"
    kept = await say(booking, out.state, "改到下周三上午", services)
    assert "预约已满" in kept.reply and "原来的预约保持不变" in kept.reply
    assert kept.state is not None and kept.state.slots["date"] == "2026-11-27"
    left = await services.my_items("o_user", "booking", 9)
    assert [item.number for item in left] == ["20261126-0001"]


async def test_never_acts_even_on_a_guess(booking: Flow, services: RecordingServices) -> None:
    assert booking.confirm is not None
    never = booking.model_copy(update={"confirm": booking.confirm.model_copy(update={"when": "never"})})
    out = await engine.start(never, "预约明天上午办公即金，我叫张三，手机13812345678", THURSDAY, services, "o_user")
    assert "预约成功" in out.reply and "办理业务 公积金业务" in out.reply


POLICY_FLOW = """\
id: demo
title: 演示
version: 1
slots:
  note:
    type: text
    label: 备注
    prompt: 请输入备注
steps:
  - id: first
    ask: [note]
    next: done
confirm:
{confirm}
complete:
  replies:
    - text: 已收到{{note}}
"""


@pytest.mark.parametrize(
    ("confirm", "needle", "message"),
    [
        ("  prompt: 请核对\n  when: sometimes", "when: sometimes", "confirm.when"),
        ("  prompt: 请核对\n  when: when_uncertain", "when: when_uncertain", "needs an undo line"),
        ("  when: always", "when: always", "needs a prompt"),
    ],
)
def test_a_bad_confirmation_policy_is_reported_with_its_line(
    tmp_path: Path, confirm: str, needle: str, message: str
) -> None:
    text = POLICY_FLOW.format(confirm=confirm)
    (tmp_path / "demo.yaml").write_text(text, encoding="utf-8")
    [problem] = check_dir(tmp_path)[1]
    assert problem.file == "demo.yaml" and message in problem.message
    assert problem.line in (text[: text.index("confirm:")].count("\n") + 1, text[: text.index(needle)].count("\n") + 1)


async def test_a_one_word_answer_only_one_option_contains_is_no_guess(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    booking = registry.current("booking")
    assert booking is not None
    start = await engine.start(booking, "预约下周三下午，韩梅梅，13912340001", THURSDAY, services, "o_user")
    assert start.state is not None and start.state.awaiting == ["business"]
    out = await say(booking, start.state, "婚姻", services)
    assert "预约成功" in out.reply and "请特别留意" not in out.reply


async def test_part_of_an_option_inside_a_longer_reply_is_read_back(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    booking = registry.current("booking")
    assert booking is not None
    start = await engine.start(booking, "预约下周三下午，韩梅梅，13912340001", THURSDAY, services, "o_user")
    assert start.state is not None
    out = await say(booking, start.state, "想办婚姻方面的", services)
    assert "按您说的部分字词理解" in out.reply and services.tickets == []
