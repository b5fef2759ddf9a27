"""More details right after a complaint is filed go to that ticket (issue 13), not a new one."""

from __future__ import annotations

import pytest

from flows import engine
from flows.registry import FlowRegistry
from flows.schema import SATISFACTION_STEP, Flow
from flows.state import FlowState
from tests.flows.conftest import THURSDAY, RecordingServices

FILED = "我要投诉，三号窗口工作人员态度很差，让我来回跑了三趟"


@pytest.fixture
def complaint(registry: FlowRegistry) -> Flow:
    flow = registry.current("complaint")
    assert flow is not None
    return flow


async def filed(complaint: Flow, services: RecordingServices) -> FlowState:
    out = await engine.start(complaint, FILED, THURSDAY, services, "o_user")
    assert out.state is not None and out.state.step == SATISFACTION_STEP and out.state.ticket
    return out.state


@pytest.mark.parametrize("text", ["补充一下，地址是市民中心二楼", "另外，当时是上午十点", "那个工作人员戴着眼镜，姓刘"])
async def test_details_after_filing_are_attached_and_the_rating_stays_open(
    complaint: Flow, services: RecordingServices, text: str
) -> None:
    state = await filed(complaint, services)
    out = await engine.advance(complaint, state, text, THURSDAY, services, "o_user")
    assert f"已将您补充的内容附到工单 {state.ticket}" in out.reply
    assert out.state is not None and out.state.step == SATISFACTION_STEP and not out.passthrough
    assert services.filed[0].notes == [text]
    assert len(services.tickets) == 1
    rated = await engine.advance(complaint, out.state, "满意", THURSDAY, services, "o_user")
    assert rated.satisfaction == "满意"


@pytest.mark.parametrize("text", ["谢谢", "满意", "大厅几点下班？", "好的"])
async def test_a_rating_thanks_or_a_question_is_not_a_detail(
    complaint: Flow, services: RecordingServices, text: str
) -> None:
    state = await filed(complaint, services)
    await engine.advance(complaint, state, text, THURSDAY, services, "o_user")
    assert services.filed[0].notes == []


async def test_a_detail_that_cannot_be_saved_says_so(complaint: Flow, services: RecordingServices) -> None:
    state = await filed(complaint, services)

    async def broken(openid: str, number: str, note: str) -> bool:
        raise RuntimeError("database down")

    services.add_to_ticket = broken  # type: ignore[method-assign]
    out = await engine.advance(complaint, state, "补充一下，地址是二楼", THURSDAY, services, "o_user")
    assert "没有保存到工单" in out.reply and out.state is not None


async def test_asking_whether_a_photo_can_be_sent_says_how(complaint: Flow, services: RecordingServices) -> None:
    state = await filed(complaint, services)
    out = await engine.advance(complaint, state, "发下照片可以吗", THURSDAY, services, "o_user")
    assert "请直接发送照片" in out.reply and state.ticket in out.reply
    assert out.state is not None and out.state.step == SATISFACTION_STEP
    assert services.filed[0].notes == []


async def test_a_mobile_after_a_complaint_filed_without_one_is_its_contact(
    complaint: Flow, services: RecordingServices
) -> None:
    said = "我要投诉，二楼窗口的人一直玩手机不理我，等了半个多小时"
    out = await engine.start(complaint, said, THURSDAY, services, "o_user")
    assert out.state is not None and out.state.ticket and "contact" not in out.state.slots
    out = await engine.advance(complaint, out.state, "13600001111", THURSDAY, services, "o_user")
    assert f"已将手机号 136****1111 登记为工单 {out.state.ticket if out.state else ''} 的联系电话" in out.reply
    assert services.filed[0].notes == ["13600001111"]
