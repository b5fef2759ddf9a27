"""Several Official Accounts in one deployment (issue 16), over the real protocol.

Two accounts in safe mode with different tokens and keys, sharing the sample knowledge with an
overlay each; the same citizen (same OpenID, same MsgIds) talks to both, interleaved, on the
in-process store and on Redis, and nothing of one account's state reaches the other.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.deps import Resources
from app.late import RecordingLateSender
from app.main import build_resources, create_app
from app.stores import keys
from app.wechat.crypto import MessageCrypto, sign
from app.wechat.simulator import Simulator
from handlers.session import Session
from tests.app.conftest import RecordingSink, make_settings

REPO = Path(__file__).resolve().parents[2]
AES = {"rsj": "r" * 43, "gjj": "g" * 43}
TOKENS = {"rsj": "rsjtoken16", "gjj": "gjjtoken16"}
APPIDS = {"rsj": "wxrsj000000000016", "gjj": "wxgjj000000000016"}
OVERRIDE = "【市人社局】公积金余额请在「人社公积金」小程序查询。"
OWN = "市人社局办公地址：人民路 1 号，工作日 9:00-17:00。"


def write_overlays(root: Path) -> None:
    rsj = root / "rsj" / "faq"
    rsj.mkdir(parents=True)
    (rsj / "local.yaml").write_text(
        f"""category: 公积金
entries:
  - id: gongjijin-001
    question: 公积金余额怎么查
    similar: [怎么查住房公积金账户里有多少钱]
    answer: {OVERRIDE}
  - id: rsj-001
    question: 人社局办公地址在哪里
    similar: [人社局在哪办公]
    answer: {OWN}
