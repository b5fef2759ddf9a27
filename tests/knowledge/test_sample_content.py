"""The sample account's knowledge base (knowledge/*.yaml, *.txt) is well-formed and complete.

Checked with PyYAML alone, not through `knowledge.loader`, so that the shipped content is held to
the file contract (issue 3) independently of the code that reads it, and a mistake in either one
shows up as a disagreement instead of cancelling out.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"
FAQ_FILES = sorted((KNOWLEDGE / "faq").glob("*.yaml"))

ENTRY_KEYS = {"id", "question", "similar", "answer", "keywords", "valid_from", "valid_until", "enabled"}
REQUIRED_KEYS = {"id", "question", "similar", "answer"}
# WeChat rejects passive text replies over 2048 bytes; leave room for the bot's own framing.
MAX_ANSWER_BYTES = 2000
# jieba's user dictionary line: `word [freq] [tag]`.
USERDICT_LINE = re.compile(r"^\S+( [0-9]+)?( [a-z]+)?$")
# Words that tell "how" from "where" from "how long" from "how much", and negations: dropping them
# would merge different questions (see the header of stopwords.txt).
MEANINGFUL_WORDS = {"怎么", "如何", "哪里", "哪", "多久", "多少", "多少钱", "为什么", "什么", "不", "没", "没有"}


@functools.cache
def _load(path: Path) -> Any:
    # Parsed once per file; tests only read the result.
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _data_lines(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def entries() -> list[tuple[str, dict[str, Any]]]:
    """(file name, entry) for every entry of every FAQ file."""
    out = []
    for path in FAQ_FILES:
        for entry in _load(path)["entries"]:
            out.append((path.name, entry))
    return out


@pytest.fixture(scope="module")
def entry_by_id(entries: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for _name, entry in entries}


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = _load(KNOWLEDGE / "tests.yaml")
    return loaded


@pytest.mark.parametrize("path", FAQ_FILES, ids=lambda p: p.name)
def test_faq_file_has_a_category_and_a_list_of_entries(path: Path) -> None:
    data = _load(path)
    assert isinstance(data, dict) and set(data) == {"category", "entries"}
    assert isinstance(data["category"], str) and data["category"].strip()
    assert isinstance(data["entries"], list) and data["entries"]


@pytest.mark.parametrize(
    "path", [*FAQ_FILES, KNOWLEDGE / "synonyms.yaml", KNOWLEDGE / "tests.yaml"], ids=lambda p: p.name
)
def test_every_yaml_file_says_it_is_sample_content(path: Path) -> None:
    head = path.read_text(encoding="utf-8")[:400]
    assert head.startswith("#") and "SAMPLE CONTENT" in head and "示例内容" in head


def test_entries_have_the_required_keys_and_no_unknown_ones(entries: list[tuple[str, dict[str, Any]]]) -> None:
    bad = [
        (name, entry.get("id"), sorted(REQUIRED_KEYS - set(entry)), sorted(set(entry) - ENTRY_KEYS))
        for name, entry in entries
        if not set(entry) >= REQUIRED_KEYS or not set(entry) <= ENTRY_KEYS
    ]
    assert bad == []


def test_text_fields_are_non_empty_strings(entries: list[tuple[str, dict[str, Any]]]) -> None:
    bad = []
    for _name, entry in entries:
        texts = [entry["id"], entry["question"], entry["answer"], *entry["similar"], *entry.get("keywords", [])]
        if not all(isinstance(t, str) and t.strip() for t in texts):
            bad.append(entry["id"])
    assert bad == []


def test_ids_are_unique_across_files(entries: list[tuple[str, dict[str, Any]]]) -> None:
    counts = Counter(entry["id"] for _name, entry in entries)
    assert [faq_id for faq_id, n in counts.items() if n > 1] == []


def test_ids_are_the_file_name_and_a_three_digit_number(entries: list[tuple[str, dict[str, Any]]]) -> None:
    bad = [
        (name, entry["id"])
        for name, entry in entries
        if not re.fullmatch(re.escape(Path(name).stem) + r"-\d{3}", entry["id"])
    ]
    assert bad == []


def test_sample_has_at_least_150_entries_in_at_least_10_categories(
    entries: list[tuple[str, dict[str, Any]]],
) -> None:
    categories = {_load(path)["category"] for path in FAQ_FILES}
    assert len(entries) >= 150
    assert len(categories) >= 10


def test_every_entry_has_at_least_three_distinct_similar_phrasings(
    entries: list[tuple[str, dict[str, Any]]],
) -> None:
    bad = []
    for _name, entry in entries:
        phrasings = [entry["question"], *entry["similar"]]
        if len(entry["similar"]) < 3 or len(set(phrasings)) != len(phrasings):
            bad.append(entry["id"])
    assert bad == []


def test_no_phrasing_belongs_to_two_entries(entries: list[tuple[str, dict[str, Any]]]) -> None:
    owners: dict[str, set[str]] = {}
    for _name, entry in entries:
        for text in [entry["question"], *entry["similar"]]:
            owners.setdefault(re.sub(r"\s+", "", text), set()).add(entry["id"])
    assert {text: ids for text, ids in owners.items() if len(ids) > 1} == {}


def test_answers_fit_in_a_wechat_text_reply(entries: list[tuple[str, dict[str, Any]]]) -> None:
    too_long = [entry["id"] for _name, entry in entries if len(entry["answer"].encode()) > MAX_ANSWER_BYTES]
    assert too_long == []


def test_validity_dates_are_dates_in_order(entries: list[tuple[str, dict[str, Any]]]) -> None:
    bad = []
    for _name, entry in entries:
        dates = [entry[key] for key in ("valid_from", "valid_until") if key in entry]
        # PyYAML reads an unquoted YYYY-MM-DD as a date; anything else (2026-9-1, 2026/09/01) stays text.
        all_dates = all(isinstance(d, date) and not isinstance(d, datetime) for d in dates)
        if not all_dates or (len(dates) == 2 and dates[0] > dates[1]):
            bad.append(entry["id"])
    assert bad == []


def test_enabled_is_a_boolean_when_given(entries: list[tuple[str, dict[str, Any]]]) -> None:
    assert [entry["id"] for _name, entry in entries if not isinstance(entry.get("enabled", True), bool)] == []


def test_sample_demonstrates_validity_dates_and_a_disabled_entry(
    entries: list[tuple[str, dict[str, Any]]],
) -> None:
    dated = [entry["id"] for _name, entry in entries if "valid_from" in entry or "valid_until" in entry]
    disabled = [entry["id"] for _name, entry in entries if entry.get("enabled") is False]
    assert len(dated) >= 2
    assert len(disabled) >= 1


def test_synonym_groups_are_lists_of_at_least_two_words() -> None:
    groups = _load(KNOWLEDGE / "synonyms.yaml")
    assert isinstance(groups, list) and groups
    bad = [
        group
        for group in groups
        if not isinstance(group, list) or len(group) < 2 or not all(isinstance(w, str) and w.strip() for w in group)
    ]
    assert bad == []


def test_no_synonym_appears_twice() -> None:
    counts = Counter(word for group in _load(KNOWLEDGE / "synonyms.yaml") for word in group)
    assert [word for word, n in counts.items() if n > 1] == []


def test_userdict_lines_follow_the_jieba_format() -> None:
    lines = _data_lines(KNOWLEDGE / "userdict.txt")
    assert lines
    assert [line for line in lines if not USERDICT_LINE.match(line)] == []


def test_stopwords_are_single_words_that_carry_no_meaning() -> None:
    words = _data_lines(KNOWLEDGE / "stopwords.txt")
    assert words
    assert [w for w in words if re.search(r"\s", w)] == []
    assert sorted(MEANINGFUL_WORDS.intersection(words)) == []


def test_regression_cases_are_questions_with_an_expected_id_or_null(cases: list[dict[str, Any]]) -> None:
    assert isinstance(cases, list)
    bad = [
        case
        for case in cases
        if not isinstance(case, dict)
        or set(case) != {"q", "expect"}
        or not (isinstance(case["q"], str) and case["q"].strip())
        or not (case["expect"] is None or isinstance(case["expect"], str))
    ]
    assert bad == []


def test_regression_cases_expect_existing_entries(
    cases: list[dict[str, Any]], entry_by_id: dict[str, dict[str, Any]]
) -> None:
    unknown = [case for case in cases if case["expect"] is not None and case["expect"] not in entry_by_id]
    assert unknown == []


def test_regression_cases_expect_only_entries_that_are_always_answerable(
    cases: list[dict[str, Any]], entry_by_id: dict[str, dict[str, Any]]
) -> None:
    # A case pointing at a dated or disabled entry would start failing on the day the entry expires.
    fragile = []
    for case in cases:
        entry = entry_by_id.get(case["expect"] or "")
        if entry is not None and (entry.get("enabled") is False or "valid_from" in entry or "valid_until" in entry):
            fragile.append(case)
    assert fragile == []


def test_regression_cases_cover_60_questions_and_10_out_of_scope_ones(cases: list[dict[str, Any]]) -> None:
    in_scope = [case for case in cases if case["expect"] is not None]
    out_of_scope = [case for case in cases if case["expect"] is None]
    assert len(in_scope) >= 60
    assert len(out_of_scope) >= 10


def test_regression_questions_are_not_copied_from_the_entries(
    cases: list[dict[str, Any]], entries: list[tuple[str, dict[str, Any]]]
) -> None:
    # A case that repeats a stored phrasing word for word tests nothing.
    phrasings = {text for _name, entry in entries for text in [entry["question"], *entry["similar"]]}
    assert [case["q"] for case in cases if case["q"] in phrasings] == []
