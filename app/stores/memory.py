"""The in-process `Store`: the embedded default when no REDIS_URL is configured.

State lives in this process only, so it serves a single worker. Memory stays flat under many
users: every key has a TTL, expired keys are dropped when read and swept a few at a time on
every write (a heap ordered by expiry finds them without scanning), and a hard `max_keys` cap
evicts the key closest to expiry when the store is full. Locks are asyncio-native and fair:
waiters queue in FIFO order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import structlog

from app.stores.base import LockTimeout, Started, TurnEnd, TurnStart

log = structlog.get_logger(__name__)

# Expired keys removed per write: enough to outpace inserts (one per write) without a long
# pause when many keys expire at the same moment.
_SWEEP_BATCH = 100


@dataclass(slots=True)
class _Lock:
    token: object | None = None
    expires: float = 0.0
    # One event per queued acquirer, FIFO; the head is woken when the lock may be free.
    waiters: deque[asyncio.Event] = field(default_factory=deque)

    def held(self, now: float) -> bool:
        return self.token is not None and now < self.expires

    def wake_head(self) -> None:
        if self.waiters:
            self.waiters[0].set()


class MemoryStore:
    def __init__(self, *, max_keys: int = 100_000) -> None:
        self._max_keys = max_keys
        self._data: dict[str, tuple[bytes, float]] = {}
        # (expires_at, key); entries go stale when a key is overwritten or deleted and are
        # skipped when popped. Rebuilt when stale entries dominate, so it stays O(len(data)).
        self._expiry: list[tuple[float, str]] = []
        self._locks: dict[str, _Lock] = {}
        self.evictions = 0
        self._tokens = itertools.count(1)
        # Replay records (begin_turn): hash of the signed parameters → expiry, oldest first.
        self._replays: dict[int, float] = {}
        self._replay_order: deque[tuple[float, int]] = deque()

    def __len__(self) -> int:
        """Keys held, counting expired ones not yet swept: what the memory actually holds."""
        return len(self._data)

    # -- key-value -------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        return self._live(key, time.monotonic())

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._put(key, value, ttl, time.monotonic())

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        now = time.monotonic()
        if self._live(key, now) is not None:
            return False
        self._put(key, value, ttl, now)
        return True

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._data.pop(key, None)

    async def incr(self, key: str, ttl: float) -> int:
        _check_ttl(ttl)
        now = time.monotonic()
        current = self._live(key, now)
        if current is None:
            self._put(key, b"1", ttl, now)
            return 1
        count = int(current) + 1
        # The window keeps the expiry it was created with.
        self._data[key] = (str(count).encode(), self._data[key][1])
        return count

    def _live(self, key: str, now: float) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] <= now:
            del self._data[key]
            return None
        return entry[0]

    def _put(self, key: str, value: bytes, ttl: float, now: float) -> None:
        _check_ttl(ttl)
        self._sweep(now)
        if key not in self._data and len(self._data) >= self._max_keys:
            self._evict_one()
        expires = now + ttl
        self._data[key] = (value, expires)
        heapq.heappush(self._expiry, (expires, key))
        if len(self._expiry) > 2 * len(self._data) + 1024:
            self._expiry = [(exp, k) for k, (_, exp) in self._data.items()]
            heapq.heapify(self._expiry)

    def _sweep(self, now: float) -> None:
        for _ in range(_SWEEP_BATCH):
            if not self._expiry or self._expiry[0][0] > now:
                return
            expires, key = heapq.heappop(self._expiry)
            entry = self._data.get(key)
            if entry is not None and entry[1] == expires:
                del self._data[key]

    def _evict_one(self) -> None:
        """Drop the live key closest to expiry: it is the one we would lose soonest anyway."""
        while self._expiry:
            expires, key = heapq.heappop(self._expiry)
            entry = self._data.get(key)
            if entry is not None and entry[1] == expires:
                del self._data[key]
                if self.evictions == 0:
                    log.warning("memory_store_full", max_keys=self._max_keys)
                self.evictions += 1
                return

    # -- a turn's two composite operations (app.stores.base) ---------------------------------

    async def begin_turn(self, start: TurnStart) -> Started:
        # No await inside: atomic on the event loop, as the Redis script is on the server.
        now = time.monotonic()
        if start.replay_key is not None and not self._claim_replay(start.replay_key, start.replay_ttl, now):
            return Started("duplicate", dedup_value=self._live(start.dedup_key, now))
        current = self._live(start.dedup_key, now)
        if current is not None:
            return Started("duplicate", dedup_value=current)
        self._put(start.dedup_key, start.in_flight, start.dedup_ttl, now)
        if start.rate_key is not None and start.rate_limit > 0:
            count = int(self._live(start.rate_key, now) or b"0") + 1
            if count == 1:
                self._put(start.rate_key, b"1", start.rate_ttl, now)
            else:
                self._data[start.rate_key] = (str(count).encode(), self._data[start.rate_key][1])
            if count > start.rate_limit:
                return Started("limited")
        loop_now = asyncio.get_running_loop().time()
        state = self._locks.setdefault(start.lock_key, _Lock())
        if state.waiters or state.held(loop_now):
            return Started("locked")
        token = str(next(self._tokens))  # unique in this process; no system call per turn
        state.token, state.expires = token, loop_now + start.lock_ttl
        return Started("new", lock_token=token, session=self._live(start.session_key, now))

    def _claim_replay(self, key: str, ttl: float, now: float) -> bool:
        """Record a request's signed parameters for the timestamp window; False if seen.

        Kept apart from the keys: one per delivery for five minutes would crowd the key cap
        and evict retry replies. A 64-bit hash and an expiry is ~80 bytes a delivery (the
        chance of two of 300k colliding is ~1e-9, and a collision only answers `success`)."""
        replays = self._replays
        while self._replay_order and self._replay_order[0][0] <= now:
            _, old = self._replay_order.popleft()
            if replays.get(old, now + 1) <= now:
                del replays[old]
        digest = hash(key)
        expires = replays.get(digest)
        if expires is not None and expires > now:
            return False
        replays[digest] = now + ttl
        self._replay_order.append((now + ttl, digest))
        return True

    async def finish_turn(self, end: TurnEnd) -> None:
        now = time.monotonic()
        if end.session is None:
            self._data.pop(end.session_key, None)
        else:
            self._put(end.session_key, end.session, end.session_ttl, now)
        current = self._live(end.dedup_key, now)
        if current is None or current == end.in_flight:
            self._put(end.dedup_key, end.dedup_value, end.dedup_ttl, now)
        state = self._locks.get(end.lock_key)
        if state is not None and state.token == end.lock_token:
            self._release(end.lock_key, state.token)

    # -- locks -----------------------------------------------------------------------------

    @asynccontextmanager
    async def lock(self, key: str, ttl: float, wait: float) -> AsyncIterator[None]:
        _check_ttl(ttl)
        token = await self._acquire(key, ttl, wait)
        try:
            yield
        finally:
            self._release(key, token)

    async def _acquire(self, key: str, ttl: float, wait: float) -> object:
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = now + wait
        state = self._locks.setdefault(key, _Lock())
        if not state.waiters and not state.held(now):
            # The common case (one message per user at a time): no queue to join.
            token = object()
            state.token, state.expires = token, now + ttl
            return token
        me = asyncio.Event()
        state.waiters.append(me)
        try:
            while True:
                now = loop.time()
                head = state.waiters[0] is me
                if head and not state.held(now):
                    token = object()
                    state.token, state.expires = token, now + ttl
                    return token
                if now >= deadline:
                    raise LockTimeout(key)
                timeout = deadline - now
                if head:
                    # Wake when the lease runs out, in case the holder never releases.
                    timeout = min(timeout, state.expires - now)
                me.clear()
                try:
                    async with asyncio.timeout(timeout):
                        await me.wait()
                except TimeoutError:
                    pass
        finally:
            was_head = state.waiters[0] is me
            state.waiters.remove(me)
            if was_head:
                # Whether we took the lock or gave up, the next in line is now the head and
                # must recompute its wake-up (it may take a free lock, or wait for our lease).
                state.wake_head()
            self._forget_if_idle(key, state)

    def _release(self, key: str, token: object) -> None:
        state = self._locks.get(key)
        # After lease expiry the lock may belong to someone else: then it is not ours to free.
        if state is None or state.token is not token:
            return
        state.token = None
        state.wake_head()
        self._forget_if_idle(key, state)

    def _forget_if_idle(self, key: str, state: _Lock) -> None:
        if state.token is None and not state.waiters and self._locks.get(key) is state:
            del self._locks[key]

    # -- lifecycle -------------------------------------------------------------------------

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()
        self._expiry.clear()


def _check_ttl(ttl: float) -> None:
    if not ttl > 0:
        raise ValueError(f"ttl must be positive, got {ttl!r}")
