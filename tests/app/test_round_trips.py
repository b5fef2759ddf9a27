"""With Redis, a delivery costs two round trips (issue 15): begin_turn and finish_turn."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.asyncio.connection import AbstractConnection

from app.stores.redis import RedisStore
from app.stores.redis_pipe import ScriptPipe
from tests.app.conftest import Harness, HarnessFactory

pytestmark = pytest.mark.redis


async def test_a_delivery_costs_two_redis_round_trips(harness_factory: HarnessFactory, redis_url: str) -> None:
    h: Harness = await harness_factory(redis_url=redis_url)
    store = h.resources.processor.store
    assert isinstance(store, RedisStore)
    openid = f"o-{uuid.uuid4().hex}"
    await h.say(h.sim.text(openid, "你好"))  # scripts loaded, connection warm
    # Every write to Redis, on either of the store's transports (redis-py's pooled connections
    # and the scripts' own): a round trip is one write (and its reply).
    real = AbstractConnection.send_packed_command
    real_pipe = ScriptPipe._send
    writes: list[bytes] = []

    async def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        writes.append(command if isinstance(command, bytes) else b"".join(command))
        await real(self, command, check_health)

    def counting_pipe(self: ScriptPipe, protocol: Any, packed: bytes, count: int) -> Any:
        writes.append(packed)
        return real_pipe(self, protocol, packed, count)

    AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    ScriptPipe._send = counting_pipe  # type: ignore[method-assign]
    try:
        for text in ("社保卡丢了怎么补办", "我要预约", "明天上午"):
            writes.clear()
            await h.say(h.sim.text(openid, text))
            assert len(writes) == 2, writes
            assert all(w.count(b"EVALSHA") == 1 for w in writes), writes
    finally:
        AbstractConnection.send_packed_command = real  # type: ignore[method-assign]
        ScriptPipe._send = real_pipe  # type: ignore[method-assign]
