"""The callback records WeChat's push results (issue 19), and subscriptions work through the real app."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import subscriptions
from app.db.migrate import upgrade
from app.db.models import PushRecipient, Subscription
from app.push import store
from tests.app.conftest import HarnessFactory

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


async def test_template_and_mass_results_posted_to_the_callback_are_recorded(
    harness_factory: HarnessFactory, tmp_path: Path
) -> None:
    h = await harness_factory(database_url=f"sqlite:///{tmp_path / 'wx.db'}")
    engine = h.resources.engine
    assert engine is not None
    upgrade(engine)
    store.add_recipients(engine, "c1", "template", ["o_a", "o_b"], store.PENDING, NOW)
    for row_id, _openid in store.next_batch(engine, "c1", 10):
        store.claim(engine, row_id, NOW)
        store.finish(engine, row_id, store.SENT, NOW, msgid=f"9{row_id}")
    mass = store.ensure_mass(engine, "c2", 101, "cmid", 3, NOW)
    store.update_mass(engine, mass.id, status=store.SENT, msg_id="555")

    for openid, msgid, status in (("o_a", "91", "success"), ("o_b", "92", "failed:user block")):
        fields = h.sim.event(openid, "TEMPLATESENDJOBFINISH")
        fields.update(MsgID=msgid, Status=status)
        response = await h.post(h.sim.deliver(fields))
        assert response.status_code == 200 and response.text in ("", "success")
    fields = h.sim.event("gh_sys", "MASSSENDJOBFINISH")
    fields.update(MsgID="555", Status="sendsuccess", TotalCount="3", FilterCount="3", SentCount="2", ErrorCount="1")
    assert (await h.post(h.sim.deliver(fields))).status_code == 200

    with Session(engine) as conn:
        query = select(PushRecipient.openid, PushRecipient.delivery)
        got = {openid: delivery for openid, delivery in conn.execute(query)}
    assert got == {"o_a": "success", "o_b": "failed:user block"}
    row = store.mass_row(engine, "c2")
    assert row is not None and (row.total_count, row.sent_count, row.error_count) == (3, 2, 1)


async def test_a_citizen_subscribes_in_chat_through_the_callback(
    harness_factory: HarnessFactory, tmp_path: Path
) -> None:
    h = await harness_factory(database_url=f"sqlite:///{tmp_path / 'wx.db'}")
    assert h.resources.engine is not None
    upgrade(h.resources.engine)
    reply = await h.say(h.sim.text("o_c", "订阅公积金政策"))
    assert "已为您订阅「公积金政策」" in reply["Content"]
    engine = h.resources.engine
    assert engine is not None
    assert subscriptions.subscribed_topics(engine, "o_c") == ["gongjijin"]
    with Session(engine) as conn:
        assert conn.execute(select(Subscription.account)).scalar_one() == "default"


async def test_an_faq_answer_still_comes_when_the_offer_cannot_be_recorded(harness_factory: HarnessFactory) -> None:
    # The in-memory database is not migrated: no subscriptions table.
    h = await harness_factory()
    reply = await h.say(h.sim.text("o_d", "社保卡丢了怎么补办"))
    assert "社保卡" in reply["Content"] and "回复 订阅" not in reply["Content"]


async def test_a_signed_link_counts_the_first_open_and_redirects(
    harness_factory: HarnessFactory, tmp_path: Path
) -> None:
    from app.push.links import link

    (tmp_path / "gjj.yaml").write_text(
        "title: 新政\ntopics: [gjj]\nchannel: template\ntemplate_id: T\ncontent: c\nurl: https://example.gov.cn/p/1\n",
        encoding="utf-8",
    )
    h = await harness_factory(database_url=f"sqlite:///{tmp_path / 'wx.db'}", campaigns_dir=tmp_path)
    engine = h.resources.engine
    assert engine is not None
    upgrade(engine)
    store.add_recipients(engine, "gjj", "template", ["o_a"], store.PENDING, NOW)
    (row_id, _openid), = store.next_batch(engine, "gjj", 1)
    url = link("https://bot.example.gov.cn", h.resources.pseudonym_key, row_id)
    path = url.removeprefix("https://bot.example.gov.cn")
    first = await h.client.get(path)
    assert first.status_code == 302 and first.headers["location"] == "https://example.gov.cn/p/1"
    with Session(engine) as conn:
        opened_at = conn.execute(select(PushRecipient.opened_at)).scalar_one()
    assert opened_at is not None
    assert (await h.client.get(path)).status_code == 302
    with Session(engine) as conn:
        assert conn.execute(select(PushRecipient.opened_at)).scalar_one() == opened_at
    forged = path[:-1] + ("0" if path[-1] != "0" else "1")
    assert (await h.client.get(forged)).status_code == 404
