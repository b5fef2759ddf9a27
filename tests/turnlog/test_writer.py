"""The writer core under spool faults (issue 15): a torn spool, a full disk, a bad spooled row."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from app.db.models import TurnRow
from app.turnlog import store
from app.turnlog.logger import record_id
from app.turnlog.rows import encode_record
from app.turnlog.spool import Spool
from app.turnlog.writer import Writer
from tests.turnlog.records import record

KEY = b"test-key"


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(TurnRow)).scalar_one())


def batch(*ns: int, **overrides: object) -> list[bytes]:
    return [encode_record(record_id(), record(n, **overrides)) for n in ns]


def make_writer(engine: Engine, spool_dir: Path) -> Writer:
    return Writer(engine, pseudonym_key=KEY, spool_dir=spool_dir, retry_interval_s=0.0)


def spooled_file(engine: Engine, spool_dir: Path, *ns: int) -> Path:
    """A spool file with rows for `ns`, as a writer that saw the database down leaves it."""
    writer = make_writer(engine, spool_dir)
    writer.stats.down = True
    writer._next_retry = float("inf")
    writer.write(batch(*ns, text="社保卡补办窗口在哪"))
    writer.close()
    (path,) = Spool(spool_dir).files()
    return path


def test_a_torn_spool_tail_does_not_keep_the_writer_spooling(engine: Engine, tmp_path: Path) -> None:
    path = spooled_file(engine, tmp_path, 1, 2, 3)
    path.write_bytes(path.read_bytes()[:-5])  # the last record cut, as by a full disk
    writer = make_writer(engine, tmp_path)
    writer.tick(force=True)
    assert writer.stats.down is False
    assert count(engine) == 2
    writer.write(batch(4))
    assert writer.stats.spooled == 0
    assert count(engine) == 3
    assert writer.stats.quarantined_bytes > 0
    assert Spool(tmp_path).files() == []


def test_a_legacy_spool_line_cut_inside_a_character_is_quarantined_not_taken_for_an_outage(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "turnlog-1-x.jsonl").write_bytes('{"kind":"row","v":["社'.encode()[:-1])
    writer = make_writer(engine, tmp_path)
    writer.tick(force=True)
    assert writer.stats.down is False
    writer.write(batch(1))
    assert count(engine) == 1


def test_a_spooled_row_the_database_refuses_is_set_aside_and_the_rest_replayed(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spooled_file(engine, tmp_path, 1, 2, 3)
    real_insert = store.insert_rows

    def picky_insert(eng: Engine, rows: list) -> None:  # type: ignore[type-arg]
        if any("o-user-2" in str(row) or ":1002" in str(row) for row in rows):
            raise ValueError("cannot store this row")
        real_insert(eng, rows)

    monkeypatch.setattr(store, "insert_rows", picky_insert)
    writer = make_writer(engine, tmp_path)
    writer.tick(force=True)
    assert writer.stats.down is False
    assert writer.stats.rejected == 1
    assert count(engine) == 2
    assert Spool(tmp_path).files() == []


def test_rows_lost_to_a_full_disk_are_dropped_and_reported(engine: Engine, tmp_path: Path) -> None:
    writer = make_writer(engine, tmp_path)
    writer.stats.down = True
    writer._next_retry = float("inf")

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    writer.spool._write = full
    writer.write(batch(1, 2, 3))
    assert writer.stats.dropped == 3
    assert writer.stats.errors == 0
    assert writer.stats.spooled == 0
    assert writer.stats.spool_error == "ENOSPC"
    writer.spool._write = __import__("os").write
    writer.write(batch(4))
    assert writer.stats.spooled == 1
    assert writer.stats.spool_error == ""


def test_the_database_is_tried_again_while_spooling(engine: Engine, tmp_path: Path) -> None:
    writer = make_writer(engine, tmp_path)
    writer.stats.down = True  # it was down; it is back now, and the next batch finds out
    writer.write(batch(1))
    assert writer.stats.down is False
    assert count(engine) == 1
