"""The queue, the ticket page, the actions and the export, over HTTP on both databases."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from app.db.models import AuditEntry, Ticket, TicketEvent, TurnRow
from app.db.tickets import create_ticket
from tests.desk.conftest import Desk, add_staff, csrf_of


def audit_actions(desk: Desk, actor: str) -> list[str]:
    with desk.engine.connect() as conn:
        return list(conn.execute(select(AuditEntry.action).where(AuditEntry.actor == actor)
                                 .order_by(AuditEntry.id)).scalars())


def events(desk: Desk) -> list[tuple[str, str, str, str]]:
    with desk.engine.connect() as conn:
        rows = conn.execute(select(TicketEvent).order_by(TicketEvent.id)).all()
    return [(r.action, r.to_status, r.delivery, r.delivery_detail) for r in rows]


async def test_a_complaint_over_the_callback_is_a_new_ticket_with_its_conversation(desk: Desk) -> None:
    number = await desk.complaint()
    with desk.engine.connect() as conn:
        ticket = conn.execute(select(Ticket).where(Ticket.number == number)).one()
    assert (ticket.status, ticket.kind, ticket.category, ticket.phone) == ("新建", "投诉", "办事效率", "13812345678")
    assert ticket.consultation_id and ticket.due_at == ticket.response_due_at
    add_staff(desk.engine, "li", "agent")
    await desk.login("li")
    page = await desk.client.get(f"/desk/tickets/{number}")
    assert "我要投诉" in page.text  # the turns of its consultation
    assert "[手机号]" in page.text  # masked as in the turn log
    assert audit_actions(desk, "li") == ["login", "view_personal"]


async def test_the_queue_lists_overdue_tickets_first_and_marks_them(desk: Desk) -> None:
    now = datetime.now(UTC)
    fresh = create_ticket(desk.engine, "complaint", "o1", {"问题类别": "服务态度"}, now=now)
    old = create_ticket(desk.engine, "complaint", "o2", {"问题类别": "服务态度"}, now=now - timedelta(days=10))
    add_staff(desk.engine, "li", "viewer")
    await desk.login("li")
    page = (await desk.client.get("/desk/")).text
    assert page.index(old) < page.index(fresh)
    assert page.count("超时</span>") == 1


async def test_the_queue_filters_by_kind_status_and_assignee(desk: Desk) -> None:
    booking = create_ticket(desk.engine, "booking", "o1", {"办理业务": "社保卡", "手机号码": "13900001111"})
    complaint = create_ticket(desk.engine, "complaint", "o2", {"问题类别": "环境设施"})
    add_staff(desk.engine, "li", "agent")
    await desk.login("li")
    page = (await desk.client.get("/desk/", params={"kind": "预约"})).text
    assert booking in page and complaint not in page
    page = (await desk.client.get("/desk/", params={"category": "环境设施"})).text
    assert complaint in page and booking not in page
    await desk.form(f"/desk/tickets/{complaint}/assign", f"/desk/tickets/{complaint}", assignee="me")
    page = (await desk.client.get("/desk/", params={"assignee": "me"})).text
    assert complaint in page and booking not in page
    page = (await desk.client.get("/desk/", params={"assignee": "none"})).text
    assert booking in page and complaint not in page
    page = (await desk.client.get("/desk/", params={"status": "已办结"})).text
    assert booking not in page and complaint not in page


async def test_search_by_phone_finds_the_ticket_shows_it_masked_and_is_audited(desk: Desk) -> None:
    number = create_ticket(desk.engine, "booking", "o1", {"办理业务": "社保卡", "手机号码": "13900001111"})
    create_ticket(desk.engine, "booking", "o2", {"办理业务": "社保卡", "手机号码": "13900002222"})
    add_staff(desk.engine, "li", "agent")
    await desk.login("li")
    page = (await desk.client.get("/desk/", params={"q": "13900001111"})).text
    assert number in page and "共 1 件" in page
    assert "139****1111" in page and "13900001111" not in page.split("<tbody>")[1]
    assert "search" in audit_actions(desk, "li")
    page = (await desk.client.get("/desk/", params={"q": number})).text
    assert "共 1 件" in page


async def test_staff_limited_to_an_account_see_only_its_tickets(desk: Desk) -> None:
    mine = create_ticket(desk.engine, "complaint", "o1", {}, account="rsj")
    other = create_ticket(desk.engine, "complaint", "o2", {}, account="default")
    add_staff(desk.engine, "li", "agent", accounts=["rsj"])
    await desk.login("li")
    page = (await desk.client.get("/desk/")).text
    assert mine in page and other not in page
    assert (await desk.client.get(f"/desk/tickets/{other}")).status_code == 404


async def test_a_reply_is_sent_and_its_delivery_stored(desk: Desk) -> None:
    number = await desk.complaint()
    add_staff(desk.engine, "li", "agent")
    await desk.login("li")
    response = await desk.form(f"/desk/tickets/{number}/reply", f"/desk/tickets/{number}", text="您好，正在核实。")
    assert response.status_code == 303
    assert desk.wechat.sent[-1]["text"]["content"].endswith("您好，正在核实。")
    assert events(desk) == [("reply", "新建", "sent", "sent")]
    with desk.engine.connect() as conn:
        ticket = conn.execute(select(Ticket).where(Ticket.number == number)).one()
    assert ticket.first_response_at is not None and ticket.assignee == "li"
    assert ticket.due_at == ticket.resolve_due_at  # answered: the resolution deadline is next
    page = (await desk.client.get(response.headers["location"])).text
    assert "已通过客服消息送达" in page


async def test_a_form_submitted_twice_sends_once(desk: Desk) -> None:
    number = await desk.complaint()
    add_staff(desk.engine, "li", "agent")
    await desk.login("li")
    page = (await desk.client.get(f"/desk/tickets/{number}")).text
    key = page.split('name="request_key" value="')[1].split('"')[0]
    data = {"csrf_token": csrf_of(page), "request_key": key, "text": "您好"}
    first = await desk.client.post(f"/desk/tickets/{number}/reply", data=data)
    second = await desk.client.post(f"/desk/tickets/{number}/reply", data=data)
    assert first.headers["location"].endswith("notice=replied")
    assert second.headers["location"].endswith("notice=repeat")
    assert len(desk.wechat.sent) == 1 and len(events(desk)) == 1


async def test_window_closed_without_a_template_is_recorded_and_shown(desk: Desk) -> None:
    number = await desk.complaint()
    with desk.engine.begin() as conn:  # the citizen's last message was three days ago
        conn.execute(update(TurnRow).values(received_at=datetime.now(UTC) - timedelta(days=3)))
    add_staff(desk.engine, "li", "agent")
    await desk.login("li")
    response = await desk.form(f"/desk/tickets/{number}/reply", f"/desk/tickets/{number}", text="您好")
    assert desk.wechat.calls_to("custom_send") == []
    assert events(desk) == [("reply", "新建", "impossible", "no_template")]
    page = (await desk.client.get(response.headers["location"])).text
    assert "请电话联系" in page


async def test_errcode_45015_from_wechat_is_recorded(desk: Desk) -> None:
    number = await desk.complaint()
    desk.wechat.fail_next("custom_send", 45015)
    add_staff(desk.engine, "li", "agent")
    await desk.login("li")
    await desk.form(f"/desk/tickets/{number}/reply", f"/desk/tickets/{number}", text="您好")
    assert events(desk) == [("reply", "新建", "impossible", "45015; no_template")]


async def test_status_changes_follow_the_workflow_and_tell_the_citizen(desk: Desk) -> None:
    number = await desk.complaint()
    add_staff(desk.engine, "li", "agent")
    await desk.login("li")
    page = f"/desk/tickets/{number}"
    await desk.form(f"{page}/status", page, status="已受理", notify="1")
    await desk.form(f"{page}/status", page, status="办理中", note="内部流转")  # not announced
    refused = await desk.form(f"{page}/status", page, status="新建")
    assert refused.headers["location"].endswith("notice=refused")
    await desk.form(f"{page}/status", page, status="已办结", note="已处理", notify="1")
    assert [e[:3] for e in events(desk)] == [
        ("status", "已受理", "sent"), ("status", "办理中", "none"), ("status", "已办结", "sent"),
    ]
    with desk.engine.connect() as conn:
        ticket = conn.execute(select(Ticket).where(Ticket.number == number)).one()
    assert ticket.status == "已办结" and ticket.resolved_at is not None and ticket.due_at is None
    assert [s["text"]["content"].split("）")[1][:3] for s in desk.wechat.sent] == ["已受理", "已办结"]
    assert audit_actions(desk, "li").count("status") == 3


async def test_the_admin_exports_the_filtered_queue_as_csv_with_a_bom(desk: Desk) -> None:
    create_ticket(desk.engine, "complaint", "o1", {"问题类别": "服务态度", "具体情况": "=HYPERLINK(\"x\")"})
    create_ticket(desk.engine, "booking", "o2", {"办理业务": "社保卡"})
    add_staff(desk.engine, "boss", "admin")
    await desk.login("boss")
    response = await desk.client.get("/desk/tickets.csv", params={"kind": "投诉"})
    assert response.status_code == 200
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["编号", "类型", "类别", "状态"]
    assert len(rows) == 2 and rows[1][1] == "投诉"
    assert rows[1][-1].startswith("问题类别")  # a formula-looking cell cannot run in Excel
    assert "export" in audit_actions(desk, "boss")


async def test_the_admin_sees_the_audit_log(desk: Desk) -> None:
    add_staff(desk.engine, "boss", "admin")
    await desk.login("boss")
    page = await desk.client.get("/desk/audit")
    assert page.status_code == 200 and "登录" in page.text


async def test_the_citizens_lookup_shows_the_last_staff_reply(desk: Desk) -> None:
    from app.db.bookings import find_item

    number = await desk.complaint()
    add_staff(desk.engine, "li", "agent")
    await desk.login("li")
    await desk.form(f"/desk/tickets/{number}/reply", f"/desk/tickets/{number}", text="第一次回复")
    await desk.form(f"/desk/tickets/{number}/reply", f"/desk/tickets/{number}", text="已联系窗口负责人。")
    item = find_item(desk.engine, "o-citizen-1", number)
    assert item is not None and item.last_reply == "已联系窗口负责人。" and item.last_reply_at is not None


async def test_the_ticket_page_shows_a_reminder_and_an_unconfirmed_send(desk: Desk) -> None:
    from datetime import date

    from app.db import bookings
    from app.desk import outbox
    from app.reminders import ReminderPolicy, send_reminders
    from handlers.ports import BookingRequest

    now = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    request = BookingRequest("booking", "o-page", "婚姻登记", "市政务服务中心", date(2026, 12, 8), "上午", 10, {})
    booked = bookings.book(desk.engine, request, now=now - timedelta(days=2))
    assert booked.booking is not None
    number = booked.booking.number
    summary = await send_reminders(desk.engine, desk.resources.desk.notifier, ReminderPolicy(), now=now)
    assert summary.impossible == 1  # no window, no template configured: staff are told to call
    with desk.engine.begin() as conn:
        conn.execute(update(TicketEvent).values(delivery="sending", delivered_at=now))
    assert outbox.settle_stuck(desk.engine, now=now + timedelta(minutes=11)) == 1
    add_staff(desk.engine, "li", "agent")
    await desk.login("li")
    page = await desk.client.get(f"/desk/tickets/{number}")
    assert "发送预约提醒" in page.text and "【预约提醒】" in page.text
    assert "无法确认是否送达" in page.text and 'class="delivery d-unknown"' in page.text
