"""Surge detection: a question unanswered far more often than usual in the last 24 hours (issue 19)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.cli.db import parse_day
from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.turnlog.rows import to_row
from app.turnlog.store import insert_rows
from app.turnlog.surge import MIN_COUNT, surges
from tests.turnlog.records import record

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _steady(days: int = 8, per_day: int = 2) -> list[tuple[datetime, str]]:
    return [(NOW - timedelta(days=d, hours=h + 1), "公积金怎么提取") for d in range(days) for h in range(per_day)]


def test_a_new_question_asked_often_today_is_a_surge_and_a_steady_one_is_not() -> None:
    hot = [(NOW - timedelta(hours=h), text) for h, text in enumerate(
        ["消费券怎么领", "消费券怎么领取", "消费券怎么领呢", "消费券怎么领啊", "请问消费券怎么领", "消费券怎么领"]
    )]
    found = surges(_steady() + hot, NOW)
    assert [s.question for s in found] == ["消费券怎么领"]
    assert found[0].last_day == 6 and found[0].usual_per_day == 0
    assert found[0].started_at == NOW - timedelta(hours=5)


def test_fewer_than_the_minimum_is_no_surge() -> None:
    hot = [(NOW - timedelta(hours=h), "消费券怎么领") for h in range(MIN_COUNT - 1)]
    assert surges(hot, NOW) == []


def test_a_usual_question_needs_three_times_its_daily_rate() -> None:
    usual = _steady(per_day=3)
    more = [(NOW - timedelta(minutes=m), "公积金怎么提取") for m in range(5)]
    # 3 a day usually, 8 today: below 3×.
    assert surges(usual + more, NOW) == []
    much_more = [(NOW - timedelta(minutes=m), "公积金怎么提取") for m in range(7)]
    assert [s.question for s in surges(usual + much_more, NOW)] == ["公积金怎么提取"]


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'surge.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    engine = make_engine(url)
    upgrade(engine)
    end = parse_day("2026-11-27")
    texts = ["养犬登记怎么办", "养犬登记怎么办理", "狗证怎么办", "养犬登记怎么办呢", "养犬登记怎么办", "养犬登记怎么办"]
    rows = [to_row(f"f{i}", record(i, openid=f"u{i}", route="fallback", faq_id="", text=t,
                                   received_at=end - timedelta(hours=3 + i)), b"k")
            for i, t in enumerate(texts)]
    insert_rows(engine, rows)
    engine.dispose()
    (tmp_path / "knowledge" / "faq").mkdir(parents=True)
    (tmp_path / "knowledge" / "faq" / "a.yaml").write_text(
        "category: 社保\nentries:\n  - id: sb\n    question: 社保卡丢了怎么补办\n    answer: 到窗口补办。\n",
        encoding="utf-8",
    )


def test_kb_unanswered_surge_shows_the_cluster_with_a_yaml_snippet(seeded: None, tmp_path: Path) -> None:
    args = ["kb", "unanswered", "--surge", "--until", "2026-11-27", "--knowledge-dir", str(tmp_path / "knowledge")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "热点 1：养犬登记怎么办  近 24 小时 ×" in result.stdout
    assert 'question: "养犬登记怎么办"' in result.stdout
    data = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    assert data[0]["last_day"] >= MIN_COUNT and data[0]["usual_per_day"] == 0
