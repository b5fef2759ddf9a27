"""Booking capacity in the flow: a full period offers the nearest free times, a second booking of
the same business on one day is refused, and the booking says how to change or cancel it.

The booking flow confirms only when uncertain (flows/booking.yaml, `confirm.when`): every fact
plainly given in one message books at once (tests/flows/test_confirm_policy.py has the policy)."""

from __future__ import annotations

from datetime import date

import pytest

from flows import engine
from flows.registry import FlowRegistry
from flows.schema import SATISFACTION_STEP, Flow
from handlers.ports import BookingRequest
from tests.flows.conftest import THURSDAY, RecordingServices

HALL = "市政务服务中心"
FRIDAY = date(2026, 11, 27)
DETAILS = "11月27日上午办社保卡，我叫张三，电话13812345678"


@pytest.fixture
def booking(registry: FlowRegistry) -> Flow:
    flow = registry.current("booking")
    assert flow is not None
    return flow


async def fill(services: RecordingServices, openid: str, day: date, period: str, n: int) -> None:
    for i in range(n):
        request = BookingRequest("booking", f"{openid}{i}", "社保卡办理", HALL, day, period, 20, {})
        assert (await services.book(request)).status == "booked"


async def confirm(
    booking: Flow, services: RecordingServices, text: str = DETAILS, openid: str = "o_user"
) -> engine.Outcome:
    """Book with every fact plainly given in one message: nothing is a guess, so no 「确认」."""
    return await engine.start(booking, text, THURSDAY, services, openid)


async def test_the_booking_says_how_to_change_and_cancel(booking: Flow, services: RecordingServices) -> None:
    out = await confirm(booking, services)
    assert "预约号：20261126-0001" in out.reply
    assert "「改约」" in out.reply and "「取消预约」" in out.reply


async def test_a_full_period_offers_the_nearest_free_times_and_asks_again(
    booking: Flow, services: RecordingServices
) -> None:
    await fill(services, "early", FRIDAY, "上午", 20)
    await fill(services, "late", FRIDAY, "下午", 20)
    out = await confirm(booking, services)
    assert "11月27日（周五）上午的「社保卡办理」预约已满" in out.reply
    # The weekend is closed: Thursday (today) and Monday are the nearest open days.
    assert "11月26日（周四）上午、11月26日（周四）下午、11月30日（周一）上午" in out.reply
    assert out.state is not None and "date" not in out.state.slots and "period" not in out.state.slots
    done = await engine.advance(booking, out.state, "11月30日上午", THURSDAY, services, "o_user")
    assert done.state is not None and done.state.step == SATISFACTION_STEP
    assert "预约成功" in done.reply


async def test_a_second_booking_of_the_business_that_day_is_refused(
    booking: Flow, services: RecordingServices
) -> None:
    await confirm(booking, services)
    out = await confirm(booking, services, DETAILS.replace("上午", "下午"))
    assert "您已预约11月27日（周五）上午的「社保卡办理」（预约号：20261126-0001）" in out.reply
    assert out.state is None and not out.resolved


async def test_capacity_is_per_business(booking: Flow, services: RecordingServices) -> None:
    await fill(services, "early", FRIDAY, "上午", 20)
    out = await confirm(booking, services, DETAILS.replace("社保卡", "公积金"))
    assert "预约成功" in out.reply


async def test_a_business_with_its_own_capacity(booking: Flow, services: RecordingServices) -> None:
    assert booking.booking is not None
    assert booking.booking.capacity_for("婚姻登记") == 10
    assert booking.booking.capacity_for("社保卡办理") == 20


def test_no_flow_promises_a_text_message(registry: FlowRegistry) -> None:
    # Nothing sends SMS (issue 18): the mobile number is asked for what actually happens.
    for flow in registry:
        texts = [slot.prompt for slot in flow.slots.values()] + [reply.text for reply in flow.complete.replies]
        assert not any("短信" in text for text in texts), flow.id
