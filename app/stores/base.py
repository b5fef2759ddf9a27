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
from typing import Protocol


class StoreUnavailable(Exception):
    """The backing store cannot be reached (Redis down). Callers degrade, never 500."""


class LockTimeout(Exception):
    """The lock was not acquired within the wait budget."""


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

    async def ping(self) -> bool:
        """True when the store answers; never raises (for health checks)."""
        ...

    async def close(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...
