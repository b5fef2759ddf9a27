"""Hand-off: the citizen sees a line before the transfer, the flow is kept, and the desk shows
the agent what the citizen already entered."""

from __future__ import annotations

from app.late import RecordingLateSender
from handlers import handoff
from handlers.replies import TextReply
from handlers.session import Session
from tests.desk.conftest import Desk, add_staff


async def test_asking_for_an_agent_mid_flow_shows_a_line_keeps_the_flow_and_informs_the_desk(lite_desk: Desk) -> None:
    openid = "o-handoff-1"
    await lite_desk.say(openid, "我要投诉")
    await lite_desk.say(openid, "三号窗口排队太久了")
    delivery = lite_desk.sim.deliver(lite_desk.sim.text(openid, "人工"))
    response = await lite_desk.client.post("/wechat", params=delivery.params, content=delivery.body)
    assert "transfer_customer_service" in response.text

    await lite_desk.resources.processor.drain(wait_s=5)
    late = lite_desk.resources.late_sender
    assert isinstance(late, RecordingLateSender)
    assert late.sent == [(openid, TextReply(handoff.TRANSFERRING_WITH_FLOW))]

    stored = await lite_desk.resources.store.get(lite_desk.resources.processor.session_key(openid))
    assert stored is not None
    session = Session.from_bytes(stored)
    assert session.flow is not None and session.flow.flow_id == "complaint"

    add_staff(lite_desk.engine, "li", "agent")
    await lite_desk.login("li")
    page = (await lite_desk.client.get("/desk/handoffs")).text
    # Staff read the flow's title and what it was asking for, never its ids.
    assert "三号窗口排队太久了" in page
    line = next(line for line in page.splitlines() if "办理中：" in line)
    assert "办理中：投诉建议（" in line and "complaint" not in line


async def test_asking_for_an_agent_outside_a_flow_shows_the_plain_line(lite_desk: Desk) -> None:
    delivery = lite_desk.sim.deliver(lite_desk.sim.text("o-handoff-2", "人工"))
    await lite_desk.client.post("/wechat", params=delivery.params, content=delivery.body)
    await lite_desk.resources.processor.drain(wait_s=5)
    late = lite_desk.resources.late_sender
    assert isinstance(late, RecordingLateSender)
    assert late.sent == [("o-handoff-2", TextReply(handoff.TRANSFERRING))]


async def test_the_desk_names_what_the_flow_was_asking_when_the_citizen_asked_for_an_agent(lite_desk: Desk) -> None:
    openid = "o-handoff-3"
    await lite_desk.say(openid, "我想投诉")
    await lite_desk.say(openid, "人工")
    await lite_desk.resources.processor.drain(wait_s=5)

    add_staff(lite_desk.engine, "wang", "agent")
    await lite_desk.login("wang")
    page = (await lite_desk.client.get("/desk/handoffs")).text
    line = next(line for line in page.splitlines() if "办理中：" in line)
    assert "办理中：投诉建议（填写：" in line and "complaint" not in line
