"""A user's lock never costs them an answer (issue 15).

A Redis blip left a user locked for up to 30 s: the unlock was skipped, and the next message
waited on the lock past the 4 s reply deadline and was answered a blank `success`. The lock's
lease is now on the order of the deadline and the wait for it ends inside the deadline, with
room left for an answer.
"""

from __future__ import annotations

import time

from app.settings import Settings
from app.stores import keys
from tests.app.conftest import HarnessFactory

OPENID = "o_locked_0001"
FAQ = "社保卡丢了怎么补办"


def test_the_lock_lease_is_on_the_order_of_the_reply_deadline() -> None:
    settings = Settings(app_env="dev")
    assert settings.lock_ttl_s <= settings.reply_deadline_s + 2


async def test_a_lock_left_behind_costs_the_next_message_no_answer(harness_factory: HarnessFactory) -> None:
    h = await harness_factory(reply_deadline_s=1.5, lock_ttl_s=30)
    store = h.resources.store
    lock = store.lock(keys.user_lock("default", OPENID), ttl=30, wait=1)
    await lock.__aenter__()  # held by a turn whose unlock never reached the store
    try:
        started = time.perf_counter()
        reply = await h.say(h.sim.text(OPENID, FAQ))
        seconds = time.perf_counter() - started
    finally:
        await lock.__aexit__(None, None, None)
    assert reply.get("Content"), "answered a blank success"
    assert "社保卡" in reply["Content"]
    assert seconds < 1.5
