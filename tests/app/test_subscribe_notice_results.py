"""Subscription notices (订阅通知) end to end (issue 19): sent through bizsend on the fake WeChat API,
their results posted back to the callback as signed, encrypted subscribe_msg_sent_event deliveries,
counted in the campaign's delivered and failed figures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import subscriptions
from app.db.migrate import upgrade
from app.db.models import PushRecipient
from app.push import store
from app.push.reach import reach
from app.push.send import send
from app.turnlog.privacy import Pseudonymiser
from app.wechat.parse import parse_xml
from knowledge.campaigns import load_campaign
from tests.app.conftest import HarnessFactory
from tests.fakes.fake_wechat import FakeWeChat
from tests.wxapi.conftest import ClientFactory, make_client, memory_store

__all__ = ["make_client", "memory_store"]  # fixtures used here

DAY = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


def sent_event(account: str, openid: str, items: list[tuple[str, str, int, str]], create_time: int) -> str:
    """The XML WeChat posts: one <List> per notice under <SubscribeMsgSentEvent>."""
    lists = "".join(
        f"<List><TemplateId><![CDATA[{template}]]></TemplateId><MsgID>{msgid}</MsgID>"
        f"<ErrorCode>{code}</ErrorCode><ErrorStatus><![CDATA[{status}]]></ErrorStatus></List>"
        for template, msgid, code, status in items
    )
    return (
        f"<xml><ToUserName><![CDATA[{account}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[subscribe_msg_sent_event]]></Event>"
        f"<SubscribeMsgSentEvent>{lists}</SubscribeMsgSentEvent></xml>"
    )


def test_every_list_item_of_the_event_is_kept() -> None:
    fields = parse_xml(sent_event("gh_a", "o_1", [("T1", "11", 0, "success"), ("T2", "12", 20004, "failed")], 1))
    assert fields["Event"] == "subscribe_msg_sent_event"
    assert (fields["List.0.TemplateId"], fields["List.0.MsgID"], fields["List.0.ErrorCode"]) == ("T1", "11", "0")
    assert (fields["List.1.TemplateId"], fields["List.1.ErrorStatus"]) == ("T2", "failed")
    assert fields["TemplateId"] == "T1"  # the flat view keeps the first, as before


async def test_notices_sent_and_their_results_posted_to_the_callback_count_in_the_reach(
    harness_factory: HarnessFactory, wechat: FakeWeChat, make_client: ClientFactory, tmp_path: Path
) -> None:
    h = await harness_factory(database_url=f"sqlite:///{tmp_path / 'wx.db'}", wechat_encrypt_mode="safe")
    engine = h.resources.engine
    assert engine is not None
    upgrade(engine)
    openids = [f"o_{i}" for i in range(5)]
    for openid in openids:
        subscriptions.subscribe(engine, openid, "gongjijin")
    (tmp_path / "notice.yaml").write_text(
        "title: 公积金新政\ntopics: [gongjijin]\nchannel: subscribe\ntemplate_id: SUB_T\ncontent: 利率下调。\n"
        "rate_per_second: 1000\n",
        encoding="utf-8",
    )
    campaign = load_campaign(tmp_path / "notice.yaml")
    summary = await send(engine, make_client(), campaign, clock=lambda: DAY)
    assert summary.sent == 5
    assert sorted(str(b["touser"]) for b in wechat.notices) == openids
    assert {b["template_id"] for b in wechat.notices} == {"SUB_T"} and wechat.templates == []

    # WeChat reports: three delivered, one refused by the citizen, one not reported (yet).
    results = {"o_0": (0, "success"), "o_1": (0, "success"), "o_2": (0, "success"),
               "o_3": (20004, "failed:user refuse")}
    for n, (openid, (code, status)) in enumerate(results.items()):
        fields = h.sim.event(openid, "subscribe_msg_sent_event")
        xml = sent_event(h.sim.account, openid, [("SUB_T", str(9000 + n), code, status)],
                         int(fields["CreateTime"]) + n)
        delivery = h.sim.deliver(fields, xml=xml)
        assert delivery.params["encrypt_type"] == "aes" and b"Encrypt" in delivery.body
        response = await h.post(delivery)
        assert response.status_code == 200 and response.text in ("", "success")

    with Session(engine) as conn:
        rows = {o: (d, m) for o, d, m in conn.execute(
            select(PushRecipient.openid, PushRecipient.delivery, PushRecipient.msgid))}
    assert rows["o_0"] == ("success", "9000") and rows["o_3"] == ("failed:user refuse", "9003")
    assert rows["o_4"] == ("", "")
    figures = reach(engine, "notice", ["gongjijin"], pseudonym=Pseudonymiser(b"k"))
    assert (figures.channel, figures.targeted, figures.sent, figures.delivered, figures.failed) == (
        "subscribe", 5, 5, 3, 1
    )
    assert figures.reach_10d == 0.6 and not figures.met


async def test_a_notice_reported_after_a_killed_run_is_marked_sent_and_never_resent(
    harness_factory: HarnessFactory, tmp_path: Path
) -> None:
    h = await harness_factory(database_url=f"sqlite:///{tmp_path / 'wx.db'}", wechat_encrypt_mode="safe")
    engine = h.resources.engine
    assert engine is not None
    upgrade(engine)
    store.add_recipients(engine, "notice", "subscribe", ["o_k"], store.PENDING, DAY)
    (row_id, _openid), = store.next_batch(engine, "notice", 1)
    store.claim(engine, row_id, DAY)  # the run died between the call and recording it
    store.interrupted(engine, "notice")
    fields = h.sim.event("o_k", "subscribe_msg_sent_event")
    delivery = h.sim.deliver(fields, xml=sent_event(h.sim.account, "o_k", [("SUB_T", "77", 0, "success")],
                                                    int(fields["CreateTime"])))
    assert (await h.post(delivery)).status_code == 200
    assert store.counts(engine, "notice") == {store.SENT: 1}
    assert store.next_batch(engine, "notice", 10) == []
