"""Fixtures for the fault tests: private servers to break, and the real service wired to them."""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Iterator

import pytest

from tests.conftest import server_missing
from tests.faults.servers import PausableRedis, PostgresServer, postgres_bindir


@pytest.fixture
def redis_server() -> Iterator[PausableRedis]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not shutil.which(binary):
        server_missing("redis-server is not installed")
    server = PausableRedis(binary)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster: stopping it cannot disturb CI's shared server."""
    bindir = postgres_bindir()
    if bindir is None:
        server_missing("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            server_missing("running as root without a `postgres` user to own a private cluster")
    server = PostgresServer(bindir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()
