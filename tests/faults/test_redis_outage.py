"""Redis goes away under the running service (stopped, or hung) and comes back.

The service keeps answering: FAQ answers need no session; a user in the middle of a flow is told
to continue in a moment; nothing is a 500, every delivery still gets its turn-log row, no reply
comes near WeChat's deadline, and once Redis is back flows and sessions work again by themselves.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.turns import STORE_DOWN_FLOW
from handlers.faq import FALLBACK
from tests.faults.servers import PausableRedis
from tests.faults.service import (
    Reply,
    Service,
    Wire,
    answer_only,
    count_turn_rows,
    serve_sample_account,
    wire_to,
)

pytestmark = [pytest.mark.slow, pytest.mark.redis]

DEADLINE_S = 4.0  # the service's default REPLY_DEADLINE_S
FAQ = "社保卡丢了怎么补办"
START_BOOKING = "我要预约"
# An answer to the booking flow's questions that means nothing outside the flow.
BOOKING_ANSWER = "13966668888"


def migrated_sqlite(directory: Path) -> str:
    url = f"sqlite:///{directory / 'wxbot.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return migrated_sqlite(tmp_path)


@pytest.fixture
def service(redis_server: PausableRedis, database_url: str, tmp_path: Path) -> Iterator[Service]:
    yield from serve_sample_account({"REDIS_URL": redis_server.url, "DATABASE_URL": database_url}, tmp_path)


@pytest.fixture
def wire(service: Service) -> Iterator[Wire]:
    yield from wire_to(service)


def store_is(wire: Wire, state: str, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if wire.client.get("/healthz").json().get("store") == state:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def assert_served_cleanly(service: Service, wire: Wire, database_url: str) -> None:
    """After shutdown: no 5xx, no crash in the log, and exactly one turn row per delivery."""
    statuses = sorted({r.status for r in wire.replies})
    assert statuses == [200], statuses
    assert service.stop(), "the service did not shut down by itself"
    assert service.crashes() == [], service.log()[-3000:]
    assert count_turn_rows(database_url) == wire.deliveries


def test_stopped_redis_degrades_answers_and_recovers_by_itself(
    service: Service, wire: Wire, redis_server: PausableRedis, database_url: str
) -> None:
    answer = answer_only(wire.say("o-redis-faq", FAQ).content)
    assert answer and answer != FALLBACK, "the sample knowledge base should answer this question"
    wire.say("o-redis-flow", START_BOOKING)
    assert wire.session("o-redis-flow") is not None

    redis_server.stop()
    assert store_is(wire, "unavailable")
    during: list[Reply] = [wire.say("o-redis-faq", FAQ), wire.say("o-redis-new", FAQ)]
    # A citizen mid-flow answers the flow's question: their session is out of reach.
    in_flow = wire.say("o-redis-flow", BOOKING_ANSWER)
    # WeChat's retry of one delivery: without the store it cannot be recognised, so it is
    # answered again rather than left unanswered.
    retried = wire.sim.text("o-redis-retry", FAQ)
    during += [wire.deliver(retried), wire.deliver(retried)]
    with ThreadPoolExecutor(8) as pool:
        during += list(pool.map(lambda n: wire.say(f"o-redis-burst-{n}", FAQ), range(16)))

    assert [answer_only(r.content) for r in during] == [answer] * len(during)
    assert in_flow.content == STORE_DOWN_FLOW
    # Every store call fails fast on a refused connection: far inside the deadline.
    assert max(r.seconds for r in [*during, in_flow]) < DEADLINE_S / 4

    redis_server.start()
    assert store_is(wire, "ok"), "the service did not reconnect to Redis by itself"
    restarted = wire.say("o-redis-flow", START_BOOKING)
    assert restarted.content != STORE_DOWN_FLOW
    wire.say("o-redis-flow", BOOKING_ANSWER)
    session = wire.session("o-redis-flow")
    assert session is not None and session["flow"] == "booking"
    assert "mobile" in session["slots"], "the flow did not keep the answer after recovery"
    assert answer_only(wire.say("o-redis-faq", FAQ).content) == answer

    assert wire.slowest() < DEADLINE_S
    assert_served_cleanly(service, wire, database_url)


def test_hung_redis_costs_each_reply_at_most_one_timeout(
    service: Service, wire: Wire, redis_server: PausableRedis, database_url: str
) -> None:
    answer = answer_only(wire.say("o-hung-faq", FAQ).content)
    wire.say("o-hung-flow", START_BOOKING)
    wire.say("o-hung-flow", BOOKING_ANSWER)
    before = wire.session("o-hung-flow")
    assert before is not None and "mobile" in before["slots"]

    redis_server.pause()
    try:
        during = [wire.say(f"o-hung-{n}", FAQ) for n in range(4)]
        in_flow = wire.say("o-hung-flow", "张三")
        with ThreadPoolExecutor(8) as pool:
            during += list(pool.map(lambda n: wire.say(f"o-hung-burst-{n}", FAQ), range(8)))
    finally:
        redis_server.resume()

    assert [answer_only(r.content) for r in during] == [answer] * len(during)
    assert in_flow.content == STORE_DOWN_FLOW
    # A hung Redis answers nothing: each store call waits out its 1 s timeout unless the store
    # stops trying after a failure. The sum of several such waits would pass WeChat's deadline.
    slowest = max(r.seconds for r in [*during, in_flow])
    assert slowest < DEADLINE_S / 2, f"a reply took {slowest:.2f} s with Redis hung"

    assert store_is(wire, "ok")
    # The session survived the hang: the citizen continues where they were.
    wire.say("o-hung-flow", "我叫张三")
    after = wire.session("o-hung-flow")
    assert after is not None and after["flow"] == "booking"
    assert before["slots"].items() <= after["slots"].items()
    assert "name" in after["slots"]

    assert_served_cleanly(service, wire, database_url)
