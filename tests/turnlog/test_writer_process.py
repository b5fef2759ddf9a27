"""The writer in its helper process: same rows as on a thread, and nothing lost if it dies."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from app.db.models import TurnRow
from app.turnlog.logger import FRAME_ITEMS, TurnLogger, _ProcessBackend
from app.turnlog.privacy import pseudonym
from app.turnlog.rows import RowMaker
from tests.turnlog.records import record

KEY = b"test-key"


@pytest.fixture
def logger(engine: Engine, tmp_path: Path) -> Iterator[TurnLogger]:
    turnlog = TurnLogger(engine, pseudonym_key=KEY, spool_dir=tmp_path / "spool", flush_interval_s=0.02,
                         retry_interval_s=0.1, batch_size=50, mode="process")
    turnlog.start()
    yield turnlog
    turnlog.stop()


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(TurnRow)).scalar_one())


def test_records_are_written_by_the_helper_process(logger: TurnLogger, engine: Engine) -> None:
    assert logger.mode == "process"
    for n in range(120):
        logger.submit(record(n, text=f"手机13812345678 第{n}条"))
    assert logger.flush()
    assert count(engine) == 120
    assert logger.stats.written == 120
    with engine.connect() as conn:
        texts = set(conn.execute(select(TurnRow.text)).scalars())
    assert all("13812345678" not in t for t in texts)


@pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="scheduling policies are Linux only")
def test_the_helper_yields_the_cpu_to_the_worker(logger: TurnLogger) -> None:
    logger.submit(record(1))
    assert logger.flush()  # the helper has read its config and set itself up
    backend = logger._backend
    assert isinstance(backend, _ProcessBackend)
    pid = backend._proc.pid
    assert os.getpriority(os.PRIO_PROCESS, pid) == min(os.getpriority(os.PRIO_PROCESS, 0) + 10, 19)
    assert os.sched_getscheduler(pid) == os.SCHED_BATCH


def test_erasure_runs_in_the_helper_too(logger: TurnLogger, engine: Engine) -> None:
    logger.submit(record(1, openid="o-leaving"))
    logger.erase_user("o-leaving")
    logger.flush()
    with engine.connect() as conn:
        users = set(conn.execute(select(TurnRow.user_id)).scalars())
    assert pseudonym(KEY, "o-leaving") not in users


def test_stop_drains_through_the_helper(engine: Engine, tmp_path: Path) -> None:
    turnlog = TurnLogger(engine, pseudonym_key=KEY, spool_dir=tmp_path / "spool", flush_interval_s=60,
                         mode="process")
    turnlog.start()
    for n in range(40):
        turnlog.submit(record(n))
    turnlog.stop()
    assert count(engine) == 40


def test_if_the_helper_dies_the_logger_writes_on_a_thread_and_loses_nothing(
    logger: TurnLogger, engine: Engine
) -> None:
    for n in range(30):
        logger.submit(record(n))
    logger.flush()
    backend = logger._backend
    assert isinstance(backend, _ProcessBackend)
    backend._proc.kill()
    backend._proc.wait()
    deadline = time.monotonic() + 5
    while backend.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    for n in range(30, 80):
        logger.submit(record(n))
    assert logger.flush()
    assert logger.mode == "thread"
    assert count(engine) == 80


def test_a_batch_larger_than_a_frame_survives_the_helper_dying_mid_batch(
    engine: Engine, tmp_path: Path
) -> None:
    turnlog = TurnLogger(engine, pseudonym_key=KEY, spool_dir=tmp_path / "spool", flush_interval_s=60,
                         batch_size=FRAME_ITEMS * 3, mode="process")
    turnlog.start()
    backend = turnlog._backend
    assert isinstance(backend, _ProcessBackend)
    backend._proc.kill()
    backend._proc.wait()
    deadline = time.monotonic() + 5
    while backend.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    for n in range(FRAME_ITEMS * 2 + 100):  # several frames' worth
        turnlog.submit(record(n))
    turnlog.stop()
    assert count(engine) == FRAME_ITEMS * 2 + 100


def test_a_stuck_helper_is_killed_at_stop_and_its_records_spooled(engine: Engine, tmp_path: Path) -> None:
    import signal

    turnlog = TurnLogger(engine, pseudonym_key=KEY, spool_dir=tmp_path / "spool", flush_interval_s=60,
                         mode="process")
    turnlog.start()
    backend = turnlog._backend
    assert isinstance(backend, _ProcessBackend)
    os.kill(backend._proc.pid, signal.SIGSTOP)  # alive, but writing nothing
    for n in range(20):
        turnlog.submit(record(n))
    turnlog.stop(timeout=1.0)
    assert count(engine) == 0

    after = TurnLogger(engine, pseudonym_key=KEY, spool_dir=tmp_path / "spool", flush_interval_s=0.02)
    after.start()
    deadline = time.monotonic() + 10
    while count(engine) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    after.stop()
    assert count(engine) == 20


def test_in_memory_databases_stay_on_a_thread(tmp_path: Path) -> None:
    from app.db.engine import make_engine

    engine = make_engine("sqlite://")
    assert TurnLogger(engine, pseudonym_key=KEY, spool_dir=tmp_path, mode="process").mode == "thread"
    engine.dispose()


def test_records_cross_the_pipe_unchanged_to_the_microsecond() -> None:
    from dataclasses import asdict
    from datetime import UTC, datetime, timedelta

    from app.turnlog.rows import ERASE, WIRE_FIELDS, as_dict, decode, encode_erase, encode_record

    start = datetime(2026, 11, 27, 3, 4, 5, 999_999, tzinfo=UTC)
    sent = [record(n, received_at=start - timedelta(microseconds=n * 7919), stages={"handle": 125 * n},
                   score=None if n % 2 else 88.5, is_retry=bool(n % 3))
            for n in range(200)]
    erased_at = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    items = [decode(encode_record(f"id{n}", r)) for n, r in enumerate(sent)]
    assert [item[0] for item in items] == [f"id{n}" for n in range(200)]
    assert [datetime.fromtimestamp(item[1], UTC) for item in items] == [r.received_at for r in sent]
    assert [dict(zip(WIRE_FIELDS, item[2], strict=True)) for item in items] == [
        {k: v for k, v in asdict(r).items() if k != "received_at"} for r in sent
    ]
    rows = RowMaker(KEY).rows(items)
    assert [as_dict(row)["received_at"] for row in rows] == [r.received_at for r in sent]
    kind, at, openid = decode(encode_erase("o-gone", erased_at))
    assert (kind, datetime.fromtimestamp(at, UTC), openid) == (ERASE, erased_at, "o-gone")
