"""The callback end to end over ASGI: protocol modes, bad input, retries, ordering, deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from app.stores import keys
from app.wechat.crypto import sign
from handlers import router
from handlers.context import HandlerContext, Turn, TurnResult
from handlers.messages import TextMessage
from handlers.replies import TextReply
from handlers.session import Session
from tests.app.conftest import Harness, HarnessFactory

OPENID = "o_test_user_0001"


@pytest.fixture
def slow_route() -> Iterator[list[tuple[str, float, float]]]:
    """A route for texts 'SLOW <seconds>' that sleeps, recording when each turn ran."""
    spans: list[tuple[str, float, float]] = []

    def when(turn: Turn) -> bool:
        return isinstance(turn.message, TextMessage) and turn.message.content.startswith("SLOW")

    async def handle(turn: Turn, ctx: HandlerContext) -> TurnResult:
        assert isinstance(turn.message, TextMessage)
        seconds = float(turn.message.content.split()[1])
        start = time.perf_counter()
        await asyncio.sleep(seconds)
        spans.append((turn.message.content, start, time.perf_counter()))
        return TurnResult(TextReply(f"done {turn.message.content}"), "faq", turn.session)

    router.ROUTES.insert(0, router.RouteEntry("slow", when, handle))
    yield spans
    router.ROUTES.pop(0)


# -- URL verification ------------------------------------------------------------------
async def test_url_verification_returns_echostr(harness: Harness) -> None:
    ts, nonce = str(int(time.time())), "123"
    params = {"signature": sign(harness.sim.token, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "e1"}
    response = await harness.client.get("/wechat", params=params)
    assert response.status_code == 200
    assert response.text == "e1"


async def test_url_verification_with_a_forged_signature_is_403(harness: Harness) -> None:
    params = {"signature": "0" * 40, "timestamp": "1", "nonce": "2", "echostr": "e1"}
    response = await harness.client.get("/wechat", params=params)
    assert response.status_code == 403
    assert "e1" not in response.text


# -- modes -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
async def test_subscribe_gets_the_numbered_welcome_in_every_mode(harness_factory: HarnessFactory, mode: str) -> None:
    h: Harness = await harness_factory(wechat_encrypt_mode=mode)
    reply = await h.say(h.sim.event(OPENID, "subscribe"))
    assert reply["MsgType"] == "text"
    assert "1. 预约办事" in reply["Content"]
    # Ids are swapped: we answer the user from the account.
    assert reply["ToUserName"] == OPENID
    assert reply["FromUserName"] == h.sim.account


async def test_safe_mode_reply_is_encrypted_and_echoes_the_nonce(harness_factory: HarnessFactory) -> None:
    h: Harness = await harness_factory(wechat_encrypt_mode="safe")
    delivery = h.sim.deliver(h.sim.text(OPENID, "你好"))
    response = await h.post(delivery)
    assert "<Encrypt>" in response.text and "<MsgSignature>" in response.text
    assert f"<Nonce><![CDATA[{delivery.params['nonce']}]]></Nonce>" in response.text
    assert h.sim.read_reply(response.text, delivery.params["nonce"])["MsgType"] == "text"


async def test_safe_mode_refuses_a_plaintext_body(harness_factory: HarnessFactory) -> None:
    # The mode comes from configuration: dropping encrypt_type must not bypass encryption.
    h: Harness = await harness_factory(wechat_encrypt_mode="safe")
    h.sim.mode = "plain"
    response = await h.post(h.sim.deliver(h.sim.text(OPENID, "你好")))
    assert response.status_code == 400


async def test_safe_mode_checks_msg_signature_not_signature(harness_factory: HarnessFactory) -> None:
    h: Harness = await harness_factory(wechat_encrypt_mode="safe")
    delivery = h.sim.deliver(h.sim.text(OPENID, "你好"))
    delivery.params["msg_signature"] = delivery.params["signature"]
    assert (await h.post(delivery)).status_code == 403


async def test_a_message_for_another_appid_is_400(harness_factory: HarnessFactory) -> None:
    from app.wechat.crypto import MessageCrypto

    h: Harness = await harness_factory(wechat_encrypt_mode="safe")
    h.sim.crypto = MessageCrypto(h.sim.token, "B" * 43, "wx_someone_else")
    response = await h.post(h.sim.deliver(h.sim.text(OPENID, "你好")))
    assert response.status_code in (400, 403)


async def test_wrong_aes_key_with_our_appid_is_400(harness_factory: HarnessFactory) -> None:
    from app.wechat.crypto import MessageCrypto

    h: Harness = await harness_factory(wechat_encrypt_mode="safe")
    h.sim.crypto = MessageCrypto(h.sim.token, "B" * 43, h.resources.settings.wechat_appid)
    response = await h.post(h.sim.deliver(h.sim.text(OPENID, "你好")))
    assert response.status_code == 400


# -- bad input -----------------------------------------------------------------------------
async def test_forged_post_signature_is_403(harness: Harness) -> None:
    delivery = harness.sim.deliver(harness.sim.text(OPENID, "你好"))
    delivery.params["signature"] = "f" * 40
    assert (await harness.post(delivery)).status_code == 403


async def test_missing_signature_is_403(harness: Harness) -> None:
    delivery = harness.sim.deliver(harness.sim.text(OPENID, "你好"))
    del delivery.params["signature"]
    assert (await harness.post(delivery)).status_code == 403


async def test_a_stale_timestamp_is_refused_as_a_replay(harness: Harness) -> None:
    old = str(int(time.time()) - 3600)
    delivery = harness.sim.deliver(harness.sim.text(OPENID, "你好"), timestamp=old)
    assert (await harness.post(delivery)).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><MsgType>text</MsgType",
        b"not xml at all",
        b"<html><body/></html>",
        b"<xml><FromUserName>u</FromUserName></xml>",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        b"<xml><Content>&lol2;</Content></xml>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<xml><Content>&xxe;</Content></xml>",
    ],
    ids=["truncated", "not-xml", "wrong-root", "no-msgtype", "entity-expansion", "external-entity"],
)
async def test_malformed_bodies_are_400(harness: Harness, body: bytes) -> None:
    delivery = harness.sim.deliver(harness.sim.text(OPENID, "x"))
    response = await harness.client.post("/wechat", params=delivery.params, content=body)
    assert response.status_code == 400
    assert "root:" not in response.text


async def test_bad_base64_in_safe_mode_is_400(harness_factory: HarnessFactory) -> None:
    h: Harness = await harness_factory(wechat_encrypt_mode="safe")
    delivery = h.sim.deliver(h.sim.text(OPENID, "x"))
    bad = "%%%not-base64%%%"
    delivery.params["msg_signature"] = sign(h.sim.token, delivery.params["timestamp"], delivery.params["nonce"], bad)
    body = f"<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{bad}]]></Encrypt></xml>"
    response = await h.client.post("/wechat", params=delivery.params, content=body.encode())
    assert response.status_code == 400


async def test_a_body_over_64_kib_is_413(harness: Harness) -> None:
    delivery = harness.sim.deliver(harness.sim.text(OPENID, "长" * 30000))
    assert len(delivery.body) > 64 * 1024
    assert (await harness.post(delivery)).status_code == 413


async def test_wrong_method_is_405(harness: Harness) -> None:
    assert (await harness.client.put("/wechat")).status_code == 405


async def test_unknown_message_type_gets_a_polite_reply(harness: Harness) -> None:
    fields = harness.sim._message(OPENID, "hologram")
    reply = await harness.say(fields)
    assert "暂不支持" in reply["Content"]


async def test_control_characters_in_user_text_never_reach_the_reply(harness: Harness) -> None:
    reply = await harness.say(harness.sim.location(OPENID, 1.0, 2.0, "广场\x01\x02]]>后门"))
    assert "\x01" not in reply["Content"]
    assert "]]>后门" in reply["Content"]


# -- events and media -------------------------------------------------------------------------
async def test_empty_voice_recognition_asks_the_user_to_type(harness: Harness) -> None:
    reply = await harness.say(harness.sim.voice(OPENID, ""))
    assert "输入文字" in reply["Content"]


async def test_unsubscribe_deletes_the_session(harness: Harness) -> None:
    await harness.say(harness.sim.event(OPENID, "subscribe"))
    store = harness.resources.store
    assert await store.get(keys.session("default", OPENID)) is not None
    reply = await harness.say(harness.sim.event(OPENID, "unsubscribe"))
    assert reply == {}
    assert await store.get(keys.session("default", OPENID)) is None


async def test_other_events_are_acknowledged_with_success(harness: Harness) -> None:
    delivery = harness.sim.deliver(harness.sim.event(OPENID, "LOCATION"))
    response = await harness.post(delivery)
    assert response.text == "success"


async def test_stage_timings_are_whole_microseconds_within_the_total(harness: Harness) -> None:
    await harness.post(harness.sim.deliver(harness.sim.event(OPENID, "subscribe")))
    (record,) = harness.sink.records
    assert {"verify", "parse", "render"} <= set(record.stages)
    assert all(type(us) is int and us >= 0 for us in record.stages.values())
    assert sum(record.stages.values()) <= record.latency_ms * 1000 + len(record.stages)


# -- retries, ordering, deadline ----------------------------------------------------------------
async def test_a_retry_of_a_finished_message_gets_the_identical_reply(harness: Harness) -> None:
    fields = harness.sim.event(OPENID, "subscribe")
    first = await harness.post(harness.sim.deliver(fields))
    again = await harness.post(harness.sim.deliver(fields))
    assert first.text == again.text
    assert [r.is_retry for r in harness.sink.records] == [False, True]


async def test_a_retry_while_in_flight_waits_and_gets_the_same_reply(
    harness: Harness, slow_route: list[tuple[str, float, float]]
) -> None:
    fields = harness.sim.text(OPENID, "SLOW 0.3")
    first, retry = await asyncio.gather(
        harness.post(harness.sim.deliver(fields)), harness.post(harness.sim.deliver(fields))
    )
    assert first.text == retry.text
    assert "done SLOW 0.3" in first.text
    assert len(slow_route) == 1  # handled once


async def test_two_messages_from_one_user_run_one_after_the_other(
    harness: Harness, slow_route: list[tuple[str, float, float]]
) -> None:
    a = harness.sim.deliver(harness.sim.text(OPENID, "SLOW 0.2"))
    b = harness.sim.deliver(harness.sim.text(OPENID, "SLOW 0.1"))
    await asyncio.gather(harness.post(a), harness.post(b))
    (_, _s1, e1), (_, s2, _e2) = sorted(slow_route, key=lambda span: span[1])
    assert s2 >= e1  # no overlap


async def test_messages_from_different_users_run_in_parallel(
    harness: Harness, slow_route: list[tuple[str, float, float]]
) -> None:
    a = harness.sim.deliver(harness.sim.text("o_user_a", "SLOW 0.3"))
    b = harness.sim.deliver(harness.sim.text("o_user_b", "SLOW 0.3"))
    started = time.perf_counter()
    await asyncio.gather(harness.post(a), harness.post(b))
    assert time.perf_counter() - started < 0.55


async def test_a_turn_past_the_deadline_answers_success_and_replies_late(
    harness_factory: HarnessFactory, slow_route: list[tuple[str, float, float]]
) -> None:
    h: Harness = await harness_factory(reply_deadline_s=0.1)
    delivery = h.sim.deliver(h.sim.text(OPENID, "SLOW 0.4"))
    started = time.perf_counter()
    response = await h.post(delivery)
    assert time.perf_counter() - started < 0.35
    assert response.text == "success"
    await h.resources.processor.drain()
    assert [(openid, reply) for openid, reply in h.late.sent] == [(OPENID, TextReply("done SLOW 0.4"))]
    # A retry after the deadline fired must not show a second answer.
    assert (await h.post(h.sim.deliver(delivery.fields))).text == "success"
    late_rows = [r for r in h.sink.records if r.outcome == "late"]
    assert len(late_rows) == 1 and late_rows[0].late_detail == "recorded"


# -- paging ---------------------------------------------------------------------------------
async def test_a_long_answer_is_paged_and_more_gets_the_rest(harness: Harness) -> None:
    long_text = "\n".join(f"第{i}条：" + "办理材料说明" * 20 for i in range(30))

    def when(turn: Turn) -> bool:
        return isinstance(turn.message, TextMessage) and turn.message.content == "LONG"

    async def handle(turn: Turn, ctx: HandlerContext) -> TurnResult:
        return TurnResult(TextReply(long_text), "faq", turn.session)

    router.ROUTES.insert(0, router.RouteEntry("long", when, handle))
    try:
        pages = [(await harness.say(harness.sim.text(OPENID, "LONG")))["Content"]]
        while "更多" in pages[-1]:
            pages.append((await harness.say(harness.sim.text(OPENID, "更多")))["Content"])
            assert len(pages) < 20
    finally:
        router.ROUTES.pop(0)
    assert all(len(p.encode()) <= 2000 for p in pages)
    assert len(pages) > 1
    joined = "".join(p.replace("\n（回复「更多」查看后续内容）", "") for p in pages)
    assert joined.replace("\n", "") == long_text.replace("\n", "")


async def test_healthz_reports_the_store(harness: Harness) -> None:
    response = await harness.client.get("/healthz")
    body = response.json()
    assert (body["status"], body["store"], body["knowledge"], body["flows"]) == ("ok", "ok", "loaded", "loaded")


async def test_the_session_survives_between_turns(harness: Harness) -> None:
    await harness.say(harness.sim.event(OPENID, "subscribe"))
    data = await harness.resources.store.get(keys.session("default", OPENID))
    assert data is not None
    session = Session.from_bytes(data)
    assert [c.target for c in session.choices][:2] == ["booking", "progress"]


async def test_a_flood_from_one_user_is_answered_politely_without_the_work(
    harness_factory: HarnessFactory, slow_route: list[tuple[str, float, float]]
) -> None:
    h: Harness = await harness_factory(rate_limit_per_minute=3)
    replies = [(await h.say(h.sim.text(OPENID, "SLOW 0")))["Content"] for _ in range(5)]
    assert replies[:3] == ["done SLOW 0"] * 3
    assert all("稍等片刻" in r for r in replies[3:])
    assert len(slow_route) == 3
    # Another user is not affected.
    assert (await h.say(h.sim.text("o_other", "SLOW 0")))["Content"] == "done SLOW 0"


async def test_retries_do_not_count_against_the_rate_limit(harness_factory: HarnessFactory) -> None:
    h: Harness = await harness_factory(rate_limit_per_minute=1)
    fields = h.sim.text(OPENID, "你好")
    first = await h.post(h.sim.deliver(fields))
    again = await h.post(h.sim.deliver(fields))
    assert first.text == again.text and "稍等片刻" not in again.text


async def test_the_rate_limit_reply_says_the_message_was_not_handled(harness_factory: HarnessFactory) -> None:
    from app.turns import TOO_FAST

    h: Harness = await harness_factory(rate_limit_per_minute=1)
    await h.say(h.sim.text(OPENID, "你好"))
    limited = (await h.say(h.sim.text(OPENID, "社保卡丢了怎么补办")))["Content"]
    assert limited == TOO_FAST
    assert "逐条" not in limited  # the limited message is dropped, not queued
    assert "没有处理" in limited and "重新发送" in limited


async def test_menu_clicks_count_against_the_rate_limit_but_leaving_never_does(
    harness_factory: HarnessFactory,
) -> None:
    h: Harness = await harness_factory(rate_limit_per_minute=2)
    # Distinct keys: clicks in the same second on the same key are one delivery to WeChat.
    for key in ("flow:booking", "flow:progress"):
        await h.say(h.sim.event(OPENID, "CLICK", key))
    limited = await h.say(h.sim.event(OPENID, "CLICK", "flow:complaint"))
    assert "稍等片刻" in limited["Content"]
    assert h.sink.records[-1].route == "limited"
    await h.say(h.sim.event(OPENID, "unsubscribe"))
    assert h.sink.records[-1].route != "limited"
    assert h.sink.erased == [OPENID]
