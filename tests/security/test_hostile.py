"""A corpus of hostile payloads, kept as regression tests: each gets a 4xx or a polite reply, fast."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.main import build_resources, create_app
from app.settings import Settings
from app.wechat.simulator import Simulator

OPENID = "o_hostile_0001"
HEAD = (
    f"<ToUserName>gh_x</ToUserName><FromUserName>{OPENID}</FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType>text</MsgType><MsgId>{id}</MsgId>"
)

CORPUS: dict[str, bytes] = {
    "billion-laughs": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
            for i in range(1, 10)
        )
        + b"]><xml><Content>&lol9;</Content></xml>"
    ),
    "external-entity": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b"<xml><Content>&e;</Content></xml>",
    "external-dtd": b'<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd"><xml/>',
    "parameter-entity": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "file:///etc/passwd">%p;]><xml/>',
    "huge-cdata": ("<xml>" + HEAD.format(id=1) + "<Content><![CDATA[" + "办" * 20000 + "]]></Content></xml>").encode(),
    "over-limit": b"<xml><Content>" + b"a" * (70 * 1024) + b"</Content></xml>",
    "invalid-utf8": b"<xml>" + HEAD.format(id=2).encode() + b"<Content>\xff\xfe\xc3\x28</Content></xml>",
    "control-characters": ("<xml>" + HEAD.format(id=3) + "<Content>a&#1;b</Content></xml>").encode(),
    "raw-control-bytes": b"<xml>" + HEAD.format(id=4).encode() + b"<Content>a\x01\x02b</Content></xml>",
    "deep-nesting": b"<xml>" + b"<a>" * 5000 + b"x" + b"</a>" * 5000 + b"</xml>",
    "nul-bytes": b"<xml>\x00\x00</xml>",
    "processing-instruction": b'<?xml version="1.0"?><?xml-stylesheet href="http://127.0.0.1:9/x"?><xml/>',
    "empty": b"",
    "only-whitespace": b"   \n ",
    "wrong-encoding-declaration": ('<?xml version="1.0" encoding="gbk"?><xml>' + HEAD.format(id=5)
                                   + "<Content>中文</Content></xml>").encode(),
    "cdata-terminator": (
        "<xml>" + HEAD.format(id=6) + "<Content><![CDATA[a]]]]><![CDATA[>b]]></Content></xml>"
    ).encode(),
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings_ = Settings(app_env="dev", redis_url=None, database_url="sqlite://", rate_limit_per_minute=0)
    app = create_app(settings_, resources=build_resources(settings_))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator("wxbotdev")


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_payload_gets_a_clean_answer_fast(client: TestClient, sim: Simulator, name: str) -> None:
    delivery = sim.deliver(sim.text(OPENID, "x"))
    started = time.perf_counter()
    response = client.post("/wechat", params=delivery.params, content=CORPUS[name])
    assert time.perf_counter() - started < 2
    assert response.status_code in (200, 400, 413), response.text
    assert "Traceback" not in response.text and "passwd" not in response.text
    if response.status_code == 200:
        assert "root:" not in response.text


def test_entity_payloads_are_rejected_not_expanded(client: TestClient, sim: Simulator) -> None:
    delivery = sim.deliver(sim.text(OPENID, "x"))
    for name in ("billion-laughs", "external-entity", "external-dtd", "parameter-entity"):
        response = client.post("/wechat", params=delivery.params, content=CORPUS[name])
        assert response.status_code == 400, name
        assert len(response.content) < 100


@settings(max_examples=200, deadline=1000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=2048))
def test_any_signed_body_never_gets_a_500(client: TestClient, sim: Simulator, body: bytes) -> None:
    delivery = sim.deliver(sim.text(OPENID, "x"))
    response = client.post("/wechat", params=delivery.params, content=body)
    assert response.status_code in (200, 400, 413)


@settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.text(max_size=500), msg_type=st.sampled_from(["text", "voice", "event", "image", "zzz"]))
def test_any_wellformed_message_gets_a_reply_never_a_500(
    client: TestClient, sim: Simulator, content: str, msg_type: str
) -> None:
    fields = sim._message(OPENID + "f", msg_type, Content=content, Recognition=content, Event=content[:20])
    try:
        delivery = sim.deliver(fields)
    except UnicodeEncodeError:
        return
    response = client.post("/wechat", params=delivery.params, content=delivery.body)
    assert response.status_code in (200, 400)
