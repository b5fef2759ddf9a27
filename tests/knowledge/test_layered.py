"""Shared knowledge with local overrides (issue 16): later layers replace entries by id or disable them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from knowledge.errors import KnowledgeError
from knowledge.layered import Layer, LayeredMatcher, compose
from knowledge.matcher import Matcher

TODAY = date(2026, 12, 6)
LOCAL_BALANCE = "本区公积金余额请到区政务中心 3 号窗口查询。"


def overlay(tmp_path: Path, name: str, faq: str | None = None, disable: str | None = None) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    if faq is not None:
        (folder / "faq").mkdir()
        (folder / "faq" / "local.yaml").write_text(faq, encoding="utf-8")
    if disable is not None:
        (folder / "disable.txt").write_text(disable, encoding="utf-8")
    return folder


LOCAL_FAQ = f"""category: 公积金
entries:
  - id: gjj-balance
    question: 公积金余额怎么查
    similar: [住房公积金余额查询]
    answer: {LOCAL_BALANCE}
  - id: local-hall
    question: 区政务服务中心在哪里
    similar: [政务大厅地址]
    answer: 区政务服务中心位于建设路 8 号。
"""


@pytest.fixture
def shared(kb_dir: Path) -> Layer:
    return Layer.load(kb_dir)


def test_a_later_entry_with_the_same_id_replaces_the_shared_one(shared: Layer, tmp_path: Path) -> None:
    matcher = LayeredMatcher([shared, Layer.load(overlay(tmp_path, "local", LOCAL_FAQ))])
    result = matcher.match("公积金余额怎么查", TODAY)
    assert (result.decision, result.faq_id) == ("answer", "gjj-balance")
    entry = matcher.entry("gjj-balance")
    assert entry is not None and entry.answer == LOCAL_BALANCE


def test_the_overlays_own_entries_are_answered(shared: Layer, tmp_path: Path) -> None:
    matcher = LayeredMatcher([shared, Layer.load(overlay(tmp_path, "local", LOCAL_FAQ))])
    result = matcher.match("区政务服务中心在哪里", TODAY)
    assert (result.decision, result.faq_id) == ("answer", "local-hall")


def test_a_disabled_shared_entry_is_neither_matched_nor_found(shared: Layer, tmp_path: Path) -> None:
    matcher = LayeredMatcher([shared, Layer.load(overlay(tmp_path, "off", disable="# 不提供\ngjj-balance\n"))])
    result = matcher.match("公积金余额怎么查", TODAY)
    assert result.faq_id != "gjj-balance"
    assert all(c.faq_id != "gjj-balance" for c in result.candidates)
    assert matcher.entry("gjj-balance") is None
    assert "gjj-balance" not in {e.id for e in matcher.kb.entries}


def test_a_question_the_overlay_does_not_touch_gets_the_shared_decision(shared: Layer, tmp_path: Path) -> None:
    matcher = LayeredMatcher([shared, Layer.load(overlay(tmp_path, "local", LOCAL_FAQ))])
    assert shared.matcher is not None
    for query in ("社保卡丢了怎么补办", "退休金什么时候发放", "换城市工作社保怎么转移"):
        assert matcher.match(query, TODAY) == shared.matcher.match(query, TODAY)
    assert matcher.match("今天天气怎么样", TODAY).decision == "fallback"


def test_the_merged_entries_keep_the_shared_order_with_overrides_in_place(shared: Layer, tmp_path: Path) -> None:
    matcher = LayeredMatcher([shared, Layer.load(overlay(tmp_path, "local", LOCAL_FAQ))])
    assert shared.matcher is not None
    ids = [e.id for e in matcher.kb.entries]
    assert ids == [*(e.id for e in shared.matcher.kb.entries), "local-hall"]
    balance = next(e for e in matcher.kb.entries if e.id == "gjj-balance")
    assert balance.answer == LOCAL_BALANCE


def test_three_layers_the_last_one_wins(shared: Layer, tmp_path: Path) -> None:
    region = Layer.load(overlay(tmp_path, "region", LOCAL_FAQ))
    district = Layer.load(overlay(tmp_path, "district", disable="local-hall\n"))
    matcher = LayeredMatcher([shared, region, district])
    assert matcher.entry("local-hall") is None
    assert matcher.match("区政务服务中心在哪里", TODAY).faq_id != "local-hall"
    entry = matcher.entry("gjj-balance")
    assert entry is not None and entry.answer == LOCAL_BALANCE


def test_the_shared_layer_is_the_same_object_in_every_account(shared: Layer, tmp_path: Path) -> None:
    a = LayeredMatcher([shared, Layer.load(overlay(tmp_path, "a", LOCAL_FAQ))])
    b = LayeredMatcher([shared, Layer.load(overlay(tmp_path, "b", disable="gjj-loan\n"))])
    assert a.layers[0].matcher is b.layers[0].matcher


def test_one_folder_alone_is_served_by_its_own_matcher(shared: Layer) -> None:
    assert isinstance(compose([shared]), Matcher)


def test_a_folder_with_only_disable_txt_has_no_index(tmp_path: Path) -> None:
    layer = Layer.load(overlay(tmp_path, "off", disable="gjj-loan\n"))
    assert layer.matcher is None and layer.disabled == frozenset({"gjj-loan"})


def test_a_bad_disable_file_names_its_line(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError) as caught:
        Layer.load(overlay(tmp_path, "off", disable="gjj-loan\n\n不是 id!\n"))
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == ("disable.txt", 3)


def test_regression_cases_of_every_layer_are_kept(shared: Layer, tmp_path: Path) -> None:
    folder = overlay(tmp_path, "local", LOCAL_FAQ)
    (folder / "tests.yaml").write_text("- {q: 政务大厅地址, expect: local-hall}\n", encoding="utf-8")
    matcher = LayeredMatcher([shared, Layer.load(folder)])
    assert shared.matcher is not None
    assert len(matcher.kb.tests) == len(shared.matcher.kb.tests) + 1
