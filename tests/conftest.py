"""Fixtures shared across the suite: real servers, where tests need them."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest
import redis


def server_missing(reason: str) -> NoReturn:
    """Skip locally, but fail in CI: `.ci/run` starts the servers, so absence there is a bug."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: server-backed tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """REDIS_URL of a reachable Redis server; tests using it share that server, so use a key prefix."""
    url = os.environ.get("REDIS_URL")
    if not url:
        server_missing("REDIS_URL is not set")
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        server_missing(f"Redis at REDIS_URL is unreachable: {type(exc).__name__}")
    finally:
        client.close()
    return url
