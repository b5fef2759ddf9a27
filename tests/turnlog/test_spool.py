from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from app.turnlog.spool import Entry, Spool


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.received: list[Entry] = []
        self.fail = fail

    def __call__(self, entries: list[Entry]) -> None:
        if self.fail:
            raise ConnectionError("database still down")
        self.received.extend(entries)


def entries(*ns: int) -> list[Entry]:
    return [{"kind": "row", "record_id": f"r{n}"} for n in ns]


def test_replay_hands_over_entries_in_order_and_deletes_the_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(entries(1, 2))
    spool.append(entries(3))
    sink = Sink()
    assert spool.replay(sink) == 3
    assert [e["record_id"] for e in sink.received] == ["r1", "r2", "r3"]
    assert spool.files() == []
    assert spool.pending == 0


def test_failed_replay_keeps_the_file_for_the_next_attempt(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(entries(1))
    spool.close_active()
    with pytest.raises(ConnectionError):
        spool.replay(Sink(fail=True))
    sink = Sink()
    spool.replay(sink)
    assert [e["record_id"] for e in sink.received] == ["r1"]


def test_entries_spooled_after_a_replay_go_to_a_new_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(entries(1))
    spool.replay(Sink())
    spool.append(entries(2))
    sink = Sink()
    spool.replay(sink)
    assert [e["record_id"] for e in sink.received] == ["r2"]


def test_a_file_another_live_writer_holds_is_left_alone(tmp_path: Path) -> None:
    other = tmp_path / "turnlog-999-abcd.jsonl"
    other.write_text('{"kind":"row","record_id":"theirs"}\n')
    with other.open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        sink = Sink()
        Spool(tmp_path).replay(sink)
        assert sink.received == []
        assert other.exists()


def test_a_crashed_workers_file_is_replayed_by_another(tmp_path: Path) -> None:
    (tmp_path / "turnlog-999-abcd.jsonl").write_text('{"kind":"row","record_id":"orphan"}\n')
    sink = Sink()
    Spool(tmp_path).replay(sink)
    assert [e["record_id"] for e in sink.received] == ["orphan"]


def test_a_torn_last_line_is_skipped_and_counted(tmp_path: Path) -> None:
    (tmp_path / "turnlog-1-x.jsonl").write_text('{"kind":"row","record_id":"ok"}\n{"kind":"ro')
    spool = Spool(tmp_path)
    sink = Sink()
    spool.replay(sink)
    assert [e["record_id"] for e in sink.received] == ["ok"]
    assert spool.corrupt_lines == 1


def test_size_counts_every_spool_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    assert spool.size_bytes() == 0
    spool.append(entries(1, 2, 3))
    assert spool.size_bytes() > 0
    spool.close_active()
