"""A client that goes away, or sends its body too slowly, is a one-line info, not a 500 (issue 15).

500 disconnects used to write ~30k log lines: a 500 with two tracebacks each. A disconnect is now
answered with the 499 nginx uses for it (nobody reads it) and one info line; a body that does not
arrive within BODY_READ_TIMEOUT_S is a 408.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from tests.app.conftest import Harness, HarnessFactory


async def call(harness: Harness, receive: Any) -> list[dict[str, Any]]:
    delivery = harness.sim.deliver(harness.sim.text("o_gone", "你好"))
    query = "&".join(f"{k}={v}" for k, v in delivery.params.items())
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/wechat", "raw_path": b"/wechat", "query_string": query.encode(),
        "root_path": "", "headers": [(b"host", b"testserver"), (b"content-type", b"text/xml")],
        "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    app = harness.client._transport.app  # type: ignore[attr-defined]
    await app(scope, receive, send)
    return sent


async def test_a_client_gone_mid_body_is_a_499_info_line_without_a_traceback(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    messages = iter([
        {"type": "http.request", "body": b"<xml><ToUserName>", "more_body": True},
        {"type": "http.disconnect"},
    ])

    async def receive() -> dict[str, Any]:
        return next(messages)

    with caplog.at_level(logging.INFO):
        sent = await call(harness, receive)
    assert sent[0]["status"] == 499
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert [r for r in caplog.records if r.exc_info] == []
    assert any("client disconnected" in r.getMessage() for r in caplog.records)


async def test_a_body_that_never_arrives_is_cut_off_at_the_read_deadline(harness_factory: HarnessFactory) -> None:
    h: Harness = await harness_factory(body_read_timeout_s=0.3)
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"<xml>", "more_body": True}
        await asyncio.sleep(30)
        return {"type": "http.disconnect"}

    started = time.perf_counter()
    sent = await call(h, receive)
    assert sent[0]["status"] == 408
    assert time.perf_counter() - started < 2
