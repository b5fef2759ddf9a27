"""More details a citizen sends right after filing a complaint reach that ticket on the desk
(issue 13): text, a photo, a place; once per delivery; erased with the ticket's personal data."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.db.models import Ticket, TicketEvent
from tests.desk.conftest import Desk, add_staff


def notes(desk: Desk, number: str) -> list[tuple[str, str, str]]:
    with desk.engine.connect() as conn:
        ticket_id = conn.execute(select(Ticket.id).where(Ticket.number == number)).scalar_one()
        rows = conn.execute(
            select(TicketEvent.actor, TicketEvent.action, TicketEvent.note)
            .where(TicketEvent.ticket_id == ticket_id)
            .order_by(TicketEvent.id)
        ).all()
    return [(r.actor, r.action, r.note) for r in rows]


def tickets(desk: Desk) -> int:
    with desk.engine.connect() as conn:
        return len(conn.execute(select(Ticket.id)).all())


async def test_details_after_filing_are_attached_to_the_ticket_and_shown_on_the_desk(desk: Desk) -> None:
    number = await desk.complaint()
    reply = await desk.say("o-citizen-1", "补充一下，地址是市民中心二楼东侧3号窗口")
    assert f"已将您补充的内容附到工单 {number}" in reply
    more = await desk.say("o-citizen-1", "当时是上午十点左右，穿蓝色马甲的工作人员")
    assert number in more
    assert tickets(desk) == 1
    assert notes(desk, number) == [
        ("群众", "citizen", "补充一下，地址是市民中心二楼东侧3号窗口"),
        ("群众", "citizen", "当时是上午十点左右，穿蓝色马甲的工作人员"),
    ]
    add_staff(desk.engine, "li", "agent")
    await desk.login("li")
    page = await desk.client.get(f"/desk/tickets/{number}")
    assert "补充材料" in page.text and "市民中心二楼东侧3号窗口" in page.text


async def test_a_photo_after_filing_is_attached_once_even_if_redelivered(desk: Desk) -> None:
    number = await desk.complaint()
    fields = desk.sim._message("o-citizen-1", "image", PicUrl="http://mmbiz.example/photo.jpg", MediaId="m-1")
    delivery = desk.sim.deliver(fields)
    for _ in range(2):
        response = await desk.client.post("/wechat", params=delivery.params, content=delivery.body)
        assert response.status_code == 200
    assert notes(desk, number) == [("群众", "citizen", "[图片] http://mmbiz.example/photo.jpg")]


async def test_another_citizen_cannot_add_to_the_ticket(desk: Desk) -> None:
    number = await desk.complaint("o-citizen-1")
    await desk.say("o-citizen-2", f"补充一下{number}的情况，地址是二楼")
    assert notes(desk, number) == []


async def test_a_new_request_after_filing_is_not_a_detail(desk: Desk) -> None:
    number = await desk.complaint()
    reply = await desk.say("o-citizen-1", "我想预约明天上午办社保卡")
    assert "为您预约" in reply
    assert notes(desk, number) == []


async def test_a_complaint_withdrawn_in_the_chat_is_cancelled_on_the_desk(desk: Desk) -> None:
    number = await desk.complaint()
    assert "确认撤回工单" in await desk.say("o-citizen-1", "撤回投诉")
    assert "已撤回" in await desk.say("o-citizen-1", "确认")
    with desk.engine.connect() as conn:
        ticket = conn.execute(select(Ticket).where(Ticket.number == number)).one()
        history = conn.execute(
            select(TicketEvent.actor, TicketEvent.from_status, TicketEvent.to_status)
            .where(TicketEvent.ticket_id == ticket.id)
        ).all()
    assert ticket.status == "已撤销" and ticket.due_at is None and ticket.resolved_at is not None
    assert [tuple(h) for h in history] == [("群众", "新建", "已撤销")]
    # It cannot be withdrawn twice.
    assert "没有可以撤回的工单" in await desk.say("o-citizen-1", "撤回投诉")


async def test_a_mobile_sent_after_filing_without_one_becomes_the_tickets_contact(desk: Desk) -> None:
    reply = await desk.say("o-citizen-3", "我要投诉，二楼窗口的人一直玩手机不理我，等了半个多小时")
    found = re.search(r"编号：(\d{8}-\d{4})", reply)
    assert found, reply
    number = found.group(1)
    reply = await desk.say("o-citizen-3", "136 0000 1111")
    assert f"已将手机号 136****1111 登记为工单 {number} 的联系电话" in reply
    # A later number does not replace the contact: it is only a note.
    await desk.say("o-citizen-3", "另外我单位电话是13900002222，白天也可以打")
    with desk.engine.connect() as conn:
        phone, fields = conn.execute(select(Ticket.phone, Ticket.fields).where(Ticket.number == number)).one()
    assert phone == "13600001111" and fields["联系电话"] == "13600001111"
    assert tickets(desk) == 1
    # The desk finds the ticket by that number.
    add_staff(desk.engine, "zhou", "agent")
    await desk.login("zhou")
    page = await desk.client.get("/desk/", params={"q": "13600001111"})
    assert number in page.text
