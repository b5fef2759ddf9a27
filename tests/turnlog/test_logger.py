from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from app.db.engine import make_engine
from app.db.models import TurnRow
from app.settings import Settings
from app.turnlog.logger import TurnLogger, record_id
from app.turnlog.privacy import pseudonym
from app.turnlog.spool import Spool
from tests.db.fixtures import Database
from tests.turnlog.records import T0, record

KEY = b"test-key"


def make_logger(engine: Engine | None, spool_dir: Path, **kwargs: object) -> TurnLogger:
    options: dict[str, object] = {"flush_interval_s": 0.02, "retry_interval_s": 0.1, "batch_size": 50}
    options.update(kwargs)
    return TurnLogger(engine, pseudonym_key=KEY, spool_dir=spool_dir, **options)  # type: ignore[arg-type]


@pytest.fixture
def logger(engine: Engine, tmp_path: Path) -> Iterator[TurnLogger]:
    turnlog = make_logger(engine, tmp_path / "spool")
    turnlog.start()
    yield turnlog
    turnlog.stop()


def rows(engine: Engine) -> list[TurnRow]:
    with engine.connect() as conn:
        return list(conn.execute(select(TurnRow).order_by(TurnRow.received_at, TurnRow.id)).all())


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(TurnRow)).scalar_one())


