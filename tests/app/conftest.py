"""An app on the embedded defaults, driven in-process over ASGI with the real protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.deps import Resources
from app.late import RecordingLateSender
from app.main import build_resources, create_app
from app.settings import Settings
from app.turnlog.record import TurnRecord
from app.wechat.crypto import MessageCrypto
from app.wechat.simulator import Delivery, Simulator


class RecordingSink:
    def __init__(self) -> None:
        self.records: list[TurnRecord] = []
        self.erased: list[str] = []

    def submit(self, record: TurnRecord) -> None:
        self.records.append(record)

    def erase_user(self, openid: str) -> None:
        self.erased.append(openid)


@dataclass
class Harness:
    client: httpx.AsyncClient
    sim: Simulator
    resources: Resources
    late: RecordingLateSender
    sink: RecordingSink

    async def post(self, delivery: Delivery) -> httpx.Response:
        return await self.client.post("/wechat", params=delivery.params, content=delivery.body)

    async def say(self, fields: dict[str, str]) -> dict[str, str]:
        delivery = self.sim.deliver(fields)
        response = await self.post(delivery)
        assert response.status_code == 200, response.text
        return self.sim.read_reply(response.text, delivery.params["nonce"])


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"app_env": "dev", "redis_url": None, "database_url": "sqlite://"}
    base.update(overrides)
    return Settings(**base)


HarnessFactory = Callable[..., Any]


@pytest.fixture
async def harness_factory() -> AsyncIterator[HarnessFactory]:
    stack: list[Any] = []

    async def make(**overrides: Any) -> Harness:
        settings = make_settings(**overrides)
        late = RecordingLateSender()
        sink = RecordingSink()
        resources = build_resources(settings, late_sender=late, sink=sink)
        app = create_app(settings, resources=resources)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        stack.append(lifespan)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        stack.append(client)
        token = settings.wechat_token.get_secret_value()
        crypto = MessageCrypto(token, settings.wechat_aes_key.get_secret_value(), settings.wechat_appid)
        sim = Simulator(token, settings.wechat_encrypt_mode, crypto)
        return Harness(client, sim, resources, late, sink)

    yield make
    for item in reversed(stack):
        if isinstance(item, httpx.AsyncClient):
            await item.aclose()
        else:
            await item.__aexit__(None, None, None)


@pytest.fixture
async def harness(harness_factory: HarnessFactory) -> Harness:
    h: Harness = await harness_factory()
    return h
