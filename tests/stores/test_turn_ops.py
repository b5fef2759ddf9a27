"""The two composite operations a delivery costs (issue 15), against both stores alike.

`begin_turn`: replay record + dedup claim + rate count + user lock + session read, one round
trip. `finish_turn`: session write (or delete) + dedup mark + unlock, one more.
"""

from __future__ import annotations

import asyncio

from app.stores.base import Store, TurnEnd, TurnStart

IN_FLIGHT = b"P"


def start(n: int = 1, *, user: str = "u1", replay: str | None = None, limit: int = 0) -> TurnStart:
    return TurnStart(
        dedup_key=f"dedup:{user}:{n}", dedup_ttl=30, in_flight=IN_FLIGHT,
        replay_key=replay, replay_ttl=300,
        rate_key=f"rate:{user}" if limit else None, rate_ttl=90, rate_limit=limit,
        lock_key=f"user:{user}", lock_ttl=5, session_key=f"session:{user}",
    )


def end(started_token: str, n: int = 1, *, user: str = "u1", session: bytes | None = b"S1",
        reply: bytes = b"Dxml") -> TurnEnd:
    return TurnEnd(
        session_key=f"session:{user}", session=session, session_ttl=60,
        dedup_key=f"dedup:{user}:{n}", dedup_value=reply, dedup_ttl=30, in_flight=IN_FLIGHT,
        lock_key=f"user:{user}", lock_token=started_token,
    )


async def test_a_new_delivery_is_claimed_locked_and_gets_the_session(store: Store) -> None:
    await store.set("session:u1", b"S0", ttl=60)
    started = await store.begin_turn(start())
    assert started.status == "new" and started.session == b"S0" and started.lock_token
    assert await store.get("dedup:u1:1") == IN_FLIGHT


async def test_a_second_delivery_of_the_same_message_is_a_duplicate_with_its_state(store: Store) -> None:
    await store.begin_turn(start())
    again = await store.begin_turn(start())
    assert again.status == "duplicate" and again.dedup_value == IN_FLIGHT


async def test_a_replayed_request_is_a_duplicate_even_when_its_dedup_record_expired(store: Store) -> None:
    first = await store.begin_turn(start(replay="replay:a"))
    assert first.lock_token is not None
    await store.finish_turn(end(first.lock_token))
    await store.delete("dedup:u1:1")
    replayed = await store.begin_turn(start(replay="replay:a"))
    assert replayed.status == "duplicate" and replayed.dedup_value is None


async def test_over_the_rate_limit_the_delivery_is_claimed_but_not_locked(store: Store) -> None:
    first = await store.begin_turn(start(1, limit=1))
    assert first.lock_token is not None
    await store.finish_turn(end(first.lock_token, 1))
    limited = await store.begin_turn(start(2, limit=1))
    assert limited.status == "limited" and limited.lock_token is None
    assert await store.get("dedup:u1:2") == IN_FLIGHT
    async with store.lock("user:u1", ttl=1, wait=0.1):
        pass  # not held


async def test_a_busy_lock_is_reported_and_the_delivery_still_claimed(store: Store) -> None:
    async with store.lock("user:u1", ttl=5, wait=1):
        busy = await store.begin_turn(start())
    assert busy.status == "locked" and busy.lock_token is None
    assert (await store.begin_turn(start())).status == "duplicate"


async def test_finish_saves_the_session_marks_the_reply_and_unlocks(store: Store) -> None:
    started = await store.begin_turn(start())
    assert started.lock_token is not None
    await store.finish_turn(end(started.lock_token, session=b"S1", reply=b"Dxml"))
    assert await store.get("session:u1") == b"S1"
    assert await store.get("dedup:u1:1") == b"Dxml"
    nxt = await store.begin_turn(start(2))
    assert nxt.status == "new" and nxt.session == b"S1"


async def test_finish_with_no_session_deletes_it(store: Store) -> None:
    await store.set("session:u1", b"S0", ttl=60)
    started = await store.begin_turn(start())
    assert started.lock_token is not None
    await store.finish_turn(end(started.lock_token, session=None))
    assert await store.get("session:u1") is None


async def test_finish_never_overwrites_a_late_mark(store: Store) -> None:
    started = await store.begin_turn(start())
    assert started.lock_token is not None
    await store.set("dedup:u1:1", b"L", ttl=30)  # the deadline passed: the reply goes out late
    await store.finish_turn(end(started.lock_token))
    assert await store.get("dedup:u1:1") == b"L"


async def test_finish_with_a_stale_token_frees_nobody_elses_lock(store: Store) -> None:
    started = await store.begin_turn(start())
    assert started.lock_token is not None
    await asyncio.sleep(0)
    await store.finish_turn(end("not-the-token"))
    assert (await store.begin_turn(start(2))).status == "locked"
    await store.finish_turn(end(started.lock_token))
    assert (await store.begin_turn(start(3))).status == "new"


async def test_a_lock_waiter_gets_the_lock_when_the_turn_finishes(store: Store) -> None:
    started = await store.begin_turn(start())
    assert started.lock_token is not None

    async def waiter() -> bool:
        async with store.lock("user:u1", ttl=5, wait=2):
            return True

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0.05)
    assert not task.done()
    await store.finish_turn(end(started.lock_token))
    assert await asyncio.wait_for(task, 2)