def wait_for_count(engine: Engine, expected: int, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while (seen := count(engine)) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return seen


def test_submitted_records_become_rows(logger: TurnLogger, engine: Engine) -> None:
    for n in range(120):
        logger.submit(record(n))
    assert logger.flush()
    assert count(engine) == 120


def test_row_holds_what_the_record_said(logger: TurnLogger, engine: Engine) -> None:
    logger.submit(record(1, text="手机13812345678怎么办社保卡", stages={"handle": 3250}, score=88.5))
    logger.flush()
    (row,) = rows(engine)
    assert row.received_at == T0 + timedelta(seconds=1)
    assert row.user_id == pseudonym(KEY, "o-user-1")
    assert row.text == "手机[手机号]怎么办社保卡"
    assert (row.route, row.faq_id, row.score) == ("faq", "social-card", 88.5)
    assert row.stages == {"handle": 3250}
    assert row.outcome == "passive"


def test_retries_are_rows_of_their_own_marked_as_such(logger: TurnLogger, engine: Engine) -> None:
    logger.submit(record(1))
    logger.submit(record(1, is_retry=True, route="duplicate", outcome="duplicate"))
    logger.flush()
    assert [(r.is_retry, r.route) for r in rows(engine)] == [(False, "faq"), (True, "duplicate")]


def test_submit_never_raises_on_a_malformed_record(logger: TurnLogger, engine: Engine) -> None:
    broken = record(1)
    broken.received_at = None  # type: ignore[assignment]
    logger.submit(broken)
    logger.submit(record(2))
    logger.flush()
    assert count(engine) == 1
    assert logger.stats.errors == 1


def test_a_record_the_writer_cannot_make_a_row_of_is_counted_and_the_rest_written(
    logger: TurnLogger, engine: Engine
) -> None:
    logger.submit(record(1))
    logger.submit(record(2, text=12345))  # type: ignore[arg-type]
    logger.submit(record(3))
    logger.flush()
    assert [row.text for row in rows(engine)] == ["社保卡怎么办理 1", "社保卡怎么办理 3"]
    assert logger.stats.errors == 1


def test_a_bad_stage_timing_is_dropped_not_the_row(logger: TurnLogger, engine: Engine) -> None:
    logger.submit(record(1, stages={"handle": "slow", "parse": 500, "odd": float("nan")}))
    logger.flush()
    (row,) = rows(engine)
    assert row.stages == {"parse": 500}


def test_stage_timings_are_stored_in_whole_microseconds_whatever_their_names(
    logger: TurnLogger, engine: Engine
) -> None:
    # The writer formats known sets of names through a cached template: later rows with the
    # same names take that path, and a name JSON must escape never does.
    timings = [{"parse": 31, "handle": 4120}, {"parse": 7, "handle": 0}, {"handle": 5, "parse": 2},
               {'a"b\\c%d': 1, "换行\n": 2}, {'a"b\\c%d': 3, "换行\n": 4}, {"parse": 1, "handle": 2.5},
               {"parse": 1.5, "handle": True}, {}]
    for n, stages in enumerate(timings):
        logger.submit(record(n, stages=stages))
    logger.flush()
    stored = [row.stages for row in rows(engine)]
    assert stored[:5] == timings[:5]
    assert stored[5:] == [{"parse": 1, "handle": 2}, {"parse": 1, "handle": 1}, {}]


def test_a_row_that_cannot_be_stored_is_set_aside_and_the_rest_written(
    logger: TurnLogger, engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from app.turnlog import store

    real_insert = store.insert_rows

    def picky_insert(eng: Engine, batch: list) -> None:  # type: ignore[type-arg]
        if any("poison" in str(row) for row in batch):
            raise ValueError("cannot store this row")
        real_insert(eng, batch)

    monkeypatch.setattr(store, "insert_rows", picky_insert)
    logger.submit(record(1, text="poison"))
    logger.submit(record(2))
    logger.flush()
    assert count(engine) == 1
    assert logger.stats.rejected == 1
    assert logger.database_down is False
    (rejected,) = (tmp_path / "spool").glob("*.rejected")
    assert "poison" in rejected.read_text()


def test_nul_characters_are_stripped_from_text(logger: TurnLogger, engine: Engine) -> None:
    logger.submit(record(1, text="社保\x00卡"))
    logger.flush()
    assert rows(engine)[0].text == "社保卡"


def test_full_queue_drops_and_counts_instead_of_blocking(engine: Engine, tmp_path: Path) -> None:
    turnlog = make_logger(engine, tmp_path / "spool", queue_size=10)  # not started: nothing drains
    started = time.perf_counter()
    for n in range(25):
        turnlog.submit(record(n))
    assert time.perf_counter() - started < 0.05
    assert turnlog.queue_depth == 10
    assert turnlog.stats.dropped == 15


def test_stop_writes_everything_still_queued(engine: Engine, tmp_path: Path) -> None:
    turnlog = make_logger(engine, tmp_path / "spool", flush_interval_s=60)
    turnlog.start()
    for n in range(30):
        turnlog.submit(record(n))
    turnlog.stop()
    assert count(engine) == 30


def test_disabled_logger_accepts_and_discards(engine: Engine, tmp_path: Path) -> None:
    turnlog = make_logger(engine, tmp_path / "spool", enabled=False)
    turnlog.start()
    turnlog.submit(record(1))
    turnlog.stop()
    assert count(engine) == 0


def test_from_settings_honours_the_switch(tmp_path: Path) -> None:
    settings = Settings(turnlog_enabled=False, database_url=f"sqlite:///{tmp_path / 'x.db'}",
                        turnlog_spool_dir=tmp_path / "spool")
    assert TurnLogger.from_settings(settings).enabled is False


def test_erase_user_unlinks_their_rows_for_good(logger: TurnLogger, engine: Engine) -> None:
    logger.submit(record(1, openid="o-leaving", text="我要投诉，电话13812345678"))
    logger.submit(record(2, openid="o-staying"))
    logger.erase_user("o-leaving")
    logger.flush()
    by_text = {r.text: r for r in rows(engine)}
    hashed = pseudonym(KEY, "o-leaving")
    assert hashed not in {r.user_id for r in by_text.values()}
    erased = by_text[""]
    assert erased.user_id.startswith("erased-")
    assert erased.dedup_key == ""
    assert pseudonym(KEY, "o-staying") in {r.user_id for r in by_text.values()}


def test_a_user_who_leaves_twice_is_erased_twice_under_one_replacement(logger: TurnLogger, engine: Engine) -> None:
    logger.submit(record(1, openid="o-back"))
    logger.erase_user("o-back")
    logger.flush()
    logger.submit(record(2, openid="o-back"))  # subscribed again, then left again
    logger.erase_user("o-back")
    logger.flush()
    users = [r.user_id for r in rows(engine)]
    assert len(users) == 2 and len(set(users)) == 1 and users[0].startswith("erased-")
    assert logger.stats.rejected == 0


def test_rows_arriving_after_the_erasure_are_erased_on_the_way_in(
    logger: TurnLogger, engine: Engine, tmp_path: Path
) -> None:
    logger.submit(record(1, openid="o-leaving"))
    logger.erase_user("o-leaving")
    logger.flush()
    # A row from another worker's queue (or a spool), received before the erasure, lands later.
    other = make_logger(engine, tmp_path / "other-spool")
    other.start()
    other.submit(record(2, openid="o-leaving"))
    other.stop()
    users = {r.user_id for r in rows(engine)}
    assert len(users) == 1
    assert next(iter(users)).startswith("erased-")


def unreachable_database() -> Engine:
    # Nothing listens on the discard port: connections are refused at once.
    return make_engine("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1")


def spool_while_down(spool_dir: Path, n: int) -> None:
    """A worker that could not reach the database and exited with its rows spooled."""
    dead = unreachable_database()
    worker = make_logger(dead, spool_dir)
    worker.start()
    for i in range(n):
        worker.submit(record(i))
    worker.stop()
    dead.dispose()
    assert worker.stats.spooled == n


def test_spool_left_by_a_stopped_worker_is_replayed_on_start(engine: Engine, tmp_path: Path) -> None:
    spool_while_down(tmp_path / "spool", 5)

    turnlog = make_logger(engine, tmp_path / "spool")
    turnlog.start()
    assert wait_for_count(engine, 5) == 5
    turnlog.stop()
    assert Spool(tmp_path / "spool").files() == []


def test_replaying_the_same_spool_twice_writes_each_row_once(engine: Engine, tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool_while_down(spool_dir, 8)
    (spooled,) = Spool(spool_dir).files()
    copy = spooled.read_bytes()

    first = make_logger(engine, spool_dir)
    first.start()
    wait_for_count(engine, 8)
    first.stop()
    spooled.write_bytes(copy)  # the same file again, as after a crash mid-replay
    second = make_logger(engine, spool_dir)
    second.start()
    deadline = time.monotonic() + 5
    while Spool(spool_dir).files() and time.monotonic() < deadline:
        time.sleep(0.05)
    second.stop()
    assert count(engine) == 8


# --- the fault test: the database goes away under load and comes back ------------------------


OUTAGE_MIN_S = 1.0


def run_load_through_outage(
    turnlog: TurnLogger, engine: Engine, outage: tuple[threading.Event, threading.Event], total: int
) -> None:
    """Submit `total` records steadily; the database stops at one third and is back at two thirds.

    The first record is written before the load starts, so a writer process still starting up on
    a busy machine cannot sleep through the whole outage; and the outage lasts at least a second,
    many flush intervals, however fast the records go in.
    """
    down, up = outage
    turnlog.submit(record(0))
    assert turnlog.flush(), "the writer never came up"
    went_down = 0.0
    for n in range(1, total):
        if n == total // 3:
            down.set()
            went_down = time.monotonic()
        if n == 2 * total // 3:
            time.sleep(max(0.0, went_down + OUTAGE_MIN_S - time.monotonic()))
            up.set()
        turnlog.submit(record(n))
        time.sleep(0.002)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_sqlite_outage_mid_load_loses_and_duplicates_nothing(tmp_path: Path, mode: str) -> None:
    url = f"sqlite:///{tmp_path / 'wxbot.db'}"
    setup = make_engine(url)
    from app.db.migrate import upgrade

    upgrade(setup)
    # A short busy timeout: while another process holds the write lock the database is "down".
    engine = make_engine(url + "?timeout=0.05")
    turnlog = make_logger(engine, tmp_path / "spool", mode=mode)
    turnlog.start()
    down, up = threading.Event(), threading.Event()
    locker = setup.connect()

    def outage() -> None:
        down.wait()
        locker.exec_driver_sql("BEGIN EXCLUSIVE")
        up.wait()
        locker.exec_driver_sql("COMMIT")

    thread = threading.Thread(target=outage)
    thread.start()
    total = 600
    run_load_through_outage(turnlog, engine, (down, up), total)
    thread.join()
    locker.close()
    assert wait_for_count(setup, total) == total
    turnlog.stop()
    with setup.connect() as conn:
        distinct = conn.execute(select(func.count(func.distinct(TurnRow.record_id)))).scalar_one()
    assert distinct == total
    assert turnlog.stats.spooled > 0, "the outage never hit the writer"
    assert turnlog.stats.replayed >= turnlog.stats.spooled
    assert Spool(tmp_path / "spool").files() == []
    setup.dispose()
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["thread", "process"])
def test_postgres_outage_mid_load_loses_and_duplicates_nothing(
    postgres_database: Database, tmp_path: Path, mode: str
) -> None:
    database = postgres_database
    from sqlalchemy.engine import make_url

    from app.db.migrate import upgrade
    from tests.turnlog.tcp_proxy import TcpProxy

    direct = make_engine(database.url)
    upgrade(direct)
    url = make_url(database.url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).update_query_dict({"connect_timeout": "2"})
    engine = make_engine(through_proxy.render_as_string(hide_password=False))
    turnlog = make_logger(engine, tmp_path / "spool", mode=mode)
    turnlog.start()
    down, up = threading.Event(), threading.Event()

    def outage() -> None:
        down.wait()
        proxy.stop()
        up.wait()
        proxy.start()

    thread = threading.Thread(target=outage)
    thread.start()
    total = 600
    run_load_through_outage(turnlog, engine, (down, up), total)
    thread.join()
    assert wait_for_count(direct, total) == total
    turnlog.stop()
    proxy.close()
    with direct.connect() as conn:
        distinct = conn.execute(select(func.count(func.distinct(TurnRow.record_id)))).scalar_one()
        conn.execute(text("SELECT 1"))
    assert distinct == total
    assert turnlog.stats.spooled > 0, "the outage never hit the writer"
    assert Spool(tmp_path / "spool").files() == []
    direct.dispose()
    engine.dispose()


def test_record_ids_are_unique_time_ordered_and_differ_between_forked_workers() -> None:
    ids = [record_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert ids == sorted(ids, key=lambda i: i[:16])  # nanoseconds first
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports the process part of its id
        os.write(write, record_id()[16:26].encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child_prefix = os.read(read, 10).decode()
    os.close(read)
    os.close(write)
    assert child_prefix != record_id()[16:26]


def test_rows_the_spool_cannot_take_are_counted_dropped_and_reported(tmp_path: Path) -> None:
    from app import metrics

    blocked = tmp_path / "spool"
    blocked.write_text("a file where the spool directory should be")  # unwritable spool
    dead = unreachable_database()
    turnlog = make_logger(dead, blocked, mode="thread")
    before = metrics.TURNLOG_DROPPED._value.get()
    errors_before = metrics.TURNLOG_ERRORS.labels("writer")._value.get()
    turnlog.start()
    for i in range(4):
        turnlog.submit(record(i))
    assert turnlog.flush()
    health = turnlog.health()
    turnlog.stop()
    dead.dispose()
    assert turnlog.stats.dropped == 4
    assert metrics.TURNLOG_DROPPED._value.get() - before == 4
    assert metrics.TURNLOG_ERRORS.labels("writer")._value.get() == errors_before
    assert health == {"turnlog": "spool_failed", "turnlog_spool_error": "EEXIST"}
