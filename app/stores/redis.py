"""The Redis-backed `Store` (redis-py asyncio): shared state for several workers or hosts.

Keys live under a configurable prefix (`wxbot:` by default); locks under `<prefix>lock:`, so a
data key must not itself start with `lock:`. Every Redis failure surfaces as StoreUnavailable so
that callers can degrade, and short socket timeouts keep a dead Redis from holding a reply past
WeChat's deadline. After Redis restarts, the first command on a stale pooled connection is
retried once on a fresh one, so callers see no error once Redis is back.

A turn makes several store calls (dedup, rate limit, lock, session, dedup mark). Against a hung
Redis each would wait out its timeout, and their sum passes WeChat's deadline
(tests/faults/test_redis_outage.py). So after a failure the store fails fast for `cooldown_s`
without touching Redis; then one call probes (the others keep failing fast meanwhile) and its
success closes the breaker. `ping` always probes, so health checks see the truth.

A delivery's two scripts (`begin_turn`, `finish_turn`) are pipelined across deliveries: the
scripts called in one event-loop iteration go to Redis in one write and come back in one read
(ioredis calls this auto-pipelining). Each script is still atomic on its own; only the socket
work is shared. Under load a worker has several deliveries at the same step at once, and each
write and read on loopback TCP cost more CPU than the script itself (docs/reliability.md,
throughput). Alone, a script goes out as before, one event-loop iteration later.

Locks are `SET NX PX` with a random token, polled with a short backoff, and released by a Lua
compare-and-delete, so a holder whose lease ran out cannot free the next holder's lock. A
release that fails is retried until Redis answers (or the lease ends). Unlike the in-process
store, waiters are not served in arrival order.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, cast

import structlog
from hiredis import pack_command
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError

from app.stores.base import LockTimeout, Started, StoreUnavailable, TurnEnd, TurnStart
from app.stores.redis_pipe import PipeTarget, ScriptPipe

log = structlog.get_logger(__name__)

# Poll steps while waiting for a lock: short enough that a released lock is picked up within
# a few ms, long enough not to hammer Redis with many waiters.
_POLL_FIRST_S = 0.005
_POLL_MAX_S = 0.02
# finish_turn does not know when its lock's lease ends; retrying a release past it is harmless
# (compare-and-delete), so retry for a while longer than any lease we take.
_LOCK_RELEASE_HORIZON_S = 60.0
# Scripts sent in one pipeline at most; more wait for the next write (bounds one reply's size).
_PIPELINE_MAX = 64

Args = list[bytes | int | str]

# Counter window: set the TTL only when the key has none, i.e. when INCR just created it.
_INCR = """
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) == -1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
"""

# Delete the lock only if it still carries our token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


# A turn's first round trip (app.stores.base.begin_turn). KEYS: dedup, replay, rate, lock,
# session. ARGV: in-flight value, dedup ttl ms, replay ttl ms (0: none), rate ttl ms, rate limit
# (0: none), lock token, lock ttl ms. Unused keys are passed as the dedup key (never touched).
# All keys of a turn must live on one server (no Redis Cluster slots across them).
_BEGIN_TURN = """
if tonumber(ARGV[3]) > 0 then
    if not redis.call('SET', KEYS[2], '1', 'PX', ARGV[3], 'NX') then
        return {'duplicate', redis.call('GET', KEYS[1])}
    end
end
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
    return {'duplicate', redis.call('GET', KEYS[1])}
end
if tonumber(ARGV[5]) > 0 then
    local n = redis.call('INCR', KEYS[3])
    if redis.call('PTTL', KEYS[3]) == -1 then
        redis.call('PEXPIRE', KEYS[3], ARGV[4])
    end
    if n > tonumber(ARGV[5]) then
        return {'limited', false}
    end
end
if not redis.call('SET', KEYS[4], ARGV[6], 'PX', ARGV[7], 'NX') then
    return {'locked', false}
end
return {'new', redis.call('GET', KEYS[5])}
"""

# A turn's second round trip (finish_turn). KEYS: session, dedup, lock. ARGV: session value,
# session ttl ms (0: delete), dedup value, dedup ttl ms, in-flight value, lock token.
_FINISH_TURN = """
if tonumber(ARGV[2]) > 0 then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
    redis.call('DEL', KEYS[1])
