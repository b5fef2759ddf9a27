"""Loading a knowledge folder: the YAML contract, and problems that name file and line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from knowledge.errors import KnowledgeError, Problem
from knowledge.loader import find_collisions, load_knowledge
from knowledge.schema import FaqEntry
from tests.knowledge.conftest import BASIC


def problems_of(directory: Path) -> list[Problem]:
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(directory)
    return info.value.problems


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


ENTRY = """category: 测试
entries:
  - id: a1
    question: 问题一
    similar: [问法一]
    answer: 答案一
"""


def test_the_fixture_loads_every_file() -> None:
    kb = load_knowledge(BASIC, today=date(2025, 6, 1))
    assert {e.id for e in kb.entries} >= {"sb-card-lost", "gjj-balance"}
    assert {e.category for e in kb.entries} == {"社保", "公积金"}
    assert kb.vocabulary.synonyms["社会保险"] == "社保"
    assert "一下子" in kb.vocabulary.stopwords
    assert ("社保卡", 20000) in kb.user_words
    assert [c.expect for c in kb.tests] == ["sb-card-lost", "gjj-balance", None]


def test_entries_keep_their_file_and_line() -> None:
    kb = load_knowledge(BASIC)
    entry = kb.entry("sb-card-lost")
    assert entry is not None and (entry.file, entry.line) == ("faq/shebao.yaml", 4)


def test_optional_fields_have_defaults() -> None:
    entry = load_knowledge(BASIC).entry("gjj-balance")
    assert entry is not None
    assert (entry.keywords, entry.valid_from, entry.valid_until, entry.enabled) == ((), None, None, True)


def test_dates_and_enabled_are_read() -> None:
    kb = load_knowledge(BASIC)
    subsidy, retired = kb.entry("sb-2024-subsidy"), kb.entry("sb-retired")
    assert subsidy is not None and subsidy.valid_until == date(2024, 12, 31)
    assert retired is not None and retired.enabled is False


def test_an_expired_entry_is_a_warning_not_an_error() -> None:
    kb = load_knowledge(BASIC, today=date(2025, 1, 1))
    assert any("sb-2024-subsidy" in p.message and "过期" in p.message for p in kb.warnings)


def test_unknown_key_names_file_and_line(kb_dir: Path) -> None:
    write(kb_dir / "faq" / "extra.yaml", ENTRY + "    answr: 拼错的字段\n")
    [problem] = problems_of(kb_dir)
    assert (problem.file, problem.line) == ("faq/extra.yaml", 7)
    assert "answr" in problem.message


def test_missing_field_names_the_entry_line(kb_dir: Path) -> None:
    write(kb_dir / "faq" / "extra.yaml", "category: 测试\nentries:\n  - id: a1\n    question: 问题一\n")
    [problem] = problems_of(kb_dir)
    assert (problem.file, problem.line) == ("faq/extra.yaml", 3)
    assert "answer" in problem.message


def test_similar_must_be_a_list(kb_dir: Path) -> None:
    write(kb_dir / "faq" / "extra.yaml", ENTRY.replace("similar: [问法一]", "similar: 问法一"))
    [problem] = problems_of(kb_dir)
    assert problem.line == 5 and "similar" in problem.message


def test_duplicate_id_across_files_names_both_places(kb_dir: Path) -> None:
    write(kb_dir / "faq" / "extra.yaml", ENTRY.replace("id: a1", "id: gjj-balance"))
    [problem] = problems_of(kb_dir)
    assert problem.file == "faq/gongjijin.yaml"
    assert "gjj-balance" in problem.message and "faq/extra.yaml:3" in problem.message


def test_bad_date_is_reported_with_its_line(kb_dir: Path) -> None:
    write(kb_dir / "faq" / "extra.yaml", ENTRY + "    valid_until: 2025-02-30\n")
    [problem] = problems_of(kb_dir)
    assert problem.line == 7 and "YYYY-MM-DD" in problem.message


def test_valid_until_before_valid_from_is_an_error(kb_dir: Path) -> None:
    write(kb_dir / "faq" / "extra.yaml", ENTRY + "    valid_from: 2025-03-01\n    valid_until: 2025-02-01\n")
    [problem] = problems_of(kb_dir)
    assert problem.line == 8 and "valid_until" in problem.message


def test_enabled_must_be_a_boolean(kb_dir: Path) -> None:
    write(kb_dir / "faq" / "extra.yaml", ENTRY + "    enabled: 关闭\n")
    [problem] = problems_of(kb_dir)
    assert problem.line == 7 and "enabled" in problem.message


def test_repeated_key_is_an_error_not_a_silent_overwrite(kb_dir: Path) -> None:
    write(kb_dir / "faq" / "extra.yaml", ENTRY + "    answer: 第二个答案\n")
    [problem] = problems_of(kb_dir)
    assert problem.line == 7 and "重复" in problem.message


def test_yaml_syntax_error_names_its_line(kb_dir: Path) -> None:
    write(kb_dir / "faq" / "extra.yaml", ENTRY + "  - id: [unclosed\n")
    [problem] = problems_of(kb_dir)
    assert problem.file == "faq/extra.yaml" and problem.line >= 7 and "YAML" in problem.message


def test_every_problem_is_reported_not_just_the_first(kb_dir: Path) -> None:
    write(kb_dir / "faq" / "extra.yaml", ENTRY + "    answr: x\n  - id: a2\n    question: 问\n")
    write(kb_dir / "faq" / "more.yaml", "category: 测试\nentries: 不是列表\n")
    problems = problems_of(kb_dir)
    assert {(p.file, p.line) for p in problems} == {("faq/extra.yaml", 7), ("faq/extra.yaml", 8), ("faq/more.yaml", 2)}


def test_file_without_category_is_an_error(kb_dir: Path) -> None:
    write(kb_dir / "faq" / "extra.yaml", ENTRY.replace("category: 测试\n", ""))
    [problem] = problems_of(kb_dir)
    assert "category" in problem.message


def test_empty_file_is_an_error(kb_dir: Path) -> None:
    write(kb_dir / "faq" / "extra.yaml", "# nothing yet\n")
    [problem] = problems_of(kb_dir)
    assert problem.file == "faq/extra.yaml"


def test_non_utf8_file_is_an_error(kb_dir: Path) -> None:
    (kb_dir / "faq" / "extra.yaml").write_bytes(ENTRY.encode("gbk"))
    [problem] = problems_of(kb_dir)
    assert "UTF-8" in problem.message


def test_missing_faq_folder_is_an_error(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path)
    assert "faq" in problem.file


def test_regression_case_pointing_at_an_unknown_id_is_an_error(kb_dir: Path) -> None:
    write(kb_dir / "tests.yaml", "- {q: 问题, expect: no-such-id}\n")
    [problem] = problems_of(kb_dir)
    assert (problem.file, problem.line) == ("tests.yaml", 1) and "no-such-id" in problem.message


def test_a_word_in_two_synonym_groups_is_an_error(kb_dir: Path) -> None:
    write(kb_dir / "synonyms.yaml", "- [社保, 社会保险]\n- [医保, 社会保险]\n")
    [problem] = problems_of(kb_dir)
    assert (problem.file, problem.line) == ("synonyms.yaml", 2)


def test_userdict_frequency_must_be_a_number(kb_dir: Path) -> None:
    write(kb_dir / "userdict.txt", "社保卡 20000\n电子证照 很多\n")
    [problem] = problems_of(kb_dir)
    assert (problem.file, problem.line) == ("userdict.txt", 2)


def test_a_reload_reuses_the_entries_of_unchanged_files(kb_dir: Path) -> None:
    first = load_knowledge(kb_dir)
    path = kb_dir / "faq" / "gongjijin.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("单人最高60万元", "单人最高70万元"), encoding="utf-8")
    second = load_knowledge(kb_dir, previous=first)
    assert second.entry("sb-card-lost") is first.entry("sb-card-lost")
    loan = second.entry("gjj-loan")
    assert loan is not None and "70万元" in loan.answer


def test_find_collisions_reports_a_phrasing_shared_by_two_entries() -> None:
    entries = [
        FaqEntry(id="x", category="c", question="公积金怎么提取", similar=(), answer="a", file="f.yaml", line=3),
        FaqEntry(id="y", category="c", question="提取公积金", similar=("公积金怎么提取！",), answer="b"),
    ]
    [problem] = find_collisions(entries)
    assert "x" in problem.message and "y" in problem.message


def test_a_broken_faq_file_is_the_only_error_reported(kb_dir: Path) -> None:
    # tests.yaml expects entries of shebao.yaml: with that file unreadable they are unknown, not
    # missing, and one error per case would bury the real one.
    (kb_dir / "faq" / "shebao.yaml").write_text("category: 社保\nentries:\n  - id: [unclosed\n", encoding="utf-8")
    [problem] = problems_of(kb_dir)
    assert problem.file == "faq/shebao.yaml" and "YAML" in problem.message


def test_general_synonyms_apply_under_the_folders_own(kb_dir: Path) -> None:
    write(kb_dir / "synonyms.yaml", "- [社保, 社会保险]\n- [销户, 关户]\n")
    synonyms = load_knowledge(kb_dir).vocabulary.synonyms
    # A general group: close / cancel / terminate an account.
    assert synonyms["关闭账户"] == synonyms["注销账号"]
    # The folder's group decides what its words mean: 销户 stays canonical here.
    assert "销户" not in synonyms and synonyms["关户"] == "销户"
