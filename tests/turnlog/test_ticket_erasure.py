"""Tickets under the retention rule (docs/privacy.md, issue 15).

While a matter is open staff need the contact: the ticket keeps the OpenID, name and mobile.
When its user leaves, closed tickets are erased at once (OpenID and pseudonym replaced, fields
emptied, number/flow/status/time kept for statistics); open ones are erased when closed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update

from app.db.models import Ticket, TicketEvent
from app.db.tickets import create_ticket
from app.desk.tickets import add_citizen_note
from app.turnlog import store
from app.turnlog.privacy import pseudonym

KEY = b"test-key"
NOON = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


def file(engine: Engine, openid: str, status: str = "open") -> str:
    number = create_ticket(engine, "complaint", openid, {"姓名": "张三", "联系电话": "13812345678"},
                           user_id=pseudonym(KEY, openid), now=NOON)
    with engine.begin() as conn:
        conn.execute(update(Ticket).where(Ticket.number == number).values(status=status))
    return number


def ticket(engine: Engine, number: str) -> Ticket:
    with engine.connect() as conn:
        row: Ticket = conn.execute(select(Ticket).where(Ticket.number == number)).one()
        return row


def test_a_leaving_users_closed_tickets_are_erased_and_open_ones_kept_for_staff(engine: Engine) -> None:
    closed = file(engine, "o-leaver", status="closed")
    still_open = file(engine, "o-leaver")
    someone_else = file(engine, "o-stays", status="closed")
    store.erase_user(engine, pseudonym(KEY, "o-leaver"), NOON + timedelta(hours=1))

    gone = ticket(engine, closed)
    assert gone.openid.startswith("erased-") and gone.user_id == gone.openid
    assert gone.fields == {} and gone.erased_at is not None
    assert (gone.flow_id, gone.status) == ("complaint", "closed")
    kept = ticket(engine, still_open)
    assert kept.openid == "o-leaver" and kept.fields["联系电话"] == "13812345678"
    assert kept.erased_at is None
    assert ticket(engine, someone_else).openid == "o-stays"


def test_an_open_ticket_of_a_user_who_left_is_erased_once_it_is_closed(engine: Engine) -> None:
    number = file(engine, "o-leaver")
    store.erase_user(engine, pseudonym(KEY, "o-leaver"), NOON + timedelta(hours=1))
    assert store.erase_closed_tickets(engine, NOON + timedelta(hours=2)) == 0
    with engine.begin() as conn:
        conn.execute(update(Ticket).where(Ticket.number == number).values(status="closed"))
    assert store.erase_closed_tickets(engine, NOON + timedelta(hours=3)) == 1
    gone = ticket(engine, number)
    assert gone.openid.startswith("erased-") and gone.fields == {}


def test_a_ticket_the_desk_closed_is_erased_when_its_user_has_left(engine: Engine) -> None:
    done = file(engine, "o-leaver", status="已办结")
    withdrawn = file(engine, "o-leaver", status="已撤销")
    store.erase_user(engine, pseudonym(KEY, "o-leaver"), NOON + timedelta(hours=1))
    assert ticket(engine, done).erased_at is not None
    assert ticket(engine, withdrawn).erased_at is not None


def test_what_the_citizen_added_after_filing_is_erased_with_the_closed_ticket(engine: Engine) -> None:
    closed = file(engine, "o-leaver", status="已办结")
    still_open = file(engine, "o-leaver")
    for number in (closed, still_open):
        assert add_citizen_note(engine, number, "o-leaver", "补充：我住在幸福小区3栋", account="default")
    store.erase_user(engine, pseudonym(KEY, "o-leaver"), NOON + timedelta(hours=1))
    with engine.connect() as conn:
        left = dict(conn.execute(
            select(Ticket.number, TicketEvent.note).join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
        ).all())
    assert left == {closed: "", still_open: "补充：我住在幸福小区3栋"}
