from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.cli import report as report_cli
from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.turnlog.rows import to_row
from app.turnlog.store import insert_rows
from tests.turnlog.records import record

runner = CliRunner()
NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)

KNOWLEDGE = """\
category: 社会保障
entries:
  - id: shebao-card-lost
    question: 社保卡丢了怎么补办
    similar:
      - 社保卡挂失
    answer: 请携带身份证到社保服务窗口办理挂失和补卡。
  - id: shebao-query
    question: 怎么查询社保缴费记录
    answer: 可在「国家社会保险公共服务平台」查询。
"""


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    url = f"sqlite:///{tmp_path / 'report.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    engine = make_engine(url)
    upgrade(engine)
    texts = ["社保卡掉了怎么补", "社保卡掉了怎么补办", "社保卡掉了怎么补办呢", "宠物狗怎么办理养犬登记", "养犬登记"]
    rows = [to_row(f"f{i}", record(i, openid=f"u{i}", route="fallback", faq_id="", text=t,
                                   received_at=NOW - timedelta(hours=2, minutes=i)), b"k")
            for i, t in enumerate(texts)]
    rows += [to_row(f"a{i}", record(i, openid=f"v{i}", received_at=NOW - timedelta(hours=1), latency_ms=20 + i),
                    b"k") for i in range(5)]
    insert_rows(engine, rows)
    engine.dispose()
    knowledge = tmp_path / "knowledge"
    (knowledge / "faq").mkdir(parents=True)
    (knowledge / "faq" / "shebao.yaml").write_text(KNOWLEDGE, encoding="utf-8")
    return knowledge


def window() -> list[str]:
    return ["--since", "2026-11-26", "--until", "2026-11-27"]


def test_report_json_is_one_object_with_the_documented_keys(seeded: Path) -> None:
    result = runner.invoke(app, ["report", "--json", *window()])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["turns"] == 10
    assert data["consultations"]["count"] == 10
    assert data["rates"]["fallback"] == 0.5
    assert data["top_unanswered"][0] == {
        "question": "社保卡掉了怎么补",
        "count": 3,
        "examples": ["社保卡掉了怎么补", "社保卡掉了怎么补办", "社保卡掉了怎么补办呢"],
    }


def test_report_text_names_the_headline_numbers(seeded: Path) -> None:
    result = runner.invoke(app, ["report", *window()])
    assert result.exit_code == 0, result.output
    assert "每次解决的交互轮次" in result.stdout
    assert "社保卡掉了怎么补" in result.stdout


def test_progress_bar_goes_to_stderr_and_keeps_json_clean(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_cli, "PROGRESS_MIN_ROWS", 1)
    result = runner.invoke(app, ["report", "--json", *window()])
    assert result.exit_code == 0, result.output
    assert "读取对话记录" in result.stderr
    assert json.loads(result.stdout)["turns"] == 10


def test_since_after_until_is_refused(seeded: Path) -> None:
    result = runner.invoke(app, ["report", "--since", "2026-11-27", "--until", "2026-11-26"])
    assert result.exit_code == 2


def unanswered_command() -> list[str]:
    try:
        import app.cli.kb  # noqa: F401
    except ImportError:
        return ["kb-unanswered"]
    return ["kb", "unanswered"]


def test_kb_unanswered_suggests_the_entry_and_similar_phrasings(seeded: Path) -> None:
    result = runner.invoke(app, [*unanswered_command(), "--json", "--knowledge-dir", str(seeded), *window()])
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    lost = next(item for item in items if item["question"] == "社保卡掉了怎么补")
    assert lost["entry"]["id"] == "shebao-card-lost"
    assert "similar:" in lost["yaml"]
    assert '- "社保卡掉了怎么补办"' in lost["yaml"]


def test_kb_unanswered_offers_a_new_entry_when_nothing_is_close(seeded: Path) -> None:
    result = runner.invoke(app, [*unanswered_command(), "--json", "--knowledge-dir", str(seeded), *window()])
    items = json.loads(result.stdout)
    dogs = next(item for item in items if "养犬" in item["question"])
    assert dogs["entry"] is None
    assert "id: TODO-新编号" in dogs["yaml"]
    assert "answer: |-" in dogs["yaml"]


def test_kb_unanswered_text_output_reads_as_a_to_do_list(seeded: Path) -> None:
    result = runner.invoke(app, [*unanswered_command(), "--knowledge-dir", str(seeded), *window()])
    assert result.exit_code == 0, result.output
    assert "最可能属于 shebao-card-lost" in result.stdout
    assert "建议新建" in result.stdout


@pytest.fixture
def picked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Citizens who were offered a menu and picked an entry from it (clarify row, then the number)."""
    url = f"sqlite:///{tmp_path / 'picks.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    engine = make_engine(url)
    upgrade(engine)
    rows = []
    for i, question in enumerate(["社保卡不见了去哪弄", "社保卡不见了去哪弄", "社保卡不见了去哪弄啊"]):
        at = NOW - timedelta(hours=2, minutes=i)
        rows.append(to_row(f"c{i}", record(2 * i, openid=f"p{i}", route="clarify", faq_id="", text=question,
                                           received_at=at), b"k"))
        rows.append(to_row(f"p{i}", record(2 * i + 1, openid=f"p{i}", route="faq", faq_id="shebao-card-lost",
                                           text="1", received_at=at + timedelta(seconds=20)), b"k"))
    insert_rows(engine, rows)
    engine.dispose()
    knowledge = tmp_path / "knowledge"
    (knowledge / "faq").mkdir(parents=True)
    (knowledge / "faq" / "shebao.yaml").write_text(KNOWLEDGE, encoding="utf-8")
    return knowledge


def test_kb_suggest_proposes_what_citizens_picked_from_menus_with_counts(picked: Path) -> None:
    result = runner.invoke(app, ["kb", "suggest", "--json", "--knowledge", str(picked), *window()])
    assert result.exit_code == 0, result.output
    [item] = json.loads(result.stdout)
    assert item["id"] == "shebao-card-lost" and item["count"] == 3
    assert item["phrasings"] == [{"text": "社保卡不见了去哪弄", "count": 3}]
    assert '- "社保卡不见了去哪弄"  # ×3' in item["yaml"]


def test_kb_suggest_apply_writes_a_review_file(picked: Path, tmp_path: Path) -> None:
    review = tmp_path / "review.yaml"
    result = runner.invoke(app, ["kb", "suggest", "--knowledge", str(picked), "--apply", str(review), *window()])
    assert result.exit_code == 0, result.output
    text = review.read_text(encoding="utf-8")
    assert "shebao-card-lost" in text and '- "社保卡不见了去哪弄"  # ×3' in text


def test_kb_lint_lists_its_four_checks(picked: Path) -> None:
    result = runner.invoke(app, ["kb", "lint", "--knowledge", str(picked)])
    assert result.exit_code == 0, result.output
    for heading in ("相互混淆的条目", "永远匹配不到的条目", "全是停用词的问法", "可能有用的同义词"):
        assert heading in result.stdout