end
local current = redis.call('GET', KEYS[2])
if (not current) or current == ARGV[5] then
    redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
end
if redis.call('GET', KEYS[3]) == ARGV[6] then
    redis.call('DEL', KEYS[3])
end
return 1
"""


class RedisStore:
    def __init__(
        self, client: Redis, *, prefix: str = "wxbot:", cooldown_s: float = 0.0, op_timeout: float = 1.0,
        connect_timeout: float = 0.5, own_connection: bool = True,
    ) -> None:
        self._redis = client
        # The turn scripts' own connection (app.stores.redis_pipe); None: redis-py's pool (TLS).
        target = PipeTarget.of(client) if own_connection else None
        self._pipe = (
            ScriptPipe(target, connect_timeout=connect_timeout, op_timeout=op_timeout) if target is not None else None
        )
        self._prefix = prefix
        self._incr = client.register_script(_INCR)
        self._release = client.register_script(_RELEASE)
        self._begin = client.register_script(_BEGIN_TURN)
        self._finish = client.register_script(_FINISH_TURN)
        self._cooldown_s = cooldown_s
        # Monotonic time until which calls fail without I/O; 0 while Redis is healthy.
        self._open_until = 0.0
        # Locks whose release failed (Redis unreachable): name → (token, lease end, monotonic).
        # Retried until Redis answers or the lease ends, so a blip does not leave a user
        # locked for a whole lease (issue 15).
        self._pending_unlocks: dict[str, tuple[str, float]] = {}
        self._unlock_retrier: asyncio.Task[None] | None = None
        # Script calls waiting for this event-loop iteration's pipeline, and pipelines in flight.
        self._queued: list[tuple[AsyncScript, list[str], Args, asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "wxbot:",
        connect_timeout: float = 0.5,
        op_timeout: float = 1.0,
        cooldown_s: float = 1.0,
        own_connection: bool = True,
    ) -> RedisStore:
        """Build a store with timeouts that keep a reply within its budget (no I/O here).
        `own_connection=False` keeps the turn scripts on redis-py's pooled connections, as TLS does."""
        client = Redis.from_url(
            url,
            socket_connect_timeout=connect_timeout,
            socket_timeout=op_timeout,
            # One immediate retry, on connection errors only: that is what a pooled
            # connection broken by a Redis restart needs. Retrying timeouts would only
            # double the time a hung Redis holds up a reply.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            health_check_interval=10,
        )
        return cls(client, prefix=prefix, cooldown_s=cooldown_s, op_timeout=op_timeout, connect_timeout=connect_timeout,
                   own_connection=own_connection)

    # -- key-value -------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        with self._guard("get"):
            value = await self._redis.get(self._prefix + key)
        # decode_responses is off, so values come back as the bytes we stored.
        return cast("bytes | None", value)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        with self._guard("set"):
            await self._redis.set(self._prefix + key, value, px=_ms(ttl))

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        with self._guard("set_if_absent"):
            created = await self._redis.set(self._prefix + key, value, px=_ms(ttl), nx=True)
        return bool(created)

    async def delete(self, *keys: str) -> None:
        if not keys:
            return
        with self._guard("delete"):
            await self._redis.delete(*(self._prefix + key for key in keys))

    async def incr(self, key: str, ttl: float) -> int:
        with self._guard("incr"):
            count = await self._incr(keys=[self._prefix + key], args=[_ms(ttl)])
        return int(count)

    # -- a turn's two round trips (app.stores.base) ------------------------------------------

    async def begin_turn(self, start: TurnStart) -> Started:
        p = self._prefix
        dedup = p + start.dedup_key
        token = secrets.token_hex(16)
        limited = start.rate_key is not None and start.rate_limit > 0
        keys = [
            dedup,
            p + start.replay_key if start.replay_key else dedup,
            p + start.rate_key if limited and start.rate_key else dedup,
            f"{p}lock:{start.lock_key}",
            p + start.session_key,
        ]
        args: Args = [
            start.in_flight, _ms(start.dedup_ttl), _ms(start.replay_ttl) if start.replay_key else 0,
            _ms(start.rate_ttl), start.rate_limit if limited else 0, token, _ms(start.lock_ttl),
        ]
        with self._guard("begin_turn"):
            status, value = await self._pipelined(self._begin, keys, args)
        kind = status.decode() if isinstance(status, bytes) else str(status)
        if kind == "new":
            return Started("new", lock_token=token, session=value)
        if kind == "duplicate":
            return Started("duplicate", dedup_value=value)
        return Started("limited" if kind == "limited" else "locked")

    async def finish_turn(self, end: TurnEnd) -> None:
        p = self._prefix
        lock = f"{p}lock:{end.lock_key}"
        keys = [p + end.session_key, p + end.dedup_key, lock]
        args: Args = [
            end.session if end.session is not None else b"", _ms(end.session_ttl) if end.session is not None else 0,
            end.dedup_value, _ms(end.dedup_ttl), end.in_flight, end.lock_token,
        ]
        try:
            with self._guard("finish_turn"):
                await self._pipelined(self._finish, keys, args)
        except StoreUnavailable:
            # The lock must not outlive the blip: released when Redis answers (issue 15).
            self._remember_unlock(lock, end.lock_token, time.monotonic() + _LOCK_RELEASE_HORIZON_S)
            raise

    # -- auto-pipelining ----------------------------------------------------------------------

    async def _pipelined(self, script: AsyncScript, keys: list[str], args: Args) -> Any:
        """`script`'s reply, sent with the other scripts called in this event-loop iteration.

        Raises what the script call would (RedisError, OSError); the caller's guard maps it.
        """
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        self._queued.append((script, keys, args, reply))
        if len(self._queued) == 1:
            loop.call_soon(self._flush)
        return await reply

    def _flush(self) -> None:
        while self._queued:
            batch, self._queued = self._queued[:_PIPELINE_MAX], self._queued[_PIPELINE_MAX:]
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[AsyncScript, list[str], Args, asyncio.Future[Any]]]) -> None:
        replies: list[Any]
        try:
            replies = await self._evalsha([(script.sha, keys, args) for script, keys, args, _ in batch])
            for i, (script, keys, args, _) in enumerate(batch):
                if isinstance(replies[i], NoScriptError):
                    # Redis restarted and lost its script cache: the script call loads it again.
                    try:
                        replies[i] = await script(keys=keys, args=args)
                    except RedisError as exc:
                        replies[i] = exc
        except asyncio.CancelledError:
            for *_, waiting in batch:
                waiting.cancel()
            raise
        except (RedisError, OSError) as exc:
            # The connection failed: every script of the batch failed with it.
            for *_, waiting in batch:
                if not waiting.done():
                    waiting.set_exception(exc)
            return
        for (*_, waiting), reply in zip(batch, replies, strict=True):
            if waiting.done():  # its caller was cancelled
                continue
            if isinstance(reply, Exception):
                waiting.set_exception(reply)
            else:
                waiting.set_result(reply)

    async def _evalsha(self, calls: list[tuple[str, list[str], Args]]) -> list[Any]:
        """Each call's reply (or its ResponseError, e.g. NOSCRIPT), from one write and one read.

        The commands are packed by hiredis in one C call each (redis-py encoded every argument in
        Python first, the largest part of the client's CPU per delivery, docs/reliability.md) and
        go out on the scripts' own connection (`ScriptPipe`), or on a pooled redis-py connection
        when there is none (TLS). Like the client's own retry policy, a connection error (a
        connection left stale by a Redis restart) is retried once on a fresh one; anything else
        is raised.
        """
        packed = b"".join(
            # hiredis's stub types the argument as a 1-tuple; it takes any tuple of str/int/bytes.
            pack_command(("EVALSHA", sha, len(keys), *keys, *args))  # type: ignore[arg-type]
            for sha, keys, args in calls
        )
        for attempt in range(2):
            try:
                if self._pipe is not None:
                    return await self._pipe.call(packed, len(calls))
                return await self._pooled(packed, len(calls))
            except RedisConnectionError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _pooled(self, packed: bytes, count: int) -> list[Any]:
        pool = self._redis.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]  # redis-py's is untyped
        try:
            await connection.send_packed_command(packed)
            replies: list[Any] = []
            for _ in range(count):
                try:
                    replies.append(await connection.read_response())
                except ResponseError as exc:
                    replies.append(exc)
            return replies
        except RedisConnectionError:
            await connection.disconnect()
            raise
        except BaseException:
            # Replies may still be on the socket: never hand it to the next caller.
            await connection.disconnect(nowait=True)
            raise
        finally:
            await pool.release(connection)

    # -- locks -----------------------------------------------------------------------------

    @asynccontextmanager
    async def lock(self, key: str, ttl: float, wait: float) -> AsyncIterator[None]:
        name = f"{self._prefix}lock:{key}"
        token = secrets.token_hex(16)
        lease = _ms(ttl)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        delay = _POLL_FIRST_S
        while True:
            if name in self._pending_unlocks:
                # Our own earlier holder could not release it: try that first.
                await self._retry_unlock(name)
            with self._guard("lock"):
                if await self._redis.set(name, token, px=lease, nx=True):
                    break
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise LockTimeout(key)
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, _POLL_MAX_S)
        acquired = time.monotonic()
        try:
            yield
        finally:
            await self._unlock(name, token, acquired + ttl)

    async def _unlock(self, name: str, token: str, lease_end: float) -> None:
        # Never raises: the work under the lock is done. If Redis is unreachable the release
        # is retried in the background until Redis answers or the lease ends by itself.
        try:
            with self._guard("unlock"):
                released = await self._release(keys=[name], args=[token])
        except StoreUnavailable as exc:
            log.warning("redis_unlock_failed", error=type(exc.__cause__ or exc).__name__)
            self._remember_unlock(name, token, lease_end)
            return
        if not released:
            log.warning("lock_lease_expired_before_release")

    def _remember_unlock(self, name: str, token: str, lease_end: float) -> None:
        self._pending_unlocks[name] = (token, lease_end)
        if self._unlock_retrier is None or self._unlock_retrier.done():
            self._unlock_retrier = asyncio.get_running_loop().create_task(self._retry_unlocks())

    async def _retry_unlock(self, name: str) -> bool:
        """One attempt to release a lock whose release failed; True when it is settled."""
        pending = self._pending_unlocks.get(name)
        if pending is None:
            return True
        token, lease_end = pending
        if time.monotonic() >= lease_end:
            self._pending_unlocks.pop(name, None)
            return True
        try:
            with self._guard("unlock"):
                await self._release(keys=[name], args=[token])
        except StoreUnavailable:
            return False
        self._pending_unlocks.pop(name, None)
        return True

    async def _retry_unlocks(self) -> None:
        while self._pending_unlocks:
            await asyncio.sleep(max(self._cooldown_s, 0.05))
            for name in list(self._pending_unlocks):
                if not await self._retry_unlock(name):
                    break  # still unreachable: wait for the next round

    # -- lifecycle -------------------------------------------------------------------------

    async def ping(self) -> bool:
        # Bypasses the breaker: a health check must ask Redis itself, and its answer counts.
        try:
            ok = bool(await self._redis.ping())
        except (RedisError, OSError):
            self._trip()
            return False
        self._close_breaker()
        return ok

    async def close(self) -> None:
        if self._unlock_retrier is not None:
            self._unlock_retrier.cancel()
        if self._sending:
            await asyncio.wait(self._sending, timeout=2)
        if self._pipe is not None:
            self._pipe.close()
        await self._redis.aclose()


    # -- the breaker ------------------------------------------------------------------------

    @contextmanager
    def _guard(self, operation: str) -> Iterator[None]:
        if self._open_until:
            now = time.monotonic()
            if now < self._open_until:
                raise StoreUnavailable(f"redis {operation} skipped: unavailable moments ago")
            # This call is the probe; others fail fast until it succeeds or fails.
            self._open_until = now + self._cooldown_s
        try:
            yield
        except (RedisError, OSError) as exc:
            self._trip()
            # The message names host and port at most; the URL (and any password) is not in it.
            raise StoreUnavailable(f"redis {operation} failed: {exc}") from exc
        self._close_breaker()

    def _trip(self) -> None:
        if self._cooldown_s <= 0:
            return
        if not self._open_until:
            log.warning("redis_unavailable_failing_fast", cooldown_s=self._cooldown_s)
        self._open_until = time.monotonic() + self._cooldown_s

    def _close_breaker(self) -> None:
        if self._open_until:
            self._open_until = 0.0
            log.warning("redis_available_again")


def _ms(ttl: float) -> int:
    if not ttl > 0:
        raise ValueError(f"ttl must be positive, got {ttl!r}")
    return math.ceil(ttl * 1000)
