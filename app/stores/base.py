"""The storage interface every shared-state feature is built on.

Sessions, dedup claims with cached replies, per-user locks, the access-token cache and rate
limits all reduce to a handful of key-value operations with TTLs plus a mutual-exclusion lock,
so one interface with two implementations (memory, Redis) serves them all, and one contract
suite (tests/stores/test_contract.py) proves the two behave alike.

Every key carries a TTL: nothing a chat turn writes should outlive its usefulness, and it keeps
an in-process store's memory flat. TTLs are seconds as floats (> 0); implementations may round
up to their own resolution (Redis: milliseconds).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal, Protocol


class StoreUnavailable(Exception):
    """The backing store cannot be reached (Redis down). Callers degrade, never 500."""


class LockTimeout(Exception):
    """The lock was not acquired within the wait budget."""


@dataclass(frozen=True, slots=True)
class TurnStart:
    """What a delivery needs before its handlers run, asked in one round trip (`begin_turn`)."""

    dedup_key: str
    dedup_ttl: float
    in_flight: bytes
    # The request's signed parameters (app.stores.keys.replay), kept for the timestamp window.
    replay_key: str | None
    replay_ttl: float
    # None: this delivery does not count against the rate limit.
    rate_key: str | None
    rate_ttl: float
    rate_limit: int
    lock_key: str
    lock_ttl: float
    session_key: str


@dataclass(frozen=True, slots=True)
class Started:
    """`new`: claimed, locked (`lock_token`), `session` read. `duplicate`: a retry or replay, with
    the dedup record's current value. `limited`: claimed, over the rate limit, not locked.
    `locked`: claimed, the user's lock is busy; the caller waits for it with `lock()`."""

    status: Literal["new", "duplicate", "limited", "locked"]
    lock_token: str | None = None
    session: bytes | None = None
    dedup_value: bytes | None = None


@dataclass(frozen=True, slots=True)
class TurnEnd:
    """What a delivery leaves behind, written in one round trip (`finish_turn`)."""

    session_key: str
    # None deletes the session (the user left).
    session: bytes | None
    session_ttl: float
    dedup_key: str
    # Written only while the dedup record still says `in_flight` (or is gone): a late mark stays.
    dedup_value: bytes
    dedup_ttl: float
    in_flight: bytes
    lock_key: str
    lock_token: str


class Store(Protocol):
    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Create or overwrite `key`; the TTL is replaced."""
        ...

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        """Atomically create `key`; False (and nothing changed) when it already exists."""
        ...

    async def delete(self, *keys: str) -> None:
        """Remove every key given; missing keys are ignored."""
        ...

    async def incr(self, key: str, ttl: float) -> int:
        """Add one to a counter and return the new value (1 for a new counter).

        The TTL is set when the counter is created and not extended by later increments, so a
        rate-limit window ends `ttl` seconds after its first hit. `get` returns the count as
        ASCII digits, as Redis does.
        """
        ...

    def lock(self, key: str, ttl: float, wait: float) -> AbstractAsyncContextManager[None]:
        """Hold a mutual-exclusion lock on `key` for the body of an `async with`.

        `ttl` is the lease: after it, another waiter may take the lock even if the holder has
        not released it (bounds how long a crashed or stuck holder blocks others); a holder
        whose lease ran out releases nothing, so it never frees the next holder's lock.
        `wait` bounds how long we queue for it before raising LockTimeout. Lock names are a
        namespace of their own, apart from the data keys.
        """
        ...

    async def begin_turn(self, start: TurnStart) -> Started:
        """Atomically: replay record, dedup claim, rate count, lock attempt (no waiting), session
        read, stopping at the first that decides (see `Started`). One round trip on Redis."""
        ...

    async def finish_turn(self, end: TurnEnd) -> None:
        """Atomically: save or delete the session, mark the dedup record, release the lock if it
        is still ours. One round trip on Redis."""
        ...

    async def ping(self) -> bool:
        """True when the store answers; never raises (for health checks)."""
        ...

    async def close(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...
