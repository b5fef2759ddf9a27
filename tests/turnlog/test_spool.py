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


# --- issue 15: a framed, checksummed spool -----------------------------------------------------


def text_entries(*ns: int) -> list[Entry]:
    # Multi-byte text: the outage that found the bug cut a record inside a character.
    return [{"kind": "row", "record_id": f"r{n}", "text": f"社保卡补办 {n} 号窗口"} for n in ns]


def test_a_spool_truncated_at_every_offset_of_its_last_record_replays_everything_before_it(
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"
    spool = Spool(source)
    spool.append(text_entries(1, 2, 3))
    size_before_last = spool.size_bytes()
    spool.append(text_entries(4))
    spool.close_active()
    (path,) = spool.files()
    whole = path.read_bytes()
    assert len(whole) > size_before_last
    for cut in range(size_before_last, len(whole)):
        directory = tmp_path / f"cut-{cut}"
        directory.mkdir()
        (directory / path.name).write_bytes(whole[:cut])
        torn = Spool(directory)
        sink = Sink()
        assert torn.replay(sink) == 3, cut
        assert [e["record_id"] for e in sink.received] == ["r1", "r2", "r3"], cut
        assert torn.files() == [], cut
        if cut > size_before_last:
            assert torn.quarantined_bytes == cut - size_before_last, cut
            assert [p.suffix for p in directory.glob("*.torn")] == [".torn"], cut


def test_a_corrupted_record_in_the_middle_is_quarantined_and_the_rest_replayed(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(text_entries(1))
    first_end = spool.size_bytes()
    spool.append(text_entries(2, 3))
    spool.close_active()
    (path,) = spool.files()
    data = bytearray(path.read_bytes())
    data[first_end + 12] ^= 0xFF  # a flipped bit inside record 2's payload
    path.write_bytes(bytes(data))
    sink = Sink()
    Spool(tmp_path).replay(sink)
    assert [e["record_id"] for e in sink.received] == ["r1", "r3"]


def test_a_legacy_json_lines_spool_cut_inside_a_character_still_replays(tmp_path: Path) -> None:
    good = '{"kind":"row","record_id":"ok","text":"社保"}\n'.encode()
    torn = '{"kind":"row","record_id":"cut","text":"社保"}\n'.encode()[:-4]  # inside 保
    (tmp_path / "turnlog-1-x.jsonl").write_bytes(good + torn)
    spool = Spool(tmp_path)
    sink = Sink()
    spool.replay(sink)
    assert [e["record_id"] for e in sink.received] == ["ok"]
    assert spool.files() == []


def test_a_full_disk_leaves_no_torn_record_behind(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(text_entries(1))
    real_write = spool._write

    def short_then_full(fd: int, data: bytes) -> int:
        if len(data) > 8:
            real_write(fd, data[:7])  # part of the batch reached the disk, then it filled up
        raise OSError(28, "No space left on device")

    spool._write = short_then_full
    with pytest.raises(OSError):
        spool.append(text_entries(2, 3))
    spool._write = real_write
    spool.append(text_entries(4))
    sink = Sink()
    spool.replay(sink)
    assert [e["record_id"] for e in sink.received] == ["r1", "r4"]
    assert list(tmp_path.glob("*.torn")) == []
