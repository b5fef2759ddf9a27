"""With several Official Accounts, a reply goes out through the account the ticket came from,
and staff limited to one account never see another's tickets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from app.db.models import TicketEvent
from app.db.tickets import create_ticket
from app.turnlog.rows import to_row
from app.turnlog.store import insert_rows
from tests.db.fixtures import Database
from tests.desk.conftest import PSEUDONYM_KEY, add_staff, make_desk
from tests.fakes.fake_wechat import FakeWeChat
from tests.turnlog.records import record

REPO = Path(__file__).resolve().parents[2]


def accounts_file(root: Path, wechat: FakeWeChat) -> Path:
    """`gjj` can message citizens (the fake's AppID and secret); `rsj` has no AppSecret."""
    path = root / "accounts.yaml"
    path.write_text(
        f"""accounts:
  - id: rsj
    appid: wxrsj000000000017
    token: rsjtoken17
    knowledge: [{REPO / 'knowledge'}]
    flows: [{REPO / 'flows'}]
    menu: {root / 'rsj-menu.yaml'}
  - id: gjj
    appid: {wechat.appid}
    token: gjjtoken17
    appsecret: {wechat.secret}
    knowledge: [{REPO / 'knowledge'}]
    flows: [{REPO / 'flows'}]
    menu: {root / 'gjj-menu.yaml'}
""",
        encoding="utf-8",
    )
    return path


async def test_replies_go_through_the_tickets_own_account(
    sqlite_db: Database, wechat: FakeWeChat, tmp_path: Path
) -> None:
    async for desk in make_desk(sqlite_db, wechat, tmp_path, accounts_file=accounts_file(tmp_path, wechat)):
        now = datetime.now(UTC)
        for account in ("rsj", "gjj"):
            insert_rows(desk.engine, [to_row(uuid.uuid4().hex, record(received_at=now, openid=f"o-{account}",
                                                                       account=account), PSEUDONYM_KEY.encode())])
        on_gjj = create_ticket(desk.engine, "complaint", "o-gjj", {}, account="gjj")
        on_rsj = create_ticket(desk.engine, "complaint", "o-rsj", {}, account="rsj")
        add_staff(desk.engine, "li", "agent")
        await desk.login("li")
        for number in (on_gjj, on_rsj):
            await desk.form(f"/desk/tickets/{number}/reply", f"/desk/tickets/{number}", text="您好")
        with desk.engine.connect() as conn:
            results = conn.execute(select(TicketEvent.delivery, TicketEvent.delivery_detail)
                                   .order_by(TicketEvent.id)).all()
        assert [tuple(r) for r in results] == [("sent", "sent"), ("failed", "not_configured")]
        assert [body["touser"] for body in wechat.sent] == ["o-gjj"]

        add_staff(desk.engine, "zhao", "viewer", accounts=["rsj"])
        await desk.login("zhao")
        page = (await desk.client.get("/desk/", params={"status": "all"})).text
        assert on_rsj in page and on_gjj not in page
