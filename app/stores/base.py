"""The storage interface every shared-state feature is built on.

Sessions, dedup claims with cached replies, per-user locks, the access-token cache and rate
limits all reduce to a handful of key-value operations with TTLs plus a mutual-exclusion lock,
so one interface with two implementations (memory, Redis) serves them all, and one contract
suite (tests/stores/test_contract.py) proves the two behave alike.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol


class StoreUnavailable(Exception):
    """The backing store cannot be reached (Redis down). Callers degrade, never 500."""


class LockTimeout(Exception):
    """The lock was not acquired within the wait budget."""


class Store(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        """Atomically create `key`; False when it already exists."""
        ...

    async def delete(self, *keys: str) -> None: ...

    async def incr(self, key: str, ttl: float) -> int:
        """Increment a counter; the TTL is set when the counter is created."""
        ...

    def lock(self, key: str, ttl: float, wait: float) -> AbstractAsyncContextManager[None]:
        """Hold a mutual-exclusion lock on `key`.

        `ttl` bounds how long a crashed holder can block others; `wait` bounds how long we
        queue for it before raising LockTimeout.
        """
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