""",
        encoding="utf-8",
    )
    gjj = root / "gjj"
    gjj.mkdir()
    (gjj / "disable.txt").write_text("# 本中心不提供的条目\ngongjijin-001\n", encoding="utf-8")


def accounts_file(root: Path) -> Path:
    lines = ["accounts:"]
    for account in ("rsj", "gjj"):
        lines += [
            f"  - id: {account}",
            f"    appid: {APPIDS[account]}",
            f"    token: {TOKENS[account]}",
            f"    aes_key: {AES[account]}",
            "    encrypt_mode: safe",
            f"    knowledge: [{REPO / 'knowledge'}, {root / account}]",
            f"    flows: [{REPO / 'flows'}]",
            f"    menu: {root / account / 'menu.yaml'}",
        ]
    path = root / "accounts.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class City:
    client: httpx.AsyncClient
    resources: Resources
    sink: RecordingSink
    sims: dict[str, Simulator]

    async def say(self, account: str, fields: dict[str, str]) -> str:
        sim = self.sims[account]
        delivery = sim.deliver(fields)
        response = await self.client.post(f"/wechat/{account}", params=delivery.params, content=delivery.body)
        assert response.status_code == 200, response.text
        return sim.read_reply(response.text, delivery.params["nonce"]).get("Content", "")

    async def session(self, account: str, openid: str) -> Session | None:
        data = await self.resources.store.get(keys.session(account, openid))
        return None if data is None else Session.from_bytes(data)


def simulator(account: str) -> Simulator:
    crypto = MessageCrypto(TOKENS[account], AES[account], APPIDS[account])
    return Simulator(TOKENS[account], "safe", crypto, account=f"gh_{account}")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def city(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[City]:
    write_overlays(tmp_path)
    overrides: dict[str, Any] = {"accounts_file": accounts_file(tmp_path)}
    if request.param == "redis":
        overrides["redis_url"] = request.getfixturevalue("redis_url")
    settings = make_settings(**overrides)
    sink = RecordingSink()
    resources = build_resources(settings, late_sender=RecordingLateSender(), sink=sink)
    app = create_app(settings, resources=resources)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield City(client, resources, sink, {a: simulator(a) for a in ("rsj", "gjj")})


def openid() -> str:
    return "o_city_" + uuid.uuid4().hex[:12]


async def test_each_account_answers_with_its_own_overlay_over_the_shared_knowledge(city: City) -> None:
    user = openid()
    assert await city.say("rsj", city.sims["rsj"].text(user, "公积金余额怎么查")) == OVERRIDE
    assert await city.say("rsj", city.sims["rsj"].text(user, "人社局办公地址在哪里")) == OWN
    # gjj disabled the shared entry and has no override: it never serves it.
    gjj_reply = await city.say("gjj", city.sims["gjj"].text(user, "公积金余额怎么查"))
    assert gjj_reply != OVERRIDE and "12329 按语音提示查询" not in gjj_reply
    assert OWN not in await city.say("gjj", city.sims["gjj"].text(user, "人社局办公地址在哪里"))


async def test_the_same_conversation_on_two_accounts_interleaved_shares_no_state(city: City) -> None:
    user = openid()
    rsj, gjj = city.sims["rsj"], city.sims["gjj"]
    await city.say("rsj", rsj.text(user, "我要预约"))
    rsj_session = await city.session("rsj", user)
    assert rsj_session is not None and rsj_session.flow is not None
    # The same citizen, the same words, on the other account: a fresh start, not the flow's next step.
    await city.say("gjj", gjj.event(user, "subscribe"))
    gjj_session = await city.session("gjj", user)
    assert gjj_session is not None and gjj_session.flow is None
    assert gjj_session.consultation_id != rsj_session.consultation_id
    await city.say("rsj", rsj.text(user, "社保卡"))
    after = await city.session("rsj", user)
    assert after is not None and after.flow is not None and after.flow.flow_id == rsj_session.flow.flow_id
    assert (await city.session("gjj", user)).flow is None  # type: ignore[union-attr]
    # Unsubscribing from one account forgets the user there only.
    await city.say("gjj", gjj.event(user, "unsubscribe"))
    assert await city.session("gjj", user) is None
    assert await city.session("rsj", user) is not None
    assert {r.account for r in city.sink.records} == {"rsj", "gjj"}
    assert [r.account for r in city.sink.records] == ["rsj", "gjj", "rsj", "gjj"]


async def test_identical_msgids_on_two_accounts_are_two_messages(city: City) -> None:
    user = openid()
    fields = city.sims["rsj"].text(user, "人社局办公地址在哪里")
    same = dict(fields)
    assert await city.say("rsj", fields) == OWN
    # The same MsgId from another account is not a retry of the first: it is answered.
    reply = await city.say("gjj", same)
    assert reply and reply != OWN
    assert [r.outcome for r in city.sink.records] == ["passive", "passive"]
    assert not any(r.is_retry for r in city.sink.records)


async def test_a_delivery_signed_with_another_accounts_token_is_refused(city: City) -> None:
    delivery = city.sims["rsj"].deliver(city.sims["rsj"].text(openid(), "你好"))
    response = await city.client.post("/wechat/gjj", params=delivery.params, content=delivery.body)
    assert response.status_code == 403


async def test_a_body_encrypted_with_another_accounts_key_is_refused(city: City) -> None:
    user = openid()
    forged = Simulator(TOKENS["gjj"], "safe", MessageCrypto(TOKENS["gjj"], AES["rsj"], APPIDS["gjj"]))
    delivery = forged.deliver(forged.text(user, "你好"))
    response = await city.client.post("/wechat/gjj", params=delivery.params, content=delivery.body)
    assert response.status_code == 400


async def test_replies_are_encrypted_with_each_accounts_own_key(city: City) -> None:
    user = openid()
    sim = city.sims["gjj"]
    delivery = sim.deliver(sim.text(user, "你好"))
    response = await city.client.post("/wechat/gjj", params=delivery.params, content=delivery.body)
    assert sim.read_reply(response.text, delivery.params["nonce"])
    with pytest.raises(Exception):  # noqa: B017 - rsj's key cannot read gjj's reply
        city.sims["rsj"].read_reply(response.text, delivery.params["nonce"])


async def test_url_verification_uses_the_accounts_own_token(city: City) -> None:
    signature = sign(TOKENS["rsj"], "1700000000", "42")
    params = {"timestamp": "1700000000", "nonce": "42", "echostr": "hello", "signature": signature}
    good = await city.client.get("/wechat/rsj", params=params)
    assert (good.status_code, good.text) == (200, "hello")
    other = await city.client.get("/wechat/gjj", params=params)
    assert other.status_code == 403


async def test_unknown_accounts_and_a_missing_default_are_404(city: City) -> None:
    delivery = city.sims["rsj"].deliver(city.sims["rsj"].text(openid(), "你好"))
    for path in ("/wechat/nobody", "/wechat"):
        response = await city.client.post(path, params=delivery.params, content=delivery.body)
        assert response.status_code == 404, path


async def test_tickets_carry_the_account_they_were_filed_through(city: City) -> None:
    from sqlalchemy import select

    from app.db import migrate
    from app.db.models import Ticket

    assert city.resources.engine is not None
    migrate.upgrade(city.resources.engine)
    number = await city.resources.accounts["gjj"].services.create_ticket("complaint", openid(), {"内容": "测试"})
    assert city.resources.engine is not None
    with city.resources.engine.connect() as conn:
        account = conn.execute(select(Ticket.account).where(Ticket.number == number)).scalar_one()
    assert account == "gjj"


async def test_the_shared_folder_is_loaded_once_for_both_accounts(city: City) -> None:
    names = [item.name for item in city.resources.reloadables]
    assert sum(name.startswith("knowledge:") and name.endswith("/knowledge") for name in names) == 1
    rsj = city.resources.accounts["rsj"].matcher()
    gjj = city.resources.accounts["gjj"].matcher()
    assert rsj is not None and gjj is not None
    assert rsj.layers[0].matcher is gjj.layers[0].matcher  # type: ignore[union-attr]


async def test_a_broken_overlay_keeps_its_account_on_the_last_good_version(city: City, tmp_path: Path) -> None:
    user = openid()
    (tmp_path / "rsj" / "faq" / "local.yaml").write_text("category: 公积金\nentries:\n  - id: [broken\n", "utf-8")
    assert city.resources.reloader is not None
    reports = {r.name: r for r in await city.resources.reloader.reload("admin")}
    broken = reports[f"knowledge:{tmp_path / 'rsj'}"]
    assert broken.status == "failed"
    assert any(p.startswith("faq/local.yaml:4: ") for p in broken.problems), broken.problems
    assert all(r.status == "loaded" for name, r in reports.items() if name != broken.name)
    # rsj keeps serving its last good overlay; gjj is untouched.
    assert await city.say("rsj", city.sims["rsj"].text(user, "公积金余额怎么查")) == OVERRIDE
    assert await city.say("rsj", city.sims["rsj"].text(user, "人社局办公地址在哪里")) == OWN
    assert OVERRIDE not in await city.say("gjj", city.sims["gjj"].text(user, "公积金余额怎么查"))


async def test_an_overlay_edit_reaches_only_the_accounts_that_list_it(city: City, tmp_path: Path) -> None:
    user = openid()
    (tmp_path / "gjj" / "disable.txt").write_text("# 全部恢复\n", encoding="utf-8")
    assert city.resources.reloader is not None
    await city.resources.reloader.poll_once()
    assert "12329 按语音提示查询" in await city.say("gjj", city.sims["gjj"].text(user, "公积金余额怎么查"))
    assert await city.say("rsj", city.sims["rsj"].text(user, "公积金余额怎么查")) == OVERRIDE


async def test_staff_see_a_users_session_on_the_account_they_name(city: City) -> None:
    user = openid()
    await city.say("rsj", city.sims["rsj"].text(user, "我要预约"))
    headers = {"Authorization": "Bearer dev-admin-token"}
    found = await city.client.get(f"/admin/sessions/{user}", params={"account": "rsj"}, headers=headers)
    assert found.status_code == 200 and found.json()["flow"] == "booking"
    missing = await city.client.get(f"/admin/sessions/{user}", params={"account": "gjj"}, headers=headers)
    assert missing.status_code == 404


def test_each_account_replies_late_through_its_own_wechat_client(tmp_path: Path) -> None:
    from app.late_sender import CustomerServiceSender

    write_overlays(tmp_path)
    path = accounts_file(tmp_path)
    text = path.read_text(encoding="utf-8").replace("encrypt_mode: safe\n", "encrypt_mode: safe\n    appsecret: s3\n")
    path.write_text(text, encoding="utf-8")
    resources = build_resources(make_settings(accounts_file=path), sink=RecordingSink())
    for account in ("rsj", "gjj"):
        runtime = resources.accounts[account]
        assert runtime.wechat is not None and runtime.wechat.appid == APPIDS[account]
        assert isinstance(runtime.late_sender, CustomerServiceSender)
        assert runtime.late_sender._client is runtime.wechat
        assert runtime.processor.late_sender is runtime.late_sender
    # One connection pool to WeChat for every account.
    assert resources.accounts["rsj"].wechat._http is resources.accounts["gjj"].wechat._http  # type: ignore[union-attr]


async def test_healthz_reports_every_folder_and_the_deployments_calendar(city: City) -> None:
    body = (await city.client.get("/healthz")).json()
    assert body["status"] == "ok", body
    folders = [name for name in body if name.startswith(("knowledge:", "flows:"))]
    assert len(folders) == 4 and all(body[name] == "loaded" for name in folders)
    assert body.get("calendar") in ("ok", "incomplete")
