"""`wxbot kb check` and `wxbot ask`, run as an admin would, on a copy of the fixture folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from tests.knowledge.conftest import BASIC


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(BASIC, target)
    _default_thresholds(monkeypatch)
    return target


def _default_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANSWER_THRESHOLD", "ANSWER_MARGIN", "CLARIFY_THRESHOLD", "MENU_SIZE", "MENU_FLOOR", "RERANK"):
        monkeypatch.delenv(f"MATCH_{name}", raising=False)
        monkeypatch.delenv(f"MATCH_RERANK_{name}", raising=False)


SHIPPED = Path(__file__).resolve().parents[3] / "knowledge"


def test_check_passes_on_the_shipped_knowledge_base(monkeypatch: pytest.MonkeyPatch) -> None:
    # The sample knowledge base passes its own checks (every regression case in knowledge/tests.yaml
    # holds with the default thresholds), so that a failing `kb check` always means something.
    _default_thresholds(monkeypatch)
    code, out, err = run("kb", "check", "--knowledge", str(SHIPPED))
    assert code == 0, err
    assert "0 个错误" in out


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_check_passes_on_a_sound_folder_and_mentions_the_expired_entry(folder: Path) -> None:
    code, out, _err = run("kb", "check", "--knowledge", str(folder))
    assert code == 0
    assert "sb-2024-subsidy" in out and "过期" in out
    assert "回归用例 3/3 通过" in out


def test_check_names_file_and_line_of_a_schema_error(folder: Path) -> None:
    path = folder / "faq" / "gongjijin.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("    answer: 可通过", "    answr: 可通过"), "utf-8")
    code, _out, err = run("kb", "check", "--knowledge", str(folder))
    assert code == 1
    assert "faq/gongjijin.yaml:" in err and "answr" in err


def test_check_fails_on_a_phrasing_two_entries_share(folder: Path) -> None:
    path = folder / "faq" / "gongjijin.yaml"
    text = path.read_text(encoding="utf-8").replace("公积金贷款额度怎么算", "公积金余额怎么查")
    path.write_text(text, encoding="utf-8")
    code, _out, err = run("kb", "check", "--knowledge", str(folder))
    assert code == 1 and "gjj-loan" in err and "gjj-balance" in err


def test_check_fails_on_a_regression_case_that_does_not_hold(folder: Path) -> None:
    (folder / "tests.yaml").write_text("- {q: 公积金余额怎么查, expect: gjj-loan}\n", encoding="utf-8")
    code, _out, err = run("kb", "check", "--knowledge", str(folder))
    assert code == 1 and "tests.yaml:1" in err and "gjj-balance" in err


def test_ask_shows_the_decision_and_the_candidates(folder: Path) -> None:
    code, out, _err = run("ask", "--knowledge", str(folder), "社保卡丢了怎么补办")
    assert code == 0
    assert "直接回答" in out and "sb-card-lost" in out and "12333" in out


def test_ask_json_prints_one_object_in_the_documented_shape(folder: Path) -> None:
    code, out, _err = run("ask", "--knowledge", str(folder), "--json", "公积金")
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"query", "decision", "faq_id", "score", "candidates"}
    assert (result["query"], result["decision"], result["faq_id"]) == ("公积金", "clarify", None)
    assert all(set(c) == {"faq_id", "question", "score"} for c in result["candidates"])


def test_ask_dash_answers_one_json_line_per_input_line(folder: Path) -> None:
    code, out, _err = run("ask", "--knowledge", str(folder), "-", stdin="社保卡丢了怎么补办\n\n明天会不会下雨\n")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    expected = [("社保卡丢了怎么补办", "answer"), ("明天会不会下雨", "fallback")]
    assert [(x["query"], x["decision"]) for x in lines] == expected
    assert lines[0]["faq_id"] == "sb-card-lost"


def test_ask_reads_thresholds_from_the_environment(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCH_RERANK_ANSWER_THRESHOLD", "1.0")
    code, out, _err = run("ask", "--knowledge", str(folder), "--json", "社保卡丢了怎么补办")
    assert code == 0 and json.loads(out)["decision"] == "clarify"


def test_ask_reads_first_stage_thresholds_when_the_second_stage_is_off(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATCH_RERANK", "false")
    monkeypatch.setenv("MATCH_ANSWER_THRESHOLD", "1.0")
    code, out, _err = run("ask", "--knowledge", str(folder), "--json", "社保卡丢了怎么补办")
    assert code == 0 and json.loads(out)["decision"] == "clarify"


def test_ask_on_a_broken_folder_exits_non_zero_with_the_problem(folder: Path) -> None:
    (folder / "synonyms.yaml").write_text("- [社保, 社会保险\n", encoding="utf-8")
    code, _out, err = run("ask", "--knowledge", str(folder), "社保")
    assert code == 1 and "synonyms.yaml:" in err
