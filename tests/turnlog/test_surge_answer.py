"""Surge to first answer (issue 19): from a surge's start to the first confident FAQ answer of its cluster."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from app.cli import app
from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.turnlog.rows import to_row
from app.turnlog.store import insert_rows
from app.turnlog.surge import answer_status, belongs, detect, first_answers, surges
from app.turnlog.unanswered import Cluster
from tests.turnlog.records import record

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
HOT = ["消费券怎么领", "消费券怎么领取", "消费券怎么领呢", "请问消费券怎么领", "消费券怎么领", "消费券在哪领"]


def _log(engine: Engine, turns: list[tuple[timedelta, str, dict[str, object]]]) -> None:
    rows = [
        to_row(f"t{i}", record(i, received_at=NOW - ago, openid=f"u{i}", account="default", text=text, **fields), b"k")
        for i, (ago, text, fields) in enumerate(turns)
    ]
    insert_rows(engine, rows)


FALLBACK: dict[str, object] = {"route": "fallback", "faq_id": ""}


def test_the_first_confident_faq_answer_of_the_cluster_after_the_start_is_the_answer(engine: Engine) -> None:
    turns = [(timedelta(hours=20 - h), text, FALLBACK) for h, text in enumerate(HOT)]  # starts 20 h ago
    turns += [
        # Before the start: an answer then does not resolve a surge that had not begun.
        (timedelta(hours=22), "消费券怎么领", {"route": "faq", "faq_id": "xfq-1"}),
        # After the start, but not a confident answer, a retried delivery, or another question.
        (timedelta(hours=13), "消费券怎么领", {"route": "clarify", "faq_id": ""}),
        (timedelta(hours=12, minutes=30), "消费券怎么领", {"route": "faq", "faq_id": "xfq-1", "is_retry": True}),
        (timedelta(hours=12, minutes=10), "社保卡怎么补办", {"route": "faq", "faq_id": "sb-1"}),
        # The answer: a phrasing of the cluster, answered by an FAQ entry 8 hours after the start.
        (timedelta(hours=12), "消费券要怎么领取", {"route": "faq", "faq_id": "xfq-1"}),
        (timedelta(hours=2), "消费券怎么领", {"route": "faq", "faq_id": "xfq-1"}),
    ]
    _log(engine, turns)
    found = detect(engine, NOW)
    assert [s.surge.question for s in found] == ["消费券怎么领"]
    surge = found[0]
    assert surge.surge.started_at == NOW - timedelta(hours=20)
    assert surge.answered_at == NOW - timedelta(hours=12)
    status = surge.as_dict(NOW)["first_answer"]
    assert status == {
        "answered_at": (NOW - timedelta(hours=12)).isoformat(), "hours": 8.0, "answered": True,
        "within_target": True, "overdue": False, "target_hours": 24.0,
    }


def test_a_surge_with_no_answer_yet_is_open_and_overdue_after_24_hours(engine: Engine) -> None:
    # Asked 6 times a day for the last two days and never before: the surge began 40 hours ago.
    turns = [(timedelta(hours=40 - h), HOT[h % 6], FALLBACK) for h in range(6)]
    turns += [(timedelta(hours=15 - h), HOT[h % 6], FALLBACK) for h in range(6)]
    _log(engine, turns)
    (surge,) = detect(engine, NOW)
    assert surge.surge.started_at == NOW - timedelta(hours=40)
    assert surge.answered_at is None
    status = surge.as_dict(NOW)["first_answer"]
    got = (status["answered"], status["hours"], status["overdue"], status["within_target"])
    assert got == (False, 40.0, True, None)


def test_an_answer_later_than_24_hours_is_outside_the_target() -> None:
    started = NOW - timedelta(hours=30)
    status = answer_status(started, NOW - timedelta(hours=1), NOW)
    assert status["hours"] == 29.0 and status["within_target"] is False and status["overdue"] is True


def test_belongs_uses_the_clusterings_linkage() -> None:
    group = Cluster()
    group.texts.update(["消费券怎么领", "消费券怎么领取"])
    assert belongs("请问消费券怎么领呀", group)
    assert belongs("我想知道消费券怎么领取", group)  # contains a phrasing
    assert not belongs("社保卡怎么补办", group)
    assert not belongs("", group)


def test_first_answers_of_no_surges_reads_nothing(engine: Engine) -> None:
    assert first_answers(engine, [], NOW) == []
    assert surges([], NOW) == []


@pytest.fixture
def cli_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'surge.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    engine = make_engine(url)
    upgrade(engine)
    turns = [(timedelta(hours=10 - h), text, FALLBACK) for h, text in enumerate(HOT)]
    turns.append((timedelta(hours=3), "消费券怎么领", {"route": "faq", "faq_id": "xfq-1"}))
    _log(engine, turns)
    engine.dispose()
    (tmp_path / "knowledge" / "faq").mkdir(parents=True)
    (tmp_path / "knowledge" / "faq" / "a.yaml").write_text(
        "category: 社保\nentries:\n  - id: sb\n    question: 社保卡丢了怎么补办\n    answer: 到窗口补办。\n",
        encoding="utf-8",
    )


def test_kb_unanswered_surge_reports_the_time_to_the_first_answer(cli_log: None, tmp_path: Path) -> None:
    until = (NOW + timedelta(hours=12)).date().isoformat()  # midnight UTC of the next day: 12 h after NOW
    args = ["kb", "unanswered", "--surge", "--until", until, "--knowledge-dir", str(tmp_path / "knowledge")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "首个 FAQ 答复于" in result.stdout and "用时 7 小时（在 24 小时内）" in result.stdout
    data = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    assert data[0]["first_answer"]["hours"] == 7.0 and data[0]["first_answer"]["within_target"] is True
