"""Surges to ops (issue 19): the periodic check logs each surge once, sets the gauge, feeds the dashboard."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete

from app import metrics
from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.db.models import TurnRow
from app.stores.memory import MemoryStore
from app.surge_watch import SurgeWatch, cluster_id
from app.turnlog.rows import to_row
from app.turnlog.store import insert_rows
from tests.turnlog.records import record

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
HOT = ["消费券怎么领", "消费券怎么领取", "消费券怎么领呢", "请问消费券怎么领", "消费券怎么领", "消费券怎么领啊"]


def _surge(engine: Engine, account: str = "city", prefix: str = "s") -> None:
    insert_rows(engine, [
        to_row(f"{prefix}{i}", record(i, received_at=NOW - timedelta(hours=9 - i), openid=f"{prefix}u{i}",
                                      account=account, route="fallback", faq_id="", text=text), b"k")
        for i, text in enumerate(HOT)
    ])


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path / 'surge.db'}")
    upgrade(eng)
    return eng


def _gauge(account: str) -> float:
    value = metrics.SURGES_ACTIVE.labels(account)._value.get()  # type: ignore[attr-defined]
    return float(value)


def _alerts(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "wxbot.surge" and getattr(r, "alert", "") == "surge"]


async def test_a_surge_is_logged_once_however_often_it_is_checked(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wxbot.surge")
    _surge(engine)
    watch = SurgeWatch(lambda: engine, ["city", "county"], store=MemoryStore(), clock=lambda: NOW)
    assert await watch.check_and_alert() == 1
    assert await watch.check_and_alert() == 0
    (alert,) = _alerts(caplog)
    assert alert.account == "city" and alert.cluster == cluster_id("消费券怎么领")  # type: ignore[attr-defined]
    # No message text in the log line.
    assert "消费券" not in alert.getMessage() and not any("消费券" in str(v) for v in vars(alert).values())
    assert alert.last_24h == 6 and alert.usual_per_day == 0.0  # type: ignore[attr-defined]
    assert _gauge("city") == 1 and _gauge("county") == 0
    assert b'wxbot_surges_active{account="city"} 1.0' in metrics.render_metrics()
    snapshot = watch.snapshot("city", NOW)
    assert snapshot is not None and [i["question"] for i in snapshot["items"]] == ["消费券怎么领"]
    assert watch.snapshot("county", NOW) == {"checked_at": NOW.isoformat(), "items": []}


async def test_another_worker_sharing_the_store_does_not_log_it_again(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wxbot.surge")
    _surge(engine)
    store = MemoryStore()
    first = SurgeWatch(lambda: engine, ["city"], store=store, clock=lambda: NOW)
    second = SurgeWatch(lambda: engine, ["city"], store=store, clock=lambda: NOW)
    assert await first.check_and_alert() == 1
    assert await second.check_and_alert() == 0
    assert len(_alerts(caplog)) == 1
    # Both still show it and count it: the gauge and the dashboard read each worker's own check.
    assert second.snapshot(None, NOW) is not None and len(second.current) == 1


async def test_a_surge_that_ends_and_comes_back_is_alerted_again(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wxbot.surge")
    _surge(engine)
    watch = SurgeWatch(lambda: engine, ["city"], clock=lambda: NOW)
    assert await watch.check_and_alert() == 1
    with engine.begin() as conn:
        conn.execute(delete(TurnRow))
    assert await watch.check_and_alert() == 0
    assert watch.current == [] and _gauge("city") == 0
    _surge(engine, prefix="again")
    assert await watch.check_and_alert() == 1


async def test_without_a_check_yet_the_dashboard_gets_nothing_from_the_watch(engine: Engine) -> None:
    watch = SurgeWatch(lambda: engine, ["city"])
    assert watch.snapshot(None, NOW) is None
    assert SurgeWatch(lambda: None, ["city"]).check() == []


async def test_the_server_runs_the_check_periodically_and_alerts_once(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    caplog.set_level(logging.WARNING, logger="wxbot.surge")
    _surge(engine)
    watch = SurgeWatch(lambda: engine, ["city"], clock=lambda: NOW, first_delay_s=0.0, interval_s=0.05)
    watch.start()
    try:
        for _ in range(200):
            await asyncio.sleep(0.05)
            if watch.checked_at is not None and len(caplog.records) and _gauge("city") == 1:
                break
        await asyncio.sleep(0.3)  # several more checks
    finally:
        await watch.stop()
    assert watch.checked_at == NOW and len(_alerts(caplog)) == 1


async def test_no_background_check_on_an_in_memory_database() -> None:
    memory = make_engine("sqlite://")
    watch = SurgeWatch(lambda: memory, ["city"], first_delay_s=0.0)
    watch.start()
    assert not watch.running
    await watch.stop()
    memory.dispose()
