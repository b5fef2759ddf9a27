"""knowledge/topics.yaml: topics load, are looked up the ways citizens name them, and errors name file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.errors import KnowledgeError
from knowledge.topics import load_topics

REPO_TOPICS = Path(__file__).resolve().parents[2] / "knowledge" / "topics.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topics.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_topics_name_categories_that_exist() -> None:
    faq = REPO_TOPICS.parent / "faq"
    categories = {
        line.split(":", 1)[1].strip()
        for path in faq.glob("*.yaml")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("category:")
    }
    catalog = load_topics(REPO_TOPICS, categories=categories)
    assert len(catalog) >= 3
    assert catalog.for_category("公积金") is not None


def test_a_topic_is_found_by_name_alias_or_a_phrase_containing_it(tmp_path: Path) -> None:
    catalog = load_topics(_write(tmp_path, (
        "topics:\n"
        "  - id: gjj\n    name: 公积金政策\n    categories: [公积金]\n    aliases: [公积金]\n"
        "  - id: sb\n    name: 社保政策\n    categories: [社保]\n"
    )))
    gjj = catalog.get("gjj")
    assert gjj is not None
    assert catalog.named("公积金政策") is gjj
    assert catalog.named("公积金") is gjj
    assert catalog.named("社保") is catalog.get("sb")
    assert catalog.named("天气") is None
    assert catalog.for_category("社保") is catalog.get("sb")


def test_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, (
        "topics:\n"
        "  - id: gjj\n    name: 公积金政策\n    categories: [公积金]\n"
        "  - id: gjj\n    name: 重复\n    categories: [公积金X]\n"
        "  - name: 没有编号\n    categories: [社保]\n"
        "  - id: x\n    name: 空\n    colour: red\n"
    ))
    with pytest.raises(KnowledgeError) as caught:
        load_topics(path, categories={"公积金", "社保"})
    shown = [str(p) for p in caught.value.problems]
    assert "topics.yaml:5: 主题 id gjj 重复（第 2 行已定义）" in shown
    assert any(s.startswith("topics.yaml:7: 分类 '公积金X' 不存在") for s in shown)
    assert "topics.yaml:8: 主题缺少 id" in shown
    assert any(s.startswith("topics.yaml:12: 主题中有未知字段 'colour'") for s in shown)
    assert "topics.yaml:10: 主题 x 至少需要一个 categories 或 flows" in shown


def test_no_file_is_no_topics(tmp_path: Path) -> None:
    assert len(load_topics(tmp_path / "topics.yaml")) == 0
