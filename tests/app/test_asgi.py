"""WeChat's deliveries served without FastAPI's middleware answer exactly as through it (app/asgi.py)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from app.asgi import WxbotApp
from app.wechat.simulator import Delivery
from tests.app.conftest import Harness, HarnessFactory


def app_of(harness: Harness) -> WxbotApp:
    app = harness.client._transport.app  # type: ignore[attr-defined]
    assert isinstance(app, WxbotApp)
    return app


async def both_ways(harness: Harness, path: str, make: Any) -> list[tuple[int, str, list[str]]]:
    """The same kind of request, sent once straight to the endpoint and once through FastAPI."""
    app = app_of(harness)
    direct = app._deliveries
    answers = []
    for shortcut in (True, False):
        app._deliveries = direct if shortcut else None
        delivery: Delivery = make()
        response = await harness.client.post(path, params=delivery.params, content=delivery.body)
        answers.append((response.status_code, response.headers["content-type"], sorted(response.headers)))
    app._deliveries = direct
    return answers


@pytest.mark.parametrize("path", ["/wechat", "/wechat/default"])
async def test_a_delivery_gets_the_same_answer_with_and_without_the_middleware(harness: Harness, path: str) -> None:
    sim = harness.sim
    direct, through = await both_ways(harness, path, lambda: sim.deliver(sim.text("o_same", "你好")))
    assert direct == through
    assert direct[0] == 200
    assert harness.sink.records[-1].route == harness.sink.records[-2].route


async def test_a_forged_signature_is_refused_by_the_same_handler_either_way(harness: Harness) -> None:
    sim = harness.sim

    def forged() -> Delivery:
        delivery = sim.deliver(sim.text("o_forged", "你好"))
        delivery.params["signature"] = "0" * 40
        return delivery

    direct, through = await both_ways(harness, "/wechat", forged)
    assert direct == through
    assert direct[0] == 403


async def test_an_unknown_account_is_refused_the_same_way_either_way(harness: Harness) -> None:
    sim = harness.sim
    direct, through = await both_ways(harness, "/wechat/nobody", lambda: sim.deliver(sim.text("o_x", "你好")))
    assert direct == through
    assert direct[0] == 404


async def test_an_unexpected_error_is_a_500_from_the_apps_handler_and_raised_for_the_server(
    harness: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(message: Any, stages: Any, replay: Any = None) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(harness.resources.processor, "process", broken)
    app = app_of(harness)
    delivery = harness.sim.deliver(harness.sim.text("o_broken", "你好"))
    query = "&".join(f"{k}={v}" for k, v in delivery.params.items())
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/wechat", "raw_path": b"/wechat", "query_string": query.encode(),
        "root_path": "", "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    body = [{"type": "http.request", "body": delivery.body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return body.pop(0)

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError, match="boom"):
        await app(scope, receive, send)
    assert sent[0]["status"] == 500
    assert sent[1]["body"] == b"internal error"
    assert any("unhandled error" in r.getMessage() for r in caplog.records)


async def test_middleware_added_to_the_app_still_sees_every_delivery(harness_factory: HarnessFactory) -> None:
    harness: Harness = await harness_factory()
    seen: list[str] = []

    async def note(request: Request, call_next: Any) -> Response:
        seen.append(request.url.path)
        response: Response = await call_next(request)
        return response

    app = app_of(harness)
    app.user_middleware.insert(0, Middleware(BaseHTTPMiddleware, dispatch=note))
    app.middleware_stack = app.build_middleware_stack()
    reply = await harness.say(harness.sim.text("o_mw", "你好"))
    assert reply["MsgType"] == "text"
    assert seen == ["/wechat"]
