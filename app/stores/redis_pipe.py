"""One Redis connection that carries the turn scripts' pipelines, replies matched in order.

redis-py's asyncio connection reads each reply with its own await on a stream reader, checks a
connection out of its pool and back for every pipeline, and writes through a stream writer: about
a tenth of a delivery's CPU on the Redis path went there (docs/reliability.md, "Redis on its own
connection"). Here the bytes hiredis packed are written straight to the transport, and replies
are parsed by hiredis as they arrive (`data_received`) and handed to the waiting pipeline's
future: no task, no stream, no per-reply await. Redis answers the commands of one connection in
the order they were sent, so several pipelines may be in flight at once.

Failures are redis-py's exception types, so the store's breaker maps them as before: a refused
or lost connection is `ConnectionError` (every pipeline in flight fails with it, and the next
call connects again), a pipeline unanswered within `op_timeout` is `TimeoutError` (the
connection is then dropped: the replies still owed on it would no longer match their callers).

Plain TCP and Unix sockets only: `PipeTarget.of` says None for TLS or credential providers, and
the store then keeps redis-py's pooled connections for its scripts.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


@dataclass(frozen=True, slots=True)
class PipeTarget:
    """Where and as whom to connect: read from a redis-py client's pool settings."""

    host: str = ""
    port: int = 6379
    path: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def of(cls, client: Redis) -> PipeTarget | None:
        pool = client.connection_pool
        kwargs = pool.connection_kwargs
        if kwargs.get("credential_provider") is not None:
            return None
        db, username, password = int(kwargs.get("db") or 0), kwargs.get("username"), kwargs.get("password")
        # Exact classes: SSLConnection is a Connection too, and TLS is not done here.
        if pool.connection_class is Connection:
            host, port = str(kwargs.get("host", "localhost")), int(kwargs.get("port", 6379))
            return cls(host=host, port=port, db=db, username=username, password=password)
        if pool.connection_class is UnixDomainSocketConnection:
            return cls(path=str(kwargs["path"]), db=db, username=username, password=password)
        return None

    def hello(self) -> list[tuple[Any, ...]]:
        """The commands a new connection sends before any script."""
        commands: list[tuple[Any, ...]] = []
        if self.password:
            commands.append(("AUTH", self.username, self.password) if self.username else ("AUTH", self.password))
        if self.db:
            commands.append(("SELECT", self.db))
        return commands


class _Pipeline:
    __slots__ = ("future", "replies", "timer", "wanted")

    def __init__(self, future: asyncio.Future[list[Any]], wanted: int) -> None:
        self.future = future
        self.wanted = wanted
        self.replies: list[Any] = []
        self.timer: asyncio.TimerHandle | None = None

    def fail(self, exc: Exception) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if not self.future.done():
            self.future.set_exception(exc)


def _reply(value: Any) -> Any:
    """hiredis hands error replies back as values; the store reads redis-py's types."""
    if isinstance(value, hiredis.ReplyError):
        message = str(value)
        return NoScriptError(message) if message.startswith("NOSCRIPT") else ResponseError(message)
    return value


class _Protocol(asyncio.Protocol):
    def __init__(self, on_lost: Any) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: collections.deque[_Pipeline] = collections.deque()
        self._reader = hiredis.Reader()
        self._on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiting = self.waiting
        while True:
            value = self._reader.gets()
            if value is False:
                return
            if not waiting:
                # A reply nobody asked for: the connection is out of step; start again.
                self.abort(RedisConnectionError("unexpected reply from Redis"))
                return
            pipeline = waiting[0]
            pipeline.replies.append(_reply(value))
            if len(pipeline.replies) == pipeline.wanted:
                waiting.popleft()
                if pipeline.timer is not None:
                    pipeline.timer.cancel()
                if not pipeline.future.done():  # its caller may have been cancelled
                    pipeline.future.set_result(pipeline.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail_all(RedisConnectionError(f"Connection to Redis lost: {exc or 'closed by server'}"))
        self._on_lost(self)

    def fail_all(self, exc: Exception) -> None:
        while self.waiting:
            self.waiting.popleft().fail(exc)

    def abort(self, exc: Exception) -> None:
        self.fail_all(exc)
        if self.transport is not None:
            self.transport.abort()


class ScriptPipe:
    """Pipelines of packed commands over one lazily opened connection."""

    def __init__(self, target: PipeTarget, *, connect_timeout: float, op_timeout: float) -> None:
        self._target = target
        self._connect_timeout = connect_timeout
        self._op_timeout = op_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def call(self, packed: bytes, count: int) -> list[Any]:
        """The `count` replies to `packed` (errors among them as values, e.g. NoScriptError)."""
        protocol = self._protocol
        if protocol is None or protocol.transport is None or protocol.transport.is_closing():
            protocol = await self._connection()
        return await self._send(protocol, packed, count)

    def _send(self, protocol: _Protocol, packed: bytes, count: int) -> asyncio.Future[list[Any]]:
        loop = asyncio.get_running_loop()
        pipeline = _Pipeline(loop.create_future(), count)
        pipeline.timer = loop.call_later(self._op_timeout, self._expired, protocol, pipeline)
        protocol.waiting.append(pipeline)
        assert protocol.transport is not None
        protocol.transport.write(packed)
        return pipeline.future

    def _expired(self, protocol: _Protocol, pipeline: _Pipeline) -> None:
        pipeline.timer = None
        pipeline.fail(RedisTimeoutError("Timeout reading from Redis"))
        # The replies owed on this connection would no longer match their callers.
        protocol.abort(RedisConnectionError("Redis connection dropped after a timeout"))

    async def _connection(self) -> _Protocol:
        if self._connecting is None or self._connecting.done():
            # (A finished attempt left behind: every caller of it was cancelled before it ended.)
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            # Shielded: one caller cancelled must not cancel the others' connection.
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        target = self._target
        protocol = _Protocol(self._lost)

        def factory() -> _Protocol:
            return protocol

        try:
            async with asyncio.timeout(self._connect_timeout):
                if target.path:
                    await loop.create_unix_connection(factory, target.path)
                else:
                    await loop.create_connection(factory, target.host, target.port)
                for command in target.hello():
                    [reply] = await self._send(protocol, hiredis.pack_command(command), 1)
                    if isinstance(reply, Exception):
                        raise RedisConnectionError(f"Redis refused {command[0]}: {reply}")
        except TimeoutError as exc:
            protocol.abort(RedisTimeoutError("Timeout connecting to Redis"))
            raise RedisTimeoutError("Timeout connecting to Redis") from exc
        except OSError as exc:
            protocol.abort(RedisConnectionError(str(exc)))
            raise RedisConnectionError(f"Error connecting to Redis: {exc}") from exc
        except BaseException:
            protocol.abort(RedisConnectionError("connection setup failed"))
            raise
        self._protocol = protocol
        return protocol

    def _lost(self, protocol: _Protocol) -> None:
        if self._protocol is protocol:
            self._protocol = None

    def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
