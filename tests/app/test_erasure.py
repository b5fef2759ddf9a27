"""A user who leaves is erased even while the session store is down (issue 15).

The erasure is handed to the turn log first (written to the database, or fsynced to the spool
while the database is down), whatever the store says; the session is deleted as soon as the
store answers again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from app.stores import keys
from app.stores.base import Store, StoreUnavailable
from tests.app.conftest import Harness

OPENID = "o_leaver_0001"


class SwitchableStore:
    """The real store behind a switch: while `down`, every call fails like a stopped Redis."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.down = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name in ("lock",):
            def lock(*args: Any, **kwargs: Any) -> Any:
                if self.down:
                    raise StoreUnavailable("down")
                return attr(*args, **kwargs)
            return lock
        if not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreUnavailable("down")
            return await attr(*args, **kwargs)

        return call


async def test_unsubscribe_with_the_store_down_erases_now_and_deletes_the_session_when_it_returns(
    harness: Harness,
) -> None:
    await harness.say(harness.sim.event(OPENID, "subscribe"))
    real = harness.resources.store
    assert await real.get(keys.session("default", OPENID)) is not None
    switch = SwitchableStore(real)
    harness.resources.processor.store = switch  # type: ignore[assignment]
    harness.resources.processor.retry_interval_s = 0.05

    switch.down = True
    reply = await harness.say(harness.sim.event(OPENID, "unsubscribe"))
    assert reply == {}
    assert harness.sink.erased == [OPENID]
    assert await real.get(keys.session("default", OPENID)) is not None  # out of reach for now

    switch.down = False
    for _ in range(100):
        if await real.get(keys.session("default", OPENID)) is None:
            break
        await asyncio.sleep(0.02)
    assert await real.get(keys.session("default", OPENID)) is None
