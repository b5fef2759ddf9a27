"""Store fixtures: each backend behind one `store` fixture, and a private Redis server to kill."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import TypeVar

import pytest

from bench.common import free_port
from tests.conftest import server_missing


class RedisProcess:
    """A throwaway redis-server on its own port, to stop and start under a live client."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None
        # More redis-server options for a kind of server (a password, a Unix socket).
        self._extra: list[str] = []

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no", *self._extra],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not listen on port {self.port}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=5)
            self._proc = None


R = TypeVar("R", bound=RedisProcess)


def running_redis(kind: type[R]) -> Iterator[R]:
    """A private redis-server of `kind` for one test (fails under CI, skips elsewhere, when missing)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not shutil.which(binary):
        server_missing("redis-server is not installed")
    server = kind(binary)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    yield from running_redis(RedisProcess)
