"""With Redis, a delivery costs two round trips (issue 15): begin_turn and finish_turn."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from app.stores.redis import RedisStore
from tests.app.conftest import Harness, HarnessFactory

pytestmark = pytest.mark.redis


async def test_a_delivery_costs_two_redis_round_trips(harness_factory: HarnessFactory, redis_url: str) -> None:
    h: Harness = await harness_factory(redis_url=redis_url)
    store = h.resources.processor.store
    assert isinstance(store, RedisStore)
    openid = f"o-{uuid.uuid4().hex}"
    await h.say(h.sim.text(openid, "你好"))  # scripts loaded, connection warm
    client = store._redis
    real = client.execute_command
    commands: list[Any] = []

    async def counting(*args: Any, **kwargs: Any) -> Any:
        commands.append(args[0])
        return await real(*args, **kwargs)

    client.execute_command = counting  # type: ignore[method-assign]
    try:
        for text in ("社保卡丢了怎么补办", "我要预约", "明天上午"):
            commands.clear()
            await h.say(h.sim.text(openid, text))
            assert len(commands) == 2, commands
    finally:
        client.execute_command = real  # type: ignore[method-assign]
